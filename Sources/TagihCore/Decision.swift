/// The scheduling decision for one open debt of a debtor.
public struct Decision: Sendable, Hashable {
    /// The debtor id.
    public var debtor: String
    /// The debt (account) id.
    public var debt: String
    /// The phone to dial, nil when no phone may be dialed.
    public var phone: String?
    /// The earliest permitted instant (`now` when a call is permitted now); nil = never.
    public var earliest: UnixSeconds?
    /// The best instant within the horizon; nil = never.
    public var best: UnixSeconds?
    /// The end of the permitted window that contains `earliest`.
    public var windowEnds: UnixSeconds?
    /// The value of calling at `best` (ranking uses `ContactPolicy.score(for:history:debt:at:)`).
    public var score: Double
    /// Why it was blocked when `earliest` is nil (for example "status cease").
    public var blockedReason: String?
    /// Human-readable reasons: the binding rule, the best bucket, cap usage.
    public var reasons: [String]
    /// The debtor's primary zone (address zone, else the first candidate): the zone of local times shown.
    public var zone: String?
    /// Whether `earliest` is a consented callback (exempt from the 7-in-7 count and the conversation block).
    public var consentedCallback: Bool

    public init(
        debtor: String, debt: String, phone: String?, earliest: UnixSeconds?, best: UnixSeconds?,
        windowEnds: UnixSeconds?, score: Double, blockedReason: String?, reasons: [String], zone: String? = nil,
        consentedCallback: Bool = false
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
        self.zone = zone
        self.consentedCallback = consentedCallback
    }
}

/// What is known of a debtor's past: attempts, promises, payments, disputes, expired leases, clearances.
public struct DebtorHistory: Sendable, Hashable {
    /// Outcomes of placed calls, in time order.
    public var outcomes: [OutcomeEvent]
    /// Payments, in time order.
    public var payments: [PaymentEvent]
    /// Attempts handed out without an outcome (expired leases): counted toward caps.
    public var unresolved: [UnresolvedAttempt]
    /// Operator clearances of disputes and cease requests.
    public var clearances: [HoldClearance]

    public init(
        outcomes: [OutcomeEvent] = [], payments: [PaymentEvent] = [], unresolved: [UnresolvedAttempt] = [],
        clearances: [HoldClearance] = []
    ) {
        self.outcomes = outcomes
        self.payments = payments
        self.unresolved = unresolved
        self.clearances = clearances
    }
    /// Adds an outcome in time order. An outcome carrying a `lease` replaces the unresolved attempt recorded
    /// for that lease (so a leased call is counted once, whether its outcome arrives or the lease expires).
    public mutating func record(_ outcome: OutcomeEvent) {
        if let lease = outcome.lease, !unresolved.isEmpty {
            unresolved.removeAll { $0.lease == lease }
        }
        outcomes.append(outcome)
    }
    /// Adds a payment in time order.
    public mutating func record(_ payment: PaymentEvent) { payments.append(payment) }
    /// Adds an attempt without an outcome (a lease that expired; the dialer may have dialed): it counts.
    public mutating func record(_ attempt: UnresolvedAttempt) { unresolved.append(attempt) }
    /// Adds an operator clearance (dispute resolved, cease withdrawn).
    public mutating func record(_ clearance: HoldClearance) { clearances.append(clearance) }

    /// When a clearance of `kind` (on `debt`, for a dispute) stamped `stamp` takes effect: the stamp, or one second
    /// after the latest outcome of that hold already recorded when it is dated at or after the stamp (the same
    /// second, or a dialer clock ahead of the server's). A clearance lifts the holds recorded before it.
    public func clearanceTime(_ kind: HoldClearance.Kind, debt: String?, stamped stamp: UnixSeconds) -> UnixSeconds {
        let hold: Outcome = kind == .dispute ? .dispute : .cease
        var at = stamp
        for o in outcomes where o.outcome == hold && (kind == .cease || o.debt == debt) && o.at >= at { at = o.at + 1 }
        return at
    }
    /// Records that the lease for `debt`/`phone` handed out at `at` expired without an outcome (it counts).
    /// Does nothing when the lease is already recorded (by `recordLease`).
    public mutating func recordExpiredLease(
        debtor: String, debt: String, phone: String, at: UnixSeconds, lease: String? = nil
    ) {
        if let lease, unresolved.contains(where: { $0.lease == lease }) { return }
        unresolved.append(UnresolvedAttempt(debtor: debtor, debt: debt, phone: phone, at: at, lease: lease))
    }

    /// Records a lease when it is handed out: it counts toward the caps at once (a dialer may dial
    /// immediately) until the outcome with the same `lease` replaces it; if the lease expires it stays counted.
    public mutating func recordLease(_ lease: String, debtor: String, debt: String, phone: String, at: UnixSeconds) {
        unresolved.append(UnresolvedAttempt(debtor: debtor, debt: debt, phone: phone, at: at, lease: lease))
    }
}

extension Decision {
    /// The offsets of the stored properties (for `initialize(_:…)`).
    struct Layout {
        let debtor = MemoryLayout<Decision>.offset(of: \Decision.debtor)!
        let debt = MemoryLayout<Decision>.offset(of: \Decision.debt)!
        let phone = MemoryLayout<Decision>.offset(of: \Decision.phone)!
        let earliest = MemoryLayout<Decision>.offset(of: \Decision.earliest)!
        let best = MemoryLayout<Decision>.offset(of: \Decision.best)!
        let windowEnds = MemoryLayout<Decision>.offset(of: \Decision.windowEnds)!
        let score = MemoryLayout<Decision>.offset(of: \Decision.score)!
        let blockedReason = MemoryLayout<Decision>.offset(of: \Decision.blockedReason)!
        let reasons = MemoryLayout<Decision>.offset(of: \Decision.reasons)!
        let zone = MemoryLayout<Decision>.offset(of: \Decision.zone)!
        let consentedCallback = MemoryLayout<Decision>.offset(of: \Decision.consentedCallback)!

        init() {
            // `initialize` must write every stored property: a new one would be left uninitialized.
            let probe = Decision(debtor: "", debt: "", phone: nil, earliest: nil, best: nil, windowEnds: nil, score: 0,
                                 blockedReason: nil, reasons: [])
            precondition(Mirror(reflecting: probe).children.count == 11,
                         "Decision has a new stored property: add it to Decision.Layout and Decision.initialize")
        }
    }

    /// Initializes the uninitialized memory at `out` with the decision of these fields (the same value as
    /// `init(debtor:…)`), one stored property at a time. The decision hot path uses it: a value this large built
    /// with `init` was materialized in a temporary and copied out by the optimizer (a retain and a release of
    /// every string), and this writes each field once.
    @inline(__always)
    static func initialize(
        _ out: UnsafeMutablePointer<Decision>, layout l: Layout, debtor: String, debt: String, phone: String?,
        earliest: UnixSeconds?, best: UnixSeconds?, windowEnds: UnixSeconds?, score: Double, blockedReason: String?,
        reasons: [String], zone: String?, consentedCallback: Bool
    ) {
        let raw = UnsafeMutableRawPointer(out)
        (raw + l.debtor).initializeMemory(as: String.self, to: debtor)
        (raw + l.debt).initializeMemory(as: String.self, to: debt)
        (raw + l.phone).initializeMemory(as: String?.self, to: phone)
        (raw + l.earliest).initializeMemory(as: UnixSeconds?.self, to: earliest)
        (raw + l.best).initializeMemory(as: UnixSeconds?.self, to: best)
        (raw + l.windowEnds).initializeMemory(as: UnixSeconds?.self, to: windowEnds)
        (raw + l.score).initializeMemory(as: Double.self, to: score)
        (raw + l.blockedReason).initializeMemory(as: String?.self, to: blockedReason)
        (raw + l.reasons).initializeMemory(as: [String].self, to: reasons)
        (raw + l.zone).initializeMemory(as: String?.self, to: zone)
        (raw + l.consentedCallback).initializeMemory(as: Bool.self, to: consentedCallback)
    }
}
