/// The simulation's event queue: events in order of integer time, ties broken by insertion order (so runs are
/// deterministic).
///
/// A calendar queue: events due within `ringSize` seconds of the last popped time sit in a ring of one bucket per
/// second (FIFO, so a bucket is in insertion order); later ones wait in a binary min-heap. A pop takes the lesser
/// (by time, then insertion order) of the next ring bucket's head and the heap's minimum, so the order is exactly
/// that of a single heap. Most events (line resolutions, agents freed, dialer steps) are due within minutes: they
/// cost an append and a read instead of a heap's sift. Storage is reused; pushing and popping do not allocate once
/// it has grown.
struct EventQueue {
    struct Event {
        var time: Int64
        var sequence: UInt64
        var kind: Kind
        var argument: Int32
        /// A second argument: the debtor of a `.resolve` (so the loop can ask for its records before it reads the
        /// line), 0 otherwise.
        var debtor: Int32 = 0
    }

    enum Kind: UInt8 {
        case step
        case resolve
        case agentFree
        case dayStart
        case payment
    }

    static let ringBits = 12
    static let ringSize = Int64(1) << ringBits
    static let ringMask = ringSize - 1

    /// Bucket `t & ringMask` holds the ring's events due at `t`, for `cursor <= t < cursor + ringSize`.
    private var ring: [[Event]] = Array(repeating: [], count: Int(EventQueue.ringSize))
    /// How many events of each bucket were popped already.
    private var ringRead: [Int] = Array(repeating: 0, count: Int(EventQueue.ringSize))
    private var ringCount = 0
    /// No event in the queue is due before `cursor` (`Int64.min` until the first pop: everything waits in the heap).
    private var cursor = Int64.min
    private var heap: [Event] = []
    private var counter: UInt64 = 0

    var isEmpty: Bool { ringCount == 0 && heap.isEmpty }
    var count: Int { ringCount + heap.count }

    @inline(__always)
    private static func less(_ a: Event, _ b: Event) -> Bool {
        a.time < b.time || (a.time == b.time && a.sequence < b.sequence)
    }

    mutating func push(_ time: Int64, _ kind: Kind, _ argument: Int32 = 0, debtor: Int32 = 0) {
        counter += 1
        let e = Event(time: time, sequence: counter, kind: kind, argument: argument, debtor: debtor)
        if cursor != Int64.min && time >= cursor && time - cursor < Self.ringSize {
            ring[Int(time & Self.ringMask)].append(e)
            ringCount += 1
        } else {
            precondition(cursor == Int64.min || time >= cursor, "an event cannot be due before the last one popped")
            heapPush(e)
        }
    }

    mutating func pop() -> Event? {
        if ringCount == 0 {
            guard let e = heapPop() else { return nil }
            cursor = e.time
            return e
        }
        // The next bucket with events (within the ring's span by construction).
        var t = cursor
        while ringRead[Int(t & Self.ringMask)] >= ring[Int(t & Self.ringMask)].count { t += 1 }
        let b = Int(t & Self.ringMask)
        let head = ring[b][ringRead[b]]
        if let top = heap.first, Self.less(top, head) {
            _ = heapPop()
            cursor = top.time
            return top
        }
        ringRead[b] += 1
        ringCount -= 1
        if ringRead[b] == ring[b].count {
            ring[b].removeAll(keepingCapacity: true)
            ringRead[b] = 0
        }
        cursor = t
        return head
    }

    /// The event `pop()` would return next, without removing it (nil when empty).
    func peek() -> Event? {
        if ringCount == 0 { return heap.first }
        var t = cursor
        while ringRead[Int(t & Self.ringMask)] >= ring[Int(t & Self.ringMask)].count { t += 1 }
        let b = Int(t & Self.ringMask)
        let head = ring[b][ringRead[b]]
        if let top = heap.first, Self.less(top, head) { return top }
        return head
    }

    private mutating func heapPush(_ e: Event) {
        heap.append(e)
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

    private mutating func heapPop() -> Event? {
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
