// Records of line protocol v1 (the API the engine, the service and the simulator build on).

/// Seconds since 1970-01-01T00:00:00Z. Every instant inside tagih is an integer.
public typealias UnixSeconds = Int64

/// A decimal amount of money, held as an integer count of 1/10,000 units (never a binary float).
public struct Money: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The amount in ten-thousandths of the currency unit.
    public var tenThousandths: Int64

    /// Creates an amount from ten-thousandths of a unit.
    public init(tenThousandths: Int64) { self.tenThousandths = tenThousandths }

    /// Parses a non-negative decimal string such as `"1250.00"`; returns nil when it is not one.
    public init?(decimal text: some StringProtocol) {
        var units: Int64 = 0
        var fraction: Int64 = 0
        var fractionDigits = 0
        var seenDot = false
        var seenDigit = false
        for ch in text.utf8 {
            if ch == UInt8(ascii: ".") {
                if seenDot { return nil }
                seenDot = true
            } else if ch >= 48 && ch <= 57 {
                seenDigit = true
                if seenDot {
                    guard fractionDigits < 4 else { return nil }
                    fraction = fraction * 10 + Int64(ch - 48)
                    fractionDigits += 1
                } else {
                    let (m, o1) = units.multipliedReportingOverflow(by: 10)
                    let (a, o2) = m.addingReportingOverflow(Int64(ch - 48))
                    if o1 || o2 || a > Int64.max / 10_000 { return nil }
                    units = a
                }
            } else {
                return nil
            }
        }
        guard seenDigit else { return nil }
        while fractionDigits < 4 { fraction *= 10; fractionDigits += 1 }
        // `units` ≤ Int64.max / 10,000, but the fraction can still carry it over (922337203685477.9999).
        let (whole, overflow) = (units * 10_000).addingReportingOverflow(fraction)
        if overflow { return nil }
        self.tenThousandths = whole
    }

    public static func < (lhs: Money, rhs: Money) -> Bool { lhs.tenThousandths < rhs.tenThousandths }

    /// The amount with two decimals, for example `"1250.00"`.
    public var description: String {
        let cents = tenThousandths / 100
        let whole = cents / 100
        let rest = cents % 100
        return "\(whole).\(rest < 10 ? "0" : "")\(rest)"
    }
}

/// A debtor's legal status; anything but `active` is a hard stop.
public enum DebtorStatus: String, Sendable, Hashable, CaseIterable {
    case active, cease, attorney, bankruptcy, deceased
}

/// What a phone number is.
public enum PhoneKind: String, Sendable, Hashable, CaseIterable { case mobile, home, work, other }

/// Whose phone number it is; only `debtor` numbers are ever scheduled.
public enum PhoneOwner: String, Sendable, Hashable, CaseIterable { case debtor, emergency, thirdParty = "third_party" }

/// One phone number of a debtor.
public struct Phone: Sendable, Hashable {
    /// E.164 number, e.g. `+16175550100`.
    public var number: String
    /// mobile | home | work | other.
    public var kind: PhoneKind
    /// The phone's IANA zone when known; otherwise the prefix table decides (or unknown).
    public var zone: String?
    /// Whose number it is; only `debtor` numbers are dialed.
    public var owner: PhoneOwner
    /// The consumer opted this number out: never dialed.
    public var optedOut: Bool
    public init(
        number: String, kind: PhoneKind = .mobile, zone: String? = nil, owner: PhoneOwner = .debtor,
        optedOut: Bool = false
    ) {
        self.number = number
        self.kind = kind
        self.zone = zone
        self.owner = owner
        self.optedOut = optedOut
    }
}

/// One obligation (account); Regulation F counts calls per debt.
public struct Debt: Sendable, Hashable {
    /// The debt (account) id.
    public var id: String
    /// The outstanding balance (payments recorded in the history are subtracted by the policy).
    public var balance: Money
    /// ISO 4217 currency code.
    public var currency: String
    public init(id: String, balance: Money, currency: String) {
        self.id = id
        self.balance = balance
        self.currency = currency
    }
}

/// A consumer-stated quiet time: on `days` (empty = every day), local minutes `from` ..< `to`.
public struct QuietTime: Sendable, Hashable {
    /// ISO weekdays 1 (Monday) ... 7 (Sunday).
    public var days: [Int]
    /// Start, local minutes after midnight (inclusive).
    public var fromMinute: Int
    /// End, local minutes after midnight (exclusive; 1440 = midnight).
    public var toMinute: Int
    public init(days: [Int], fromMinute: Int, toMinute: Int) {
        self.days = days
        self.fromMinute = fromMinute
        self.toMinute = toMinute
    }
}

/// A debtor record (line protocol v1).
public struct Debtor: Sendable, Hashable {
    /// The debtor id.
    public var id: String
    /// ISO 3166-1/3166-2 code (`US`, `US-MA`, `US-NY-NYC`, `ID`, ...): selects the rule pack.
    public var jurisdiction: String
    /// The address IANA zone, when known.
    public var zone: String?
    /// Legal status; anything but `active` is a hard stop.
    public var status: DebtorStatus
    /// Segment name for the propensity prior (`early`, `late`, ...).
    public var segment: String?
    /// Phone numbers (only `debtor`-owned ones are dialed).
    public var phones: [Phone]
    /// Debts (accounts); one decision each.
    public var debts: [Debt]
    /// Consumer-stated quiet times.
    public var quiet: [QuietTime]
    public init(
        id: String, jurisdiction: String, zone: String? = nil, status: DebtorStatus = .active,
        segment: String? = nil, phones: [Phone], debts: [Debt], quiet: [QuietTime] = []
    ) {
        self.id = id
        self.jurisdiction = jurisdiction
        self.zone = zone
        self.status = status
        self.segment = segment
        self.phones = phones
        self.debts = debts
        self.quiet = quiet
    }
}

/// The outcome of one placed call (DOMAIN.md "Outcomes and what they do").
public enum Outcome: String, Sendable, Hashable, CaseIterable {
    case busy
    case notInService = "not_in_service"
    case noAnswer = "no_answer"
    case voicemail
    case abandoned
    case rightParty = "right_party"
    case thirdParty = "third_party"
    case wrongNumber = "wrong_number"
    case promiseToPay = "promise_to_pay"
    case refused
    case dispute
    case cease
    case callbackRequested = "callback_requested"
    case paid
}

/// A promise to pay made on a call.
public struct PromiseTerms: Sendable, Hashable {
    /// The promised amount.
    public var amount: Money
    /// Due date as a local calendar date `YYYY-MM-DD`.
    public var due: String
    public init(amount: Money, due: String) {
        self.amount = amount
        self.due = due
    }
}

/// An outcome event (line protocol v1); `attempt` is the idempotency key.
public struct OutcomeEvent: Sendable, Hashable {
    /// The idempotency key.
    public var attempt: String
    /// The debtor id.
    public var debtor: String
    /// The debt the call was about.
    public var debt: String
    /// The number dialed.
    public var phone: String
    /// When the call was placed.
    public var at: UnixSeconds
    /// What happened.
    public var outcome: Outcome
    /// The lease it was dialed under (nil for calls outside a lease).
    public var lease: String?
    /// The promise, with `promise_to_pay`.
    public var promise: PromiseTerms?
    /// The requested callback time, with `callback_requested`.
    public var callbackAt: UnixSeconds?
    public init(
        attempt: String, debtor: String, debt: String, phone: String, at: UnixSeconds, outcome: Outcome,
        lease: String? = nil, promise: PromiseTerms? = nil, callbackAt: UnixSeconds? = nil
    ) {
        self.attempt = attempt
        self.debtor = debtor
        self.debt = debt
        self.phone = phone
        self.at = at
        self.outcome = outcome
        self.lease = lease
        self.promise = promise
        self.callbackAt = callbackAt
    }
}

/// A payment event (line protocol v1); `payment` is the idempotency key.
public struct PaymentEvent: Sendable, Hashable {
    /// The idempotency key.
    public var payment: String
    /// The debtor id.
    public var debtor: String
    /// The debt paid.
    public var debt: String
    /// The amount paid.
    public var amount: Money
    /// When it was paid.
    public var at: UnixSeconds
    /// The currency the sender says the amount is in (ISO 4217), when it says: checked against the debt's at
    /// ingest (a mismatch is rejected), not stored (the amount is always in the debt's currency).
    public var currency: String?
    public init(payment: String, debtor: String, debt: String, amount: Money, at: UnixSeconds, currency: String? = nil) {
        self.payment = payment
        self.debtor = debtor
        self.debt = debt
        self.amount = amount
        self.at = at
        self.currency = currency
    }
}

/// A record that could not be decoded: which field, and why.
public struct RecordError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable machine-readable code such as `invalid_json`, `missing_field`, `wrong_type`,
    /// `unknown_value`, `unknown_zone`, `invalid_money`.
    public var code: String
    /// The JSON field path, for example `phones[0].zone`; empty when the line as a whole is bad.
    public var field: String
    /// What went wrong and how to fix it.
    public var message: String
    public init(code: String, field: String, message: String) {
        self.code = code
        self.field = field
        self.message = message
    }
    public var description: String { field.isEmpty ? message : "\(field): \(message)" }
}

extension Outcome {
    /// Whether the attempt counts toward call caps (all but `busy` and `not_in_service`).
    @inlinable public var isCounted: Bool { self != .busy && self != .notInService }
    /// Whether a conversation happened (starts the 7-day block for the debt).
    @inlinable public var isConversation: Bool {
        switch self {
        case .rightParty, .promiseToPay, .refused, .dispute, .cease, .callbackRequested, .paid: return true
        default: return false
        }
    }
    /// Whether nobody was reached (feeds fatigue).
    @inlinable public var isUnanswered: Bool {
        switch self {
        case .busy, .noAnswer, .voicemail, .abandoned: return true
        default: return false
        }
    }
    /// A dense index 0..<14 (for per-outcome tables).
    @inlinable public var index: Int {
        switch self {
        case .busy: return 0
        case .notInService: return 1
        case .noAnswer: return 2
        case .voicemail: return 3
        case .abandoned: return 4
        case .rightParty: return 5
        case .thirdParty: return 6
        case .wrongNumber: return 7
        case .promiseToPay: return 8
        case .refused: return 9
        case .dispute: return 10
        case .cease: return 11
        case .callbackRequested: return 12
        case .paid: return 13
        }
    }
}

/// A placed attempt whose outcome never arrived (a lease that expired): it counts toward the caps as a
/// call that may have been dialed, and is otherwise treated like `no_answer` for retry delays.
///
/// The engine may also record a lease when it is handed out (a dialer may dial at once): give it the lease id,
/// and the outcome that later arrives with the same `lease` replaces it (`DebtorHistory.record(_:)`).
public struct UnresolvedAttempt: Sendable, Hashable {
    /// The debtor id.
    public var debtor: String
    /// The debt the call was about.
    public var debt: String
    /// The number handed out.
    public var phone: String
    /// When the lease was handed out.
    public var at: UnixSeconds
    /// The lease id, when known.
    public var lease: String?
    public init(debtor: String, debt: String, phone: String, at: UnixSeconds, lease: String? = nil) {
        self.debtor = debtor
        self.debt = debt
        self.phone = phone
        self.at = at
        self.lease = lease
    }
}

/// An operator's clearance of a hold: a resolved `dispute` (per debt) or a withdrawn `cease` (debtor-wide).
public struct HoldClearance: Sendable, Hashable {
    /// Which hold is cleared.
    public enum Kind: String, Sendable, Hashable, CaseIterable { case dispute, cease }
    /// The hold cleared.
    public var kind: Kind
    /// The debt (for `dispute`); ignored for `cease`.
    public var debt: String?
    /// When it was cleared.
    public var at: UnixSeconds
    public init(kind: Kind, debt: String? = nil, at: UnixSeconds) {
        self.kind = kind
        self.debt = debt
        self.at = at
    }
}
