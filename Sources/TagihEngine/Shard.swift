import TagihCore
import TagihStore

/// One partition of the debtors: owns their compact records, histories, time queue, ready queues and leases.
/// Nothing else touches that state; the engine talks to it in batches.
actor Shard {
    var state: ShardState

    init(shardID: Int, policy: ContactPolicy, leaseTag: String, rescoreBatch: Int, holdBelowShareOfBest: Double? = nil,
         holdShare: Double = 1) {
        state = ShardState(shardID: shardID, policy: policy, leaseTag: leaseTag, rescoreBatch: rescoreBatch)
        state.holdBelowShareOfBest = holdBelowShareOfBest
        state.holdShare = holdShare
    }

    var count: Int { state.count }

    func reserve(_ n: Int) {
        state.slots.reserveCapacity(n)
        state.index.reserve(n)
    }

    func upsert(_ items: [(Debtor, Int64)], now: UnixSeconds?) -> [UpsertResult] {
        items.map { state.upsert($0.0, lsn: $0.1, now: now) }
    }

    /// Loads the page's entries at `rows`; returns how many records could not be packed.
    func load(_ page: RecordPage, _ rows: [Int32]) -> Int {
        state.load(page, rows)
    }

    func trimStorage() { state.trimStorage() }

    func finishLoading() { state.finishLoading() }

    func snapshotRows(from start: Int, limit: Int, now: UnixSeconds) -> (rows: [SnapshotRow], next: Int) {
        state.settle(now: now)
        return state.snapshotRows(from: start, limit: limit)
    }

    /// For each event at `indices`: its debtor's slot, or why it is refused.
    func validate(_ events: [StoredEvent], _ indices: [Int]) -> [Result<UInt32, Rejection>] {
        indices.map { state.validate(events[$0]) }
    }

    /// Applies events to known slots (from `validate`).
    func apply(_ events: [StoredEvent], _ items: [(index: Int, lsn: Int64, slot: UInt32)], now: UnixSeconds) {
        for item in items { state.apply(events[item.index], lsn: item.lsn, now: now, slot: item.slot) }
    }

    func apply(_ events: [(StoredEvent, Int64)], now: UnixSeconds?) {
        for (event, lsn) in events { state.apply(event, lsn: lsn, now: now) }
    }

    func decideAll(now: UnixSeconds) -> Int { state.decideAll(now: now) }

    func advance(now: UnixSeconds) -> [LeaseExpiry] { state.advance(now: now) }

    func revertExpiring(_ expiries: [LeaseExpiry]) { state.revertExpiring(expiries) }

    func peekScores(_ n: Int, filter: LeaseFilter) -> [Float] { state.peekScores(n, filter: filter) }

    func take(_ n: Int, filter: LeaseFilter, holder: String, now: UnixSeconds, ttl: Int64) -> [Lease] {
        state.take(n, filter: filter, holder: holder, now: now, ttl: ttl)
    }

    func cancel(_ leaseIDs: [String]) { state.cancel(leaseIDs) }

    /// nil: no lease; `.some(nil)`: a grant is being committed; else the oldest grant's log position.
    func oldestLeaseGrant() -> Int64?? {
        var oldest: Int64?
        for lease in state.activeLeases.values {
            if lease.grantLSN == 0 { return .some(nil) }
            oldest = min(oldest ?? .max, lease.grantLSN)
        }
        return oldest.map { .some($0) }
    }

    func confirm(_ grants: [(id: String, lsn: Int64)]) -> [String] { state.confirm(grants) }

    func leasesHeld(by holder: String, now: UnixSeconds) -> [LeaseRelease] {
        state.leasesHeld(by: holder, now: now)
    }

    func snapshot(of id: String, now: UnixSeconds) -> DebtorSnapshot? {
        state.settle(now: now)
        return state.snapshot(of: id, now: now)
    }

    func schedule(from: UnixSeconds, to: UnixSeconds, limit: Int, now: UnixSeconds) -> [Decision] {
        state.settle(now: now)
        return state.schedule(from: from, to: to, limit: limit)
    }

    func currentDecision(of id: String, now: UnixSeconds) -> Decision? {
        state.settle(now: now)
        return state.currentDecision(of: id)
    }

    func stateCounts(now: UnixSeconds) -> [DebtorQueueState: Int] {
        state.settle(now: now)
        return state.stateCounts()
    }

    func settle(now: UnixSeconds) { state.settle(now: now) }

    func activeLeaseCount() -> Int { state.activeLeases.count }
}
