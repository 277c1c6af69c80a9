import Testing
import TagihCore
@testable import TagihEngine

/// The expiry queue holds the entries of active leases, plus at most as many of ended ones (session 8): ended
/// leases no longer pile up until their TTL, and every active lease still expires.
@Suite struct LeaseQueueTests {
    /// A shard of `n` US debtors, all permitted at `t0`.
    static func shard(_ n: Int) -> ShardState {
        var state = ShardState(shardID: 0, policy: ContactPolicy(), leaseTag: "t", rescoreBatch: 100)
        for i in 0..<n { _ = state.upsert(makeDebtor(i), lsn: Int64(i + 1), now: t0) }
        return state
    }

    @Test func endedLeasesDoNotPileUpInTheExpiryQueue() {
        var state = Self.shard(12_000)
        var lsn: Int64 = 100_000
        var peak = 0
        // Rounds of 3,000 leases, confirmed, then ended (a release): without shedding, the queue would hold all
        // 24,000 entries until their expiry.
        for _ in 0..<8 {
            let (leases, sequences) = state.take(3_000, filter: .all, holder: "h", now: t0, ttl: 600)
            #expect(leases.count == 3_000)
            lsn += 1
            state.confirm(sequences, lsn: lsn)
            peak = max(peak, state.leaseQueue.count)
            for lease in leases { state.endLease(id: lease.id, slot: state.find(lease.debtor)!, now: t0) }
            state.settle(now: t0)
        }
        #expect(state.activeLeases.count == 0)
        #expect(peak <= 2 * 3_000 + 4_096 + 1_024, "peak \(peak)")
    }

    @Test func everyActiveLeaseStillExpiresAfterShedding() {
        var state = Self.shard(9_000)
        var lsn: Int64 = 100_000
        // 6,000 leases ended, then 2,000 kept: the shedding at the second confirm drops only the ended ones.
        let (ended, first) = state.take(6_000, filter: .all, holder: "h", now: t0, ttl: 600)
        lsn += 1
        state.confirm(first, lsn: lsn)
        for lease in ended { state.endLease(id: lease.id, slot: state.find(lease.debtor)!, now: t0) }
        state.settle(now: t0)
        let (kept, second) = state.take(2_000, filter: .all, holder: "h", now: t0, ttl: 600)
        lsn += 1
        state.confirm(second, lsn: lsn)
        #expect(state.leaseQueue.count == 2_000, "only the active leases' entries are left")
        let expired = state.advance(now: t0 + 601)
        #expect(Set(expired.map(\.lease)) == Set(kept.map(\.id)))
    }
}
