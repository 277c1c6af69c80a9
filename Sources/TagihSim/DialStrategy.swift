import Foundation
import Synchronization
import TagihCore

/// One call the strategy wants placed now.
struct Lead {
    var debtor: Int32
    var debt: Int32
    var phone: Int32
    var lease: String?
}

/// The outcome of one placed call, by world indices (debtor, and the flat debt and phone indices).
struct AttemptOutcome {
    var debtor: Int
    var debt: Int
    var phone: Int
    /// When the call was placed.
    var at: UnixSeconds
    var outcome: Outcome
    var promise: PromiseTerms?
    var callbackAt: UnixSeconds?
}

/// A scheduling strategy as the simulated dialer sees it: hand out leads, learn from outcomes.
///
/// Implementations either wrap TagihCore's `ContactPolicy` directly (with the simulator keeping
/// the histories) or drive the real `Engine` under a virtual clock.
protocol DialStrategy: AnyObject {
    /// Up to `count` leads permitted at `now`, best first. Fewer means the list is exhausted for now.
    func next(_ count: Int, now: UnixSeconds, into leads: inout [Lead]) async
    /// Whether `record(_:event:now:)` needs the outcome as an `OutcomeEvent` (with ids and strings).
    var needsOutcomeEvents: Bool { get }
    /// The outcome of a lead (or of a call the strategy did not hand out); `event` is given when
    /// `needsOutcomeEvents` (or the attempt log wants it).
    func record(_ attempt: AttemptOutcome, event: OutcomeEvent?, now: UnixSeconds) async
    /// A payment arrived.
    func record(_ payment: PaymentEvent, debtor: Int, now: UnixSeconds) async
    /// Called at every dialer step, before `next`, with the simulated time.
    func advance(now: UnixSeconds) async
    /// Calls the strategy wanted but the permission check refused.
    var blockedCalls: Int { get }
    /// How many times the decision function ran.
    var decisions: Int { get }
}

/// The per-debtor decision cache of the ContactPolicy-backed strategies: histories, the latest
/// decision (earliest, window end, best, score, debt and phone), and who is currently leased.
///
/// Re-decisions after an outcome are deferred: the outcome is recorded at once, the debtor is marked
/// pending with the instant it would have been re-decided at, and pending debtors are decided in
/// batches before anything reads their cache. `flush()` decides every pending debtor on all cores and
/// waits; `flushInBackground()` hands the batch to the worker threads and returns at once, so the event loop
/// goes on while the batch is decided. Several batches may be in flight; a read or change of a debtor of one
/// joins it (`joinDebtor`), and a join decides the debtors no worker has claimed yet. Each decision uses
/// the same history and instant as an immediate one would, and joins happen at points fixed by the simulated
/// events (never by thread timing), so the cache (and the run) is the same as deciding at once, only cheaper.
final class PolicyBook {
    let world: World
    let policy: ContactPolicy
    /// Histories by debtor index, in manually managed storage: the background worker reads the histories
    /// of its batch while the event loop appends to others (a Swift array would be copied on write). Compact
    /// (TagihCore's `CompactHistory`): a decision reads them without strings.
    private let historyStorage: UnsafeMutablePointer<CompactHistory>
    /// Every debtor's zones, pack and prior, resolved once (`ContactPolicy.prepare`).
    private let preparedStorage: UnsafeMutablePointer<PreparedDebtor>
    /// The debtor records (shallow copies of `world.debtors`), passed to decisions by address: never copied.
    private let debtorStorage: UnsafeMutablePointer<Debtor>
    /// Whether a debtor's debt ids and phone numbers are each distinct (then a debt's or phone's offset in the
    /// debtor is the index a look-up by id or number finds, and the records need not be read).
    private let distinctIDs: UnsafeMutablePointer<Bool>
    /// Per debtor, its outcome not yet appended to the history (`PendingOutcome`).
    private let pendingOutcomes: UnsafeMutablePointer<PendingOutcome>
    private let count: Int
    /// Per debtor, the cached decision and the bookkeeping around it, in one record (48 bytes): an outcome, a
    /// stored decision or a permission check touches one cache line of it instead of one per field.
    struct Slot {
        var earliest: Int64 = PolicyBook.never
        var windowEnds: Int64 = 0
        var best: Int64 = PolicyBook.never
        /// The instant a pending debtor is to be decided at (`Int64.min` = not pending).
        var pendingAt: Int64
        var score: Float = 0
        var debt: Int32 = -1
        var phone: Int32 = -1
        var leased = false
        /// The in-flight background batch a pending debtor is in: its position in the ring of batches plus one
        /// (0: in none).
        var batch: UInt8 = 0
        /// The cached decision's debt and phone as offsets in the debtor's records (255: not kept).
        var debtOffset: UInt8 = 255
        var phoneOffset: UInt8 = 255
    }

    /// The slots by debtor index (manually managed, like the histories).
    let slots: UnsafeMutablePointer<Slot>
    @exclusivity(unchecked) var decisions = 0
    @exclusivity(unchecked) var scored = 0
    @exclusivity(unchecked) private var pendingList: [Int32] = []
    @exclusivity(unchecked) private var results: [Cached] = []

    /// A batch of re-decisions handed to the worker threads: its debtors and instants, and the results the workers
    /// write (owned by the workers from `flushInBackground()` until the batch is joined).
    final class Batch: @unchecked Sendable {
        @exclusivity(unchecked) var work: UnsafeMutableBufferPointer<(Int32, Int64)> = .allocate(capacity: 0)
        @exclusivity(unchecked) var results: UnsafeMutableBufferPointer<Cached> = .allocate(capacity: 0)
        @exclusivity(unchecked) var count = 0
        @exclusivity(unchecked) var pieces = 0
        let done = DispatchSemaphore(value: 0)
        /// The next item not yet claimed: workers, and the event loop when it joins the batch, claim `chunk` items at
        /// a time, so a join does the work left instead of waiting for it.
        let next = Atomic<Int>(0)
        static let chunk = 32
        @exclusivity(unchecked) var delay: (@Sendable (Int) -> Void)?
        @exclusivity(unchecked) var context: Context?

        /// Claims and decides chunks of the batch until none is left (on a worker thread, or the event loop);
        /// returns how many debtors the caller decided.
        @discardableResult
        func decideAll() -> Int {
            guard let context else { return 0 }
            let n = count
            var decided = 0
            while true {
                let from = next.wrappingAdd(Self.chunk, ordering: .relaxed).oldValue
                if from >= n { return decided }
                let range = from..<min(from + Self.chunk, n)
                PolicyBook.decidePiece(range, self, context, delay: delay)
                decided += range.count
            }
        }

        func reserve(_ n: Int) {
            guard n > work.count else { return }
            work.deallocate()
            results.deallocate()
            let capacity = max(n, work.count * 2, 1024)
            work = .allocate(capacity: capacity)
            results = .allocate(capacity: capacity)
            results.initialize(repeating: Cached())
        }

        deinit {
            work.deallocate()
            results.deallocate()
        }
    }

    /// The ring of background batches; `inFlightCount` of them, from `oldestInFlight` on, are submitted and not yet
    /// joined. Several batches may be in flight: a batch is joined (waited for, its results stored) only when the
    /// event loop reads or changes one of its debtors (`joinThrough`), before a synchronous `flush()`, or when the
    /// ring is full. Those points depend only on the simulated events, never on how fast the workers are, so the
    /// stored results (and the run) are the same whatever the thread timing.
    private let ring: [Batch]
    @exclusivity(unchecked) private var oldestInFlight = 0
    @exclusivity(unchecked) private var inFlightCount = 0
    private static let backgroundQueue = DispatchQueue(
        label: "tagih.sim.decide", qos: .userInitiated, attributes: .concurrent)
    /// How many batches may be in flight (at most 255: a slot keeps its batch's ring position in a byte).
    let maxInFlight: Int
    /// Test hook: called by a worker before each decision of a background batch (to perturb thread timing).
    var workerDelay: (@Sendable (Int) -> Void)?

    /// How the background batches went (for tests and measurements; none of it changes a result).
    struct Statistics: Equatable {
        /// Background batches submitted.
        var batches = 0
        /// The most batches in flight at once.
        var maxInFlight = 0
        /// Joins because the event loop read or changed a debtor of an in-flight batch.
        var debtorJoins = 0
        /// Synchronous flushes that found batches in flight (and joined them all).
        var flushJoins = 0
        /// Joins because `maxInFlight` batches were in flight.
        var fullRingJoins = 0
        /// Debtors of background batches decided by the event loop itself while joining.
        var decidedByJoin = 0
    }

    @exclusivity(unchecked) private(set) var statistics = Statistics()

    static let never = Int64.max
    /// Below this many pending debtors a flush decides on the calling thread.
    static let parallelThreshold = 48

    /// One cached decision.
    struct Cached {
        var earliest: Int64 = PolicyBook.never
        var windowEnds: Int64 = 0
        var best: Int64 = PolicyBook.never
        var score: Float = 0
        var debt: Int32 = -1
        var phone: Int32 = -1
        /// `debt` and `phone` as offsets in the debtor's records (255: not kept, ≥ 255 or no decision).
        var debtOffset: UInt8 = 255
        var phoneOffset: UInt8 = 255
    }

    /// Whether re-decisions after outcomes are batched (`true`) or run at once (`false`, for tests: same results).
    let deferred: Bool
    /// Whether minute batches are decided on a background thread while the event loop goes on.
    let background: Bool

    /// Whether the strategy reads the cached best time and score (`tagih`); the others read only the permitted
    /// interval, debt and phone, so their single-debt decisions skip the best-time search.
    let needsBestTime: Bool

    init(world: World, policy: ContactPolicy, now: UnixSeconds, needsBestTime: Bool = true, deferred: Bool = true,
         background: Bool = true, maxInFlight: Int = 64)
    {
        precondition(maxInFlight >= 1 && maxInFlight <= 255)
        self.maxInFlight = maxInFlight
        ring = (0..<maxInFlight).map { _ in Batch() }
        self.needsBestTime = needsBestTime
        self.world = world
        self.policy = policy
        self.deferred = deferred
        self.background = background && deferred
        let n = world.debtors.count
        count = n
        historyStorage = UnsafeMutablePointer<CompactHistory>.allocate(capacity: max(n, 1))
        let debtors = UnsafeMutablePointer<Debtor>.allocate(capacity: max(n, 1))
        let preparedDebtors = UnsafeMutablePointer<PreparedDebtor>.allocate(capacity: max(n, 1))
        let distinct = UnsafeMutablePointer<Bool>.allocate(capacity: max(n, 1))
        debtorStorage = debtors
        preparedStorage = preparedDebtors
        distinctIDs = distinct
        pendingOutcomes = .allocate(capacity: max(n, 1))
        slots = .allocate(capacity: max(n, 1))
        // Copies, preparation and per-debtor records on all cores (serial, the copies alone took 0.2 s at 1M).
        let shared = Unchecked((policy, debtors, preparedDebtors, distinct, pendingOutcomes, world, historyStorage, slots))
        Parallel.forEachChunk(count: n) { range in
            let (policy, debtors, prepared, distinct, pendingOutcomes, world, histories, slots) = shared.value
            guard !range.isEmpty else { return }
            (histories + range.lowerBound).initialize(repeating: CompactHistory(), count: range.count)
            (slots + range.lowerBound).initialize(repeating: Slot(pendingAt: now), count: range.count)
            world.debtors.withUnsafeBufferPointer { source in
                (debtors + range.lowerBound).initialize(from: source.baseAddress! + range.lowerBound, count: range.count)
            }
            for i in range {
                (prepared + i).initialize(to: policy.prepare(debtors[i]))
                let d = Self.distinctIDs(debtors[i])
                (distinct + i).initialize(to: d)
                (pendingOutcomes + i).initialize(to: PendingOutcome(
                    distinct: d, debtStart: world.debtStart[i], phoneStart: world.phoneStart[i]))
            }
        }
        context = Context(world: world, policy: policy, debtors: debtorStorage, prepared: preparedStorage,
                          histories: historyStorage, distinct: distinctIDs, pendingOutcomes: pendingOutcomes,
                          needsBestTime: needsBestTime)
        pendingList = (0..<Int32(n)).map { $0 }
        flush()
    }

    /// Whether `debtor`'s debt ids are distinct and its phone numbers are distinct (they nearly always are).
    static func distinctIDs(_ debtor: Debtor) -> Bool {
        let debts = debtor.debts, phones = debtor.phones
        for a in 0..<debts.count { for b in 0..<a where debts[a].id == debts[b].id { return false } }
        for a in 0..<phones.count { for b in 0..<a where phones[a].number == phones[b].number { return false } }
        return true
    }

    deinit {
        join()
        // The releases on all cores (disjoint pieces; every object a piece releases is its debtors' own or shared
        // and reference-counted atomically).
        let storage = Unchecked((historyStorage, preparedStorage, debtorStorage))
        Parallel.forEachChunk(count: count) { range in
            let (histories, prepared, debtors) = storage.value
            guard !range.isEmpty else { return }
            (histories + range.lowerBound).deinitialize(count: range.count)
            (prepared + range.lowerBound).deinitialize(count: range.count)
            (debtors + range.lowerBound).deinitialize(count: range.count)
        }
        historyStorage.deallocate()
        preparedStorage.deallocate()
        debtorStorage.deallocate()
        distinctIDs.deallocate()
        pendingOutcomes.deallocate()
        waitCodes?.deallocate()
        waitGroupMin?.deallocate()
        slots.deallocate()
    }

    /// The values of calling each of `debtors` (distinct) about its cached debt at `now` (`ContactPolicy.score`),
    /// written to `values` in the same order. Runs on all cores: each value depends only on its debtor's history,
    /// records and `now`, so the split changes nothing. No batch may be in flight (`flush()` first).
    ///
    /// With the score cache on (`enableScoreCache`), a value computed earlier in the same hour (or quarter hour) is
    /// reused when nothing it reads can have changed (see `ScoreCache`).
    func scoreAll(_ debtors: UnsafeBufferPointer<Int32>, now: UnixSeconds, into values: UnsafeMutablePointer<Double>) {
        precondition(inFlightCount == 0, "scoreAll needs every batch joined")
        scoreCache?.prepare(now: now)
        let shared = Unchecked((context, slots, debtors, values, scoreCache))
        let body: @Sendable (Range<Int>) -> Void = { range in
            let (c, slots, debtors, values, cache) = shared.value
            var hits = 0
            let end = range.upperBound
            for k in range.lowerBound..<min(range.lowerBound + Self.recordsAhead, end) {
                Self.prefetchRecords(Int(debtors[k]), c)
            }
            for k in range {
                // The records (and then the buffers they point to) of the debtors a few places ahead.
                if k + Self.recordsAhead < end { Self.prefetchRecords(Int(debtors[k + Self.recordsAhead]), c) }
                if k + Self.buffersAhead < end { Self.prefetchBuffers(Int(debtors[k + Self.buffersAhead]), c) }
                let i = Int(debtors[k])
                let key = cache?.key(i, now: now) ?? Int32.min
                if let cache, key != Int32.min, cache.keys[i] == key {
                    values[k] = cache.values[i]
                    hits += 1
                    if cache.verify {
                        Self.applyPendingOutcome(i, c)
                        let fresh = c.policy.score(
                            debtor: c.debtors + i, prepared: c.prepared + i, history: c.histories + i,
                            debt: Int(slots[i].debt - c.world.debtStart[i]), at: now)
                        precondition(fresh.bitPattern == values[k].bitPattern,
                                     "score cache: debtor \(i) at \(now): cached \(values[k]), fresh \(fresh)")
                    }
                    continue
                }
                Self.applyPendingOutcome(i, c)
                let v = c.policy.score(debtor: c.debtors + i, prepared: c.prepared + i, history: c.histories + i,
                                       debt: Int(slots[i].debt - c.world.debtStart[i]), at: now)
                values[k] = v
                if let cache {
                    cache.values[i] = v
                    cache.keys[i] = key
                }
            }
            if let cache {
                cache.hits.add(hits, ordering: .relaxed)
                cache.misses.add(range.count - hits, ordering: .relaxed)
            }
        }
        if debtors.count < 4096 { body(0..<debtors.count) } else { Parallel.forEachChunk(count: debtors.count, body) }
        scored += debtors.count
    }

    /// The tagih refills' score cache (nil: off, or not possible with this policy).
    @exclusivity(unchecked) private(set) var scoreCache: ScoreCache?
    /// `scoreCache`, unretained (the book keeps it alive), for `record`.
    @exclusivity(unchecked) private var scoreCacheRef: Unmanaged<ScoreCache>?
    /// `scoreCache.keys`, for dropping a value in `store` without retaining the cache.
    @exclusivity(unchecked) private var scoreKeys: UnsafeMutablePointer<Int32>?

    /// Turns the score cache on (when the policy's fatigue window allows it); each debtor's values are kept for the
    /// hour or quarter hour its zones allow (`ScoreCache`).
    func enableScoreCache(verify: Bool = false) {
        let clock = world.clock
        var zonePeriod: [Int32: UInt8] = [:]
        func period(_ z: Int32) -> UInt8 {
            if let p = zonePeriod[z] { return p }
            let p = clock.period(zone: z)
            zonePeriod[z] = p
            return p
        }
        // UTC (ContactPolicy's last resort for a primary zone) and the zones of each debtor's address, jurisdiction
        // and phones.
        let utc = world.clock.id(of: "UTC").map { period($0) } ?? 4
        var setPeriod = [UInt8](repeating: 0, count: world.zoneSets.count)
        for (k, set) in world.zoneSets.enumerated() { setPeriod[k] = set.reduce(utc) { min($0, period($1)) } }
        let phones = world.phoneZones.count
        let world = self.world
        guard let cache = ScoreCache(
            count: count, fatigueWindowSeconds: policy.configuration.propensity.fatigueWindowSeconds,
            periods: { i in
                var p = min(utc, period(world.primaryZone[i]))
                let end = i + 1 < world.phoneStart.count ? Int(world.phoneStart[i + 1]) : phones
                for ph in Int(world.phoneStart[i])..<end { p = min(p, setPeriod[Int(world.phoneZones[ph])]) }
                return p
            })
        else { return }
        cache.verify = verify
        scoreCache = cache
        scoreKeys = cache.keys
        scoreCacheRef = Unmanaged.passUnretained(cache)
    }

    /// What a decision reads (shared with the worker threads, which only read it).
    struct Context {
        let world: World
        let policy: ContactPolicy
        let debtors: UnsafeMutablePointer<Debtor>
        let prepared: UnsafeMutablePointer<PreparedDebtor>
        let histories: UnsafeMutablePointer<CompactHistory>
        let distinct: UnsafeMutablePointer<Bool>
        let pendingOutcomes: UnsafeMutablePointer<PendingOutcome>
        let needsBestTime: Bool
    }

    /// What a decision reads, made once (a fresh value at every use cost a retain and release of each reference).
    private let context: Context

    /// An outcome (without promise terms or callback time) not yet appended to its debtor's history: appended by
    /// whoever decides the debtor next (a worker thread, for the minute batches), just before it reads the history.
    /// A debtor has at most one (it is re-decided before it can be dialed again).
    struct PendingOutcome {
        var at: Int64 = 0
        var debt: Int32 = 0
        var phone: Int32 = 0
        var outcome: Outcome = .busy
        var waiting = false
        /// Whether `debt` and `phone` are already the offsets a look-up finds (else flat indices).
        var offsets = false
        /// The debtor's first flat debt and phone index and whether its ids are distinct (`distinctIDs`): kept here,
        /// where a decision reads first, instead of three more arrays to read per decision.
        var distinct = false
        var debtStart: Int32 = 0
        var phoneStart: Int32 = 0
    }

    /// Appends debtor `i`'s pending outcome (if any) to its history. The caller owns the debtor: the event loop
    /// (after `join()` when the debtor is in the background batch) or the worker deciding it.
    static func applyPendingOutcome(_ i: Int, _ c: Context) {
        let p = c.pendingOutcomes + i
        guard p.pointee.waiting else { return }
        p.pointee.waiting = false
        if p.pointee.offsets {
            c.histories[i].record(at: p.pointee.at, outcome: p.pointee.outcome, debt: Int(p.pointee.debt),
                                  phone: Int(p.pointee.phone), debtor: c.debtors + i, prepared: c.prepared + i)
        } else {
            appendOutcome(i, at: p.pointee.at, outcome: p.pointee.outcome, debt: Int(p.pointee.debt),
                          phone: Int(p.pointee.phone), c)
        }
    }

    /// Appends an outcome without promise terms or callback time about flat debt `flatDebt` on flat phone
    /// `flatPhone` to debtor `i`'s history, with the indices a look-up by id and number would find.
    static func appendOutcome(_ i: Int, at: UnixSeconds, outcome: Outcome, debt flatDebt: Int, phone flatPhone: Int,
                              _ c: Context)
    {
        let debtor = c.debtors + i
        var debt = flatDebt - Int(c.world.debtStart[i])
        var phone = flatPhone - Int(c.world.phoneStart[i])
        if !c.distinct[i] {
            let id = c.world.debtID[flatDebt], number = c.world.phoneNumber[flatPhone]
            debt = debtor.pointee.debts.firstIndex { $0.id == id } ?? debt
            phone = debtor.pointee.phones.firstIndex { $0.number == number } ?? phone
        }
        c.histories[i].record(at: at, outcome: outcome, debt: debt, phone: phone, debtor: debtor,
                              prepared: c.prepared + i)
    }

    /// How many places ahead a batch asks for a debtor's records (`prefetchRecords`) and for the buffers they point
    /// to (`prefetchBuffers`, after the records have arrived).
    static let recordsAhead = 6
    static let buffersAhead = 3

    /// Asks for the per-debtor records a decision of debtor `j` starts with (its pending outcome, history, prepared
    /// data and record), so that those cache misses overlap with the decisions before it instead of stalling its own.
    @inline(__always)
    static func prefetchRecords(_ j: Int, _ c: Context) {
        Prefetch.read(c.pendingOutcomes + j)
        Prefetch.read(c.histories + j, bytes: MemoryLayout<CompactHistory>.size)
        Prefetch.read(c.prepared + j, bytes: MemoryLayout<PreparedDebtor>.size)
        Prefetch.read(c.debtors + j, bytes: MemoryLayout<Debtor>.size)
    }

    /// Where a `Debtor` keeps its phones and debts (array references), and where an array's elements start in its
    /// storage object (after the object header and the count and capacity words).
    private static let phonesOffset = MemoryLayout<Debtor>.offset(of: \Debtor.phones) ?? 0
    private static let debtsOffset = MemoryLayout<Debtor>.offset(of: \Debtor.debts) ?? 0
    private static let arrayHeader = 32

    /// Asks for the heap buffers a decision of debtor `j` reads through its records: the phones and debts of its
    /// record and the events of its history (the array `CompactHistory` stores first). The references are read from
    /// the records (asked for `recordsAhead` places earlier) as plain bits, without retaining anything; a wrong
    /// address costs a useless prefetch, never a fault or a different result.
    @inline(__always)
    static func prefetchBuffers(_ j: Int, _ c: Context) {
        let debtor = UnsafeRawPointer(c.debtors + j)
        let phones = debtor.load(fromByteOffset: phonesOffset, as: UInt.self)
        let debts = debtor.load(fromByteOffset: debtsOffset, as: UInt.self)
        let events = UnsafeRawPointer(c.histories + j).load(as: UInt.self)
        if let p = UnsafeRawPointer(bitPattern: phones) { Prefetch.read(p + arrayHeader, bytes: 128) }
        if let p = UnsafeRawPointer(bitPattern: debts) { Prefetch.read(p + arrayHeader, bytes: 128) }
        if let p = UnsafeRawPointer(bitPattern: events) { Prefetch.read(p + arrayHeader, bytes: 256) }
    }

    /// Decides `work[range]` into `results[range]`, asking for the records of the debtors a few places ahead.
    @inline(__always)
    static func decideRange(_ range: Range<Int>, work: UnsafePointer<(Int32, Int64)>,
                            results: UnsafeMutablePointer<Cached>, _ c: Context, delay: ((Int) -> Void)?)
    {
        let end = range.upperBound
        for k in range.lowerBound..<min(range.lowerBound + recordsAhead, end) { prefetchRecords(Int(work[k].0), c) }
        for k in range {
            if k + recordsAhead < end { prefetchRecords(Int(work[k + recordsAhead].0), c) }
            if k + buffersAhead < end { prefetchBuffers(Int(work[k + buffersAhead].0), c) }
            let (i, at) = work[k]
            if let delay { delay(Int(i)) }
            results[k] = decide(Int(i), now: at, c)
        }
    }

    /// Runs the decision function for debtor `i` at `now` (reads only the world and the history, after appending
    /// the debtor's pending outcome).
    static func decide(_ i: Int, now: UnixSeconds, _ c: Context) -> Cached {
        applyPendingOutcome(i, c)
        var chosen: CompactDecision?
        // The prepared path: the same decisions as decide(for:history:now:) on the history as outcome events. The
        // debtor, its prepared data and its history are passed by address (borrowed, not copied).
        // Without ranking by value, a debtor with one debt needs no best-time search (`best` and `score` are only
        // read by the tagih strategy; with several debts the score breaks ties between them).
        let bestTime = c.needsBestTime || (c.prepared + i).pointee.debtCount > 1
        c.policy.forEachCompactDecision(
            debtor: c.debtors + i, prepared: c.prepared + i, history: c.histories + i, now: now, bestTime: bestTime
        ) { d in
            guard let e = d.earliest, d.phone != nil else { return }
            guard let c = chosen, let ce = c.earliest else {
                chosen = d
                return
            }
            let nowE = max(e, now)
            let nowC = max(ce, now)
            if nowE < nowC || (nowE == nowC && d.score > c.score) { chosen = d }
        }
        guard let d = chosen, let e = d.earliest, var phoneOffset = d.phone else { return Cached() }
        // The first debt with the chosen id and the first phone with the chosen number (ids may repeat in a file).
        var debtOffset = d.debt
        let starts = c.pendingOutcomes + i
        if !starts.pointee.distinct {
            let debts = c.debtors[i].debts, phones = c.debtors[i].phones
            debtOffset = debts.firstIndex { $0.id == debts[d.debt].id } ?? d.debt
            phoneOffset = phones.firstIndex { $0.number == phones[phoneOffset].number } ?? phoneOffset
        }
        return Cached(
            earliest: e, windowEnds: d.windowEnds ?? (e + 3600), best: d.best ?? e, score: Float(d.score),
            debt: starts.pointee.debtStart + Int32(debtOffset), phone: starts.pointee.phoneStart + Int32(phoneOffset),
            debtOffset: UInt8(min(debtOffset, 255)), phoneOffset: UInt8(min(phoneOffset, 255)))
    }

    /// Per block of 64 debtors: whether a debtor of the block got a permitted time after having none (the
    /// baseline's list walk re-examines such a block; see `BaselineStrategy`).
    @exclusivity(unchecked) var unblocked: [Bool] = []

    /// The `earliest` strategy's compact copy of what its ranking reads (`CompactWaitKey`, `WaitingSelector`): per
    /// debtor, its cached earliest permitted time in seconds from `waitBase`, or `Int32.max` while leased or without
    /// one. Kept up to date by `store` and `setLeased`; 4 bytes a debtor instead of the 48-byte slots, so a refill's
    /// pass over every debtor reads a twelfth of the memory.
    @exclusivity(unchecked) private(set) var waitCodes: UnsafeMutablePointer<Int32>?
    @exclusivity(unchecked) private(set) var waitBase: Int64 = 0

    /// Per group of `WaitingSelector.group` debtors, a lower bound of their `waitCodes` (every write of a code lowers
    /// it when needed; a refill's scan raises it to the group's exact minimum): the scan skips a group whose bound is
    /// above its limit.
    @exclusivity(unchecked) private(set) var waitGroupMin: UnsafeMutablePointer<Int32>?

    @inline(__always)
    private func waitCode(_ earliest: Int64) -> Int32 {
        earliest == Self.never ? Int32.max : Int32(clamping: earliest &- waitBase)
    }

    /// Writes debtor `i`'s wait code (keeping its group's lower bound).
    @inline(__always)
    private func setWaitCode(_ i: Int, _ code: Int32) {
        guard let waitCodes, let waitGroupMin else { return }
        waitCodes[i] = code
        let g = i >> WaitingSelector.groupShift
        if code < waitGroupMin[g] { waitGroupMin[g] = code }
    }

    /// Keeps `waitCodes` from now on (their base: the earliest cached permitted time).
    func enableWaitCodes() {
        guard waitCodes == nil else { return }
        var base = Self.never
        for i in 0..<count where slots[i].earliest < base { base = slots[i].earliest }
        waitBase = base == Self.never ? 0 : base
        let codes = UnsafeMutablePointer<Int32>.allocate(capacity: max(count, 1))
        for i in 0..<count { (codes + i).initialize(to: slots[i].leased ? Int32.max : waitCode(slots[i].earliest)) }
        let groups = (count + WaitingSelector.group - 1) >> WaitingSelector.groupShift
        let groupMin = UnsafeMutablePointer<Int32>.allocate(capacity: max(groups, 1))
        groupMin.initialize(repeating: Int32.max, count: max(groups, 1))
        for i in 0..<count { groupMin[i >> WaitingSelector.groupShift] = min(groupMin[i >> WaitingSelector.groupShift], codes[i]) }
        waitCodes = codes
        waitGroupMin = groupMin
    }

    /// Asks for debtor `i`'s slot and wait code (about to be read and written) and its pending outcome (written when
    /// the call that is about to be placed ends, seconds later).
    @inline(__always)
    func prefetchSlot(_ i: Int) {
        Prefetch.write(slots + i)
        if let waitCodes { Prefetch.write(waitCodes + i) }
    }

    /// Asks for debtor `i`'s pending outcome (written when a call placed now ends, seconds later: it is then still
    /// in a cache).
    @inline(__always)
    func prefetchOutcome(_ i: Int) {
        Prefetch.write(pendingOutcomes + i)
    }

    /// Leases debtor `i` (or ends its lease).
    @inline(__always)
    func setLeased(_ i: Int, _ leased: Bool) {
        slots[i].leased = leased
        if waitCodes != nil { setWaitCode(i, leased ? Int32.max : waitCode(slots[i].earliest)) }
    }

    @inline(__always)
    private func store(_ i: Int, _ c: Cached) {
        if slots[i].earliest == Self.never && c.earliest != Self.never && !unblocked.isEmpty { unblocked[i >> 6] = true }
        if waitCodes != nil { setWaitCode(i, slots[i].leased ? Int32.max : waitCode(c.earliest)) }
        if let scoreKeys { scoreKeys[i] = Int32.min }
        slots[i].earliest = c.earliest
        slots[i].windowEnds = c.windowEnds
        slots[i].best = c.best
        slots[i].score = c.score
        slots[i].debt = c.debt
        slots[i].phone = c.phone
        slots[i].debtOffset = c.debtOffset
        slots[i].phoneOffset = c.phoneOffset
    }

    /// Runs the decision function for debtor `i` at `now` and caches the result.
    func refresh(_ i: Int, now: UnixSeconds) {
        joinDebtor(i)
        decisions += 1
        slots[i].pendingAt = Int64.min
        store(i, Self.decide(i, now: now, context))
    }

    /// Marks debtor `i` to be re-decided at `now` before its cache is next read.
    @inline(__always)
    func markPending(_ i: Int, now: UnixSeconds) {
        joinDebtor(i)
        if slots[i].pendingAt == Int64.min { pendingList.append(Int32(i)) }
        slots[i].pendingAt = now
    }

    /// Decides one pending debtor now (at the instant it was marked with).
    @inline(__always)
    func settle(_ i: Int) {
        joinDebtor(i)
        let at = slots[i].pendingAt
        if at != Int64.min { refresh(i, now: at) }
    }

    /// Moves the pending debtors into a work list (in marking order) and clears the list.
    private func takePending(into work: inout [(Int32, Int64)]) {
        for i in pendingList where slots[Int(i)].pendingAt != Int64.min { work.append((i, slots[Int(i)].pendingAt)) }
        pendingList.removeAll(keepingCapacity: true)
    }

    /// Whether debtor `i` is in a batch in flight (its cached decision is not to be read before `joinDebtor(i)`).
    @inline(__always)
    func inFlight(_ i: Int) -> Bool { slots[i].batch != 0 }

    /// Joins the in-flight batches up to the one debtor `i` is in (if any), oldest first.
    @inline(__always)
    func joinDebtor(_ i: Int) {
        let tag = slots[i].batch
        if tag != 0 {
            statistics.debtorJoins += 1
            joinThrough(Int(tag) - 1)
        }
    }

    /// Joins the oldest in-flight batches up to and including the one at ring position `position`.
    private func joinThrough(_ position: Int) {
        while inFlightCount > 0 {
            let joined = oldestInFlight
            joinOldest()
            if joined == position { return }
        }
    }

    /// Waits for the oldest in-flight batch and stores its results in the order its debtors were marked.
    private func joinOldest() {
        let batch = ring[oldestInFlight]
        // Decide what no worker has claimed yet, then wait for the chunks the workers hold.
        statistics.decidedByJoin += batch.decideAll()
        for _ in 0..<batch.pieces { batch.done.wait() }
        let ahead = 8
        for k in 0..<min(ahead, batch.count) { prefetchSlot(Int(batch.work[k].0)) }
        for k in 0..<batch.count {
            if k + ahead < batch.count { prefetchSlot(Int(batch.work[k + ahead].0)) }
            let i = Int(batch.work[k].0)
            slots[i].batch = 0
            slots[i].pendingAt = Int64.min
            store(i, batch.results[k])
        }
        batch.count = 0
        batch.pieces = 0
        oldestInFlight = oldestInFlight + 1 == ring.count ? 0 : oldestInFlight + 1
        inFlightCount -= 1
    }

    /// Waits for every in-flight batch and stores their results, oldest first.
    func join() {
        while inFlightCount > 0 { joinOldest() }
    }

    /// Decides every pending debtor, split over the cores; results are stored in the order they were marked.
    ///
    /// With `joiningInFlight: false` the batches in flight stay in flight (their debtors are never pending): for a
    /// caller that joins every debtor it reads (`joinDebtor`), such as the baseline's list walk.
    func flush(joiningInFlight: Bool = true) {
        if joiningInFlight {
            if inFlightCount > 0 { statistics.flushJoins += 1 }
            join()
        }
        guard !pendingList.isEmpty else { return }
        var work: [(Int32, Int64)] = []
        work.reserveCapacity(pendingList.count)
        takePending(into: &work)
        let count = work.count
        guard count > 0 else { return }
        decisions += count
        if count < Self.parallelThreshold {
            for (i, at) in work {
                slots[Int(i)].pendingAt = Int64.min
                store(Int(i), Self.decide(Int(i), now: at, context))
            }
            return
        }
        if results.count < count { results = [Cached](repeating: Cached(), count: count) }
        let shared = Unchecked((context, work))
        results.withUnsafeMutableBufferPointer { out in
            let target = Unchecked(out)
            Parallel.forEachChunk(count: count) { range in
                let (context, work) = shared.value
                work.withUnsafeBufferPointer { work in
                    Self.decideRange(range, work: work.baseAddress!, results: target.value.baseAddress!, context,
                                     delay: nil)
                }
            }
        }
        for k in 0..<count {
            let i = Int(work[k].0)
            slots[i].pendingAt = Int64.min
            store(i, results[k])
        }
    }

    /// Starts deciding the pending debtors on the worker threads and returns; the batch is joined (its results
    /// stored, in marking order) when the event loop next reads or changes one of its debtors, before a synchronous
    /// `flush()`, or when `maxInFlight` batches are in flight (the oldest first). Earlier batches stay in flight.
    /// Falls back to `flush()` when background batches are off.
    func flushInBackground() {
        guard background else {
            flush()
            return
        }
        guard !pendingList.isEmpty else { return }
        if inFlightCount == ring.count {
            statistics.fullRingJoins += 1
            joinOldest()
        }
        var n = 0
        for i in pendingList where slots[Int(i)].pendingAt != Int64.min { n += 1 }
        guard n > 0 else {
            pendingList.removeAll(keepingCapacity: true)
            return
        }
        let position = (oldestInFlight + inFlightCount) % ring.count
        let batch = ring[position]
        batch.reserve(n)
        var k = 0
        let tag = UInt8(position + 1)
        for i in pendingList where slots[Int(i)].pendingAt != Int64.min {
            batch.work[k] = (i, slots[Int(i)].pendingAt)
            slots[Int(i)].batch = tag
            // A debtor without a permitted time may get one from this batch: its block of the baseline's walk is
            // looked at again (as `store` does; the walk may run before the batch is joined).
            if slots[Int(i)].earliest == Self.never && !unblocked.isEmpty { unblocked[Int(i) >> 6] = true }
            k += 1
        }
        pendingList.removeAll(keepingCapacity: true)
        decisions += n
        batch.count = n
        inFlightCount += 1
        statistics.batches += 1
        statistics.maxInFlight = max(statistics.maxInFlight, inFlightCount)
        // Split over the cores (contiguous pieces; the results are stored in batch order when joined): with the
        // decisions on one worker, that worker was the longest thread of a run.
        let pieces = n >= 2 * Self.parallelThreshold ? Parallel.workers : 1
        batch.pieces = pieces
        batch.context = context
        batch.delay = workerDelay
        batch.next.store(0, ordering: .relaxed)
        for _ in 0..<pieces {
            Self.backgroundQueue.async {
                Parallel.runAtBackgroundPriority()
                batch.decideAll()
                batch.done.signal()
            }
        }
    }

    /// Decides the debtors at `range` of a background batch (on a worker thread, or the event loop joining it).
    fileprivate static func decidePiece(_ range: Range<Int>, _ batch: Batch, _ context: Context,
                                        delay: ((Int) -> Void)?)
    {
        decideRange(range, work: batch.work.baseAddress!, results: batch.results.baseAddress!, context, delay: delay)
    }

    /// Whether the cached decision is out of date at `now` (its window has closed).
    @inline(__always)
    func isStale(_ i: Int, now: UnixSeconds) -> Bool {
        slots[i].earliest <= now && now >= slots[i].windowEnds
    }

    /// Whether a call to debtor `i` is permitted at `now`, re-deciding when the cache is stale (with the decision
    /// `decideStaleAhead` computed for it at `now`, when there is one).
    func permitted(_ i: Int, now: UnixSeconds) -> Bool {
        settle(i)
        if isStale(i, now: now) {
            if aheadNext < aheadDebtors.count && aheadAt == now && Int(aheadDebtors[aheadNext]) == i {
                // The same as `refresh(i, now:)`: nothing of the debtor changed since (see `decideStaleAhead`).
                decisions += 1
                slots[i].pendingAt = Int64.min
                store(i, aheadResults[aheadNext])
                aheadNext += 1
                aheadUsed += 1
            } else {
                refresh(i, now: now)
            }
        }
        return slots[i].earliest <= now && now < slots[i].windowEnds
    }

    /// Stale hopper entries decided ahead at `aheadAt`, in hopper order (`decideStaleAhead`); `aheadNext` is the next
    /// one `permitted` may use.
    @exclusivity(unchecked) private var aheadDebtors: [Int32] = []
    @exclusivity(unchecked) private var aheadResults: [Cached] = []
    @exclusivity(unchecked) private var aheadNext = 0
    @exclusivity(unchecked) private var aheadAt = Int64.min
    /// How many stale entries the walks re-decided with a decision made ahead (tests, measurements).
    @exclusivity(unchecked) private(set) var aheadUsed = 0
    /// Below this many stale entries `decideStaleAhead` leaves them to `permitted` (one at a time on the event loop;
    /// tests lower it).
    @exclusivity(unchecked) var aheadThreshold = 32

    /// Decides, on all cores, the stale ones among the first `wanted` entries not leased of `entries[from...]`, which a
    /// walk serving `wanted` leads and checking entries with `permitted(_:now:)` in order at `now` reaches whatever
    /// their decisions: the walk then stores these results instead of deciding each debtor on the event loop. Only settled
    /// debtors outside every batch are decided ahead (their history and cache cannot change before the walk reaches
    /// them: nothing but the walk runs in between, and it changes no other debtor); each result is the decision
    /// `refresh` would compute (same debtor, history and instant), used at most once and only at `now`, and counted
    /// only when used. Results the walk does not reach are dropped by `dropAhead()`.
    func decideStaleAhead(_ entries: [Int32], from: Int, now: UnixSeconds, wanted: Int) {
        aheadDebtors.removeAll(keepingCapacity: true)
        aheadNext = 0
        aheadAt = now
        // The walk checks at least `wanted` entries that are not leased (each may be the last it needs): only those
        // are decided ahead, so every result is used.
        var reached = 0
        var k = from
        while k < entries.count && reached < wanted {
            let i = Int(entries[k])
            k += 1
            let slot = slots + i
            if slot.pointee.leased { continue }
            reached += 1
            if slot.pointee.batch != 0 || slot.pointee.pendingAt != Int64.min { continue }
            if isStale(i, now: now) { aheadDebtors.append(Int32(i)) }
        }
        let n = aheadDebtors.count
        guard n >= aheadThreshold, n > 0 else {
            aheadDebtors.removeAll(keepingCapacity: true)
            return
        }
        if aheadResults.count < n { aheadResults = [Cached](repeating: Cached(), count: max(n, 2 * aheadResults.count)) }
        let shared = Unchecked((context, aheadDebtors))
        aheadResults.withUnsafeMutableBufferPointer { out in
            let target = Unchecked(out)
            Parallel.forEachChunk(count: n) { range in
                let (context, debtors) = shared.value
                for k in range {
                    if k + Self.recordsAhead < range.upperBound {
                        Self.prefetchRecords(Int(debtors[k + Self.recordsAhead]), context)
                    }
                    target.value[k] = Self.decide(Int(debtors[k]), now: now, context)
                }
            }
        }
    }

    /// Drops the decisions made ahead that the walk did not use.
    func dropAhead() {
        aheadDebtors.removeAll(keepingCapacity: true)
        aheadNext = 0
        aheadAt = Int64.min
    }

    func lead(_ i: Int) -> Lead {
        Lead(debtor: Int32(i), debt: slots[i].debt, phone: slots[i].phone, lease: nil)
    }

    func record(_ a: AttemptOutcome, now: UnixSeconds) {
        let i = a.debtor
        joinDebtor(i)
        // (Through the unretained reference: a retain and release per outcome cost more than the note itself.)
        scoreCacheRef?._withUnsafeGuaranteedRef { $0.noteAttempt(i, at: a.at) }
        // (A debtor is re-decided, and its pending outcome appended, before it can be dialed again: this is a no-op.)
        if pendingOutcomes[i].waiting { Self.applyPendingOutcome(i, context) }
        if (a.outcome == .promiseToPay && a.promise != nil) || (a.outcome == .callbackRequested && a.callbackAt != nil) {
            // Promise terms and callback times are kept as outcome events (rare), appended at once.
            let event = OutcomeEvent(
                attempt: "", debtor: world.debtorID[i], debt: world.debtID[a.debt], phone: world.phoneNumber[a.phone],
                at: a.at, outcome: a.outcome, promise: a.promise, callbackAt: a.callbackAt)
            historyStorage[i].record(event, of: debtorStorage[i], prepared: preparedStorage[i])
        } else {
            // Appended by the next decision of the debtor (off the event loop for the minute batches).
            // The lead came from the cached decision (unchanged while leased): its offsets are the look-up's.
            let slot = slots + i
            if slot.pointee.debt == Int32(a.debt) && slot.pointee.phone == Int32(a.phone)
                && slot.pointee.debtOffset != 255 && slot.pointee.phoneOffset != 255
            {
                let p = pendingOutcomes + i
                p.pointee.at = a.at
                p.pointee.debt = Int32(slot.pointee.debtOffset)
                p.pointee.phone = Int32(slot.pointee.phoneOffset)
                p.pointee.outcome = a.outcome
                p.pointee.waiting = true
                p.pointee.offsets = true
            } else {
                let p = pendingOutcomes + i
                p.pointee.at = a.at
                p.pointee.debt = Int32(a.debt)
                p.pointee.phone = Int32(a.phone)
                p.pointee.outcome = a.outcome
                p.pointee.waiting = true
                p.pointee.offsets = false
            }
        }
        setLeased(i, false)
        if deferred { markPending(i, now: now) } else { refresh(i, now: now) }
    }

    func record(_ payment: PaymentEvent, debtor i: Int, now: UnixSeconds) {
        settle(i)
        historyStorage[i].record(payment)
        if let scoreKeys { scoreKeys[i] = Int32.min }
        if !slots[i].leased { refresh(i, now: now) }
    }
}

/// A value handed to worker threads whose safety the caller guarantees (disjoint writes, shared reads).
struct Unchecked<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Runs independent work items on all cores (chunked; the caller's thread takes part).
enum Parallel {
    static let workers = max(1, min(8, ProcessInfo.processInfo.activeProcessorCount))

    /// The scheduling priority the simulation's background threads (decision workers, compliance checker) run at
    /// (`nice` +5 on Linux): the event loop is the critical path, and work that is only needed later should not
    /// take its core. Changes no result (joins wait for whatever is unfinished), only who runs first.
    static func runAtBackgroundPriority() {
        #if os(Linux)
        // On Linux the nice value belongs to the thread, and `who` 0 is the calling thread.
        let which = __priority_which_t(PRIO_PROCESS.rawValue)
        if getpriority(which, 0) < 5 { _ = setpriority(which, 0, 5) }
        #endif
    }

    /// Calls `body` with contiguous ranges covering `0..<count`, one per worker, in parallel.
    static func forEachChunk(count: Int, _ body: @Sendable (Range<Int>) -> Void) {
        let chunks = min(workers, count)
        if chunks <= 1 {
            body(0..<count)
            return
        }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            body(count * c / chunks..<count * (c + 1) / chunks)
        }
    }
}

/// A candidate's bin for `BinSelector` (a value type, so the selection is specialized for it and the bin inlined).
protocol BinKey: Sendable {
    /// The bin of candidate `i`, in 1..<`BinSelector.bins`, or 0 when `i` is not a candidate.
    func bin(_ i: Int) -> Int
}

/// Selects the `count` best candidates by an integer bin (higher is better) in O(n), without sorting:
/// a histogram finds the threshold bin, then candidates are emitted bin by bin.
struct BinSelector {
    static let bins = 4096
    private var binOf: [UInt16]
    private var histogram: [Int]
    private var ordered: [Int32]

    /// The highest bin that, together with every better bin, holds at least `count` candidates, or bin 1 when all
    /// of them together hold fewer: a selection of `count` takes from this bin up (bin 0 is never a candidate).
    static func threshold(taking count: Int, from histogram: [Int]) -> Int {
        var threshold = bins
        var taken = 0
        while threshold > 1 && taken < count {
            threshold -= 1
            taken += histogram[threshold]
        }
        return threshold
    }

    init(size: Int) {
        binOf = [UInt16](repeating: 0, count: size)
        histogram = [Int](repeating: 0, count: Self.bins)
        ordered = []
    }

    /// `key(i)` returns a bin in 1..<bins for a candidate, 0 for "not a candidate". Large selections run on all
    /// cores (contiguous pieces, one histogram each; the candidates of a bin are emitted in index order either way).
    mutating func select<Key: BinKey>(count: Int, size: Int, key: Key, into out: inout [Int32]) {
        let pieces = size >= Self.parallelSize ? Parallel.workers : 1
        // Per piece: its histogram, then (second pass) the next output position of each bin.
        var counts = [Int](repeating: 0, count: pieces * Self.bins)
        binOf.withUnsafeMutableBufferPointer { binOf in
            counts.withUnsafeMutableBufferPointer { counts in
                let shared = Unchecked((binOf, counts))
                let body: @Sendable (Int) -> Void = { piece in
                    let (binOf, counts) = shared.value
                    let base = piece * Self.bins
                    for i in size * piece / pieces..<size * (piece + 1) / pieces {
                        let b = key.bin(i)
                        binOf[i] = UInt16(b)
                        counts[base + b] += 1
                    }
                }
                if pieces == 1 { body(0) } else { DispatchQueue.concurrentPerform(iterations: pieces, execute: body) }
            }
        }
        for b in 0..<Self.bins {
            var total = 0
            for piece in 0..<pieces { total += counts[piece * Self.bins + b] }
            histogram[b] = total
        }
        let threshold = Self.threshold(taking: count, from: histogram)
        // Bucket the candidates at or above the threshold, best bin first; within a bin in index order (piece by
        // piece).
        var position = 0
        for b in stride(from: Self.bins - 1, through: threshold, by: -1) {
            for piece in 0..<pieces {
                let n = counts[piece * Self.bins + b]
                counts[piece * Self.bins + b] = position
                position += n
            }
        }
        if ordered.count < position { ordered = [Int32](repeating: 0, count: position) }
        let cut = threshold
        binOf.withUnsafeBufferPointer { binOf in
            counts.withUnsafeMutableBufferPointer { counts in
                ordered.withUnsafeMutableBufferPointer { ordered in
                    let shared = Unchecked((binOf, counts, ordered))
                    let body: @Sendable (Int) -> Void = { piece in
                        let (binOf, counts, ordered) = shared.value
                        let base = piece * Self.bins
                        for i in size * piece / pieces..<size * (piece + 1) / pieces {
                            let b = Int(binOf[i])
                            if b >= cut && b > 0 {
                                ordered[counts[base + b]] = Int32(i)
                                counts[base + b] += 1
                            }
                        }
                    }
                    if pieces == 1 { body(0) } else { DispatchQueue.concurrentPerform(iterations: pieces, execute: body) }
                }
            }
        }
        out.removeAll(keepingCapacity: true)
        out.append(contentsOf: ordered[0..<min(position, max(count, 0))])
    }

    /// From this many candidates on, a selection runs on all cores.
    static let parallelSize = 1 << 16
}
