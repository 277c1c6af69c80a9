/// JSON and text renderings of decisions (used by `tagih explain` and the service).
public enum DecisionEncoding {
    /// One NDJSON line (without the trailing newline) for `decision`:
    /// `{"debtor":..,"debt":..,"phone":..,"earliest":..,"best":..,"windowEnds":..,"score":..,"blocked":..,
    /// "reasons":[..],"zone":..,"consentedCallback":..}` (proto-docs/lines/decision.md; `blocked` as the service
    /// writes it). Times are RFC 3339 in the decision's zone with its
    /// offset (UTC when the zone is unknown); `earliest`, `best`, `windowEnds` are null when never.
    public static func jsonLine(_ d: Decision, zones: ZoneDatabase = .system) -> String {
        let zone = d.zone.flatMap { zones.zone(named: $0) }
        func time(_ t: UnixSeconds?) -> String {
            guard let t else { return "null" }
            return "\"" + (zone.map { RFC3339.format(t, in: $0) } ?? RFC3339.formatUTC(t)) + "\""
        }
        var s = "{\"debtor\":" + JSONWriter.quoted(d.debtor) + ",\"debt\":" + JSONWriter.quoted(d.debt)
        s += ",\"phone\":" + (d.phone.map(JSONWriter.quoted) ?? "null")
        s += ",\"earliest\":" + time(d.earliest) + ",\"best\":" + time(d.best) + ",\"windowEnds\":" + time(d.windowEnds)
        s += ",\"score\":" + formatScore(d.score)
        s += ",\"blocked\":" + (d.blockedReason.map(JSONWriter.quoted) ?? "null")
        s += ",\"reasons\":[" + d.reasons.map(JSONWriter.quoted).joined(separator: ",") + "]"
        s += ",\"zone\":" + (d.zone.map(JSONWriter.quoted) ?? "null")
        s += ",\"consentedCallback\":" + (d.consentedCallback ? "true" : "false") + "}"
        return s
    }

    /// A human-readable block for `decision`: a headline and one indented line per reason.
    public static func text(_ d: Decision, zones: ZoneDatabase = .system) -> String {
        let zone = d.zone.flatMap { zones.zone(named: $0) }
        func time(_ t: UnixSeconds) -> String { zone.map { RFC3339.format(t, in: $0) } ?? RFC3339.formatUTC(t) }
        var s = "\(d.debtor) \(d.debt): "
        if let e = d.earliest {
            s += "call \(d.phone ?? "-") earliest \(time(e))"
            if let w = d.windowEnds { s += " (window ends \(time(w)))" }
            if let b = d.best { s += ", best \(time(b))" }
            s += ", score \(formatScore(d.score))"
        } else {
            s += "never: \(d.blockedReason ?? "blocked")"
        }
        for r in d.reasons where r != d.blockedReason { s += "\n    - " + r }
        return s
    }

    /// A score with 6 significant digits as a plain JSON decimal (no exponent), e.g. `0.0123457`.
    public static func formatScore(_ v: Double) -> String {
        guard v.isFinite, v > 0 else { return "0" }
        var exp = 0
        var m = v
        while m >= 10 {
            m /= 10
            exp += 1
        }
        while m < 1 {
            m *= 10
            exp -= 1
        }
        var digits = Int64((m * 100_000).rounded())
        if digits >= 1_000_000 {
            digits /= 10
            exp += 1
        }
        // value = digits × 10^(exp − 5)
        var text = String(digits)
        let point = exp + 1  // digits before the decimal point
        if point <= 0 {
            text = "0." + String(repeating: "0", count: -point) + text
        } else if point >= 6 {
            text += String(repeating: "0", count: point - 6)
        } else {
            text = String(text.prefix(point)) + "." + String(text.dropFirst(point))
        }
        if text.contains(".") {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return text
    }
}

/// The logic of `tagih explain`: loads a population and its outcome history (NDJSON v1), decides every debt
/// at a given instant, and renders one decision per debt. Bad lines are reported and skipped.
public struct Explainer: Sendable {
    /// A bad or suspicious input line.
    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        /// `population` or `outcomes`.
        public var source: String
        /// 1-based line number.
        public var line: Int
        /// `error` (the line was skipped) or `warning`.
        public var severity: String
        /// The field and why.
        public var message: String
        public var description: String { "\(source):\(line): \(severity): \(message)" }
    }

    /// The result of an explain run.
    public struct Report: Sendable {
        /// The decisions, in population order then debt order.
        public var decisions: [Decision]
        /// Bad lines (skipped) and warnings.
        public var problems: [Problem]
        /// The rendered output (text blocks or NDJSON lines), one element per decision.
        public var lines: [String]
    }

    /// The policy used.
    public var policy: ContactPolicy
    /// The decoder used.
    public var decoder: LineDecoder

    /// Creates an explainer (default policy and decoder).
    public init(policy: ContactPolicy = ContactPolicy(), decoder: LineDecoder = LineDecoder()) {
        self.policy = policy
        self.decoder = decoder
    }

    /// Decides every debt of the population at `now`. `outcomes` holds outcome lines and payment lines
    /// (`{"payment":...}` or `"type":"payment"`); events after `now` are ignored (explain shows the state at `now`).
    public func explain(population: String, outcomes: String?, at now: UnixSeconds, json: Bool) -> Report {
        var problems: [Problem] = []
        var debtors: [Debtor] = []
        var index: [String: Int] = [:]
        var lineNo = 0
        for line in TextLines.split(population) {
            lineNo += 1
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            do {
                let d = try decoder.debtor(from: Array(line.utf8))
                for w in d.warnings {
                    problems.append(Problem(source: "population", line: lineNo, severity: "warning",
                                            message: w.description))
                }
                if index[d.value.id] != nil {
                    problems.append(Problem(source: "population", line: lineNo, severity: "warning",
                                            message: "id: debtor '\(d.value.id)' repeated; the last line wins"))
                    debtors[index[d.value.id]!] = d.value
                } else {
                    index[d.value.id] = debtors.count
                    debtors.append(d.value)
                }
            } catch {
                problems.append(Problem(source: "population", line: lineNo, severity: "error",
                                        message: error.description))
            }
        }
        var histories = [DebtorHistory](repeating: DebtorHistory(), count: debtors.count)
        if let outcomes {
            lineNo = 0
            var seenAttempts = Set<String>()
            var seenPayments = Set<String>()
            var seenClearances = Set<String>()
            // Whether an event goes into the history: a repeated key is ignored, and an event after `--at` had not
            // happened at that instant; each is left out with a warning.
            func admit(
                _ key: String, field: String, at: UnixSeconds, seen: inout Set<String>, warnings: inout [RecordWarning]
            ) -> Bool {
                if !seen.insert(key).inserted {
                    warnings.append(RecordWarning(code: "duplicate", field: field,
                                                  message: "\(field) '\(key)' repeated; ignored"))
                    return false
                }
                if at > now {
                    warnings.append(RecordWarning(
                        code: "after_at", field: "at",
                        message: "\(RFC3339.formatUTC(at)) is after the decision time \(RFC3339.formatUTC(now)); left out"))
                    return false
                }
                return true
            }
            for line in TextLines.split(outcomes) {
                lineNo += 1
                if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
                let bytes = Array(line.utf8)
                do {
                    let v = try JSONValue.parse(bytes)
                    let isPayment = v["payment"] != nil || v["type"] == .string("payment")
                    let isClearance = v["clearance"] != nil || v["type"] == .string("clearance")
                    let debtorID: String
                    var warnings: [RecordWarning]
                    if isClearance {
                        // A clearance line of `POST /v1/clearances`. It carries no time (the server stamps it when
                        // it records it); here an optional `at` says when, else the decision time. As on the server,
                        // it lifts the holds of its kind listed before it, and is placed after them.
                        let c = try decoder.clearance(v, alsoKnown: ["at"])
                        var at = now
                        if let field = v["at"] {
                            guard case .string(let text) = field, let t = RFC3339.parse(text) else {
                                throw RecordError(code: "invalid_time", field: "at",
                                                  message: "a clearance's 'at' must be an RFC 3339 time with an offset")
                            }
                            at = t
                        }
                        let given = at
                        warnings = c.warnings
                        debtorID = c.value.debtor
                        if let i = index[debtorID] {
                            if let debt = c.value.debt, !debtors[i].debts.contains(where: { $0.id == debt }) {
                                throw RecordError(code: "unknown_debt", field: "debt",
                                                  message: "debtor '\(debtorID)' has no debt '\(debt)'")
                            }
                            at = histories[i].clearanceTime(c.value.clears, debt: c.value.debt, stamped: at)
                        }
                        if admit(c.value.clearance, field: "clearance", at: given, seen: &seenClearances,
                                 warnings: &warnings), let i = index[debtorID] {
                            histories[i].record(HoldClearance(kind: c.value.clears, debt: c.value.debt, at: at))
                        }
                    } else if isPayment {
                        let p = try decoder.payment(from: bytes)
                        warnings = p.warnings
                        debtorID = p.value.debtor
                        // The checks the service makes when it ingests a payment: the debt exists, in that currency.
                        if let i = index[debtorID] {
                            guard let debt = debtors[i].debts.first(where: { $0.id == p.value.debt }) else {
                                throw RecordError(code: "unknown_debt", field: "debt",
                                                  message: "debtor '\(debtorID)' has no debt '\(p.value.debt)'")
                            }
                            if let currency = p.value.currency, currency != debt.currency {
                                throw RecordError(
                                    code: "invalid_value", field: "currency",
                                    message: "the payment is in \(currency) but debt '\(debt.id)' is in \(debt.currency); "
                                        + "send the amount in the debt's currency")
                            }
                        }
                        if admit(p.value.payment, field: "payment", at: p.value.at, seen: &seenPayments,
                                 warnings: &warnings), let i = index[debtorID] {
                            histories[i].record(p.value)
                        }
                    } else {
                        let o = try decoder.outcome(from: bytes)
                        warnings = o.warnings
                        debtorID = o.value.debtor
                        // The checks the service makes when it ingests an outcome.
                        if let callback = o.value.callbackAt, callback < o.value.at {
                            throw RecordError(
                                code: "invalid_time", field: "callbackAt",
                                message: "callbackAt \(RFC3339.formatUTC(callback)) is before the call's at "
                                    + RFC3339.formatUTC(o.value.at))
                        }
                        if let i = index[debtorID] {
                            guard debtors[i].debts.contains(where: { $0.id == o.value.debt }) else {
                                throw RecordError(code: "unknown_debt", field: "debt",
                                                  message: "debtor '\(debtorID)' has no debt '\(o.value.debt)'")
                            }
                            if !debtors[i].phones.contains(where: { $0.number == o.value.phone }) {
                                warnings.append(RecordWarning(
                                    code: "phone_not_on_record", field: "phone",
                                    message: "'\(o.value.phone)' is not one of debtor '\(debtorID)''s phones; the call "
                                        + "counts toward the debt's caps, but no phone-level rule applies to it"))
                            }
                        }
                        if admit(o.value.attempt, field: "attempt", at: o.value.at, seen: &seenAttempts,
                                 warnings: &warnings), let i = index[debtorID] {
                            histories[i].record(o.value)
                        }
                    }
                    if index[debtorID] == nil {
                        warnings.append(RecordWarning(code: "unknown_debtor", field: "debtor",
                                                      message: "unknown debtor '\(debtorID)'; ignored"))
                    }
                    for w in warnings {
                        problems.append(Problem(source: "outcomes", line: lineNo, severity: "warning",
                                                message: w.description))
                    }
                } catch {
                    problems.append(Problem(source: "outcomes", line: lineNo, severity: "error",
                                            message: "\(error)"))
                }
            }
        }
        var decisions: [Decision] = []
        var lines: [String] = []
        for (i, d) in debtors.enumerated() {
            var h = histories[i]
            h.outcomes.sort { $0.at < $1.at }
            h.payments.sort { $0.at < $1.at }
            for dec in policy.decide(for: d, history: h, now: now) {
                decisions.append(dec)
                lines.append(json ? DecisionEncoding.jsonLine(dec, zones: policy.zones)
                                  : DecisionEncoding.text(dec, zones: policy.zones))
            }
        }
        return Report(decisions: decisions, problems: problems, lines: lines)
    }
}
