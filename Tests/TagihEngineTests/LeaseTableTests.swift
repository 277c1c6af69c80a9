import Testing
@testable import TagihCore
@testable import TagihEngine

@Suite struct LeaseTableTests {
    func lease(_ key: UInt32) -> ActiveLease {
        ActiveLease(index: key &* 7, id: "L\(key)", leasedAt: Int64(key), expires: Int64(key) + 600, holder: "h",
                    debt: "A", phone: "+1")
    }

    /// Any mix of inserts (consecutive keys, as a shard hands them out, plus keys a table's length apart),
    /// updates, lookups of present and absent keys and removals agrees with a dictionary.
    @Test(arguments: [1, 2, 3, 4])
    func agreesWithADictionaryInAnyMixOfOperations(seed: UInt64) {
        var generator = SplitMix64(seed: seed)
        var table = LeaseTable()
        var reference: [UInt32: ActiveLease] = [:]
        var next: UInt32 = 1
        for step in 0..<40_000 {
            switch Int.random(in: 0..<10, using: &generator) {
            case 0..<4:  // a fresh lease
                table[next] = lease(next)
                reference[next] = lease(next)
                next += 1
            case 4:  // a key that collides with an older one (1,024 or 4,096 apart: one table length)
                let key = next + (Bool.random(using: &generator) ? 1_024 : 4_096) * UInt32.random(in: 1...3, using: &generator)
                if reference[key] == nil {
                    table.insert(key, lease(key))
                    reference[key] = lease(key)
                }
            case 5..<8 where !reference.isEmpty:  // an end: mostly old leases, sometimes the newest
                let keys = Array(reference.keys)
                let key = keys[Int.random(in: 0..<keys.count, using: &generator)]
                #expect(table.removeValue(forKey: key)?.id == reference.removeValue(forKey: key)?.id, "step \(step)")
            case 8 where !reference.isEmpty:  // an update in place
                let key = reference.keys.first!
                if let p = table.position(of: key) { table[position: p].grantLSN = Int64(step) }
                reference[key]!.grantLSN = Int64(step)
            default:  // lookups, present or not
                let key = UInt32.random(in: 1...(next + 5_000), using: &generator)
                #expect(table[key]?.id == reference[key]?.id, "step \(step)")
                #expect(table[key]?.grantLSN == reference[key]?.grantLSN, "step \(step)")
            }
            #expect(table.count == reference.count)
        }
        for (key, value) in reference { #expect(table[key]?.id == value.id) }
        #expect(Set(table.keys) == Set(reference.keys))
        for (key, value) in zip(table.keys, table.values) { #expect(reference[key]?.id == value.id) }
    }

    /// Releasing a long run of consecutive leases costs a bounded probe per removal (it walked the whole run
    /// before `maxDisplacement` bounded the backward shift): 200,000 removals well under a second.
    @Test func removingAManyConsecutiveLeasesIsLinear() {
        var table = LeaseTable()
        for key in UInt32(1)...200_000 { table.insert(key, lease(key)) }
        let started = ContinuousClock.now
        for key in UInt32(1)...200_000 { table.removeValue(forKey: key) }
        #expect(table.isEmpty)
        #expect(ContinuousClock.now - started < .seconds(5))
    }
}

@Suite struct ReadyQueueRunTests {
    /// With a small heap limit the heap is sorted into the second run (and that into the first) many times: any
    /// mix of pushes and pops still pops best first, and `peekScores`' walk over the three parts sees the same.
    @Test(arguments: [1, 2, 3])
    func popsBestFirstWhenTheHeapIsSortedIntoRuns(seed: UInt64) {
        var generator = SplitMix64(seed: seed)
        var queue = ReadyQueue()
        queue.heapLimit = 4
        var reference: [ReadyEntry] = []
        var next: UInt32 = 0
        var sortedIntoRecent = false
        for step in 0..<5_000 {
            if Int.random(in: 0..<10, using: &generator) < 6 {
                let e = ReadyEntry(score: Float(Int.random(in: 0..<100, using: &generator)), index: next, generation: 0)
                next += 1
                queue.push(e)
                reference.append(e)
            } else {
                let best = reference.max()
                #expect(queue.top == best, "step \(step)")
                #expect(queue.pop() == best, "step \(step)")
                if let best { reference.removeAll { $0 == best } }
            }
            if queue.recent.count > queue.recentHead { sortedIntoRecent = true }
            #expect(queue.count == reference.count)
        }
        #expect(sortedIntoRecent)
        var popped: [ReadyEntry] = []
        while let e = queue.pop() { popped.append(e) }
        #expect(popped == reference.sorted { $1 < $0 })
    }
}
