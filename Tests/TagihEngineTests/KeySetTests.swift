import Testing
@testable import TagihEngine

/// `KeySet` (the ephemeral log's idempotency keys) against a `Set` of UTF-8 byte arrays.
@Suite struct KeySetTests {
    @Test func matchesASetOfByteArraysThroughGrowth() {
        var keys = KeySet()
        var reference: Set<[UInt8]> = []
        var state: UInt64 = 12_345
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        for _ in 0..<20_000 {
            // Short and long keys, many repeated; a few with non-ASCII bytes.
            let n = Int(next() % 3_000)
            let key: String = switch next() % 5 {
            case 0: "a\(n)"
            case 1: "L0abcdefa\(n)"  // 10–13 bytes
            case 2: "attempt-with-a-long-id-\(n)"  // more than 15 bytes
            case 3: "é\(n % 50)"
            default: String(n)
            }
            let expected = reference.insert(Array(key.utf8)).inserted
            let inserted = keys.insert(key)
            #expect(inserted == expected, "\(key)")
        }
        #expect(keys.count == reference.count)
        #expect(keys.count > 2_000)
    }

    @Test func keysAreComparedByTheirBytes() {
        var keys = KeySet()
        func insert(_ key: String) -> Bool { keys.insert(key) }
        #expect(insert(""))
        #expect(!insert(""))
        #expect(insert("\0"))  // not the empty key: the length is part of the entry
        #expect(insert("e\u{301}"))  // canonically equal to "é", different bytes: distinct, as in the store
        #expect(insert("é"))
        #expect(!insert("é"))
        #expect(insert("123456789012345"))  // 15 bytes: packed
        #expect(insert("1234567890123456"))  // 16 bytes: stored apart
        #expect(!insert("1234567890123456"))
        #expect(keys.count == 6)
    }
}

/// `TimeQueue` against a max-heap of the same entries: the same entries due, in the same order.
@Suite struct TimeQueueTests {
    @Test func popsTheDueEntriesInHeapOrder() {
        var queue = TimeQueue()
        var heap = MaxHeap<TimeEntry>()
        var state: UInt64 = 99
        func next() -> Int64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int64(state >> 33)
        }
        var now: Int64 = 1_796_137_200
        var popped = 0
        for step in 0..<3_000 {
            // Pushes ahead (some within this minute, some days ahead), a few in the past; then a tick of
            // 1 second to 3 hours.
            for _ in 0..<Int(next() % 8) {
                let ahead = next() % 10 == 0 ? -Int64(next() % 600) : Int64(next() % (step % 50 == 0 ? 400_000 : 7_200))
                let e = TimeEntry(time: now + ahead, index: UInt32(next() % 500), generation: UInt32(step))
                queue.push(e)
                heap.push(e)
            }
            now += [1, 5, 59, 60, 61, 3_600, 10_800][Int(next() % 7)]
            var expected: [TimeEntry] = []
            while let top = heap.top, top.time <= now {
                expected.append(top)
                heap.pop()
            }
            let due = queue.popDue(now)
            #expect(due.map(\.time) == expected.map(\.time) && due.map(\.index) == expected.map(\.index))
            #expect(queue.count == heap.count)
            popped += due.count
        }
        #expect(popped > 5_000)
    }
}
