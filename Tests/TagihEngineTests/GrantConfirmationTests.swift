import Testing
import TagihCore
import TagihStore
@testable import TagihEngine

/// Grants are confirmed lazily: the engine posts the grant's log position to the shard, which confirms at its
/// next message. These tests drive one shard the way `Engine.lease` does.
@Suite struct GrantConfirmationTests {
    func leasedShard(_ signals: LeaseSignals) async -> (Shard, Debtor, [UInt32]) {
        let shard = Shard(shardID: 0, policy: ContactPolicy(), leaseTag: "t", rescoreBatch: 100, signals: signals)
        let debtor = makeDebtor(1)
        _ = await shard.upsert([(debtor, 1)], now: t0)
        let (leases, sequences) = await shard.take(1, filter: .all, holder: "h", now: t0, ttl: 600)
        #expect(leases.map(\.debtor) == [debtor.id])
        #expect(leases.first?.id == "Lt-0-\(sequences.first ?? 0)")
        return (shard, debtor, sequences)
    }

    @Test func aPostedGrantIsConfirmedAtTheShardsNextMessage() async {
        let (shard, _, sequences) = await leasedShard(LeaseSignals())
        // Not durable yet: the lease cannot expire.
        #expect(await shard.advance(now: t0 + 600).isEmpty)
        shard.post(GrantConfirmation(sequences: sequences, lsn: 10))
        #expect(await shard.oldestLeaseGrant() == .some(10))
        let expired = await shard.advance(now: t0 + 600)
        #expect(expired.map(\.lease) == ["Lt-0-\(sequences[0])"])
    }

    /// An outcome without a lease id ends the lease only when it is logged after the grant (as replay does);
    /// meeting an unconfirmed grant, it signals the engine, which then withholds the ended lease.
    @Test(arguments: [(outcomeLSN: Int64(11), ends: true), (outcomeLSN: Int64(9), ends: false)])
    func outcomeWithoutLeaseIdDuringTheGrantsCommit(outcomeLSN: Int64, ends: Bool) async {
        let signals = LeaseSignals()
        let (shard, debtor, sequences) = await leasedShard(signals)
        let before = signals.outcomesOnUnconfirmedGrants.load(ordering: .sequentiallyConsistent)
        await shard.apply([(.outcome(outcome("a1", debtor, .noAnswer, at: t0)), outcomeLSN)], now: t0)
        #expect(signals.outcomesOnUnconfirmedGrants.load(ordering: .sequentiallyConsistent) == before + 1)
        shard.post(GrantConfirmation(sequences: sequences, lsn: 10))
        #expect(await shard.ended(sequences) == (ends ? sequences : []))
        #expect(await shard.activeLeaseCount() == (ends ? 0 : 1))
    }

    @Test func anOutcomeAfterTheConfirmationSignalsNothing() async {
        let signals = LeaseSignals()
        let (shard, debtor, sequences) = await leasedShard(signals)
        shard.post(GrantConfirmation(sequences: sequences, lsn: 10))
        await shard.apply([(.outcome(outcome("a1", debtor, .noAnswer, at: t0)), 11)], now: t0)
        #expect(signals.outcomesOnUnconfirmedGrants.load(ordering: .sequentiallyConsistent) == 0)
        #expect(await shard.ended(sequences) == sequences)
    }

    @Test func cancelledGrantsGiveTheDebtorBack() async {
        let (shard, debtor, sequences) = await leasedShard(LeaseSignals())
        await shard.cancel(sequences)
        #expect(await shard.activeLeaseCount() == 0)
        let (again, _) = await shard.take(1, filter: .all, holder: "h2", now: t0, ttl: 600)
        #expect(again.map(\.debtor) == [debtor.id])
    }
}

@Suite struct HeapTests {
    /// Pushes, pops and compaction keep the 4-ary heap ordered; `children(of:)` covers every element once.
    @Test(arguments: [0, 1, 2, 5, 17, 1_000])
    func popsInOrderAfterPushesAndCompaction(count: Int) {
        var generator = SystemRandomNumberGenerator()
        var heap = MaxHeap<Int>()
        var reference: [Int] = []
        for _ in 0..<count {
            let v = Int.random(in: 0..<500, using: &generator)
            heap.push(v)
            reference.append(v)
        }
        // Every position but the root is the child of exactly one parent.
        var seen = [0]
        for p in 0..<heap.count { seen += heap.children(of: p) }
        #expect(seen.sorted() == Array(0..<max(1, heap.count)) || count == 0)
        for p in 0..<heap.count {
            #expect(heap.children(of: p).allSatisfy { heap.storage[$0] <= heap.storage[p] })
        }
        heap.compact { $0 % 3 != 0 }
        reference.removeAll { $0 % 3 == 0 }
        var popped: [Int] = []
        while let v = heap.pop() { popped.append(v) }
        #expect(popped == reference.sorted(by: >))
    }
}
