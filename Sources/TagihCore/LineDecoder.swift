/// A decoded record and the non-fatal warnings found on its line (for example unknown fields).
public struct Decoded<Value: Sendable>: Sendable {
    /// The record.
    public var value: Value
    /// Non-fatal findings, e.g. `nickname: unknown field (ignored)`.
    public var warnings: [RecordWarning]
    public init(value: Value, warnings: [RecordWarning] = []) {
        self.value = value
        self.warnings = warnings
    }
}

extension Decoded: Equatable where Value: Equatable {}

/// A non-fatal finding about a line: while decoding it (`unknown_field`, …) or, for an event the engine accepted,
/// while ingesting it (`phone_not_on_record`, `Engine.ingestReportingWarnings(events:)`).
public struct RecordWarning: Sendable, Hashable, CustomStringConvertible {
    /// `unknown_field`, `phone_not_on_record`, ….
    public var code: String
    /// The JSON field path.
    public var field: String
    /// What was found.
    public var message: String
    public init(code: String, field: String, message: String) {
        self.code = code
        self.field = field
        self.message = message
    }
    public var description: String { "\(field): \(message)" }
}

/// Decodes line protocol v1 records (one JSON object per line) with precise errors: every error names the
/// field path and why; unknown fields are warnings; money is exact decimal; zones must be IANA names known
/// to the tz database; times are RFC 3339 with an offset.
public struct LineDecoder: Sendable {
    /// The tz database that `zone` fields are checked against.
    public var zones: ZoneDatabase

    /// The longest id accepted, in bytes of its UTF-8 encoding (not characters: `"é"` is 2 bytes, an emoji 4):
    /// the ids of debtors, debts, attempts, payments and clearances, and the debtor and debt an event names. The
    /// engine stores a debtor's and its debts' ids with a one-byte length (`Engine.validate` enforces the same
    /// limit for records that do not come through this decoder). An id must also be non-empty and hold no C0
    /// control character (U+0000–U+001F) or DEL (U+007F): ids travel in logs, NDJSON lines, URLs and terminals.
    public static let maxIDBytes = 255

    /// Creates a decoder checking zones against `zones` (default: the system tz database).
    public init(zones: ZoneDatabase = .system) { self.zones = zones }

    // MARK: Static conveniences on the system tz database

    /// Decodes a debtor line. Throws a `RecordError` naming the field and why.
    public static func debtor(from line: some Collection<UInt8>) throws(RecordError) -> Decoded<Debtor> {
        try LineDecoder().debtor(from: line)
    }
    /// Decodes a debtor line.
    public static func debtor(from line: String) throws(RecordError) -> Decoded<Debtor> {
        try LineDecoder().debtor(from: Array(line.utf8))
    }
    /// Decodes an outcome line.
    public static func outcome(from line: some Collection<UInt8>) throws(RecordError) -> Decoded<OutcomeEvent> {
        try LineDecoder().outcome(from: line)
    }
    /// Decodes an outcome line.
    public static func outcome(from line: String) throws(RecordError) -> Decoded<OutcomeEvent> {
        try LineDecoder().outcome(from: Array(line.utf8))
    }
    /// Decodes a payment line.
    public static func payment(from line: some Collection<UInt8>) throws(RecordError) -> Decoded<PaymentEvent> {
        try LineDecoder().payment(from: line)
    }
    /// Decodes a payment line.
    public static func payment(from line: String) throws(RecordError) -> Decoded<PaymentEvent> {
        try LineDecoder().payment(from: Array(line.utf8))
    }

    // MARK: Records

    /// Decodes a debtor line.
    public func debtor(from line: some Collection<UInt8>) throws(RecordError) -> Decoded<Debtor> {
        var ctx = Context()
        let v = try JSONValue.parse(line)
        let d = try debtor(v, &ctx)
        return Decoded(value: d, warnings: ctx.warnings)
    }

    /// Decodes an outcome line.
    public func outcome(from line: some Collection<UInt8>) throws(RecordError) -> Decoded<OutcomeEvent> {
        var ctx = Context()
        let v = try JSONValue.parse(line)
        let o = try outcome(v, &ctx)
        return Decoded(value: o, warnings: ctx.warnings)
    }

    /// Decodes a payment line.
    public func payment(from line: some Collection<UInt8>) throws(RecordError) -> Decoded<PaymentEvent> {
        var ctx = Context()
        let v = try JSONValue.parse(line)
        let p = try payment(v, &ctx)
        return Decoded(value: p, warnings: ctx.warnings)
    }

    struct Context {
        var warnings: [RecordWarning] = []
        mutating func unknown(_ obj: [(String, JSONValue)], known: Set<String>, path: String) {
            for (k, _) in obj where !known.contains(k) {
                warnings.append(RecordWarning(code: "unknown_field", field: join(path, k),
                                              message: "unknown field (ignored)"))
            }
        }
    }

    /// Checks the optional `type` of a line: when given, it must name the line's own type (an outcome line sent
    /// as `"type":"ready"` to `POST /v1/outcomes` is a mistake to report, not an outcome to apply).
    func checkType(_ v: JSONValue, _ expected: String) throws(RecordError) {
        guard let given = v["type"] else { return }
        guard case .string(let text) = given else {
            throw RecordError(code: "wrong_type", field: "type",
                              message: "'type' must be the string \"\(expected)\", found \(given.typeName)")
        }
        guard text == expected else {
            throw RecordError(code: "invalid_value", field: "type",
                              message: "'type' is \(JSONWriter.quoted(String(text.prefix(40)))) but this endpoint "
                                + "takes \(expected) lines: omit 'type' or give \"\(expected)\"")
        }
    }

    func debtor(_ v: JSONValue, _ ctx: inout Context) throws(RecordError) -> Debtor {
        let o = try object(v, "")
        try checkType(v, "debtor")
        ctx.unknown(o, known: ["type", "id", "jurisdiction", "zone", "status", "segment", "phones", "debts", "quiet"],
                    path: "")
        let id = try requiredID(v, "id", "")
        let jurisdiction = try requiredString(v, "jurisdiction", "")
        guard Jurisdiction.isWellFormed(jurisdiction) else {
            throw RecordError(code: "invalid_value", field: "jurisdiction",
                              message: "'\(jurisdiction)' is not an ISO 3166 code such as US, US-MA, US-NY-NYC or ID")
        }
        if RulePack.resolveKind(jurisdiction) == 0 {
            // Accepted (DOMAIN.md: anything else gets the conservative default), but said: a typo such as `UX`
            // would otherwise silently lose the debtor its country's caps.
            ctx.warnings.append(RecordWarning(
                code: "no_rule_pack", field: "jurisdiction",
                message: "no rule pack for '\(jurisdiction)' nor its country; the conservative default applies "
                    + "(08:00-21:00 local every day, house rules only). Packs: \(RulePack.packCodes)"))
        }
        let zone = try optionalZone(v, "zone", "")
        let status: DebtorStatus = try optionalEnum(v, "status", "") ?? .active
        let segment = try optionalString(v, "segment", "")
        var phones: [Phone] = []
        if let arr = try optionalArray(v, "phones", "") {
            try Self.checkCount(arr, "phones")
            for (i, p) in arr.enumerated() { phones.append(try phone(p, "phones[\(i)]", &ctx)) }
        }
        guard let debtsArr = try optionalArray(v, "debts", "") else {
            throw RecordError(code: "missing_field", field: "debts", message: "required field is missing")
        }
        try Self.checkCount(debtsArr, "debts")
        if let quiet = v["quiet"], case .array(let entries) = quiet { try Self.checkCount(entries, "quiet") }
        var debts: [Debt] = []
        for (i, d) in debtsArr.enumerated() { debts.append(try debt(d, "debts[\(i)]", &ctx)) }
        // A number or a debt id listed twice is ambiguous (which entry's opt-out, balance or currency holds?):
        // refuse the record rather than guess.
        for (i, p) in phones.enumerated() {
            if let j = phones[..<i].firstIndex(where: { $0.number == p.number }) {
                throw RecordError(code: "duplicate_value", field: "phones[\(i)].number",
                                  message: "'\(p.number)' is already listed as phones[\(j)]; list each number once")
            }
        }
        for (i, d) in debts.enumerated() {
            if let j = debts[..<i].firstIndex(where: { $0.id == d.id }) {
                throw RecordError(code: "duplicate_value", field: "debts[\(i)].id",
                                  message: "debt id '\(d.id)' is already used by debts[\(j)]; debt ids are unique per debtor")
            }
        }
        var quiet: [QuietTime] = []
        if let arr = try optionalArray(v, "quiet", "") {
            for (i, q) in arr.enumerated() { quiet.append(try quietTime(q, "quiet[\(i)]", &ctx)) }
        }
        return Debtor(id: id, jurisdiction: jurisdiction, zone: zone, status: status, segment: segment,
                      phones: phones, debts: debts, quiet: quiet)
    }

    func phone(_ v: JSONValue, _ path: String, _ ctx: inout Context) throws(RecordError) -> Phone {
        let o = try object(v, path)
        ctx.unknown(o, known: ["number", "kind", "zone", "owner", "optedOut"], path: path)
        let number = try requiredString(v, "number", path)
        guard Self.isE164(number) else {
            throw RecordError(code: "invalid_value", field: join(path, "number"),
                              message: "'\(number)' is not an E.164 number such as +16175550100")
        }
        let kind: PhoneKind = try optionalEnum(v, "kind", path) ?? .other
        let zone = try optionalZone(v, "zone", path)
        let owner: PhoneOwner = try optionalEnum(v, "owner", path) ?? .debtor
        var optedOut = false
        if let b = v["optedOut"] {
            guard case .bool(let x) = b else { throw wrongType(join(path, "optedOut"), "a boolean", b) }
            optedOut = x
        }
        return Phone(number: number, kind: kind, zone: zone, owner: owner, optedOut: optedOut)
    }

    func debt(_ v: JSONValue, _ path: String, _ ctx: inout Context) throws(RecordError) -> Debt {
        let o = try object(v, path)
        ctx.unknown(o, known: ["id", "balance", "currency"], path: path)
        let id = try requiredID(v, "id", path)
        let balance = try requiredMoney(v, "balance", path)
        let currency = try requiredString(v, "currency", path)
        guard ISO4217.codes.contains(currency) else {
            throw RecordError(code: "invalid_value", field: join(path, "currency"),
                              message: "'\(currency)' is not an ISO 4217 currency code such as USD or IDR")
        }
        return Debt(id: id, balance: balance, currency: currency)
    }

    static let dayNames = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

    func quietTime(_ v: JSONValue, _ path: String, _ ctx: inout Context) throws(RecordError) -> QuietTime {
        let o = try object(v, path)
        ctx.unknown(o, known: ["days", "from", "to"], path: path)
        var days: [Int] = []
        if let arr = try optionalArray(v, "days", path) {
            for (i, d) in arr.enumerated() {
                let f = join(path, "days") + "[\(i)]"
                guard case .string(let s) = d else { throw wrongType(f, "a string", d) }
                guard let idx = Self.dayNames.firstIndex(of: s.lowercased()) else {
                    throw RecordError(code: "unknown_value", field: f,
                                      message: "unknown day '\(s)'; allowed: \(Self.dayNames.joined(separator: ", "))")
                }
                days.append(idx + 1)
            }
        }
        let from = try clock(v, "from", path, defaultMinute: 0)
        let to = try clock(v, "to", path, defaultMinute: 1440)
        guard from < to else {
            throw RecordError(code: "invalid_value", field: join(path, "to"),
                              message: "must be later than 'from' (quiet times do not wrap midnight; use two entries)")
        }
        return QuietTime(days: days, fromMinute: from, toMinute: to)
    }

    func clock(_ v: JSONValue, _ key: String, _ path: String, defaultMinute: Int) throws(RecordError) -> Int {
        guard let s = try optionalString(v, key, path) else { return defaultMinute }
        let b = Array(s.utf8)
        guard b.count == 5, b[2] == UInt8(ascii: ":"), let h = CivilTime.digits(b, 0, 2),
            let m = CivilTime.digits(b, 3, 2), m < 60, h < 24 || (h == 24 && m == 0)
        else {
            throw RecordError(code: "invalid_value", field: join(path, key),
                              message: "'\(s)' is not a local time HH:MM between 00:00 and 24:00")
        }
        return h * 60 + m
    }

    func outcome(_ v: JSONValue, _ ctx: inout Context) throws(RecordError) -> OutcomeEvent {
        let o = try object(v, "")
        try checkType(v, "outcome")
        ctx.unknown(o, known: ["type", "attempt", "debtor", "debt", "phone", "at", "outcome", "lease", "promise",
                               "callbackAt"], path: "")
        let attempt = try requiredID(v, "attempt", "")
        let debtor = try requiredID(v, "debtor", "")
        let debt = try requiredID(v, "debt", "")
        let phone = try requiredString(v, "phone", "")
        let at = try eventTime(v, "at")
        let outcome: Outcome = try requiredEnum(v, "outcome", "")
        let lease = try optionalString(v, "lease", "")
        var promise: PromiseTerms?
        if let p = v["promise"], p != .null {
            let po = try object(p, "promise")
            ctx.unknown(po, known: ["amount", "due"], path: "promise")
            let amount = try requiredMoney(p, "amount", "promise")
            let due = try requiredString(p, "due", "promise")
            guard let dueDay = CivilTime.parseDate(due) else {
                throw RecordError(code: "invalid_value", field: "promise.due",
                                  message: "'\(due)' is not a calendar date YYYY-MM-DD")
            }
            // The call's date in UTC; the debtor's local date is at most one day either side of it.
            let callDay = at >= 0 ? at / 86_400 : (at - 86_399) / 86_400
            if dueDay < callDay - 1 {
                throw RecordError(code: "invalid_value", field: "promise.due",
                                  message: "'\(due)' is before the call (at \(RFC3339.formatUTC(at))): a promise is "
                                      + "due on or after the day it is made")
            }
            if dueDay > callDay + Self.maxDaysAhead {
                throw RecordError(code: "invalid_value", field: "promise.due",
                                  message: "'\(due)' is more than \(Self.maxDaysAhead) days after the call (at "
                                      + "\(RFC3339.formatUTC(at))); check the year: a promise holds the debt until "
                                      + "it is due")
            }
            promise = PromiseTerms(amount: amount, due: due)
        }
        if outcome == .promiseToPay, promise == nil {
            throw RecordError(code: "missing_field", field: "promise",
                              message: "required when outcome is promise_to_pay ({\"amount\":...,\"due\":\"YYYY-MM-DD\"})")
        }
        var callbackAt: UnixSeconds?
        if v["callbackAt"] != nil, v["callbackAt"] != .null {
            let t = try requiredTime(v, "callbackAt", "")
            if t > at + Self.maxDaysAhead * 86_400 {
                throw RecordError(code: "invalid_time", field: "callbackAt",
                                  message: "\(RFC3339.formatUTC(t)) is more than \(Self.maxDaysAhead) days after the "
                                      + "call (at \(RFC3339.formatUTC(at))); check the year")
            }
            callbackAt = t
        }
        // Fields that only one outcome reads: kept (they are what the dialer sent) but said to change nothing.
        if promise != nil, outcome != .promiseToPay {
            ctx.warnings.append(RecordWarning(
                code: "ignored_field", field: "promise",
                message: "only a promise_to_pay outcome holds the debt for a promise; with \(outcome.rawValue) it is "
                    + "ignored"))
        }
        if callbackAt != nil, outcome != .callbackRequested {
            ctx.warnings.append(RecordWarning(
                code: "ignored_field", field: "callbackAt",
                message: "only a callback_requested outcome consents to a callback; with \(outcome.rawValue) it is "
                    + "ignored"))
        }
        return OutcomeEvent(attempt: attempt, debtor: debtor, debt: debt, phone: phone, at: at, outcome: outcome,
                            lease: lease, promise: promise, callbackAt: callbackAt)
    }

    func payment(_ v: JSONValue, _ ctx: inout Context) throws(RecordError) -> PaymentEvent {
        let o = try object(v, "")
        try checkType(v, "payment")
        ctx.unknown(o, known: ["type", "payment", "debtor", "debt", "amount", "currency", "at"], path: "")
        let payment = try requiredID(v, "payment", "")
        let debtor = try requiredID(v, "debtor", "")
        let debt = try requiredID(v, "debt", "")
        let amount = try requiredMoney(v, "amount", "")
        let at = try eventTime(v, "at")
        let currency = try optionalString(v, "currency", "")
        if let currency, !ISO4217.codes.contains(currency) {
            throw RecordError(code: "invalid_value", field: "currency",
                              message: "'\(currency)' is not an ISO 4217 currency code such as USD or IDR")
        }
        return PaymentEvent(payment: payment, debtor: debtor, debt: debt, amount: amount, at: at, currency: currency)
    }

    // MARK: Field helpers

    /// Whether `s` is an E.164 number: `+`, a non-zero digit, 7 to 15 digits in all.
    public static func isE164(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard b.count >= 8, b.count <= 16, b[0] == UInt8(ascii: "+"), b[1] != UInt8(ascii: "0") else { return false }
        return b.dropFirst().allSatisfy { $0 >= 48 && $0 <= 57 }
    }

    /// The members of the object `v` at `path`. Throws `wrong_type` when `v` is not an object, and
    /// `duplicate_key` (naming the key) when a member name appears twice: JSON leaves a repeated name's meaning
    /// open, and on a write path taking one of them silently (`{"debtor":"a","debtor":"b"}`) could apply an event
    /// to the wrong debtor.
    func object(_ v: JSONValue, _ path: String) throws(RecordError) -> [(String, JSONValue)] {
        guard case .object(let o) = v else {
            throw RecordError(code: "wrong_type", field: path,
                              message: "expected a JSON object, found \(v.typeName)")
        }
        if let key = v.repeatedKey {
            let values = o.filter { $0.0 == key }.map { Self.preview($0.1) }
            throw RecordError(code: "duplicate_key", field: join(path, key),
                              message: "duplicate key: '\(key)' appears \(values.count) times in this object "
                                  + "(\(values.joined(separator: ", "))); give each key once")
        }
        return o
    }

    /// A short rendering of a JSON value for error messages: strings and numbers as written (at most 32
    /// characters), other values by type.
    static func preview(_ v: JSONValue) -> String {
        switch v {
        case .string(let s): return s.count > 32 ? JSONWriter.quoted(String(s.prefix(32))) + "…" : JSONWriter.quoted(s)
        case .number(let n): return n.count > 32 ? String(n.prefix(32)) + "…" : n
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        default: return v.typeName
        }
    }

    func wrongType(_ field: String, _ expected: String, _ found: JSONValue) -> RecordError {
        RecordError(code: "wrong_type", field: field, message: "expected \(expected), found \(found.typeName)")
    }

    func optionalString(_ v: JSONValue, _ key: String, _ path: String) throws(RecordError) -> String? {
        guard let x = v[key], x != .null else { return nil }
        guard case .string(let s) = x else { throw wrongType(join(path, key), "a string", x) }
        return s
    }

    func requiredString(_ v: JSONValue, _ key: String, _ path: String) throws(RecordError) -> String {
        guard let s = try optionalString(v, key, path) else {
            throw RecordError(code: "missing_field", field: join(path, key), message: "required field is missing")
        }
        guard !s.isEmpty else {
            throw RecordError(code: "invalid_value", field: join(path, key), message: "must not be empty")
        }
        return s
    }

    /// A required id: a non-empty string of at most ``maxIDBytes`` bytes of UTF-8 without control characters.
    func requiredID(_ v: JSONValue, _ key: String, _ path: String) throws(RecordError) -> String {
        let id = try requiredString(v, key, path)
        try checkID(id, join(path, key))
        return id
    }

    /// Throws when `id` is longer than ``maxIDBytes`` bytes of UTF-8 or holds a control character.
    func checkID(_ id: String, _ field: String) throws(RecordError) {
        let bytes = id.utf8.count
        if bytes > Self.maxIDBytes {
            throw RecordError(code: "invalid_value", field: field,
                              message: "'\(id.prefix(16))…' is \(bytes) bytes long in UTF-8 (\(id.count) characters); "
                                + "ids are at most \(Self.maxIDBytes) bytes")
        }
        if id.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            throw RecordError(code: "invalid_value", field: field,
                              message: "contains a control character (U+0000–U+001F or U+007F); ids are printable text")
        }
    }

    func optionalArray(_ v: JSONValue, _ key: String, _ path: String) throws(RecordError) -> [JSONValue]? {
        guard let x = v[key], x != .null else { return nil }
        guard case .array(let a) = x else { throw wrongType(join(path, key), "an array", x) }
        return a
    }

    func optionalEnum<E: RawRepresentable & CaseIterable>(_ v: JSONValue, _ key: String, _ path: String)
        throws(RecordError) -> E? where E.RawValue == String
    {
        guard let s = try optionalString(v, key, path) else { return nil }
        guard let e = E(rawValue: s) else {
            throw RecordError(code: "unknown_value", field: join(path, key),
                              message: "unknown value '\(s)'; allowed: "
                                + E.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return e
    }

    func requiredEnum<E: RawRepresentable & CaseIterable>(_ v: JSONValue, _ key: String, _ path: String)
        throws(RecordError) -> E where E.RawValue == String
    {
        guard let e: E = try optionalEnum(v, key, path) else {
            throw RecordError(code: "missing_field", field: join(path, key), message: "required field is missing")
        }
        return e
    }

    /// The most phones, debts or quiet times one debtor may list (the engine packs each count in a byte).
    public static let maxListEntries = 255

    static func checkCount(_ entries: [JSONValue], _ field: String) throws(RecordError) {
        guard entries.count > maxListEntries else { return }
        throw RecordError(
            code: "out_of_range", field: field,
            message: "\(entries.count) entries; a debtor lists at most \(maxListEntries) \(field == "quiet" ? "quiet times" : field)")
    }

    /// IANA zones that are one fixed offset, or name no place: a debtor's local time follows the law of a place,
    /// its daylight saving time included (`EST` for a Boston debtor shifts the window by an hour all summer).
    static let fixedOffsetZones: Set<String> = [
        "EST", "MST", "HST", "GMT", "GMT0", "GMT+0", "GMT-0", "UTC", "UCT", "Universal", "Zulu", "Greenwich",
    ]

    /// Whether `name` is an IANA zone of a place (not a fixed offset such as `EST` or `Etc/GMT+5`): what a debtor's
    /// zone and a simulated floor's zone must be. It does not check that the tz database has it.
    public static func isPlaceZone(_ name: String) -> Bool {
        !name.hasPrefix("Etc/") && !fixedOffsetZones.contains(name)
    }

    func optionalZone(_ v: JSONValue, _ key: String, _ path: String) throws(RecordError) -> String? {
        guard let z = try optionalString(v, key, path) else { return nil }
        guard zones.zone(named: z) != nil else {
            throw RecordError(code: "unknown_zone", field: join(path, key), message: "unknown IANA time zone '\(z)'")
        }
        if !Self.isPlaceZone(z) {
            throw RecordError(
                code: "unknown_zone", field: join(path, key),
                message: "'\(z)' is a fixed offset, not a place: give the IANA zone of the place (such as "
                    + "America/New_York), whose daylight saving time the calling window follows")
        }
        return z
    }

    /// The earliest `at` an outcome or a payment may have: 2000-01-01T00:00:00Z. An earlier one is a mistyped year
    /// or a zero or missing time (1970-01-01) of the system that sent it, not a call or payment of the accounts
    /// being collected.
    public static let earliestEventTime: UnixSeconds = 946_684_800
    /// How many days after the call a promise may fall due or a callback be asked for (a mistyped year would hold
    /// the debt until then). Later ones are refused.
    public static let maxDaysAhead: Int64 = 366

    /// A required event time (`at` of an outcome or a payment), not before ``earliestEventTime``. How far ahead of
    /// the server's clock it may be is the engine's check (it knows the clock).
    func eventTime(_ v: JSONValue, _ key: String) throws(RecordError) -> UnixSeconds {
        let t = try requiredTime(v, key, "")
        if t < Self.earliestEventTime {
            throw RecordError(code: "invalid_time", field: key,
                              message: "\(RFC3339.formatUTC(t)) is before 2000-01-01T00:00:00Z: check the year, and "
                                  + "that the time was set")
        }
        return t
    }

    func requiredTime(_ v: JSONValue, _ key: String, _ path: String) throws(RecordError) -> UnixSeconds {
        guard let x = v[key], x != .null else {
            throw RecordError(code: "missing_field", field: join(path, key), message: "required field is missing")
        }
        guard case .string(let s) = x else { throw wrongType(join(path, key), "an RFC 3339 string", x) }
        guard let t = RFC3339.parse(s) else {
            throw RecordError(code: "invalid_time", field: join(path, key),
                              message: "'\(s)' is not an RFC 3339 time with an offset, e.g. 2026-11-30T14:05:00Z")
        }
        return t
    }

    func requiredMoney(_ v: JSONValue, _ key: String, _ path: String) throws(RecordError) -> Money {
        let f = join(path, key)
        guard let x = v[key], x != .null else {
            throw RecordError(code: "missing_field", field: f, message: "required field is missing")
        }
        let text: String
        switch x {
        case .string(let s): text = s
        case .number(let n): text = n
        default: throw wrongType(f, "a decimal string or number", x)
        }
        // The parse accepts digits with at most one '.' and 4 decimals; an amount also needs a digit on each side
        // of the '.' and may not pass the maximum. Only a refused amount is diagnosed (`moneyProblem`, which
        // accepts exactly these).
        let dot = UInt8(ascii: ".")
        if let m = Money(decimal: text), m <= Self.maxAmount, text.utf8.first != dot, text.utf8.last != dot {
            return m
        }
        throw RecordError(code: "invalid_money", field: f,
                          message: Self.moneyProblem(text) ?? "'\(text)' is not a decimal amount")
    }

    /// The largest amount accepted (balances, payments, promises): 1,000,000,000,000 (10^12) units of the
    /// currency, a bound that leaves sums of many amounts (payments against one debt) far from the 64-bit
    /// limit of the exact representation (ten-thousandths in an `Int64`).
    public static let maxAmount = Money(tenThousandths: 1_000_000_000_000 * 10_000)

    /// Why `text` (a decimal string, or a JSON number as written) is not an acceptable amount, or nil when it is
    /// one: digits, optionally one `.` followed by 1 to 4 digits, at most ``maxAmount``. The reason names the
    /// problem: a sign (`-0.00` is "has a minus sign", `-5` is "negative"), an exponent, a character that is not
    /// allowed, a missing digit around the point, too many decimal places, too large.
    static func moneyProblem(_ text: String) -> String? {
        let shown = text.count > 40 ? String(text.prefix(40)) + "…" : text
        let b = Array(text.utf8)
        guard !b.isEmpty else { return "the amount is empty; write a decimal amount such as \"1250.00\"" }
        func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
        func isNumeric(_ s: ArraySlice<UInt8>) -> Bool {
            s.contains(where: isDigit) && s.allSatisfy { isDigit($0) || $0 == UInt8(ascii: ".") }
        }
        let signed = b[0] == UInt8(ascii: "-") || b[0] == UInt8(ascii: "+")
        if let e = b.firstIndex(where: { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }),
            isNumeric(b[(signed ? 1 : 0)..<e])
        {
            return "'\(shown)' has an exponent; write the amount in plain decimal digits, such as \"1250.00\""
        }
        if signed, isNumeric(b[1...]) {
            if b[0] == UInt8(ascii: "+") {
                return "'\(shown)' has a plus sign; write amounts without a sign, such as \"1250.00\""
            }
            if !b[1...].contains(where: { $0 >= UInt8(ascii: "1") && $0 <= UInt8(ascii: "9") }) {
                return "'\(shown)' has a minus sign; amounts are written without a sign (zero is \"0\")"
            }
            return "'\(shown)' is negative; amounts must be ≥ 0"
        }
        if let bad = text.unicodeScalars.first(where: { !("0"..."9").contains($0) && $0 != "." }) {
            let character = bad.value < 0x20 || bad.value == 0x7F || bad == " "
                ? "U+" + String(bad.value, radix: 16, uppercase: true) : "'\(bad)'"
            return "'\(shown)' contains \(character); an amount is digits with one '.' as the decimal point (no "
                + "thousands separators, spaces or currency symbols), such as \"1250.00\""
        }
        let dots = b.indices.filter { b[$0] == UInt8(ascii: ".") }
        if dots.count > 1 { return "'\(shown)' has more than one '.'" }
        let integerDigits = dots.first ?? b.count
        let decimals = dots.first.map { b.count - $0 - 1 }
        if integerDigits == 0 || decimals == 0 {
            return "'\(shown)' needs digits on both sides of the '.', such as \"0.50\" or \"12.00\""
        }
        if let decimals, decimals > 4 {
            return "'\(shown)' has \(decimals) decimal places; at most 4"
        }
        // Compare as digit strings (no overflow whatever the length): the integer part without leading zeros
        // against the maximum's; at equal integer parts, any non-zero fraction is over.
        let integer = Array(b[..<integerDigits].drop { $0 == UInt8(ascii: "0") })
        let maxUnits = Array(String(maxAmount.tenThousandths / 10_000).utf8)
        let fractionIsZero = dots.first.map { b[($0 + 1)...].allSatisfy { $0 == UInt8(ascii: "0") } } ?? true
        let over = integer.count != maxUnits.count
            ? integer.count > maxUnits.count
            : (integer == maxUnits ? !fractionIsZero : maxUnits.lexicographicallyPrecedes(integer))
        if over {
            return "'\(shown)' is larger than the maximum \(String(maxAmount.tenThousandths / 10_000))"
        }
        return nil
    }
}

func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : path + "." + key }

/// Jurisdiction codes: ISO 3166-1 / 3166-2, plus `US-NY-NYC`.
public enum Jurisdiction {
    /// Whether `code` looks like `CC`, `CC-SUB` or `CC-SUB-CITY` (upper-case letters and digits).
    public static func isWellFormed(_ code: String) -> Bool {
        let parts = code.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...3).contains(parts.count), parts[0].utf8.count == 2,
            parts[0].utf8.allSatisfy({ $0 >= 65 && $0 <= 90 })
        else { return false }
        return parts.dropFirst().allSatisfy {
            (1...3).contains($0.utf8.count) && $0.utf8.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) }
        }
    }
}
