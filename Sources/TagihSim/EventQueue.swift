/// A binary min-heap of simulation events keyed by integer time, ties broken by insertion order
/// (so runs are deterministic). Storage is one flat array; pushing and popping never allocate
/// once it has grown.
struct EventQueue {
    struct Event {
        var time: Int64
        var sequence: UInt64
        var kind: Kind
        var argument: Int32
    }

    enum Kind: UInt8 {
        case step
        case resolve
        case agentFree
        case dayStart
        case payment
    }

    private var heap: [Event] = []
    private var counter: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }

    @inline(__always)
    private static func less(_ a: Event, _ b: Event) -> Bool {
        a.time < b.time || (a.time == b.time && a.sequence < b.sequence)
    }

    mutating func push(_ time: Int64, _ kind: Kind, _ argument: Int32 = 0) {
        counter += 1
        heap.append(Event(time: time, sequence: counter, kind: kind, argument: argument))
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if Self.less(heap[i], heap[parent]) {
                heap.swapAt(i, parent)
                i = parent
            } else {
                break
            }
        }
    }

    mutating func pop() -> Event? {
        guard let first = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            let n = heap.count
            while true {
                let l = 2 * i + 1
                if l >= n { break }
                var m = l
                if l + 1 < n && Self.less(heap[l + 1], heap[l]) { m = l + 1 }
                if Self.less(heap[m], heap[i]) {
                    heap.swapAt(i, m)
                    i = m
                } else {
                    break
                }
            }
        }
        return first
    }
}
