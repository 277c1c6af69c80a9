import Testing

@testable import TagihSim

/// The calendar queue against a plain sort by (time, insertion order), with pushes interleaved with pops the way
/// the floor makes them: near (seconds), far (hours, days, past the ring) and at the time just popped.
@Suite struct EventQueueTests {
    static func first(_ list: [(time: Int64, sequence: Int)]) -> Int {
        var best = 0
        for k in 1..<list.count where (list[k].time, list[k].sequence) < (list[best].time, list[best].sequence) {
            best = k
        }
        return best
    }

    @Test(arguments: [1, 2, 3])
    func popsInTimeThenInsertionOrder(seed: UInt64) {
        var rng = SeededRandom(seed: seed, stream: 9)
        var queue = EventQueue()
        var reference: [(time: Int64, sequence: Int)] = []
        var sequence = 0
        var popped: [(Int64, Int32)] = []
        var expected: [(Int64, Int32)] = []
        func push(_ time: Int64) {
            sequence += 1
            queue.push(time, .resolve, Int32(sequence))
            reference.append((time, sequence))
        }
        for d in 0..<3 { push(1_000_000 + Int64(d) * 86_400) }
        push(1_000_000)
        var now: Int64 = 1_000_000
        for _ in 0..<20_000 {
            if let e = queue.pop() {
                #expect(e.time >= now)
                now = e.time
                popped.append((e.time, e.argument))
                let r = reference.remove(at: Self.first(reference))
                expected.append((r.time, Int32(r.sequence)))
            }
            for _ in 0..<rng.between(0, 2) {
                switch rng.between(0, 9) {
                case 0: push(now)
                case 1: push(now + Int64(rng.between(3_000, 9_000)))
                case 2: push(now + Int64(rng.between(20_000, 200_000)))
                default: push(now + Int64(rng.between(0, 30)))
                }
            }
        }
        while let e = queue.pop() {
            popped.append((e.time, e.argument))
            let r = reference.remove(at: Self.first(reference))
            expected.append((r.time, Int32(r.sequence)))
        }
        #expect(queue.isEmpty && reference.isEmpty)
        #expect(popped.count == expected.count && popped.count > 15_000)
        #expect(zip(popped, expected).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 })
    }
}

@Suite struct BinSelectorTests {
    /// The selection (on all cores from `BinSelector.parallelSize` candidates on) equals sorting the candidates by bin,
    /// best first, ties in index order, and taking the first `count`.
    @Test(arguments: [1000, BinSelector.parallelSize + 12_345, 300_000])
    func selectionEqualsASortByBinThenIndex(size: Int) {
        var rng = SeededRandom(seed: UInt64(size))
        let keys: [Int] = (0..<size).map { _ in
            rng.chance(0.3) ? 0 : (rng.chance(0.5) ? 1 + rng.below(40) : 1 + rng.below(BinSelector.bins - 1))
        }
        var selector = BinSelector(size: size)
        let sorted = (0..<size).filter { keys[$0] > 0 }.sorted { keys[$0] > keys[$1] || (keys[$0] == keys[$1] && $0 < $1) }
        for count in [0, 1, 37, size / 10, size / 2, size] {
            var out: [Int32] = []
            selector.select(count: count, size: size, key: ArrayKey(keys: keys), into: &out)
            let expected = Array(sorted.prefix(count))
            let same = out.map(Int.init) == expected
            #expect(same, "size \(size), count \(count): first difference at \((0..<min(out.count, expected.count)).first { Int(out[$0]) != expected[$0] } ?? min(out.count, expected.count))")
        }
    }
}

struct ArrayKey: BinKey {
    let keys: [Int]
    func bin(_ i: Int) -> Int { keys[i] }
}
