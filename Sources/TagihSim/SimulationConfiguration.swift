public import TagihCore

/// How the dialer places calls.
public enum DialerMode: String, Sendable, Hashable, CaseIterable, Codable {
    /// The agent sees the account first (15 s), then one call; the agent waits through the ring.
    case preview
    /// One call per idle agent; the agent waits through the ring.
    case progressive
    /// Several calls per idle agent, paced to keep abandoned calls under the limit.
    case predictive
}

/// Which scheduling strategy a run uses.
public enum StrategyKind: String, Sendable, Hashable, CaseIterable, Codable {
    /// Ranks permitted debtors by the value of calling now (the policy's score and propensity).
    case tagih
    /// VICIdial-style: fixed list order, fixed retry delays, legality from the same permission check.
    case baseline
    /// Each debtor at its earliest permitted time, longest-waiting first; no learning.
    case earliest
}

/// What drives the `tagih` strategy.
public enum SimulationBackend: String, Sendable, Hashable, CaseIterable, Codable {
    /// The real `Engine` (shards, leases, store) under a virtual clock.
    case engine
    /// `ContactPolicy` directly, with the simulator keeping histories and a ranked hopper (faster).
    case policy
}

/// A work shift of part of the floor, in the floor's local time.
public struct Shift: Sendable, Hashable, Codable {
    /// ISO weekdays 1 (Monday) ... 7 (Sunday) the shift works.
    public var days: [Int]
    /// Local start minute of the day.
    public var fromMinute: Int
    /// Local end minute of the day (exclusive).
    public var toMinute: Int
    /// Share of the agents on this shift.
    public var share: Double
    /// Creates a shift.
    public init(days: [Int], fromMinute: Int, toMinute: Int, share: Double) {
        self.days = days
        self.fromMinute = fromMinute
        self.toMinute = toMinute
        self.share = share
    }
}

/// Everything a simulation run needs besides the population.
public struct SimulationConfiguration: Sendable, Hashable, Codable {
    /// The first simulated instant (aligned by the caller, usually a local midnight).
    public var start: UnixSeconds
    /// How many days to simulate. Default 30.
    public var days: Int = 30
    /// Number of agents on the floor. Default 50.
    public var agents: Int = 50
    /// The seed: the same seed, population and configuration give the same report.
    public var seed: UInt64 = 1
    /// The dialer mode. Default predictive.
    public var dialer: DialerMode = .predictive
    /// The abandoned-call limit of the predictive dialer (share of live answers). Default 0.03.
    public var abandonLimit: Double = 0.03
    /// The floor's zone, in which shifts are given. Default America/New_York.
    public var floorZone: String = "America/New_York"
    /// Shifts. Default: half the agents Mon–Sat 08:00–16:30, half Mon–Fri 12:30–21:00 (floor time).
    public var shifts: [Shift] = [
        Shift(days: [1, 2, 3, 4, 5, 6], fromMinute: 480, toMinute: 990, share: 0.5),
        Shift(days: [1, 2, 3, 4, 5], fromMinute: 750, toMinute: 1260, share: 0.5),
    ]
    /// The hidden ground truth of the world.
    public var world: WorldConfiguration = .init()
    /// Baseline retry delay after an unanswered call, in seconds. Default 4 h.
    public var baselineRetrySeconds: Int64 = 4 * 3600

    /// The tagih strategy calls a debtor now only when the value of calling now is at least this share of the
    /// value at the decision's best time (discounted); 0 calls whoever is worth most now. Default 0.5.
    public var tagihThreshold: Double = 0.5

    /// The Engine's best-time gate for the `tagih` strategy (`EngineConfiguration.holdBelowShareOfBest`): a debtor
    /// that may be called now but is worth less than this share of its value at its best time is held until then
    /// (a debtor not yet called never is). Nil turns the gate off. Default 0.7.
    public var holdBelowShareOfBest: Double? = 0.7

    /// The share of callable debtors, the lowest by value at their best time, the Engine's gate may hold
    /// (`EngineConfiguration.holdShare`). Default 0.6.
    public var holdShare: Double = 0.6

    /// What drives the `tagih` strategy. Default `.engine`.
    public var backend: SimulationBackend = .engine

    /// Creates a configuration starting at `start`.
    public init(start: UnixSeconds) { self.start = start }
}
