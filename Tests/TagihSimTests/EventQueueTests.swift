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
