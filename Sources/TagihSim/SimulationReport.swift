/// One simulated day of one strategy.
public struct DayReport: Sendable, Hashable, Codable {
    /// The floor's local date, `YYYY-MM-DD`.
    public var date: String
    public var dials: Int
    public var rightPartyContacts: Int
    public var promises: Int
    public var keptPromises: Int
    /// Amount collected that day (USD equivalent at fixed rates).
    public var collected: Double
    public var abandoned: Int
    public var liveAnswers: Int
    public var agentHours: Double
    public var busyAgentHours: Double
    /// Agent hours idle because the strategy handed out no lead: none was permitted, or (tagih on the engine) the
    /// permitted ones were held by the best-time gate for a better hour.
    public var starvedAgentHours: Double
    public var blockedCalls: Int
    public var violations: Int
    /// Share of debtors attempted so far.
    public var attemptedShare: Double
    /// Share of debtors reached (right party) so far.
    public var reachedShare: Double
}

/// The results of one strategy on the simulated world.
public struct StrategyReport: Sendable, Hashable, Codable {
    public var strategy: String
    /// Placed attempts.
    public var dials: Int
    /// Right-party contacts.
    public var rightPartyContacts: Int
    public var rpcPerDial: Double
    public var rpcPerAgentHour: Double
    /// Staffed agent hours (the same for every strategy of a run).
    public var agentHours: Double
    public var promises: Int
    /// Sum of promised amounts (USD equivalent).
    public var promisedAmount: Double
    public var keptPromises: Int
    public var brokenPromises: Int
    /// Payments on calls and kept promises (USD equivalent at fixed rates).
    public var collected: Double
    /// Share of debtors attempted at least once.
    public var penetrationAttempted: Double
    /// Share of debtors reached (right party) at least once.
    public var penetrationReached: Double
    /// First day (1-based) on which agents sat idle for lack of leads (see `starvedAgentHours`: none permitted, or
    /// held by tagih's best-time gate) for ≥ 25 % of staffed time.
    public var exhaustionDay: Int?
    public var starvedAgentHours: Double
    /// Busy (talk, wrap, reserved ring) time / staffed time.
    public var occupancy: Double
    /// Abandoned calls / live answers.
    public var abandonRate: Double
    public var abandoned: Int
    public var liveAnswers: Int
    /// Counted calls (every attempt but busy and not in service; consented callbacks excluded).
    public var countedCalls: Int
    /// Counted calls per debt per 7 days: the run's counted calls per debt, scaled to 7 days for a run of 7 days or
    /// more; a shorter run is one 7-day window and is not scaled up.
    public var countedCallsPerDebtPerWeek: Double
    /// Share of counted calls that brought a debt to its 7-in-7 cap.
    public var callsAtCapShare: Double
    /// Calls the strategy wanted that the permission check (Core or Engine) refused.
    public var blockedCalls: Int
    /// Violations found by the simulator's independent checker; must be 0.
    public var violations: Int
    public var violationExamples: [String]
    /// Violations by rule.
    public var violationsByRule: [String: Int]
    /// How often the decision function ran.
    public var decisions: Int
    /// What drove the strategy (`ContactPolicy` or `Engine`).
    public var backend: String
    /// Wall-clock seconds the run took.
    public var wallSeconds: Double
    public var perDay: [DayReport]
}

/// A simulation report: the run's parameters and one result per strategy.
public struct SimulationReport: Sendable, Hashable, Codable {
    public var start: String
    public var days: Int
    public var agents: Int
    public var seed: UInt64
    public var dialer: String
    public var debtors: Int
    public var debts: Int
    /// The archetype mix of the hidden world.
    public var mix: [String: Double]
    /// The floor's IANA zone, in which the shifts and the start's midnight are given (absent in reports of
    /// versions before it was recorded).
    public var floorZone: String?
    public var strategies: [StrategyReport]
    /// tagih against baseline, when both ran: relative lifts (0.15 = +15 %).
    public var comparison: Comparison?

    /// Relative lifts of tagih over the baseline.
    public struct Comparison: Sendable, Hashable, Codable {
        public var rpcPerDialLift: Double
        public var collectedLift: Double
        public var rpcPerAgentHourLift: Double
    }
}

/// Progress of a running simulation, reported once per simulated day of each strategy.
public struct SimulationProgress: Sendable, Hashable, Codable {
    public var strategy: String
    /// Simulated days done for this strategy.
    public var day: Int
    public var days: Int
    /// Index of this strategy in the run and how many there are.
    public var strategyIndex: Int
    public var strategyCount: Int
    public var dials: Int
    public var rightPartyContacts: Int
    /// Overall fraction done, 0...1.
    public var fraction: Double
}
