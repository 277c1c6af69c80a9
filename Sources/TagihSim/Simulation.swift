public import TagihCore
import Foundation

/// A discrete-event simulation of a collections floor: agents on shifts, a dialer, ring, talk and
/// wrap times, and a hidden synthetic world that answers. Strategies see only outcomes.
///
/// The same population, configuration and seed give the same report. Not thread-safe: run one
/// strategy at a time on one instance (different instances are independent).
public final class Simulation {
    /// The default policy of a simulation: the documented house rules without human-readable reasons (a
    /// simulation never shows them, and formatting them is a large share of a decision's cost).
    public static let policy: ContactPolicy = {
        var c = PolicyConfiguration()
        c.includeReasons = false
        return ContactPolicy(configuration: c)
    }()

    /// The configuration the simulation was created with.
    public let configuration: SimulationConfiguration
    let world: World
    let policy: ContactPolicy

    /// Builds the world (visible records plus hidden truth) for `population`.
    ///
    /// - Throws: `SimulationError` (`invalid_configuration`) when days or agents are not positive,
    ///   or the floor zone is unknown.
    public init(population: [Debtor], configuration: SimulationConfiguration, policy: ContactPolicy = Simulation.policy)
        throws(SimulationError)
    {
        guard configuration.days > 0, configuration.days <= 366 else {
            throw SimulationError(code: "invalid_configuration", message: "days must be 1...366")
        }
        guard configuration.agents > 0 else {
            throw SimulationError(code: "invalid_configuration", message: "agents must be positive")
        }
        guard TimeZone(identifier: configuration.floorZone) != nil else {
            throw SimulationError(
                code: "invalid_configuration", message: "unknown floor zone '\(configuration.floorZone)'")
        }
        guard LineDecoder.isPlaceZone(configuration.floorZone) else {
            throw SimulationError(
                code: "invalid_configuration",
                message: "floor zone '\(configuration.floorZone)' is a fixed offset, not a place: give the floor's "
                    + "IANA zone (such as America/New_York)")
        }
        self.configuration = configuration
        self.policy = policy
        world = World(debtors: population, configuration: configuration)
    }

    /// Whether the ContactPolicy-backed strategies batch their re-decisions (default); tests turn it off to check
    /// that batching changes no result.
    var deferDecisions = true
    /// Whether the baseline's list walk skips blocks of debtors that cannot be candidates (default); tests turn it
    /// off to check that skipping changes no result.
    var skipWaitingBlocks = true

    /// Whether `tagih` (ContactPolicy) refills reuse scores within an hour or quarter hour (`ScoreCache`) (default);
    /// tests turn it off to check that it changes no result.
    var cacheScores = true
    /// Whether every score served from the cache is recomputed and compared (tests; environment
    /// `TAGIH_SIM_VERIFY_SCORE_CACHE=1` for the command line): a difference stops the run.
    var verifyScoreCache = ProcessInfo.processInfo.environment["TAGIH_SIM_VERIFY_SCORE_CACHE"] == "1"
    /// Whether `earliest` and `tagih` (ContactPolicy) refills rank only the debtors a pass over 4-byte codes finds
    /// permitted (`WaitingSelector`, default) instead of every slot; tests compare the two (the same result).
    /// Environment `TAGIH_SIM_RANKING=slots` for the command line: the ranking of session 5 (A/B measurements).
    var compactRanking = ProcessInfo.processInfo.environment["TAGIH_SIM_RANKING"] != "slots"

    /// How many minute batches of re-decisions may be decided in the background at once (1...255; tests vary it).
    var batchesInFlight = 64
    /// Test hook: called by a worker thread before each decision of a background batch, with the debtor's index
    /// (tests make workers slow at random to check that thread timing changes no result).
    var workerDelay: (@Sendable (Int) -> Void)?

    /// Whether `earliest` and `tagih` (ContactPolicy) walks re-decide their stale hopper entries together on all cores
    /// before checking them (`PolicyBook.decideStaleAhead`, default); tests turn it off to check that it changes no
    /// result.
    var decideStaleAhead = true
    /// Test hook: the least number of stale entries decided ahead together (nil: `PolicyBook`'s default).
    var aheadThreshold: Int?
    /// How many stale hopper entries the last run of a ContactPolicy-backed strategy re-decided ahead (tests).
    var lastAheadDecisions: Int?

    /// How many scores the last `tagih` (ContactPolicy) run took from its score cache (tests; nil: no cache).
    var lastScoreCacheHits: Int?

    /// How the background batches of the last run of a ContactPolicy-backed strategy went (tests).
    var lastBatchStatistics: PolicyBook.Statistics?

    private func makeBook(needsBestTime: Bool) -> PolicyBook {
        let book = PolicyBook(world: world, policy: policy, now: configuration.start, needsBestTime: needsBestTime,
                              deferred: deferDecisions, maxInFlight: batchesInFlight)
        book.workerDelay = workerDelay
        return book
    }

    /// Number of debtors in the world.
    public var debtorCount: Int { world.debtors.count }
    /// Number of debts in the world.
    public var debtCount: Int { world.debtCount }

    /// Runs one strategy from the start over the configured days.
    ///
    /// - Parameters:
    ///   - kind: the strategy.
    ///   - index: position of this run among `count` runs (for progress fractions).
    ///   - span: the part of the overall progress this run covers (start, width); nil: the `index`-th of `count`
    ///     equal parts.
    ///   - progress: called once per simulated day.
    ///   - attempt: when given, receives every attempt as an outcome event, in time order.
    /// - Throws: `SimulationError` (`engine_error`) when the engine cannot be opened, `cancelled` when the task was
    ///   cancelled (checked every 5 simulated seconds).
    public func run(
        _ kind: StrategyKind, index: Int = 0, of count: Int = 1, span: (start: Double, width: Double)? = nil,
        progress: (SimulationProgress) -> Void = { _ in },
        attempt: ((OutcomeEvent) -> Void)? = nil
    ) async throws(SimulationError) -> StrategyReport {
        let began = Date()
        let strategy: any DialStrategy
        var backend = "ContactPolicy"
        var engineStrategy: EngineStrategy?
        switch kind {
        case .tagih where configuration.backend == .engine:
            do {
                let e = try await EngineStrategy.open(
                    world: world, start: configuration.start, policy: policy,
                    holdBelowShareOfBest: configuration.holdBelowShareOfBest, holdShare: configuration.holdShare)
                engineStrategy = e
                strategy = e
                backend = "Engine"
            } catch {
                throw SimulationError(code: "engine_error", message: "cannot open the engine for the simulation: \(error)")
            }
        case .tagih:
            let book = makeBook(needsBestTime: true)
            if cacheScores { book.enableScoreCache(verify: verifyScoreCache) }
            strategy = TagihPolicyStrategy(book: book, threshold: configuration.tagihThreshold,
                                           compactRanking: compactRanking)
        case .earliest:
            strategy = EarliestStrategy(book: makeBook(needsBestTime: false), compactRanking: compactRanking)
        case .baseline:
            strategy = BaselineStrategy(
                book: makeBook(needsBestTime: false),
                start: configuration.start,
                retryDelay: configuration.baselineRetrySeconds, skipWaitingBlocks: skipWaitingBlocks)
        }
        if !decideStaleAhead { (strategy as? HopperStrategy)?.decidesStaleAhead = false }
        if let aheadThreshold { (strategy as? HopperStrategy)?.book.aheadThreshold = aheadThreshold }
        let floor = FloorRun(world: world, configuration: configuration, strategy: strategy, name: kind.rawValue,
                             index: index, count: count,
                             span: span ?? (Double(index) / Double(count), 1 / Double(count)))
        var report = await floor.run(progress: progress, attempt: attempt)
        if floor.cancelled {
            await engineStrategy?.close()
            throw SimulationError(
                code: "cancelled", message: "the simulation was cancelled on day \(floor.cancelledOnDay + 1) of "
                    + "\(configuration.days) of strategy \(kind.rawValue)")
        }
        lastBatchStatistics = (strategy as? HopperStrategy)?.book.statistics
        lastAheadDecisions = (strategy as? HopperStrategy)?.book.aheadUsed
        lastScoreCacheHits = (strategy as? HopperStrategy)?.book.scoreCache?.hits.load(ordering: .relaxed)
        await engineStrategy?.close()
        report.backend = backend
        report.wallSeconds = Date().timeIntervalSince(began)
        return report
    }
}

/// The state of one run: the floor, the dialer, the lines in flight, and the world's mutable truth.
final class FloorRun {
    let world: World
    let configuration: SimulationConfiguration
    let strategy: any DialStrategy
    /// The strategy when it is one of the ContactPolicy-backed ones, called synchronously.
    let hopper: HopperStrategy?
    /// `hopper` and its book, unretained (`strategy` keeps them alive): the per-event calls then cost no retain and
    /// release.
    private let hopperRef: Unmanaged<HopperStrategy>?
    private let bookRef: Unmanaged<PolicyBook>?
    let name: String
    let index: Int
    let count: Int
    /// The part of the overall progress this run covers.
    let span: (start: Double, width: Double)
    @exclusivity(unchecked) var rng: SeededRandom
    let compliance: CheckerPipeline
    @exclusivity(unchecked) var events = EventQueue()

    let start: UnixSeconds
    let end: UnixSeconds
    /// The run stopped early because its task was cancelled (see `run`).
    private(set) var cancelled = false
    /// The simulated day it stopped on (0-based), when `cancelled`.
    private(set) var cancelledOnDay = 0
    static let step: Int64 = 5
    static let slot: Int64 = 900
    @exclusivity(unchecked) var onDutyBySlot: [Int32]

    // Floor.
    @exclusivity(unchecked) var busy = 0
    @exclusivity(unchecked) var inFlight = 0
    @exclusivity(unchecked) var pacing = 0.5
    @exclusivity(unchecked) var dialsToday = 0
    @exclusivity(unchecked) var humansToday = 0

    // Lines (slots reused through a free list).
    /// A call in flight: who is dialed, what the world answered, when it was placed (one record per line, so a
    /// dial and its end write and read one array element).
    struct Line {
        var debtor: Int32
        var debt: Int32
        var phone: Int32
        var ring: Int32
        var dialAt: Int64
        var attempt: Int
        var outcome: Outcome
        var reserved: Bool
    }
    @exclusivity(unchecked) var lines: [Line] = []
    /// The lease of each line's lead; kept only when the strategy hands out leases (`keepsLeases`: the Engine),
    /// empty otherwise (every lead of the ContactPolicy-backed strategies has none).
    @exclusivity(unchecked) var lineLease: [String?] = []
    let keepsLeases: Bool
    @exclusivity(unchecked) var freeLines: [Int32] = []

    // World truth that changes.
    @exclusivity(unchecked) var balance: [Int64]
    @exclusivity(unchecked) var promiseAmount: [Int64]
    @exclusivity(unchecked) var promiseKeep: [Bool]
    /// Per debtor: what changes in the world, with a copy of the hidden truth a dial reads, in one 40-byte record
    /// (a dial and its outcome touch one cache line of it instead of one per array).
    struct DebtorState {
        var callbackAt = Int64.min
        /// The last four unanswered attempts, minutes since start (0 = empty).
        var unanswered: (Int32, Int32, Int32, Int32) = (0, 0, 0, 0)
        var baseRPC: Float
        var primaryZone: Int32
        var talks: UInt16 = 0
        /// Dials placed to the debtor so far: the stream number of the next dial's draws (`dialRandom`).
        var dials: UInt16 = 0
        var archetype: Archetype
        var attempted = false
        var reached = false
        var broken: UInt8 = 0
    }
    let state: UnsafeMutablePointer<DebtorState>
    private let stateCount: Int
    /// `pow(world.fatigue, k)` for the 0...4 recent unanswered attempts a dial can count (the same values, without
    /// a `pow` call per dial).
    let fatiguePower: [Double]
    /// Per phone, the hidden truth a dial reads (3 bytes instead of three arrays).
    struct PhoneTruth {
        var dead: Bool
        var wrong: Bool
        var kind: PhoneKind
    }
    let phoneTruth: UnsafeMutablePointer<PhoneTruth>
    private let phoneCount: Int
    /// The world's zone offsets in one table (set after the floor zone is interned).
    let clock: FlatZoneClock
    @exclusivity(unchecked) var dueBuckets: [[Int32]]
    @exclusivity(unchecked) var attemptedCount = 0
    @exclusivity(unchecked) var reachedCount = 0

    // Counters.
    @exclusivity(unchecked) var totals = Counters()
    @exclusivity(unchecked) var dayStartTotals = Counters()
    @exclusivity(unchecked) var perDay: [DayReport] = []
    @exclusivity(unchecked) var attemptCounter = 0
    @exclusivity(unchecked) var pendingLog: [(OutcomeEvent, Int)] = []
    @exclusivity(unchecked) var leadBuffer: [Lead] = []
    @exclusivity(unchecked) var exhaustionDay: Int?
    @exclusivity(unchecked) var recordAttempts = false
    @exclusivity(unchecked) var attemptIDs = true
    @exclusivity(unchecked) var needsEvents = true

    struct Counters {
        var dials = 0
        var rpc = 0
        var promises = 0
        var promisedAmount = 0.0
        var kept = 0
        var broken = 0
        var collected = 0.0
        var abandoned = 0
        var live = 0
        var agentSeconds: Int64 = 0
        var busySeconds: Int64 = 0
        var starvedSeconds: Int64 = 0
    }

    init(world: World, configuration: SimulationConfiguration, strategy: any DialStrategy, name: String, index: Int,
         count: Int, span: (start: Double, width: Double))
    {
        self.world = world
        self.configuration = configuration
        self.strategy = strategy
        self.hopper = strategy as? HopperStrategy
        hopperRef = hopper.map { Unmanaged.passUnretained($0) }
        bookRef = hopper.map { Unmanaged.passUnretained($0.book) }
        keepsLeases = hopper == nil
        self.name = name
        self.index = index
        self.count = count
        self.span = span
        rng = SeededRandom(seed: configuration.seed, stream: 0xF100_12)
        compliance = CheckerPipeline(world: world)
        fatiguePower = (0...4).map { pow(configuration.world.fatigue, Double($0)) }
        start = configuration.start
        end = configuration.start + Int64(configuration.days) * 86_400
        let debts = world.debtCount
        let n = world.debtors.count
        balance = world.debtBalance
        promiseAmount = [Int64](repeating: 0, count: debts)
        promiseKeep = [Bool](repeating: false, count: debts)
        state = .allocate(capacity: max(n, 1))
        stateCount = n
        phoneCount = world.phoneCount
        phoneTruth = .allocate(capacity: max(phoneCount, 1))
        // Both record arrays on all cores (disjoint pieces).
        let records = Unchecked((state, phoneTruth, world))
        Parallel.forEachChunk(count: n) { range in
            let (state, phoneTruth, world) = records.value
            for i in range {
                (state + i).initialize(to: DebtorState(
                    baseRPC: world.baseRPC[i], primaryZone: world.primaryZone[i], archetype: world.archetype[i]))
            }
            guard !range.isEmpty else { return }
            for p in Int(world.phoneStart[range.lowerBound])..<Int(world.phoneStart[range.upperBound]) {
                (phoneTruth + p).initialize(to: PhoneTruth(
                    dead: world.phoneDead[p], wrong: world.phoneWrong[p], kind: world.phoneKind[p]))
            }
        }
        dueBuckets = [[Int32]](repeating: [], count: configuration.days + 40)
        // Staffing per 15-minute slot in the floor's zone.
        var clock = world.clock
        let floorZone = clock.intern(configuration.floorZone) ?? 0
        let slots = Int((end - start) / Self.slot) + 1
        onDutyBySlot = [Int32](repeating: 0, count: slots)
        let perShift = configuration.shifts.map { Int((Double(configuration.agents) * $0.share).rounded()) }
        for s in 0..<slots {
            let t = start + Int64(s) * Self.slot
            let local = clock.local(floorZone, t)
            let minute = LocalTime.minute(local)
            let weekday = LocalTime.weekday(day: LocalTime.day(local))
            var agents = 0
            for (k, shift) in configuration.shifts.enumerated()
            where shift.days.contains(weekday) && minute >= shift.fromMinute && minute < shift.toMinute {
                agents += perShift[k]
            }
            onDutyBySlot[s] = Int32(agents)
        }
        world.clock = clock
        self.clock = clock.flattened()
    }

    deinit {
        state.deinitialize(count: stateCount)
        state.deallocate()
        phoneTruth.deallocate()
    }

    /// The callback time the agent and the debtor agree on: the debtor's asked time (a whole local hour, 10–18 h)
    /// when a shift works at it and 45 minutes later, else the next whole hour from 08 to 19 h in the debtor's local
    /// time (`localOffset`: local minus UTC seconds, at the call) of which that holds, within 7 days; the asked time
    /// when none does. An agent does not book a callback for an hour when nobody works.
    func callbackTime(asked: UnixSeconds, localOffset: Int64) -> UnixSeconds {
        var t = asked
        for _ in 0..<(7 * 24) {
            let hour = ((t + localOffset) % 86_400 + 86_400) % 86_400 / 3600
            if hour >= 8 && hour < 20 && onDuty(t) > 0 && onDuty(t + 3600 - Self.slot) > 0 { return t }
            t += 3600
        }
        return asked
    }

    @inline(__always)
    func onDuty(_ t: UnixSeconds) -> Int {
        let s = Int((t - start) / Self.slot)
        return s >= 0 && s < onDutyBySlot.count ? Int(onDutyBySlot[s]) : 0
    }

    func run(progress: (SimulationProgress) -> Void, attempt: ((OutcomeEvent) -> Void)?) async -> StrategyReport {
        recordAttempts = attempt != nil
        // Attempt ids are idempotency keys: the attempt log and the engine need them, the policy strategies do not.
        attemptIDs = recordAttempts || strategy is EngineStrategy
        needsEvents = strategy.needsOutcomeEvents
        for d in 0..<configuration.days { events.push(start + Int64(d) * 86_400, .dayStart, Int32(d)) }
        events.push(start, .step)
        while let e = events.pop() {
            let now = e.time
            if now >= end && e.kind != .resolve && e.kind != .agentFree { continue }
            // The records the next event reads, when it ends a call, are asked for while this one is handled.
            if let next = events.peek(), next.kind == .resolve {
                prefetchResolve(line: Int(next.argument), debtor: Int(next.debtor))
            }
            switch e.kind {
            case .step:
                // A cancelled task (a client that closed its `POST /v1/simulations` stream, a server shutting
                // down) stops at the next step, within 5 simulated seconds: the run's report is then worthless.
                if Task.isCancelled {
                    cancelled = true
                    cancelledOnDay = Int((now - start) / 86_400)
                    return report()
                }
                // The policy strategies never suspend: once a simulated hour, let the other tasks of the process
                // (a server's dialers, the task watching a simulation's stream) have this thread.
                if now % 3_600 == 0 { await Task.yield() }
                await step(now: now)
                flushLog(before: now - 60, attempt: attempt)
                let next = nextStepTime(after: now)
                if next < end { events.push(next, .step) }
            case .resolve:
                let (attempt, event) = resolve(line: Int(e.argument), now: now)
                if let hopperRef {
                    hopperRef._withUnsafeGuaranteedRef { $0.recordNow(attempt, now: now) }
                } else {
                    await strategy.record(attempt, event: event, now: now)
                }
            case .agentFree:
                busy -= 1
            case .dayStart:
                let d = Int(e.argument)
                if d > 0 { closeDay(d - 1, progress: progress) }
                await dayStart(d, now: now)
            case .payment:
                await pay(debt: Int(e.argument), now: now)
            }
        }
        flushLog(before: Int64.max, attempt: attempt)
        closeDay(configuration.days - 1, progress: progress)
        return report()
    }

    /// The next step time: 5 s later while staffed or lines ring, else the next staffed slot.
    func nextStepTime(after now: UnixSeconds) -> UnixSeconds {
        let next = now + Self.step
        if onDuty(next) > 0 || inFlight > 0 || busy > 0 { return next }
        var s = Int((next - start) / Self.slot) + 1
        while s < onDutyBySlot.count && onDutyBySlot[s] == 0 { s += 1 }
        return start + Int64(s) * Self.slot
    }

    func step(now: UnixSeconds) async {
        if let hopper { hopper.advanceNow(now: now) } else { await strategy.advance(now: now) }
        let staffed = onDuty(now)
        totals.agentSeconds += Int64(staffed) * Self.step
        totals.busySeconds += Int64(min(busy, staffed)) * Self.step
        let idle = staffed - busy
        guard idle > 0 else { return }
        var wanted: Int
        switch configuration.dialer {
        case .preview, .progressive:
            wanted = idle
        case .predictive:
            // Lines in flight are paced so the expected live answers stay below the idle agents; the
            // pacing factor adapts to keep the run's abandon rate under the limit with a margin.
            let live = Double(totals.live + 10) / Double(totals.dials + 100)
            let abandonRate = Double(totals.abandoned) / Double(max(totals.live, 1))
            let target = configuration.abandonLimit * 0.75
            if totals.live > 100 {
                if abandonRate > target { pacing = max(0.1, pacing * 0.95) } else { pacing = min(1.0, pacing * 1.002) }
                if abandonRate > configuration.abandonLimit * 0.9 { pacing = min(pacing, 0.3) }
            }
            if abandonRate > configuration.abandonLimit * 0.8 {
                // Near the limit: progressive (one line per idle agent) until the rate is back under it.
                wanted = max(idle - inFlight, 0)
            } else {
                let lines = Int(Double(idle) * pacing / live)
                wanted = min(max(lines - inFlight, 0), staffed * 20)
            }
        }
        guard wanted > 0 else { return }
        leadBuffer.removeAll(keepingCapacity: true)
        if let hopper {
            hopper.nextNow(wanted, now: now, into: &leadBuffer)
        } else {
            await strategy.next(wanted, now: now, into: &leadBuffer)
        }
        if leadBuffer.count < wanted && inFlight == 0 {
            totals.starvedSeconds += Int64(idle) * Self.step
        }
        // The records of the debtor and phone `ahead` leads on are asked for now (random debtors).
        let ahead = 8
        let n = leadBuffer.count
        for k in 0..<min(ahead, n) { prefetchDial(leadBuffer[k]) }
        for k in 0..<n {
            if k + ahead < n { prefetchDial(leadBuffer[k + ahead]) }
            dial(leadBuffer[k], now: now)
        }
    }

    /// Asks for the records the end of the call on `line` to debtor `i` reads and writes: the line, the debtor's
    /// state and, for a ContactPolicy-backed strategy, its pending outcome and slot (a hint: it changes no result).
    @inline(__always)
    func prefetchResolve(line: Int, debtor i: Int) {
        guard line < lines.count, i < stateCount else { return }
        lines.withUnsafeBufferPointer { Prefetch.write($0.baseAddress! + line) }
        Prefetch.write(state + i)
        bookRef?._withUnsafeGuaranteedRef { book in
            book.prefetchOutcome(i)
            book.prefetchSlot(i)
        }
    }

    /// Asks for what a dial of `lead` reads and writes: the debtor's state and the phone's truth.
    @inline(__always)
    func prefetchDial(_ lead: Lead) {
        Prefetch.write(state + Int(lead.debtor))
        Prefetch.read(phoneTruth + Int(lead.phone))
    }

    func dial(_ lead: Lead, now: UnixSeconds) {
        let i = Int(lead.debtor)
        let debt = Int(lead.debt)
        let p = Int(lead.phone)
        compliance.check(debtor: i, debt: debt, phone: p, at: now)
        totals.dials += 1
        dialsToday += 1
        attemptCounter += 1
        if !state[i].attempted {
            state[i].attempted = true
            attemptedCount += 1
        }
        let (outcome, ring) = drawOutcome(debtor: i, debt: debt, phone: p, now: now)
        let reserved = configuration.dialer != .predictive
        let preview: Int64 = configuration.dialer == .preview ? 15 : 0
        if reserved { busy += 1 }
        let line: Int
        let record = Line(debtor: Int32(i), debt: Int32(debt), phone: Int32(p), ring: Int32(ring), dialAt: now + preview,
                          attempt: attemptCounter, outcome: outcome, reserved: reserved)
        if let free = freeLines.popLast() {
            line = Int(free)
            lines[line] = record
            if keepsLeases { lineLease[line] = lead.lease }
        } else {
            line = lines.count
            lines.append(record)
            if keepsLeases { lineLease.append(lead.lease) }
        }
        inFlight += 1
        events.push(now + preview + Int64(ring), .resolve, Int32(line), debtor: Int32(i))
    }

    /// The hidden world answers: the outcome of a dial and how long the line rings.
    func drawOutcome(debtor i: Int, debt: Int, phone p: Int, now: UnixSeconds) -> (Outcome, Int) {
        let truth = phoneTruth[p]
        if truth.dead { return (.notInService, 3) }
        var rng = dialRandom(i)
        if rng.chance(0.02) { return (.busy, 4) }
        let answerRing = rng.between(5, 15)
        if truth.wrong {
            return rng.chance(0.4) ? (.wrongNumber, answerRing) : (.noAnswer, rng.between(20, 25))
        }
        let kind = truth.kind
        // World.curve(i, now) from the debtor's record.
        let local = clock.local(state[i].primaryZone, now)
        let curve = state[i].archetype.multiplier(
            hour: LocalTime.minute(local) / 60, weekday: LocalTime.weekday(day: LocalTime.day(local)))
        var pRPC = Double(state[i].baseRPC) * curve
        switch kind {
        case .mobile: break
        case .home: pRPC *= 0.8
        case .work, .other: pRPC *= 0.5
        }
        let fatigueCount = recentUnanswered(i, now: now)
        if fatigueCount > 0 { pRPC *= fatiguePower[fatigueCount] }
        let cb = state[i].callbackAt
        if cb != Int64.min && now >= cb - 600 && now <= cb + 7200 && state[i].archetype != .never {
            pRPC = max(pRPC, 0.6)
        }
        let u = rng.uniform()
        if u < pRPC { return (conversation(debtor: i, debt: debt), answerRing) }
        let third = kind == .mobile ? 0.01 : 0.05
        if u < pRPC + third { return (.thirdParty, answerRing) }
        let voicemail = kind == .mobile ? 0.45 : 0.25
        if rng.chance(voicemail) { return (.voicemail, rng.between(18, 25)) }
        return (.noAnswer, rng.between(20, 25))
    }

    /// The generator of the draws of the next dial to debtor `i` (whether it is answered, rings, goes to voicemail):
    /// the debtor's `n`-th dial draws the same numbers whichever strategy places it, so strategies that dial the
    /// same debtor at hours of different answer rates are compared on the same luck (common random numbers,
    /// synchronized by debtor and dial; one global stream made every dial after the first difference independent,
    /// and the comparison of two strategies as noisy as two unrelated worlds). A strategy that dials at a better
    /// hour still answers more often: the draw is the same, the threshold is not.
    func dialRandom(_ i: Int) -> SeededRandom {
        let n = state[i].dials
        state[i].dials = n == .max ? n : n + 1
        return SeededRandom(seed: configuration.seed ^ 0xD1A1_5EED_0A45, stream: UInt64(i) << 16 | UInt64(n))
    }

    /// The generator of debtor `i`'s `k`-th conversation: what a debtor says (and whether a promise is kept) is
    /// the debtor's own, the same whichever strategy reaches them (common random numbers: comparisons between
    /// strategies are not drowned by who happened to draw the large payments).
    func conversationRandom(_ i: Int, _ k: Int, purpose: UInt64) -> SeededRandom {
        SeededRandom(
            seed: configuration.seed ^ 0xC0_4E45_5A71 ^ purpose, stream: UInt64(i) << 10 | UInt64(min(k, 1023)))
    }

    func conversation(debtor i: Int, debt: Int) -> Outcome {
        let w = configuration.world
        var rng = conversationRandom(i, Int(state[i].talks), purpose: 1)
        state[i].talks &+= 1
        let u = rng.uniform()
        if u < w.ptpShare { return .promiseToPay }
        if u < w.ptpShare + w.refusedShare { return rng.chance(0.8) ? .refused : .dispute }
        if u < w.ptpShare + w.refusedShare + w.paysShare { return .paid }
        let r = rng.uniform()
        return r < 0.80 ? .rightParty : (r < 0.95 ? .callbackRequested : .cease)
    }

    @inline(__always)
    static func unanswered(_ s: UnsafeMutablePointer<DebtorState>, _ k: Int) -> Int32 {
        switch k {
        case 0: s.pointee.unanswered.0
        case 1: s.pointee.unanswered.1
        case 2: s.pointee.unanswered.2
        default: s.pointee.unanswered.3
        }
    }

    @inline(__always)
    static func setUnanswered(_ s: UnsafeMutablePointer<DebtorState>, _ k: Int, _ v: Int32) {
        switch k {
        case 0: s.pointee.unanswered.0 = v
        case 1: s.pointee.unanswered.1 = v
        case 2: s.pointee.unanswered.2 = v
        default: s.pointee.unanswered.3 = v
        }
    }

    func recentUnanswered(_ i: Int, now: UnixSeconds) -> Int {
        let minute = Int32((now - start) / 60) + 1
        var n = 0
        for k in 0..<4 {
            let m = Self.unanswered(state + i, k)
            if m > 0 && minute - m < 7 * 1440 { n += 1 }
        }
        return n
    }

    func noteUnanswered(_ i: Int, now: UnixSeconds) {
        let minute = Int32((now - start) / 60) + 1
        var oldest = 0
        for k in 1..<4 where Self.unanswered(state + i, k) < Self.unanswered(state + i, oldest) { oldest = k }
        Self.setUnanswered(state + i, oldest, minute)
    }

    /// Resolves a line: the outcome in the world, the checker, the attempt log; returns what the strategy learns.
    func resolve(line: Int, now: UnixSeconds) -> (AttemptOutcome, OutcomeEvent?) {
        inFlight -= 1
        let record = lines[line]
        let i = Int(record.debtor)
        let debt = Int(record.debt)
        let p = Int(record.phone)
        var outcome = record.outcome
        let reserved = record.reserved
        let dialAt = record.dialAt
        let ring = Int64(record.ring)
        let attemptNumber = record.attempt
        let lease = keepsLeases ? lineLease[line] : nil
        freeLines.append(Int32(line))

        let human: Bool
        switch outcome {
        case .busy, .notInService, .noAnswer, .voicemail, .abandoned: human = false
        default: human = true
        }
        var handle: Int64 = 0
        if human {
            humansToday += 1
            totals.live += 1
            if reserved || onDuty(now) - busy > 0 {
                if !reserved { busy += 1 }
                switch outcome {
                case .thirdParty, .wrongNumber: handle = Int64(rng.between(20, 40))
                default:
                    let talk = rng.logNormal(median: configuration.world.talkMedianSeconds, sigma: 0.5)
                    handle = Int64(min(talk * (outcome == .promiseToPay ? 1.2 : 1), 3600)) + Int64(rng.between(30, 60))
                }
                events.push(now + handle, .agentFree)
            } else {
                outcome = .abandoned
                totals.abandoned += 1
            }
        } else if reserved {
            busy -= 1
        }
        if reserved { totals.busySeconds += 0 }  // ring time of reserved agents is counted by the step sampler
        _ = ring

        // Consequences in the world.
        var promise: PromiseTerms?
        var callback: UnixSeconds?
        switch outcome {
        case .noAnswer, .voicemail, .abandoned, .thirdParty: noteUnanswered(i, now: dialAt)
        case .rightParty, .refused, .dispute, .cease, .promiseToPay, .callbackRequested, .paid:
            totals.rpc += 1
            if !state[i].reached {
                state[i].reached = true
                reachedCount += 1
            }
            state[i].unanswered = (0, 0, 0, 0)
            if state[i].callbackAt != Int64.min && dialAt >= state[i].callbackAt - 600 { state[i].callbackAt = Int64.min }
        default: break
        }
        switch outcome {
        case .promiseToPay:
            promise = makePromise(debtor: i, debt: debt, now: dialAt)
            if promise == nil { outcome = .rightParty }
        case .paid:
            totals.collected += Double(balance[debt]) / 10_000 * world.debtUSDRate[debt]
            balance[debt] = 0
        case .callbackRequested:
            let local = world.primaryLocal(i, dialAt)
            let day = LocalTime.day(local)
            let targetLocal = Int64(day + Int32(rng.between(1, 2))) * 86_400 + Int64(rng.between(10, 18)) * 3600
            let cb = callbackTime(asked: dialAt + (targetLocal - local), localOffset: local - dialAt)
            state[i].callbackAt = cb
            callback = cb
        default: break
        }
        compliance.record(debtor: i, debt: debt, phone: p, at: dialAt, outcome: outcome, callback: callback)
        var event: OutcomeEvent?
        if recordAttempts || needsEvents {
            let e = OutcomeEvent(
                attempt: attemptIDs ? "c\(configuration.seed)-\(attemptNumber)" : "", debtor: world.debtorID[i],
                debt: world.debtID[debt], phone: world.phoneNumber[p], at: dialAt, outcome: outcome, lease: lease,
                promise: promise, callbackAt: callback)
            if recordAttempts { pendingLog.append((e, attemptNumber)) }
            event = e
        }
        let attempt = AttemptOutcome(debtor: i, debt: debt, phone: p, at: dialAt, outcome: outcome, promise: promise,
                                     callbackAt: callback)
        return (attempt, event)
    }

    func makePromise(debtor i: Int, debt: Int, now: UnixSeconds) -> PromiseTerms? {
        let left = balance[debt]
        guard left > 0 else { return nil }
        var rng = conversationRandom(i, Int(state[i].talks) - 1, purpose: 2)
        let amount = rng.chance(0.4) ? left : max(10_000, (left * Int64(rng.between(25, 60)) / 100) / 10_000 * 10_000)
        let local = world.primaryLocal(i, now)
        let today = LocalTime.day(local)
        let u = rng.uniform()
        var dueDay: Int32
        if u < 0.5 {
            dueDay = today + Int32(rng.between(0, 3))
        } else if u < 0.8 {
            let c = LocalTime.civil(day: today)
            if c.day < 15 {
                dueDay = LocalTime.dayNumber(year: c.year, month: c.month, day: 15)
            } else {
                dueDay = LocalTime.dayNumber(year: c.month == 12 ? c.year + 1 : c.year, month: c.month % 12 + 1, day: 1)
            }
        } else {
            dueDay = today + Int32(rng.between(4, 30))
        }
        let keep = rng.chance(configuration.world.keptBase * pow(configuration.world.keptAfterBroken, Double(state[i].broken)))
        let simDay = Int((Int64(dueDay) * 86_400 - (world.primaryLocal(i, start) - (world.primaryLocal(i, start) % 86_400))) / 86_400)
        let bucket = max(0, min(dueBuckets.count - 1, simDay))
        promiseAmount[debt] = amount
        promiseKeep[debt] = keep
        dueBuckets[bucket].append(Int32(debt))
        totals.promises += 1
        totals.promisedAmount += Double(amount) / 10_000 * world.debtUSDRate[debt]
        return PromiseTerms(amount: Money(tenThousandths: amount), due: LocalTime.dateString(day: dueDay))
    }

    func dayStart(_ d: Int, now: UnixSeconds) async {
        dialsToday = 0
        humansToday = 0
        guard d < dueBuckets.count else { return }
        for debt32 in dueBuckets[d] {
            let debt = Int(debt32)
            guard promiseAmount[debt] > 0 else { continue }
            if promiseKeep[debt] {
                events.push(now + 8 * 3600 + Int64(rng.below(10 * 3600)), .payment, debt32)
            } else {
                promiseAmount[debt] = 0
                totals.broken += 1
                state[Int(world.debtDebtor[debt])].broken &+= 1
            }
        }
        dueBuckets[d] = []
    }

    func pay(debt: Int, now: UnixSeconds) async {
        let amount = min(promiseAmount[debt], balance[debt])
        promiseAmount[debt] = 0
        guard amount > 0 else { return }
        balance[debt] -= amount
        totals.kept += 1
        totals.collected += Double(amount) / 10_000 * world.debtUSDRate[debt]
        if balance[debt] == 0 { compliance.recordSettled(debt: debt) }
        let i = Int(world.debtDebtor[debt])
        let payment = PaymentEvent(
            payment: "p\(configuration.seed)-\(debt)-\(now)", debtor: world.debtorID[i],
            debt: world.debtID[debt], amount: Money(tenThousandths: amount), at: now)
        if let hopper {
            hopper.recordNow(payment, debtor: i, now: now)
        } else {
            await strategy.record(payment, debtor: i, now: now)
        }
    }

    func flushLog(before limit: UnixSeconds, attempt: ((OutcomeEvent) -> Void)?) {
        guard !pendingLog.isEmpty else { return }
        guard let attempt else {
            pendingLog.removeAll(keepingCapacity: true)
            return
        }
        pendingLog.sort { ($0.0.at, $0.1) < ($1.0.at, $1.1) }
        var k = 0
        while k < pendingLog.count && pendingLog[k].0.at <= limit {
            attempt(pendingLog[k].0)
            k += 1
        }
        pendingLog.removeFirst(k)
    }

    func closeDay(_ d: Int, progress: (SimulationProgress) -> Void) {
        guard d >= 0, perDay.count == d else { return }
        let violations = compliance.result { $0.violations }
        let a = totals
        let b = dayStartTotals
        let n = Double(max(world.debtors.count, 1))
        let floorLocal = world.clock.local(world.clock.id(of: configuration.floorZone) ?? 0, start + Int64(d) * 86_400 + 43_200)
        let starvedHours = Double(a.starvedSeconds - b.starvedSeconds) / 3600
        let agentHours = Double(a.agentSeconds - b.agentSeconds) / 3600
        if exhaustionDay == nil && agentHours > 0 && starvedHours >= 0.25 * agentHours { exhaustionDay = d + 1 }
        perDay.append(
            DayReport(
                date: LocalTime.dateString(day: LocalTime.day(floorLocal)), dials: a.dials - b.dials,
                rightPartyContacts: a.rpc - b.rpc, promises: a.promises - b.promises, keptPromises: a.kept - b.kept,
                collected: Self.cents(a.collected - b.collected), abandoned: a.abandoned - b.abandoned,
                liveAnswers: a.live - b.live,
                agentHours: agentHours, busyAgentHours: Double(a.busySeconds - b.busySeconds) / 3600,
                starvedAgentHours: starvedHours,
                blockedCalls: strategy.blockedCalls - (perDay.last.map { _ in blockedSoFar } ?? 0),
                violations: violations - violationsSoFar,
                attemptedShare: Double(attemptedCount) / n, reachedShare: Double(reachedCount) / n))
        blockedSoFar = strategy.blockedCalls
        violationsSoFar = violations
        dayStartTotals = totals
        let fraction = index == count - 1 && d + 1 == configuration.days
            ? 1 : min(1, span.start + span.width * Double(d + 1) / Double(configuration.days))
        progress(
            SimulationProgress(
                strategy: name, day: d + 1, days: configuration.days, strategyIndex: index, strategyCount: count,
                dials: totals.dials, rightPartyContacts: totals.rpc, fraction: fraction))
    }
    @exclusivity(unchecked) var blockedSoFar = 0
    @exclusivity(unchecked) var violationsSoFar = 0

    /// A US-dollar amount for the report, rounded to cents (amounts in other currencies are converted at the
    /// world's rates, so the sums carry float noise: 522026.10996666655 is reported as 522026.11).
    static func cents(_ usd: Double) -> Double { (usd * 100).rounded() / 100 }

    func report() -> StrategyReport {
        let (countedCalls, callsAtCap, violations, examples, byRule) = compliance.result {
            ($0.countedCalls, $0.callsAtCap, $0.violations, $0.examples, $0.byRule)
        }
        let t = totals
        let n = Double(max(world.debtors.count, 1))
        let agentHours = Double(t.agentSeconds) / 3600
        // A run shorter than 7 days lies within one 7-day window: its calls per debt are not scaled up (a 1-day
        // run's rate times 7 read as a breach of a 7-in-7 cap no debt came near).
        let weeks = Double(max(configuration.days, 7)) / 7
        return StrategyReport(
            strategy: name, dials: t.dials, rightPartyContacts: t.rpc,
            rpcPerDial: t.dials > 0 ? Double(t.rpc) / Double(t.dials) : 0,
            rpcPerAgentHour: agentHours > 0 ? Double(t.rpc) / agentHours : 0, agentHours: agentHours,
            promises: t.promises, promisedAmount: Self.cents(t.promisedAmount), keptPromises: t.kept,
            brokenPromises: t.broken, collected: Self.cents(t.collected),
            penetrationAttempted: Double(attemptedCount) / n,
            penetrationReached: Double(reachedCount) / n, exhaustionDay: exhaustionDay,
            starvedAgentHours: Double(t.starvedSeconds) / 3600,
            occupancy: t.agentSeconds > 0 ? Double(t.busySeconds) / Double(t.agentSeconds) : 0,
            abandonRate: t.live > 0 ? Double(t.abandoned) / Double(t.live) : 0, abandoned: t.abandoned,
            liveAnswers: t.live, countedCalls: countedCalls,
            countedCallsPerDebtPerWeek: Double(countedCalls) / Double(max(world.debtCount, 1)) / weeks,
            callsAtCapShare: countedCalls > 0 ? Double(callsAtCap) / Double(countedCalls) : 0,
            blockedCalls: strategy.blockedCalls, violations: violations,
            violationExamples: examples, violationsByRule: byRule, decisions: strategy.decisions, backend: "", wallSeconds: 0,
            perDay: perDay)
    }
}
