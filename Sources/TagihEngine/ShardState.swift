import TagihCore
import TagihStore

/// Why an event was refused (becomes ``IngestResult/rejected(code:message:)``).
struct Rejection: Error {
    var code: String
    var message: String
    /// The input field at fault, or empty.
    var field: String
}

/// An event that passed validation: its debtor's slot, and what the acknowledgement should warn about.
struct Accepted: Equatable {
    /// The debtor's slot.
    var slot: UInt32
    /// An outcome whose phone is not on the debtor's record (accepted and counted; see `Engine.ingest(events:)`).
    var phoneNotOnRecord = false
    /// A clearance that lifts no hold: none of its kind (and debt) recorded before it, or each lifted already.
    /// Recorded all the same (the audit trail), with a warning.
    var nothingToClear = false
    /// A clearance's time when it must be later than the server's clock stamped: a hold of its kind (and debt) was
    /// recorded before it with an `at` at or after that stamp (the same second, or a dialer's clock ahead of the
    /// server's, up to ``EngineConfiguration/futureEventAllowance``), and a clearance lifts what is recorded before
    /// it: it is then stamped one second after the latest such outcome.
    var clearanceAt: UnixSeconds? = nil
}

/// Where a slot is in the queues.
enum SlotState: UInt8 {
    case blocked = 0
    case waiting = 1
    case ready = 2
    case leased = 3
    /// Leased, the lease ran out, and its expiry is being written to the log.
    case expiring = 4
    /// Its history changed; it is re-decided (with any other change that arrives meanwhile) before the shard
    /// next leases, ticks or answers a query.
    case pending = 5
}

/// One debtor's compact scheduling state (72 bytes; `MemoryLayout<Slot>.stride` is checked by a test). The record itself lives in the shard's arena.
struct Slot {
    var blob: UInt32
    var jurisdiction: UInt16
    /// The decision's zone (interned in the arena's table; 0 = none).
    var zone: UInt16 = 0
    /// 0 = no history; with `ShardState.storedHistoryBit`, the history as loaded from its checkpoint row (still
    /// encoded; see ShardState+History.swift); else index + 1 into `histories`.
    var history: UInt32 = 0
    /// Bumped at every re-decision and lease, so queue entries made before are recognised as stale.
    var generation: UInt32 = 0
    /// The active lease's sequence number when leased or expiring.
    var lease: UInt32 = 0
    var state: SlotState = .blocked
    /// The debt and phone the current decision picked (0xFF = none).
    var debtIndex: UInt8 = 0xFF
    var phoneIndex: UInt8 = 0xFF
    /// Bit 0: the decision's `earliest` is a consented callback.
    var flags: UInt8 = 0
    var score: Float = 0
    /// Interned reasons of the current decision (0 = none cached).
    var reasons: UInt32 = 0
    /// Earliest permitted instant of the current decision (Int64.max = never).
    var earliest: Int64 = .max
    var best: Int64 = .max
    /// End of the window containing `earliest` (Int64.min = none).
    var windowEnds: Int64 = .min
    var decidedAt: Int64 = .min
    /// Log position of the last change applied (record or event).
    var basis: Int64 = 0
}

/// A lease a dialer holds (or is about to be given: `grantLSN` is 0 until its grant is durable in the log).
struct ActiveLease {
    var index: UInt32
    var id: String
    var leasedAt: Int64
    var expires: Int64
    var holder: String
    /// The debt and phone handed out (kept apart from the slot's decision, which may change while leased).
    var debt: String
    var phone: String
    /// The log position of the grant; 0 while the grant is being committed.
    var grantLSN: Int64 = 0
    /// The latest outcome without a lease id applied while the grant was being committed (see `confirm`).
    var unleasedOutcomeLSN: Int64 = 0
    /// Restored from the log at start: its holder is a session of an earlier process, so `release(heldBy:)`
    /// of a new session with the same name never ends it; it ends by outcome or expiry.
    var restored = false
}

/// All state of one shard, as a value-type state machine; the `Shard` actor owns one.
struct ShardState {
    let shardID: Int
    let policy: ContactPolicy
    let leaseTag: String
    var rescoreBatch: Int
    /// `EngineConfiguration.holdBelowShareOfBest`: nil = no best-time gate.
    var holdBelowShareOfBest: Double?
    /// Where revocations go (`Engine.revocations`); nil: nowhere.
    var revocationSink: (@Sendable (LeaseRevocation) -> Void)?
    /// The leases revoked already (each is announced once; removed when the lease ends).
    var revokedLeases: Set<UInt32> = []
    /// Leases ended by an outcome reported without a lease id, by slot, until the debtor's re-decision checks
    /// whether the holder must be told not to call (`revokeIfForbidden`).
    var leasesEndedUnreported: [UInt32: ActiveLease] = [:]
    /// `EngineConfiguration.holdShare`.
    var holdShare: Double = 1
    /// Decayed counts (halved every hour) of the values at best of the debtors the gate flagged, by half-octave bins.
    var valueBins = [Double](repeating: 0, count: 128)
    var valueBinsTotal = 0.0
    var valueBinsHour: Int64 = .min

    var slots: [Slot] = []
    var arena = DebtorArena()
    var jurisdictions = Interner()
    var index = IDIndex()
    var histories: [DebtorHistory] = []
    var ready: [ReadyQueue] = [ReadyQueue()]
    /// The best ready entries, popped from `ready` (see ShardState+Runway.swift); live from `runwayHead` on.
    var runway: [ReadyEntry] = []
    var runwayHead = 0
    /// `runway[runwayHead..<(runwayHead + runwayLive)]` were found live by the last peek and no debtor changed
    /// since (every re-decision, pending mark, lease end and runway insertion sets it to 0; a take pops from the
    /// front): the next peek reads their scores without reading their slots. Only ever a hint for peeks, which
    /// decide how many debtors each shard hands out; `take` checks every entry it pops.
    var runwayLive = 0
    var timeQueue = TimeQueue()
    var leaseQueue = MaxHeap<LeaseEntry>()
    var activeLeases = LeaseTable()
    /// How many outcomes without a lease id met a lease whose grant was still being committed (the engine then
    /// asks whether the grants it is about to hand out were withdrawn; see `confirm`).
    var outcomesOnUnconfirmedGrants = 0
    /// `"L<tag><shard>"`: the start of every lease id this shard hands out in this process (`leasePrefix(tag:shard:)`).
    let leasePrefix: String
    /// Recovery only: the leases open so far in the replayed log, by slot (installed by `installReplayedLeases`).
    var replayLeases: [UInt32: ActiveLease] = [:]
    var nextLeaseSequence: UInt32 = 1
    var reasonTable: [[String]] = [[]]
    var reasonIDs: [[String]: UInt32] = [:]
    /// The reason lists' hashes and which are in the store (see ShardState+Snapshot.swift).
    var savedReasons = SavedReasons()
    /// Which histories changed since the last history checkpoint, and the recovery state of the checkpoint (see
    /// ShardState+History.swift).
    var historyCheckpoint = HistoryCheckpointState()
    static let maxReasonEntries = 1 << 16
    var lastHour: Int64 = .min
    /// How many debtors `take` re-decided instead of leasing them (a stale or reasonless decision; for tests).
    var redecidedAtTake = 0
    var rescoreCursor = Int.max
    /// Debtors whose history changed since their last decision (see `SlotState.pending`).
    var pendingDecisions: [UInt32] = []
    /// Where `touchRunway` and `touchSlots` leave what they read (so that the reads are not optimised away).
    var touchSink: UInt8 = 0
    /// Flag bit: the slot is in `pendingDecisions`.
    static let pendingFlag: UInt8 = 8
    /// Flag bit: a ready debtor never called whom the best-time gate would flag (it is leasable at once); the
    /// hourly re-score leaves it alone until its best time, as it would a held debtor (it is re-decided then from
    /// the time queue, or at `take` when its decision is stale).
    static let untriedFlag: UInt8 = 32
    /// The value `redecide` decodes each debtor into (its arrays' storage is reused; nil while in use).
    var scratchDebtor: Debtor? = Debtor(id: "", jurisdiction: "", phones: [], debts: [])

    init(shardID: Int, policy: ContactPolicy, leaseTag: String, rescoreBatch: Int) {
        self.shardID = shardID
        self.policy = policy
        self.leaseTag = leaseTag
        self.rescoreBatch = rescoreBatch
        self.leasePrefix = Self.leasePrefix(tag: leaseTag, shard: shardID)
    }

    var count: Int { slots.count }

    // MARK: lookup

    func find(_ id: String) -> UInt32? {
        find(id, hash: stableHash(id))
    }

    /// `find(_:)` given the id's `stableHash`.
    func find(_ id: String, hash: UInt64) -> UInt32? {
        var id = id
        return id.withUTF8 { utf8 in
            let raw = UnsafeRawBufferPointer(utf8)
            return index.find(hash: hash) { arena.idEquals(at: slots[Int($0)].blob, raw) }
        }
    }

    func debtor(_ i: UInt32) -> Debtor {
        let slot = slots[Int(i)]
        return arena.debtor(at: slot.blob, jurisdiction: jurisdictions.string(slot.jurisdiction) ?? "")
    }

    func history(_ i: UInt32) -> DebtorHistory {
        let h = slots[Int(i)].history
        if h & Self.storedHistoryBit != 0 { return storedHistory(i) }  // as loaded from the checkpoint
        return h == 0 ? DebtorHistory() : histories[Int(h - 1)]
    }

    // MARK: prefetching

    // A re-decision of a debtor reads its slot, then (through the slot) its packed record and its history entry,
    // then (through the entry) its outcomes. Loops over many debtors (due, re-scored, pending) ask for them in
    // three stages a few debtors ahead (`prefetchAhead`): each stage reads only what an earlier stage
    // asked for. Hints only; no result depends on them.

    /// Where `DebtorHistory.outcomes` (an array: one reference to its storage) lies in a history entry.
    static let outcomesOffset = MemoryLayout<DebtorHistory>.offset(of: \DebtorHistory.outcomes) ?? 0

    /// Stage 1: debtor `i`'s slot.
    @inline(__always) func prefetchSlot(_ i: UInt32) {
        slots.withUnsafeBufferPointer { s in
            if Int(i) < s.count { Prefetch.read(UnsafeRawPointer(s.baseAddress! + Int(i))) }
        }
    }

    /// Stage 2: debtor `i`'s packed record (its first two cache lines) and history entry (reads the slot).
    @inline(__always) func prefetchRecord(_ i: UInt32) {
        guard Int(i) < slots.count else { return }
        let (blob, history) = slots.withUnsafeBufferPointer { ($0[Int(i)].blob, $0[Int(i)].history) }
        arena.bytes.withUnsafeBufferPointer { b in
            if Int(blob) < b.count {
                Prefetch.read(b.baseAddress! + Int(blob))
                Prefetch.read(b.baseAddress! + Int(blob) + 64)
            }
        }
        if history != 0 {
            histories.withUnsafeBufferPointer { h in
                if Int(history) <= h.count { Prefetch.read(UnsafeRawPointer(h.baseAddress! + Int(history - 1))) }
            }
        }
    }

    /// Stage 3: the storage of debtor `i`'s outcomes (its header and first lines; reads the slot and the entry).
    @inline(__always) func prefetchOutcomes(_ i: UInt32) {
        guard Int(i) < slots.count else { return }
        let history = slots.withUnsafeBufferPointer { $0[Int(i)].history }
        guard history != 0 else { return }
        histories.withUnsafeBufferPointer { h in
            guard Int(history) <= h.count else { return }
            // The array's storage reference, read as a plain word (no retain): only an address to hint.
            let storage = (UnsafeRawPointer(h.baseAddress! + Int(history - 1)) + Self.outcomesOffset)
                .load(as: UnsafeRawPointer.self)
            Prefetch.read(storage)
            Prefetch.read(storage + 64)
            Prefetch.read(storage + 128)
            Prefetch.read(storage + 192)
        }
    }

    /// How many debtors of a list apart the prefetch stages run (a debtor's stage 3 is `prefetchStride` debtors
    /// before it is worked on, its stage 2 twice that, its stage 1 three times).
    static let prefetchStride = 2

    /// Before working on debtor `k` of a list of `n` (`at` gives the debtor at a position): the prefetch stages of
    /// the debtors ahead.
    @inline(__always) func prefetchAhead(_ k: Int, _ n: Int, stage1: Bool = true, _ at: (Int) -> UInt32) {
        let d = Self.prefetchStride
        if stage1 && k + 3 * d < n { prefetchSlot(at(k + 3 * d)) }
        if k + 2 * d < n { prefetchRecord(at(k + 2 * d)) }
        if k + d < n { prefetchOutcomes(at(k + d)) }
    }

    // MARK: records

    /// Inserts or replaces a record. Decides it at `now` unless `now` is nil (recovery decides later).
    mutating func upsert(_ debtor: Debtor, lsn: Int64, now: UnixSeconds?) -> UpsertResult {
        guard let jurisdiction = jurisdictions.id(debtor.jurisdiction) else {
            return .rejected(code: "too_many_values", message: "more than 65,535 distinct jurisdictions in a shard")
        }
        let packed: (offset: UInt32, length: UInt16)
        do {
            packed = try arena.append(debtor)
        } catch .tooLong(let what) {
            return .rejected(code: "invalid_record", message: "\(what) is too long")
        } catch {
            return .rejected(code: "too_many_values", message: "more than 65,535 distinct zones, segments or currencies")
        }
        if Int(jurisdiction) >= ready.count { ready.append(contentsOf: repeatElement(ReadyQueue(), count: Int(jurisdiction) + 1 - ready.count)) }
        let result: UpsertResult
        let i: UInt32
        if let existing = find(debtor.id) {
            i = existing
            arena.garbage += arena.recordLength(at: slots[Int(i)].blob)
            slots[Int(i)].blob = packed.offset
            slots[Int(i)].jurisdiction = jurisdiction
            slots[Int(i)].basis = max(slots[Int(i)].basis, lsn)
            result = .updated
        } else {
            i = UInt32(slots.count)
            slots.append(Slot(blob: packed.offset, jurisdiction: jurisdiction, basis: lsn))
            let hash = stableHash(debtor.id)
            index.insert(hash: hash, slot: i) { arena.idHash(at: slots[Int($0)].blob) }
            result = .inserted
        }
        if let now { redecide(i, now: now) }
        if arena.garbage > (1 << 20) && arena.garbage > arena.bytes.count / 2 { arena.compact(&slots) }
        return result
    }

    /// `validate(_:)` for the events at `indices` (mutating only so that the shard actor calls it in place).
    ///
    /// The look-ups are prefetched: every debtor id is hashed and its index bucket asked for first; then, one and
    /// two events ahead of the one validated, the slot its bucket names and that slot's packed record.
    mutating func validate(_ events: [StoredEvent], _ indices: [Int]) -> [Result<Accepted, Rejection>] {
        var results: [Result<Accepted, Rejection>] = []
        results.reserveCapacity(indices.count)
        var hashes: [UInt64] = []
        hashes.reserveCapacity(indices.count)
        for i in indices {
            let hash = stableHash(events[i].debtor)
            index.prefetch(hash: hash)
            hashes.append(hash)
        }
        for (k, i) in indices.enumerated() {
            if k + 2 < hashes.count, let candidate = index.firstCandidate(hash: hashes[k + 2]) {
                prefetchSlot(candidate)
            }
            if k + 1 < hashes.count, let candidate = index.firstCandidate(hash: hashes[k + 1]) {
                prefetchRecord(candidate)
            }
            results.append(validate(events[i], hash: hashes[k]))
        }
        return results
    }

    /// Applies the events at `items` (validated: their slots are known) in order at `now`, prefetching the next
    /// debtors' slots, records, histories and outcomes (see `prefetchAhead`).
    mutating func apply(_ events: [StoredEvent], _ items: [(index: Int, lsn: Int64, slot: UInt32)], now: UnixSeconds,
                        reporter: String? = nil)
    {
        let n = items.count
        for k in 0..<n {
            prefetchAhead(k, n) { items[$0].slot }
            apply(events[items[k].index], lsn: items[k].lsn, now: now, slot: items[k].slot, reporter: reporter)
        }
    }

    /// Checks that an event names a known debtor and debt: `.failure` with the rejection, or the debtor's slot
    /// (slots are never removed or renumbered, so `apply(_:lsn:now:slot:)` can use it after the commit) and, for
    /// an outcome, whether its phone is missing from the debtor's record (a few byte comparisons: a record has a
    /// handful of phones, at most 255).
    func validate(_ event: StoredEvent) -> Result<Accepted, Rejection> {
        validate(event, hash: stableHash(event.debtor))
    }

    /// `validate(_:)` given the `stableHash` of the event's debtor id.
    func validate(_ event: StoredEvent, hash: UInt64) -> Result<Accepted, Rejection> {
        let (debtorID, debtID): (String, String?)
        switch event {
        case .outcome(let o): (debtorID, debtID) = (o.debtor, o.debt)
        case .payment(let p): (debtorID, debtID) = (p.debtor, p.debt)
        case .leaseExpired(let l): (debtorID, debtID) = (l.debtor, l.debt)
        case .leasesGranted, .leasesReleased:
            return .failure(
                Rejection(code: "invalid_event", message: "lease grants and releases are logged by the engine only",
                          field: ""))
        case .clearance(let c):
            if c.kind == .dispute && (c.debt ?? "").isEmpty {
                return .failure(
                    Rejection(code: "missing_field", message: "a dispute is cleared per debt; name the debt", field: "debt"))
            }
            (debtorID, debtID) = (c.debtor, c.kind == .dispute ? c.debt : nil)
        }
        guard let i = find(debtorID, hash: hash) else {
            return .failure(
                Rejection(code: "unknown_debtor", message: "debtor '\(debtorID)' is not known; upsert it first",
                          field: "debtor"))
        }
        if let debtID, !arena.hasDebt(at: slots[Int(i)].blob, debtID) {
            return .failure(Rejection(code: "unknown_debt", message: "debtor '\(debtorID)' has no debt '\(debtID)'",
                                      field: "debt"))
        }
        if case .payment(let p) = event, let currency = p.currency,
            let owed = arena.currency(at: slots[Int(i)].blob, debt: p.debt), currency != owed
        {
            return .failure(Rejection(
                code: "invalid_value",
                message: "the payment is in \(currency) but debt '\(p.debt)' is in \(owed); send the amount in the "
                    + "debt's currency",
                field: "currency"))
        }
        if case .outcome(let o) = event {
            return .success(Accepted(slot: i, phoneNotOnRecord: !arena.hasPhone(at: slots[Int(i)].blob, o.phone)))
        }
        if case .clearance(var c) = event {
            let h = history(i)
            let stamped = c.at
            c.at = h.clearanceTime(c.kind, debt: c.debt, stamped: stamped)
            return .success(Accepted(slot: i, nothingToClear: !Self.liftsAHold(c, h),
                                     clearanceAt: c.at == stamped ? nil : c.at))
        }
        return .success(Accepted(slot: i))
    }

    /// Whether clearance `c` lifts a hold in `history`, as TagihCore reads them: a `dispute` (on `c`'s debt) or
    /// `cease` outcome recorded before `c.at` that no recorded clearance of the same kind (and debt) after it lifts.
    static func liftsAHold(_ c: ClearanceEvent, _ history: DebtorHistory) -> Bool {
        let kind: Outcome = c.kind == .dispute ? .dispute : .cease
        func sameHold(_ debt: String?) -> Bool { c.kind == .cease || debt == c.debt }
        return history.outcomes.contains { o in
            o.outcome == kind && o.at < c.at && sameHold(o.debt)
                && !history.clearances.contains { $0.kind == c.kind && sameHold($0.debt) && $0.at > o.at }
        }
    }

    /// Adds a durable event to the debtor's history. At runtime (`now` not nil) it also ends a lease the event
    /// answers and marks the debtor for re-decision; during recovery (`now` nil) leases are tracked in
    /// `replayLeases` and installed once the whole log is replayed.
    ///
    /// An expired lease counts as a placed call until the outcome for the same lease arrives, which replaces it;
    /// an expiry applied after that outcome adds nothing. Either order gives the same history, so runtime and
    /// replay (log order) agree.
    mutating func apply(_ event: StoredEvent, lsn: Int64, now: UnixSeconds?, slot: UInt32? = nil,
                        reporter: String? = nil)
    {
        switch event {
        case .leasesGranted(let batch):
            // At runtime the shard made the grants itself (`take`, `confirm`); replay re-creates them.
            if now == nil {
                for g in batch.grants { if let i = find(g.debtor) { replayGrant(g, slot: i, lsn: lsn) } }
            }
            return
        case .leasesReleased(let batch):
            // A release changes no history, so it does not touch the decision's basis.
            for r in batch.releases { if let i = find(r.debtor) { endLease(id: r.lease, slot: i, now: now) } }
            return
        default:
            break
        }
        guard let i = slot ?? find(event.debtor) else { return }
        if now == nil && !replayAddsToHistory(event, lsn: lsn, slot: i) {
            // Recovery: the debtor's history checkpoint holds the event already; only its end of a lease is replayed.
            replayLeaseEnd(event, lsn: lsn, slot: i)
            return
        }
        if slots[Int(i)].history & Self.storedHistoryBit != 0 { materializeHistory(i) }
        var slot = slots[Int(i)]
        if slot.flags & Self.restoredFlag != 0 && lsn > slot.basis { slot.flags &= ~Self.restoredFlag }
        if slot.history == 0 {
            histories.append(DebtorHistory())
            slot.history = UInt32(histories.count)
        }
        slot.basis = max(slot.basis, lsn)
        slots[Int(i)] = slot
        let h = Int(slot.history - 1)
        switch event {
        case .outcome(let o):
            histories[h].record(o)
            if let lease = o.lease {
                if now != nil, revocationSink != nil, Self.mayForbid(o.outcome) {
                    noteEndedByAnotherReporter(lease, slot: i, reporter: reporter)
                }
                endLease(id: lease, slot: i, now: now)
            } else {
                endLeaseForUnleasedOutcome(slot: i, lsn: lsn, now: now)
            }
        case .payment(let p):
            histories[h].record(p)
        case .leaseExpired(let l):
            if !histories[h].outcomes.contains(where: { $0.lease == l.lease }) {
                histories[h].recordExpiredLease(debtor: l.debtor, debt: l.debt, phone: l.phone, at: l.leasedAt,
                                                lease: l.lease)
            }
            endLease(id: l.lease, slot: i, now: now)
        case .clearance(let c):
            histories[h].record(c.holdClearance)
        case .leasesGranted, .leasesReleased:
            break
        }
        markHistoryChanged(i)
        if now != nil { markPending(i) }
    }

    /// Takes the debtor out of the ready and time queues until it is re-decided by `settle`. Several events for
    /// one debtor between two settles cost one decision, and the acknowledgement of an event never waits for
    /// the policy.
    mutating func markPending(_ i: UInt32) {
        runwayLive = 0
        var slot = slots[Int(i)]
        slot.generation &+= 1
        if slot.state != .leased && slot.state != .expiring { slot.state = .pending }
        if slot.flags & Self.pendingFlag == 0 {
            slot.flags |= Self.pendingFlag
            pendingDecisions.append(i)
        }
        slots[Int(i)] = slot
    }

    /// Re-decides every pending debtor at `now`.
    mutating func settle(now: UnixSeconds) {
        while let i = pendingDecisions.popLast() {
            prefetchPending()
            if slots[Int(i)].flags & Self.pendingFlag != 0 { redecide(i, now: now) }
        }
    }

    /// `prefetchAhead` for the next pending debtors (`settle` pops them from the end: position k is p[n - 1 - k]).
    @inline(__always) func prefetchPending() {
        let n = pendingDecisions.count
        if n == 0 { return }
        pendingDecisions.withUnsafeBufferPointer { p in prefetchAhead(-1, n) { p[n - 1 - $0] } }
    }

    /// Re-decides at most `limit` pending debtors at `now`, so that the work of many events is spread over the
    /// shard's turns instead of piling up for the next `settle(now:)`.
    mutating func settle(now: UnixSeconds, atMost limit: Int) {
        var done = 0
        while done < limit, let i = pendingDecisions.popLast() {
            done += 1
            if done < limit { prefetchPending() }
            if slots[Int(i)].flags & Self.pendingFlag != 0 { redecide(i, now: now) }
        }
    }

    mutating func endLease(_ i: UInt32) {
        runwayLive = 0
        if !revokedLeases.isEmpty { revokedLeases.remove(slots[Int(i)].lease) }
        activeLeases.removeValue(forKey: slots[Int(i)].lease)
        slots[Int(i)].lease = 0
        slots[Int(i)].state = .blocked  // redecide puts it in the right queue
    }

    // MARK: deciding

    /// Runs the policy for debtor `i` at `now` and files it in the right queue (a leased debtor stays leased).
    mutating func redecide(_ i: UInt32, now: UnixSeconds) {
        runwayLive = 0
        // Decoded into the scratch value (given back at the end), not into a new `Debtor`: no allocation.
        var debtor = scratchDebtor.take() ?? Debtor(id: "", jurisdiction: "", phones: [], debts: [])
        arena.decode(at: slots[Int(i)].blob, jurisdiction: jurisdictions.string(slots[Int(i)].jurisdiction) ?? "",
                     into: &debtor)
        let history = self.history(i)
        var chosen: Decision?
        var chosenStart = Int64.max
        var firstBlockedReason: String?
        var first = true
        // forEachDecision: the same decisions as decide(for:history:now:), without building an array; then, on the
        // same evaluation, the value of calling now about the chosen debt when it may be called now (what
        // `policy.score(for:history:debt:at: now)` returns).
        let valueNow = policy.forEachDecision(for: debtor, history: history, now: now, { d in
            if first {
                firstBlockedReason = d.blockedReason
                first = false
            }
            guard let earliest = d.earliest, d.phone != nil else { return }
            let start = max(earliest, now)
            if chosen == nil || start < chosenStart || (start == chosenStart && d.score > chosen!.score) {
                chosen = d
                chosenStart = start
            }
        }, thenValue: {
            // (Neither closure mentions `debtor`: capturing it would copy it, retaining all its fields.)
            guard let d = chosen, let earliest = d.earliest, earliest <= now else { return nil }
            return d.debt
        })
        var slot = slots[Int(i)]
        slot.generation &+= 1
        slot.decidedAt = now
        let leased = slot.state == .leased || slot.state == .expiring
        if let d = chosen {
            slot.debtIndex = UInt8(truncatingIfNeeded: debtor.debts.firstIndex { $0.id == d.debt } ?? 0xFF)
            slot.phoneIndex = UInt8(truncatingIfNeeded: debtor.phones.firstIndex { $0.number == d.phone } ?? 0xFF)
            slot.earliest = d.earliest!
            slot.best = d.best ?? .max
            slot.windowEnds = d.windowEnds ?? .min
            // Ready debtors rank by the value of calling now; waiting ones keep the decision's value at `best`
            // until their time comes and they are re-decided.
            let rank = slot.earliest <= now ? valueNow : d.score
            slot.score = rank.isFinite ? Float(rank) : 0
            // Reasons of a debtor that may be called now are few distinct lists ("permitted now", the bucket,
            // the cap usage) and are interned; a waiting debtor's name a local time and would not share, so they
            // are not kept (it is re-decided, with reasons, when its time comes; `debtorState` shows fresh ones).
            slot.reasons = slot.earliest <= now ? internReasons(d.reasons) : 0
            slot.zone = Self.internedZone(d.zone, &arena)
            slot.flags = d.consentedCallback ? 1 : 0
            if !leased {
                // The best-time gate's candidate: callable now, but now is clearly worse than the best time ahead
                // (within the caps and the horizon).
                var gatedUntil: Int64?
                if slot.earliest <= now, let theta = holdBelowShareOfBest, let best = d.best, best > now,
                    rank < theta * d.score
                {
                    gatedUntil = best
                }
                if let best = gatedUntil, history.outcomes.isEmpty {
                    // A debtor never called is not held: its best time is the population's prior alone, and a
                    // first call now may reach it early and teaches the model its hours. It is leasable now
                    // (below), ranked by its value now, and re-decided at its best time (not every hour).
                    slot.flags |= Self.untriedFlag
                    timeQueue.push(TimeEntry(time: best, index: i, generation: slot.generation))
                    gatedUntil = nil
                }
                if let best = gatedUntil, isAmongLowestValues(d.score, now: now) {
                    // Held until its best time, when it is re-decided (and leasable if still best).
                    slot.state = .waiting
                    timeQueue.push(TimeEntry(time: best, index: i, generation: slot.generation))
                } else if slot.earliest <= now {
                    slot.state = .ready
                    fileReady(ReadyEntry(score: slot.score, index: i, generation: slot.generation),
                              jurisdiction: Int(slot.jurisdiction))
                } else {
                    slot.state = .waiting
                    timeQueue.push(TimeEntry(time: slot.earliest, index: i, generation: slot.generation))
                }
            }
        } else {
            slot.debtIndex = 0xFF
            slot.phoneIndex = 0xFF
            slot.earliest = .max
            slot.best = .max
            slot.windowEnds = .min
            slot.score = 0
            slot.reasons = internReasons(firstBlockedReason.map { [$0] } ?? [])
            slot.zone = 0
            slot.flags = 0
            if !leased { slot.state = .blocked }
        }
        slots[Int(i)] = slot
        if revocationSink != nil { revokeIfForbidden(i, leased: leased, debtor: debtor, now: now) }
        scratchDebtor = consume debtor  // given back (moved, not copied) for the next decision
    }

    /// After debtor `i` was re-decided: tells the holder of its lease (once per lease), or of the lease an outcome
    /// without a lease id just ended (`leasesEndedUnreported`), when that call may no longer be placed.
    mutating func revokeIfForbidden(_ i: UInt32, leased: Bool, debtor: borrowing Debtor, now: UnixSeconds) {
        let sequence = slots[Int(i)].lease
        let lease: ActiveLease
        if leased {
            guard let current = activeLeases[sequence], !current.restored, !revokedLeases.contains(sequence) else {
                return
            }
            lease = current
        } else {
            guard !leasesEndedUnreported.isEmpty, let ended = leasesEndedUnreported.removeValue(forKey: i) else {
                return
            }
            lease = ended
        }
        guard let reason = forbiddenReason(lease, slot: i, debtor: debtor, now: now) else { return }
        if leased { revokedLeases.insert(sequence) }
        revocationSink?(LeaseRevocation(lease: lease.id, holder: lease.holder, debtor: debtor.id, debt: lease.debt,
                                        phone: lease.phone, reason: reason, leaseEnded: !leased, at: now))
    }

    /// Why the call of `lease` (debtor `i`, re-decided after its record or history changed) may no longer be
    /// placed at all: the status, an opted-out, removed, wrong or out-of-service number, a debt removed or no
    /// longer open, a dispute, a cease; nil when it may. Time limits (caps, windows, gaps) are not reasons: the
    /// call was permitted when leased. Runs one more evaluation, only for leased debtors that changed.
    func forbiddenReason(_ lease: ActiveLease, slot i: UInt32, debtor: borrowing Debtor, now: UnixSeconds) -> String? {
        guard let phone = debtor.phones.first(where: { $0.number == lease.phone }) else {
            return "phone \(lease.phone) is no longer on the debtor's record"
        }
        if phone.optedOut { return "phone \(lease.phone) opted out" }
        let history = history(i)
        // Another call on the number found it wrong or out of service (the lease was not granted on such a number).
        if let dead = history.outcomes.last(where: {
            $0.phone == lease.phone && ($0.outcome == .wrongNumber || $0.outcome == .notInService)
        }) {
            return "phone \(lease.phone) reported \(dead.outcome.rawValue)"
        }
        guard let d = policy.decide(for: copy debtor, history: history, now: now).first(where: { $0.debt == lease.debt })
        else { return "debt \(lease.debt) is no longer open" }
        return d.earliest == nil ? (d.blockedReason ?? "debt \(lease.debt) may not be called") : nil
    }

    /// The interned id of a decision's zone (0 for none or when the table is full): through the interner's
    /// byte-keyed cache (a few distinct zones: one short hash and one compare) instead of its `Dictionary`.
    @inline(__always) static func internedZone(_ zone: String?, _ arena: inout DebtorArena) -> UInt16 {
        guard var zone else { return 0 }
        return zone.withUTF8 { arena.strings.id(bytes: UnsafeRawBufferPointer($0)) } ?? 0
    }

    /// Records `value` (a flagged debtor's value at its best time) and tells whether it is among the lowest
    /// `holdShare` of the values recorded lately in this shard (always true when the share is 1).
    mutating func isAmongLowestValues(_ value: Double, now: UnixSeconds) -> Bool {
        if holdShare >= 1 { return true }
        let hour = now / 3600
        if hour != valueBinsHour {
            let halvings = valueBinsHour == .min ? 0 : min(64, hour - valueBinsHour)
            let f = Double(sign: .plus, exponent: -Int(halvings), significand: 1)
            for b in valueBins.indices { valueBins[b] *= f }
            valueBinsTotal *= f
            valueBinsHour = hour
        }
        let bin = value > 0 && value.isFinite
            ? min(127, max(0, (Int(value.exponent) + 40) * 2 + (value.significand >= 1.414_213_56 ? 1 : 0))) : 0
        valueBins[bin] += 1
        valueBinsTotal += 1
        var atOrBelow = 0.0
        for b in 0...bin { atOrBelow += valueBins[b] }
        return atOrBelow <= holdShare * valueBinsTotal
    }

    mutating func internReasons(_ reasons: [String]) -> UInt32 {
        if reasons.isEmpty { return 0 }
        if let id = reasonIDs[reasons] { return id }
        guard reasonTable.count < Self.maxReasonEntries else { return 0 }
        let id = UInt32(reasonTable.count)
        reasonTable.append(reasons)
        reasonIDs[reasons] = id
        return id
    }

    /// Decides every debtor, or files its restored snapshot decision (after recovery).
    /// Returns how many restored decisions were used as they were.
    @discardableResult
    mutating func decideAll(now: UnixSeconds) -> Int {
        installReplayedLeases()
        var restored = 0
        for i in slots.indices where fileOrDecide(UInt32(i), now: now) { restored += 1 }
        for j in ready.indices { ready[j].consolidate() }  // one sorted run per jurisdiction (see `ReadyQueue`)
        lastHour = now / 3600
        return restored
    }

    // MARK: time

    /// Moves debtors whose time has come into the ready queue, re-scores ready debtors after the hour changes,
    /// and marks leases that ran out as expiring; returns those (the engine logs them, then calls `apply`).
    mutating func advance(now: UnixSeconds) -> [LeaseExpiry] {
        settle(now: now)
        let due = timeQueue.popDue(now)
        for k in due.indices {
            prefetchAhead(k, due.count) { due[$0].index }
            let top = due[k]
            let slot = slots[Int(top.index)]
            if slot.generation == top.generation
                && (slot.state == .waiting || (slot.state == .ready && slot.flags & Self.untriedFlag != 0))
            {
                redecide(top.index, now: now)
            }
        }
        let hour = now / 3600
        if hour != lastHour {
            lastHour = hour
            rescoreCursor = 0
        }
        if rescoreCursor < slots.count {
            let end = min(slots.count, rescoreCursor + rescoreBatch)
            // The debtors to re-score, listed first (a re-decision changes only its own slot, so the list is what
            // the test at each slot would find), then re-decided with prefetching.
            var stale: [UInt32] = []
            for i in rescoreCursor..<end
            where slots[i].state == .ready && slots[i].decidedAt / 3600 != hour
                && slots[i].flags & Self.untriedFlag == 0
            {
                stale.append(UInt32(i))
            }
            for k in stale.indices {
                prefetchAhead(k, stale.count, stage1: false) { stale[$0] }  // slots are read in order
                redecide(stale[k], now: now)
            }
            rescoreCursor = end
        }
        shedStaleEntries()
        var expired: [LeaseExpiry] = []
        while let top = leaseQueue.top, top.expires <= now {
            leaseQueue.pop()
            guard let lease = activeLeases[top.sequence], slots[Int(top.index)].state == .leased,
                slots[Int(top.index)].lease == top.sequence
            else { continue }
            slots[Int(top.index)].state = .expiring
            let slot = slots[Int(top.index)]
            expired.append(LeaseExpiry(lease: lease.id, debtor: arena.id(at: slot.blob), debt: lease.debt,
                                       phone: lease.phone, leasedAt: lease.leasedAt, expiredAt: now))
        }
        return expired
    }

    /// Puts leases whose expiry could not be logged back under lease; they are retried at the next tick.
    mutating func revertExpiring(_ expiries: [LeaseExpiry]) {
        for e in expiries {
            guard let i = find(e.debtor), slots[Int(i)].state == .expiring,
                let lease = activeLeases[slots[Int(i)].lease]
            else { continue }
            slots[Int(i)].state = .leased
            leaseQueue.push(LeaseEntry(expires: lease.expires, sequence: slots[Int(i)].lease, index: i))
        }
    }

    /// Rebuilds a heap when more than half its entries are stale, so memory stays bounded.
    mutating func shedStaleEntries() {
        shedEndedLeaseEntries()
        if timeQueue.count > 4096 && timeQueue.count > 2 * waitingEstimate + 1024 {
            let s = slots
            timeQueue.compact { s[Int($0.index)].generation == $0.generation && s[Int($0.index)].state == .waiting }
        }
        for j in ready.indices where ready[j].count > 4096 && ready[j].count > 2 * slots.count {
            let s = slots
            ready[j].compact { s[Int($0.index)].generation == $0.generation && s[Int($0.index)].state == .ready }
        }
    }

    private var waitingEstimate: Int { slots.count }

    // MARK: leasing

    func leaseID(_ sequence: UInt32) -> String { Self.leaseID(prefix: leasePrefix, sequence: sequence) }

    /// The start of the lease ids of shard `shard` in a process whose start tag is `tag`: "L", the tag, then the
    /// shard as one lowercase letter (shards 0-25) or an uppercase and a lowercase letter (26 and up). The engine's
    /// tag has a fixed width, and the sequence after the prefix is digits and lowercase letters, so no two
    /// (tag, shard, sequence) give the same id.
    static func leasePrefix(tag: String, shard: Int) -> String {
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        let uppers = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        return shard < 26 ? "L\(tag)\(letters[shard])" : "L\(tag)\(uppers[min(25, shard / 26 - 1)])\(letters[shard % 26])"
    }

    /// A lease id: the shard's prefix and the sequence in base 36. With the engine's 6-character tag it is at
    /// most 15 bytes (16 beyond 25 shards), which Swift keeps inline: no allocation per lease.
    static func leaseID(prefix: String, sequence: UInt32) -> String {
        // Written into a stack buffer and decoded once (a concatenation of `String(sequence, radix: 36)` built two
        // strings first).
        var prefix = prefix
        return prefix.withUTF8 { head in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: head.count + 7) { buffer in
                var digits = 0
                var rest = sequence
                repeat {
                    digits += 1
                    rest /= 36
                } while rest > 0
                for k in 0..<head.count { buffer[k] = head[k] }
                rest = sequence
                var at = head.count + digits
                repeat {
                    at -= 1
                    let digit = UInt8(rest % 36)
                    buffer[at] = digit < 10 ? 48 + digit : 87 + digit  // "0"-"9", then "a"-"z"
                    rest /= 36
                } while rest > 0
                return String(decoding: UnsafeBufferPointer(rebasing: buffer[0..<(head.count + digits)]), as: UTF8.self)
            }
        }
    }

    func jurisdictionIDs(_ filter: LeaseFilter) -> [Int] {
        guard filter.jurisdictions != nil else { return Array(ready.indices.dropFirst()) }
        var ids: [Int] = []
        for (i, j) in jurisdictions.strings.enumerated() where i > 0 && filter.matches(j) { ids.append(i) }
        return ids
    }

    @inline(__always) func isLive(_ e: ReadyEntry) -> Bool {
        let s = slots[Int(e.index)]
        return s.generation == e.generation && s.state == .ready
    }

    /// Pops stale entries off ready heap `j`; returns its live top, if any. (A method, not a closure: a nested
    /// function capturing `self` made a copy of the whole state, and so retained every array, at each call.)
    @inline(__always) mutating func liveTop(_ j: Int) -> ReadyEntry? {
        while let top = ready[j].top {
            let slot = slots[Int(top.index)]
            if slot.generation == top.generation && slot.state == .ready { return top }
            ready[j].pop()
        }
        return nil
    }

    /// The scores of the best `n` ready debtors passing `filter`, best first, without taking them. `mutating`
    /// only so that the shard actor calls it in place (a non-mutating call on its stored state copies the state).
    mutating func peekScores(_ n: Int, filter: LeaseFilter) -> [Float] {
        if filter.jurisdictions == nil { return peekRunway(n) }
        flushRunway()
        // Frontier entries walk each queue's two sorted runs (position to position + 1) and its heap (to the
        // children). `source`: 0 = the run `sorted`, 1 = the run `recent`, 2 = the heap.
        struct Frontier: Comparable {
            var score: Float
            var heap: Int
            var position: Int
            var source: Int
            static func < (a: Frontier, b: Frontier) -> Bool { a.score < b.score }
        }
        var frontier = MaxHeap<Frontier>()
        for j in jurisdictionIDs(filter) where j < ready.count {
            if ready[j].head < ready[j].sorted.count {
                frontier.push(Frontier(score: ready[j].sorted[ready[j].head].score, heap: j, position: ready[j].head,
                                       source: 0))
            }
            if ready[j].recentHead < ready[j].recent.count {
                frontier.push(Frontier(score: ready[j].recent[ready[j].recentHead].score, heap: j,
                                       position: ready[j].recentHead, source: 1))
            }
            if let top = ready[j].heap.top { frontier.push(Frontier(score: top.score, heap: j, position: 0, source: 2)) }
        }
        var scores: [Float] = []
        scores.reserveCapacity(n)
        var visited = 0
        while scores.count < n, let f = frontier.pop() {
            visited += 1
            if visited > 64 * n + 4096 { break }  // the heap is mostly stale: good enough, `take` sheds it
            // The liveness test written out: calling a non-mutating method here copied the whole state.
            let entry = switch f.source {
            case 0: ready[f.heap].sorted[f.position]
            case 1: ready[f.heap].recent[f.position]
            default: ready[f.heap].heap.storage[f.position]
            }
            let slot = slots[Int(entry.index)]
            if slot.generation == entry.generation && slot.state == .ready { scores.append(f.score) }
            switch f.source {
            case 0:
                if f.position + 1 < ready[f.heap].sorted.count {
                    frontier.push(Frontier(score: ready[f.heap].sorted[f.position + 1].score, heap: f.heap,
                                           position: f.position + 1, source: 0))
                }
            case 1:
                if f.position + 1 < ready[f.heap].recent.count {
                    frontier.push(Frontier(score: ready[f.heap].recent[f.position + 1].score, heap: f.heap,
                                           position: f.position + 1, source: 1))
                }
            default:
                for child in ready[f.heap].heap.children(of: f.position) {
                    frontier.push(Frontier(score: ready[f.heap].heap.storage[child].score, heap: f.heap,
                                           position: child, source: 2))
                }
            }
        }
        return scores
    }

    /// Leases the best `n` ready debtors passing `filter` to `holder` until `now + ttl`.
    /// Returns the leases and their sequence numbers (for `confirm` or `cancel`).
    mutating func take(_ n: Int, filter: LeaseFilter, holder: String, now: UnixSeconds, ttl: Int64)
        -> (leases: [Lease], sequences: [UInt32])
    {
        var leases: [Lease] = []
        let sequences = take(n, filter: filter, holder: holder, now: now, ttl: ttl, into: &leases)
        return (leases, sequences)
    }

    /// `take`, appending the leases to `leases` (the engine's array for the whole call: no array per shard).
    mutating func take(_ n: Int, filter: LeaseFilter, holder: String, now: UnixSeconds, ttl: Int64,
                       into leases: inout [Lease]) -> [UInt32]
    {
        settle(now: now)
        if filter.jurisdictions == nil { return takeFromRunway(n, holder: holder, now: now, ttl: ttl, into: &leases) }
        flushRunway()
        let heaps = jurisdictionIDs(filter).filter { $0 < ready.count }
        leases.reserveCapacity(leases.count + n)
        var sequences: [UInt32] = []
        sequences.reserveCapacity(n)
        let hour = now / 3600
        // The live top of each heap, refreshed only for the heap a debtor was taken from (all of them after a
        // re-decision, which may file the debtor anywhere).
        var tops: [ReadyEntry?] = []
        tops.reserveCapacity(heaps.count)
        for j in heaps { tops.append(liveTop(j)) }
        while sequences.count < n {
            var best = -1
            for k in tops.indices {
                if let top = tops[k], best < 0 || tops[best]! < top { best = k }
            }
            guard best >= 0, let entry = tops[best] else { break }
            ready[heaps[best]].pop()
            let i = entry.index
            let slot = slots[Int(i)]
            if now >= slot.windowEnds || slot.decidedAt / 3600 != hour || slot.earliest > now
                || slot.flags & Self.withoutReasonsFlag != 0
            {
                redecide(i, now: now)  // stale: the window closed or the hour (and so the score) changed
                redecidedAtTake &+= 1
                for k in heaps.indices { tops[k] = liveTop(heaps[k]) }
                continue
            }
            let (lease, sequence) = grant(i, holder: holder, now: now, ttl: ttl)
            leases.append(lease)
            sequences.append(sequence)
            tops[best] = liveTop(heaps[best])
        }
        return sequences
    }

    /// `take` without a filter: from the runway.
    mutating func takeFromRunway(_ n: Int, holder: String, now: UnixSeconds, ttl: Int64,
                                 into leases: inout [Lease]) -> [UInt32]
    {
        leases.reserveCapacity(leases.count + n)
        var sequences: [UInt32] = []
        sequences.reserveCapacity(n)
        let hour = now / 3600
        touchRunway(n)
        while sequences.count < n, let entry = popRunway(refill: n - sequences.count) {
            let i = entry.index
            let slot = slots[Int(i)]
            if now >= slot.windowEnds || slot.decidedAt / 3600 != hour || slot.earliest > now
                || slot.flags & Self.withoutReasonsFlag != 0
            {
                redecide(i, now: now)  // stale: the window closed or the hour (and so the score) changed
                redecidedAtTake &+= 1
                continue
            }
            let (lease, sequence) = grant(i, holder: holder, now: now, ttl: ttl)
            leases.append(lease)
            sequences.append(sequence)
        }
        return sequences
    }

    // MARK: queries

    func state(of i: UInt32) -> DebtorQueueState {
        switch slots[Int(i)].state {
        case .blocked: .blocked
        case .waiting: .waiting
        case .ready: .ready
        case .leased, .expiring: .leased
        case .pending: .waiting  // not visible after `settle`, which every query runs first
        }
    }

    // `mutating` only so that the shard actor calls it in place (a non-mutating call copies the state).
    mutating func snapshot(of id: String, now: UnixSeconds) -> DebtorSnapshot? {
        guard let i = find(id) else { return nil }
        let debtor = self.debtor(i)
        let history = self.history(i)
        var lease: Lease?
        let slot = slots[Int(i)]
        if slot.state == .leased || slot.state == .expiring, let active = activeLeases[slot.lease] {
            lease = makeLease(i, active)
        }
        return DebtorSnapshot(debtor: debtor, decisions: policy.decide(for: debtor, history: history, now: now),
                              history: history, state: state(of: i), lease: lease)
    }

    /// The engine's current decision for every debtor whose planned contact (`best`, else `earliest`) falls in
    /// `from ..< to`, earliest first, at most `limit`. A waiting debtor's slot keeps no reasons (the queues need
    /// only its times): its decision comes without them, and ``reasons(of:now:)`` gives them for the decisions the
    /// engine keeps after merging the shards' lists.
    // `mutating` only so that the shard actor calls it in place (a non-mutating call copies the state).
    mutating func schedule(from: UnixSeconds, to: UnixSeconds, limit: Int) -> [Decision] {
        var picked: [(Int64, UInt32)] = []
        for (i, slot) in slots.enumerated() where slot.earliest != .max {
            let planned = slot.best != .max ? slot.best : slot.earliest
            if planned >= from && planned < to { picked.append((planned, UInt32(i))) }
        }
        picked.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        return picked.prefix(limit).map { (_, i) in
            let slot = slots[Int(i)]
            let (debt, phone) = arena.debtAndPhone(at: slot.blob, debt: Int(slot.debtIndex), phone: Int(slot.phoneIndex))
            return Decision(debtor: arena.id(at: slot.blob), debt: debt, phone: phone, earliest: slot.earliest,
                            best: slot.best == .max ? nil : slot.best,
                            windowEnds: slot.windowEnds == .min ? nil : slot.windowEnds, score: Double(slot.score),
                            blockedReason: nil, reasons: reasonTable[Int(slot.reasons)],
                            zone: arena.strings.string(slot.zone), consentedCallback: slot.flags & 1 != 0)
        }
    }

    /// The reasons of the policy's decision at `now` for each (debtor, debt), as ``snapshot(of:now:)`` gives them;
    /// empty for an unknown debtor.
    // `mutating` only so that the shard actor calls it in place (a non-mutating call copies the state).
    mutating func reasons(of items: [(debtor: String, debt: String)], now: UnixSeconds) -> [[String]] {
        items.map { item in
            guard let i = find(item.debtor) else { return [] }
            let decided = policy.decide(for: debtor(i), history: history(i), now: now)
            return (decided.first { $0.debt == item.debt } ?? decided.first)?.reasons ?? []
        }
    }

    /// The decision the engine currently holds for debtor `id` (what it would lease), or nil.
    // `mutating` only so that the shard actor calls it in place (a non-mutating call copies the state).
    mutating func currentDecision(of id: String) -> Decision? {
        guard let i = find(id) else { return nil }
        let slot = slots[Int(i)]
        guard slot.earliest != .max else { return nil }
        let (debt, phone) = arena.debtAndPhone(at: slot.blob, debt: Int(slot.debtIndex), phone: Int(slot.phoneIndex))
        return Decision(debtor: id, debt: debt, phone: phone, earliest: slot.earliest,
                        best: slot.best == .max ? nil : slot.best,
                        windowEnds: slot.windowEnds == .min ? nil : slot.windowEnds, score: Double(slot.score),
                        blockedReason: nil, reasons: reasonTable[Int(slot.reasons)],
                        zone: arena.strings.string(slot.zone), consentedCallback: slot.flags & 1 != 0)
    }

    /// Counts per queue state (for metrics and tests).
    // `mutating` only so that the shard actor calls it in place (a non-mutating call copies the state).
    mutating func stateCounts() -> [DebtorQueueState: Int] {
        var counts: [DebtorQueueState: Int] = [:]
        for i in slots.indices { counts[state(of: UInt32(i)), default: 0] += 1 }
        return counts
    }
}
