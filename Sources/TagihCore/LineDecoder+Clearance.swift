/// An operator's clearance line (`POST /v1/clearances`, proto-docs/lines/clearance.md): lifts a `dispute`
/// hold on one debt, or a debtor-wide `cease`. The server stamps the time it records it.
public struct ClearanceLine: Sendable, Hashable {
    /// The idempotency key: a repeat is acknowledged as a duplicate and never applied twice.
    public var clearance: String
    /// The debtor.
    public var debtor: String
    /// The hold lifted.
    public var clears: HoldClearance.Kind
    /// The disputed debt (required for `dispute`; must be absent for `cease`, which is debtor-wide).
    public var debt: String?
    /// Who cleared it, for the audit trail.
    public var by: String
    /// Why, for the audit trail (may be empty).
    public var note: String

    /// Creates a clearance line.
    public init(clearance: String, debtor: String, clears: HoldClearance.Kind, debt: String?, by: String, note: String) {
        self.clearance = clearance
        self.debtor = debtor
        self.clears = clears
        self.debt = debt
        self.by = by
        self.note = note
    }
}

extension LineDecoder {
    /// Decodes an operator clearance line.
    public static func clearance(from line: some Collection<UInt8>) throws(RecordError) -> Decoded<ClearanceLine> {
        try LineDecoder().clearance(from: line)
    }

    /// Decodes an operator clearance line.
    public func clearance(from line: some Collection<UInt8>) throws(RecordError) -> Decoded<ClearanceLine> {
        try clearance(JSONValue.parse(line))
    }

    /// Decodes a parsed clearance line; `alsoKnown` are fields its caller reads itself (no `unknown_field` warning).
    func clearance(_ v: JSONValue, alsoKnown: Set<String> = []) throws(RecordError) -> Decoded<ClearanceLine> {
        var ctx = Context()
        let o = try object(v, "")
        try checkType(v, "clearance")
        ctx.unknown(o, known: Set(["type", "clearance", "debtor", "clears", "debt", "by", "note"]).union(alsoKnown),
                    path: "")
        let id = try requiredID(v, "clearance", "")
        let debtor = try requiredID(v, "debtor", "")
        let clears: HoldClearance.Kind = try requiredEnum(v, "clears", "")
        let debt = try optionalString(v, "debt", "")
        if let debt, !debt.isEmpty { try checkID(debt, "debt") }
        switch clears {
        case .dispute where debt == nil || debt!.isEmpty:
            throw RecordError(code: "missing_field", field: "debt", message: "required when clears is dispute (the disputed debt)")
        case .cease where debt != nil:
            throw RecordError(code: "invalid_value", field: "debt",
                              message: "a cease is debtor-wide; leave debt out when clears is cease")
        default:
            break
        }
        let by = try requiredString(v, "by", "")
        let note = try optionalString(v, "note", "") ?? ""
        return Decoded(value: ClearanceLine(clearance: id, debtor: debtor, clears: clears, debt: debt, by: by, note: note),
                       warnings: ctx.warnings)
    }
}
