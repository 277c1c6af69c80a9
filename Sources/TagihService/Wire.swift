import NIOCore
import TagihCore
import TagihEngine

/// Encoders of the output line types of proto-docs/lines/.
enum Wire {
    /// A result line: `{"line":N,"id":…,"ok":true,"duplicate":…}` or `{"line":N,"ok":false,"error":{…}}`.
    static func result(
        line: Int, id: String?, duplicate: Bool? = nil, warnings: [RecordWarning] = [], error: RecordError? = nil,
        tagged: Bool = false
    ) -> [UInt8] {
        var json = JSONLine()
        if tagged { json.add("type", "ack") }
        json.add("line", line)
        if let id { json.add("id", id) }
        json.add("ok", error == nil)
        if let duplicate { json.add("duplicate", duplicate) }
        if !warnings.isEmpty {
            json.add("warnings", warnings.map(\.description))
            json.add("warningCodes", warnings.map(\.code))
        }
        if let error {
            json.addObject("error") { inner in
                inner.add("code", error.code)
                // No one field at fault (invalid JSON, a line too long): no `field`, rather than `"field":""`.
                if !error.field.isEmpty { inner.add("field", error.field) }
                inner.add("message", error.message)
            }
        }
        return json.finish()
    }

    /// A call line for a fresh lease.
    static func call(_ lease: Lease, seq: Int, now: UnixSeconds) -> [UInt8] {
        let zone = lease.zone
        var json = JSONLine(capacity: 384)
        json.add("type", "call")
        json.add("seq", seq)
        json.add("lease", lease.id)
        json.add("debtor", lease.debtor)
        json.add("debt", lease.debt)
        json.add("phone", lease.phone)
        let table = zone.flatMap { ZoneDatabase.system.zone(named: $0) }
        json.addTime("leaseExpires", lease.expires, in: nil)
        json.addTime("localTime", now, in: table)
        json.addTime("windowEnds", lease.windowEnds ?? lease.expires, in: table)
        json.add("score", lease.score)
        json.add("reasons", lease.reasons)
        return json.finish()
    }

    /// A decision line (schema decision.schema.json).
    static func decision(_ d: Decision, type: Bool, newline: Bool = true) -> [UInt8] {
        var json = JSONLine()
        if type { json.add("type", "decision") }
        decision(d, into: &json)
        return json.finish(newline: newline)
    }

    /// Writes the members of a decision (without `type`) into `json`.
    static func decision(_ d: Decision, into json: inout JSONLine) {
        let zone = d.zone.flatMap { ZoneDatabase.system.zone(named: $0) }
        json.add("debtor", d.debtor)
        json.add("debt", d.debt)
        json.add("phone", d.phone)
        json.addTime("earliest", d.earliest, in: zone)
        json.addTime("best", d.best, in: zone)
        json.addTime("windowEnds", d.windowEnds, in: zone)
        json.add("score", d.score)
        json.add("blocked", d.blockedReason)
        json.add("reasons", d.reasons)
    }
}

extension Wire {
    /// Writes the members of a debtor record (line protocol v1) into `json`.
    static func debtor(_ d: Debtor, into json: inout JSONLine) {
        json.add("id", d.id)
        json.add("jurisdiction", d.jurisdiction)
        json.add("zone", d.zone)
        json.add("status", d.status.rawValue)
        json.add("segment", d.segment)
        json.addObjects("phones", d.phones) { pj, p in
            pj.add("number", p.number)
            pj.add("kind", p.kind.rawValue)
            pj.add("zone", p.zone)
            pj.add("owner", p.owner.rawValue)
            pj.add("optedOut", p.optedOut)
        }
        json.addObjects("debts", d.debts) { dj, debt in
            dj.add("id", debt.id)
            dj.add("balance", debt.balance.description)
            dj.add("currency", debt.currency)
        }
        json.addObjects("quiet", d.quiet) { qj, q in
            qj.add("days", q.days.map { weekdayNames[($0 - 1 + 7) % 7] })
            qj.add("from", clock(q.fromMinute))
            qj.add("to", clock(q.toMinute))
        }
    }

    private static let weekdayNames = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

    private static func clock(_ minute: Int) -> String {
        let h = minute / 60
        let m = minute % 60
        return (h < 10 ? "0" : "") + "\(h):" + (m < 10 ? "0" : "") + "\(m)"
    }

    /// Writes the members of the body of `GET /v1/debtors/{id}` into `json` (the caller finishes the line).
    static func debtorState(_ s: DebtorSnapshot, into json: inout JSONLine) {
        json.addObject("debtor") { debtor(s.debtor, into: &$0) }
        json.add("state", s.state.rawValue)
        json.add("leased", s.lease != nil)
        if let lease = s.lease {
            // Who holds the debtor and until when (an operator's first question about a debtor nobody can call).
            json.addObject("lease") { l in
                l.add("id", lease.id)
                l.add("holder", lease.holder)
                l.add("debt", lease.debt)
                l.add("phone", lease.phone)
                l.addTime("leasedAt", lease.leasedAt, in: nil)
                l.addTime("expires", lease.expires, in: nil)
            }
        } else {
            json.addRaw("lease", "null")
        }
        json.addObjects("decisions", s.decisions) { decision($1, into: &$0) }
        json.add("attempts", s.history.outcomes.count + s.history.unresolved.count)
    }
}
