import Testing
@testable import TagihCore
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
        #expect(leases.first?.id == "Lta\(String(sequences.first ?? 0, radix: 36))")
        return (shard, debtor, sequences)
    }

    @Test func aPostedGrantIsConfirmedAtTheShardsNextMessage() async {
        let (shard, _, sequences) = await leasedShard(LeaseSignals())
        // Not durable yet: the lease cannot expire.
        #expect(await shard.advance(now: t0 + 600).isEmpty)
        shard.post(GrantConfirmation(sequences: sequences, lsn: 10))
        #expect(await shard.oldestLeaseGrant() == .some(10))
        let expired = await shard.advance(now: t0 + 600)
        #expect(expired.map(\.lease) == ["Lta\(String(sequences[0], radix: 36))"])
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

@Suite struct ReadyQueueTests {
    /// Any mix of pushes, pops, sorting the heap into the run (`consolidate`) and compaction pops the entries
    /// best first (score, then lower index), as one heap would.
    @Test(arguments: [1, 2, 3, 4])
    func popsBestFirstInAnyMixOfPushesPopsAndConsolidations(seed: UInt64) {
        var generator = SplitMix64(seed: seed)
        var queue = ReadyQueue()
        var reference: [ReadyEntry] = []
        var next: UInt32 = 0
        for step in 0..<3_000 {
            switch Int.random(in: 0..<10, using: &generator) {
            case 0..<5:
                let e = ReadyEntry(score: Float(Int.random(in: 0..<50, using: &generator)), index: next, generation: 0)
                next += 1
                queue.push(e)
                reference.append(e)
            case 5..<8:
                let best = reference.max()
                #expect(queue.top == best, "step \(step)")
                #expect(queue.pop() == best, "step \(step)")
                if let best { reference.removeAll { $0 == best } }
            case 8:
                queue.consolidate()
            default:
                if step % 50 == 9 {
                    queue.compact { $0.index % 5 != 0 }
                    reference.removeAll { $0.index % 5 == 0 }
                }
            }
            #expect(queue.count == reference.count)
        }
        var popped: [ReadyEntry] = []
        while let e = queue.pop() { popped.append(e) }
        #expect(popped == reference.sorted { $1 < $0 })
    }
}

@Suite struct RunwayTests {
    /// Unfiltered takes come from the runway, filtered ones from the heaps (after the runway is put back), and
    /// debtors that become ready again are filed into either: in every mix, a take hands out exactly the best
    /// ready debtors passing the filter, in rank order, and never one that is leased.
    @Test(arguments: [1, 2, 3])
    func takesTheBestReadyDebtorsInAnyMixOfFilteredAndUnfilteredLeasing(seed: UInt64) {
        var generator = SplitMix64(seed: seed)
        var state = ShardState(shardID: 0, policy: ContactPolicy(), leaseTag: "t", rescoreBatch: 100)
        let jurisdictions = ["US-MA", "US-NY", "GB"]
        for i in 0..<300 {
            let balance = Int64(1 + (i * 7_919) % 97) * 10_000
            _ = state.upsert(makeDebtor(i, jurisdiction: jurisdictions[i % 3], balance: balance), lsn: Int64(i + 1),
                             now: t0)
        }
        // Seeds 1 and 3: a tiny heap limit, so that re-filed debtors are sorted into the queues' second runs.
        for j in state.ready.indices { state.ready[j].heapLimit = seed == 2 ? 1_024 : 3 }
        var leased: [UInt32] = []
        for round in 0..<120 {
            // Now and then the ready queues are sorted into their runs (as after recovery), so that takes and
            // peeks read from runs, from heaps and from both.
            if round % 7 == 3 { for j in state.ready.indices { state.ready[j].consolidate() } }
            let filter = Int.random(in: 0..<3, using: &generator) == 0
                ? LeaseFilter(jurisdictions: [jurisdictions[round % 3]]) : .all
            func readyScores() -> [Float] {
                state.slots.indices.filter {
                    state.slots[$0].state == .ready
                        && filter.matches(state.jurisdictions.string(state.slots[$0].jurisdiction) ?? "")
                }.map { state.slots[$0].score }.sorted(by: >)
            }
            switch Int.random(in: 0..<5, using: &generator) {
            case 0 where !leased.isEmpty:  // a lease ends: the debtor is ready again (runway or heap)
                let i = leased.remove(at: Int.random(in: 0..<leased.count, using: &generator))
                state.endLease(i)
                state.markPending(i)
                state.settle(now: t0)
            case 1:
                // A peek sees the best ready scores; so does the next one (which trusts the entries the first
                // found live), even after a take.
                let n = Int.random(in: 1...30, using: &generator)
                #expect(state.peekScores(n, filter: filter) == Array(readyScores().prefix(n)), "round \(round)")
                #expect(state.peekScores(n, filter: filter) == Array(readyScores().prefix(n)), "round \(round)")
                if Bool.random(using: &generator) {
                    _ = state.take(Int.random(in: 1...5, using: &generator), filter: filter, holder: "h", now: t0,
                                   ttl: 600).leases.map { leased.append(state.find($0.debtor)!) }
                    #expect(state.peekScores(n, filter: filter) == Array(readyScores().prefix(n)), "round \(round)")
                }
            case 2:  // an event marks a ready debtor pending (not re-decided yet): no peek may count it
                // One of the best few: the entries the last peek found live.
                let ready = state.slots.indices.filter { state.slots[$0].state == .ready }
                    .sorted { state.slots[$0].score > state.slots[$1].score }.prefix(5)
                if let i = ready.randomElement(using: &generator) { state.markPending(UInt32(i)) }
                let n = Int.random(in: 1...30, using: &generator)
                #expect(state.peekScores(n, filter: filter) == Array(readyScores().prefix(n)), "round \(round)")
                state.settle(now: t0)
            default:
                let n = Int.random(in: 1...25, using: &generator)
                var ranked = state.slots.indices.filter {
                    state.slots[$0].state == .ready
                        && filter.matches(state.jurisdictions.string(state.slots[$0].jurisdiction) ?? "")
                }.map { ReadyEntry(score: state.slots[$0].score, index: UInt32($0), generation: 0) }
                ranked.sort { $1 < $0 }
                let (leases, _) = state.take(n, filter: filter, holder: "h", now: t0, ttl: 600)
                let taken = leases.map { state.find($0.debtor)! }
                #expect(taken == ranked.prefix(n).map(\.index), "round \(round)")
                #expect(taken.allSatisfy { state.slots[Int($0)].state == .leased })
                leased += taken
            }
        }
        #expect(Set(leased).count == leased.count)
        #expect(leased.count > 50, "the mix should lease many debtors")
    }
}

@Suite struct PendingDecisionTests {
    /// Events only mark their debtor pending; `settle(now:atMost:)` (run by every apply, at most two per event)
    /// re-decides a bounded number of them, so a burst of events is not decided in one turn of the next tick.
    @Test func boundedSettleDecidesAtMostItsLimitAndTheRestLater() {
        var state = ShardState(shardID: 0, policy: ContactPolicy(), leaseTag: "t", rescoreBatch: 100)
        for i in 0..<50 { _ = state.upsert(makeDebtor(i), lsn: Int64(i + 1), now: t0) }
        state.settle(now: t0)
        func pending() -> Int { state.slots.filter { $0.state == .pending }.count }
        #expect(pending() == 0)
        for i in 0..<50 { state.markPending(UInt32(i)) }
        #expect(pending() == 50)
        state.settle(now: t0 + 60, atMost: 12)
        #expect(pending() == 38)
        #expect(state.slots.filter { $0.decidedAt == t0 + 60 }.count == 12)
        state.settle(now: t0 + 60, atMost: 1_000)
        #expect(pending() == 0)
        #expect(state.pendingDecisions.isEmpty)
    }
}
