// CONTRACT STUB (skeleton): the Core work replaces the internals of this file.

/// The scheduling decision for one open debt of a debtor.
public struct Decision: Sendable, Hashable {
    public var debtor: String
    public var debt: String
    /// The phone to dial, nil when no phone may be dialed.
    public var phone: String?
    /// The earliest permitted instant (`now` when a call is permitted now); nil = never.
    public var earliest: UnixSeconds?
    /// The best instant within the horizon; nil = never.
    public var best: UnixSeconds?
    /// The end of the permitted window that contains `earliest`.
    public var windowEnds: UnixSeconds?
    /// The value of calling at `best` (ranking uses `score(at:)`).
    public var score: Double
    /// Why it was blocked when `earliest` is nil (for example "status cease").
    public var blockedReason: String?
    /// Human-readable reasons: the binding rule, the best bucket, cap usage.
    public var reasons: [String]
    public init(
        debtor: String, debt: String, phone: String?, earliest: UnixSeconds?, best: UnixSeconds?,
        windowEnds: UnixSeconds?, score: Double, blockedReason: String?, reasons: [String]
    ) {
        self.debtor = debtor
        self.debt = debt
        self.phone = phone
        self.earliest = earliest
        self.best = best
        self.windowEnds = windowEnds
        self.score = score
        self.blockedReason = blockedReason
        self.reasons = reasons
    }
}

/// What is known of a debtor's past: attempts, promises, payments, disputes.
public struct DebtorHistory: Sendable, Hashable {
    public var outcomes: [OutcomeEvent]
    public var payments: [PaymentEvent]
    public init(outcomes: [OutcomeEvent] = [], payments: [PaymentEvent] = []) {
        self.outcomes = outcomes
        self.payments = payments
    }
    /// Adds an outcome in time order.
    public mutating func record(_ outcome: OutcomeEvent) { outcomes.append(outcome) }
    /// Adds a payment in time order.
    public mutating func record(_ payment: PaymentEvent) { payments.append(payment) }
}

/// The pure decision function: rule packs + house rules + zones + the propensity model.
public struct ContactPolicy: Sendable {
    public init() {}

    /// Decides every open debt of `debtor` at `now`. The same inputs give the same output.
    public func decide(for debtor: Debtor, history: DebtorHistory, now: UnixSeconds) -> [Decision] {
        guard debtor.status == .active, let phone = debtor.phones.first(where: { $0.owner == .debtor }) else {
            return debtor.debts.map {
                Decision(debtor: debtor.id, debt: $0.id, phone: nil, earliest: nil, best: nil, windowEnds: nil,
                         score: 0, blockedReason: "status \(debtor.status.rawValue)", reasons: [])
            }
        }
        return debtor.debts.map {
            Decision(debtor: debtor.id, debt: $0.id, phone: phone.number, earliest: now, best: now,
                     windowEnds: now + 3600, score: Double($0.balance.tenThousandths) / 1e8,
                     blockedReason: nil, reasons: ["stub"])
        }
    }
}
