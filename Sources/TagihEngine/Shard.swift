import Synchronization
import TagihCore
import TagihStore

/// Grants of one `lease` call that are durable in the log, posted by the engine for a shard to confirm.
struct GrantConfirmation: Sendable {
    /// The leases' sequence numbers in the shard.
    var sequences: [UInt32]
    /// The grant's log position.
    var lsn: Int64
}

/// Engine-wide signal from the shards to `Engine.lease`: bumped whenever an outcome without a lease id meets a
/// lease whose grant is still being committed (rare); the engine then checks whether its grants were withdrawn.
final class LeaseSignals: Sendable {
    let outcomesOnUnconfirmedGrants = Atomic<Int>(0)
}

/// The scores at the front of a shard's runway (its best ready debtors, best first) as its last `take` or
/// unfiltered peek left them, readable without a message to the shard (see `Shard.published`).
struct PublishedScores {
    /// False from the start of any other message (which may change the ready debtors) until the next publication.
    var valid = false
    /// The shard holds no ready debtor beyond `scores`.
    var complete = false
    var scores: [Float] = []
}

/// One partition of the debtors: owns their compact records, histories, time queue, ready queues and leases.
/// Nothing else touches that state; the engine talks to it in batches.
actor Shard {
    var state: ShardState
    /// Durable grants waiting to be confirmed: the engine appends here after the commit instead of sending a
    /// message, and the shard confirms them at the start of its next message (`drainConfirmations`), so a lease
    /// call costs no second round trip to the shards. The lock is held only to append or to swap the array.
    nonisolated let confirmations = Mutex<[GrantConfirmation]>([])
    let signals: LeaseSignals
    /// The start of every lease id this shard hands out (`ShardState.leasePrefix`).
    nonisolated let leasePrefix: String
    /// The best ready scores as the last `take` (or unfiltered peek) left them: `Engine.lease` reads them here
    /// instead of sending each shard a peek message (half the messages of a lease call). Every other message
    /// invalidates them first (`unpublish`), so once any message that may change the ready debtors has returned,
    /// the engine peeks through the actor again; a concurrent take may of course change them right after they
    /// were read, as it may after a peek message (peeks only decide how many debtors each shard hands out; `take`
    /// checks every debtor it leases).
    nonisolated let published = Mutex(PublishedScores())

    init(shardID: Int, policy: ContactPolicy, leaseTag: String, rescoreBatch: Int, holdBelowShareOfBest: Double? = nil,
         holdShare: Double = 1, tracksHistoryChanges: Bool = true, signals: LeaseSignals = LeaseSignals(),
         revocationSink: (@Sendable (LeaseRevocation) -> Void)? = nil) {
        state = ShardState(shardID: shardID, policy: policy, leaseTag: leaseTag, rescoreBatch: rescoreBatch)
        state.revocationSink = revocationSink
        state.holdBelowShareOfBest = holdBelowShareOfBest
        state.holdShare = holdShare
        state.historyCheckpoint.tracksChanges = tracksHistoryChanges
        self.signals = signals
        leasePrefix = ShardState.leasePrefix(tag: leaseTag, shard: shardID)
    }

    /// Called by the engine once a grant is durable; the shard confirms it at its next message.
    nonisolated func post(_ confirmation: GrantConfirmation) {
        confirmations.withLock { $0.append(confirmation) }
    }

    /// Marks the published scores stale: every message but `count` and `validate` calls it first.
    @inline(__always) nonisolated func unpublish() {
        published.withLock { $0.valid = false }
    }

    /// Publishes the best `n` ready scores (verified against their slots, see `ShardState.peekRunway`).
    private func publish(_ n: Int) {
        publish(state.peekRunway(n), asked: n)
    }

    private func publish(_ scores: [Float], asked n: Int) {
        published.withLock { p in
            p.scores = scores
            p.complete = scores.count < n
            p.valid = true
        }
    }

    /// The published best `n` scores, when they are valid and there are `n` of them (or all the shard has).
    nonisolated func publishedScores(_ n: Int) -> [Float]? {
        published.withLock { p -> [Float]? in
            guard p.valid, p.scores.count >= n || p.complete else { return nil }
            return p.scores.count <= n ? p.scores : Array(p.scores[..<n])
        }
    }

    /// Confirms the grants the engine posted (they may expire from then on).
    func drainConfirmations() {
        let posted = confirmations.withLock { inbox -> [GrantConfirmation] in
            if inbox.isEmpty { return [] }
            defer { inbox = [] }
            return inbox
        }
        for c in posted { state.confirm(c.sequences, lsn: c.lsn) }
    }

    /// Runs `body` (which applies events) and, when one of them met a lease whose grant is still being
    /// committed, tells the engine and confirms again whatever was posted meanwhile (see `Engine.makeDurable`).
    private func applying(_ body: (inout ShardState) -> Void) {
        drainConfirmations()
        let before = state.outcomesOnUnconfirmedGrants
        body(&state)
        if state.outcomesOnUnconfirmedGrants != before {
            signals.outcomesOnUnconfirmedGrants.add(1, ordering: .sequentiallyConsistent)
            drainConfirmations()
        }
    }

    var count: Int { state.count }

    func reserve(_ n: Int) {
        unpublish()
        state.slots.reserveCapacity(n)
        state.index.reserve(n)
    }

    func upsert(_ items: [(Debtor, Int64)], now: UnixSeconds?) -> [UpsertResult] {
        unpublish()
        return items.map { state.upsert($0.0, lsn: $0.1, now: now) }
    }

    /// Loads the page's entries at `rows`; returns how many records could not be packed.
    func load(_ page: RecordPage, _ rows: [Int32]) -> Int {
        unpublish()
        return state.load(page, rows)
    }

    func reserveForLoading(_ share: SizeHints) {
        state.reserveForLoading(share)
    }

    func sizeHints() -> SizeHints { state.sizeHints() }

    func finishLoading() {
        unpublish()
        state.finishLoading()
    }

    func snapshotRows(from start: Int, limit: Int, now: UnixSeconds)
        -> (rows: [SnapshotRow], lists: [ReasonList], next: Int)
    {
        unpublish()
        drainConfirmations()
        state.settle(now: now)
        return state.snapshotRows(from: start, limit: limit)
    }

    /// How many debtors' histories changed since they were last taken for the history checkpoint. (Neither this
    /// nor `historyRows` changes a ready debtor, so neither unpublishes the scores.)
    func pendingHistoryCount() -> Int { state.historyCheckpoint.pendingCount }

    /// Checkpoint rows of changed histories, oldest change first (see `ShardState.historyRows`).
    func historyRows(limit: Int, maxBytes: Int) -> (rows: [HistoryRow], slots: [UInt32]) {
        state.historyRows(limit: limit, maxBytes: maxBytes)
    }

    /// Checkpoint rows that could not be written: they are taken again by the next checkpoint.
    func giveBackHistoryRows(_ slots: [UInt32]) {
        for i in slots { state.markHistoryChanged(i) }
    }

    /// Recovery: how many history checkpoint rows could not be decoded.
    func unreadableHistoryRows() -> Int { state.historyCheckpoint.unreadable }

    /// Recovery: see `ShardState.discardRestoredHistories`.
    func discardRestoredHistories() { state.discardRestoredHistories() }

    /// Recovery: see `ShardState.beginHistoryReplay`.
    func beginHistoryReplay(floor: Int64) { state.beginHistoryReplay(floor: floor) }

    /// Recovery: see `ShardState.finishHistoryReplay`.
    func finishHistoryReplay() { state.finishHistoryReplay() }

    /// For each event at `indices`: its debtor's slot, or why it is refused.
    func validate(_ events: [StoredEvent], _ indices: [Int]) -> [Result<Accepted, Rejection>] {
        state.validate(events, indices)
    }

    /// Applies events to known slots (from `validate`), reported by `reporter` (see `Engine.ingestReportingWarnings`).
    func apply(_ events: [StoredEvent], _ items: [(index: Int, lsn: Int64, slot: UInt32)], now: UnixSeconds,
               reporter: String? = nil)
    {
        unpublish()
        applying { state in
            state.apply(events, items, now: now, reporter: reporter)
            // Re-decide a few pending debtors now (at most two per event): a second of ingestion then no longer
            // leaves thousands of decisions for one turn of the next tick, which held every ack behind it.
            state.settle(now: now, atMost: 2 * items.count + 8)
        }
    }

    func apply(_ events: [(StoredEvent, Int64)], now: UnixSeconds?) {
        unpublish()
        applying { state in
            for (event, lsn) in events { state.apply(event, lsn: lsn, now: now) }
        }
    }

    func decideAll(now: UnixSeconds) -> Int {
        unpublish()
        defer { state.finishRestoring() }
        return state.decideAll(now: now)
    }

    /// Recovery: the reason lists the store holds, by hash (before any record is loaded).
    func setStoredReasonLists(_ lists: [UInt64: [String]]) {
        state.setStoredReasonLists(lists)
    }

    /// How many ready decisions the last recovery restored without their reasons.
    func restoredWithoutReasons() -> Int { state.savedReasons.restoredWithout }

    /// How many debtors `take` re-decided instead of leasing them (for tests).
    func redecidedAtTake() -> Int { state.redecidedAtTake }

    /// See `ShardState.redecideRestoredWithoutReasons`.
    func redecideRestoredWithoutReasons(now: UnixSeconds) -> Int {
        unpublish()
        drainConfirmations()
        state.settle(now: now)
        return state.redecideRestoredWithoutReasons(now: now)
    }

    func advance(now: UnixSeconds) -> [LeaseExpiry] {
        unpublish()
        drainConfirmations()
        return state.advance(now: now)
    }

    func revertExpiring(_ expiries: [LeaseExpiry]) {
        unpublish()
        state.revertExpiring(expiries)
    }

    /// The scores of the best `n` ready debtors passing `filter`, best first; unfiltered ones are also published.
    func peekScores(_ n: Int, filter: LeaseFilter) -> [Float] {
        unpublish()
        let scores = state.peekScores(n, filter: filter)
        if filter.jurisdictions == nil { publish(scores, asked: n) }
        return scores
    }

    func take(_ n: Int, filter: LeaseFilter, holder: String, now: UnixSeconds, ttl: Int64)
        -> (leases: [Lease], sequences: [UInt32])
    {
        unpublish()
        drainConfirmations()
        return state.take(n, filter: filter, holder: holder, now: now, ttl: ttl)
    }

    /// `take`, appending the leases to the caller's array; returns their sequence numbers. Then, when unfiltered
    /// and `publish` > 0, publishes the best `publish` scores left (for the next call's peek).
    func take(_ n: Int, filter: LeaseFilter, holder: String, now: UnixSeconds, ttl: Int64,
              into leases: inout [Lease], publish: Int = 0) -> [UInt32]
    {
        unpublish()
        drainConfirmations()
        let sequences = state.take(n, filter: filter, holder: holder, now: now, ttl: ttl, into: &leases)
        if publish > 0 && filter.jurisdictions == nil { self.publish(publish) }
        return sequences
    }

    func cancel(_ sequences: [UInt32]) {
        unpublish()
        drainConfirmations()
        state.cancel(sequences)
    }

    /// Of these leases (by sequence), the ones that ended, after confirming every posted grant.
    func ended(_ sequences: [UInt32]) -> [UInt32] {
        unpublish()
        drainConfirmations()
        return state.ended(sequences)
    }

    /// nil: no lease; `.some(nil)`: a grant is being committed; else the oldest grant's log position.
    func oldestLeaseGrant() -> Int64?? {
        unpublish()
        drainConfirmations()
        var oldest: Int64?
        for lease in state.activeLeases.values {
            if lease.grantLSN == 0 { return .some(nil) }
            oldest = min(oldest ?? .max, lease.grantLSN)
        }
        return oldest.map { .some($0) }
    }

    func leasesHeld(by holder: String, now: UnixSeconds) -> [LeaseRelease] {
        unpublish()
        drainConfirmations()
        return state.leasesHeld(by: holder, now: now)
    }

    func leaseHeld(
        id: String, by holder: String, orphanedUnless isOpen: (@Sendable (String) -> Bool)? = nil, now: UnixSeconds
    ) -> LeaseRelease? {
        unpublish()
        drainConfirmations()
        return state.leaseHeld(id: id, by: holder, orphanedUnless: isOpen, now: now)
    }

    func snapshot(of id: String, now: UnixSeconds) -> DebtorSnapshot? {
        unpublish()
        drainConfirmations()
        state.settle(now: now)
        return state.snapshot(of: id, now: now)
    }

    func snapshots(of ids: [String], now: UnixSeconds) -> [DebtorSnapshot?] {
        unpublish()
        drainConfirmations()
        state.settle(now: now)
        return ids.map { state.snapshot(of: $0, now: now) }
    }

    func schedule(from: UnixSeconds, to: UnixSeconds, limit: Int, now: UnixSeconds) -> [Decision] {
        unpublish()
        state.settle(now: now)
        return state.schedule(from: from, to: to, limit: limit)
    }

    func scheduleReasons(of items: [(debtor: String, debt: String)], now: UnixSeconds) -> [[String]] {
        state.reasons(of: items, now: now)
    }

    func currentDecision(of id: String, now: UnixSeconds) -> Decision? {
        unpublish()
        state.settle(now: now)
        return state.currentDecision(of: id)
    }

    func stateCounts(now: UnixSeconds) -> [DebtorQueueState: Int] {
        unpublish()
        drainConfirmations()
        state.settle(now: now)
        return state.stateCounts()
    }

    func settle(now: UnixSeconds) {
        unpublish()
        drainConfirmations()
        state.settle(now: now)
    }

    func activeLeaseCount() -> Int {
        unpublish()
        drainConfirmations()
        return state.activeLeases.count
    }
}
