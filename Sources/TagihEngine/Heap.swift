/// An array-backed 4-ary max-heap: the children of element `p` are at `4p + 1 ... 4p + 4` (`children(of:)`).
/// Half the depth of a binary heap, and the four children usually share a cache line, so a pop from a heap of
/// millions touches about half as many cache lines. Unlike a min-max heap its array is a plain d-ary heap, so the
/// best k elements can be read without popping (see `ShardState.peekScores`).
struct MaxHeap<Element: Comparable> {
    static var arity: Int { 4 }
    private(set) var storage: [Element] = []

    var count: Int { storage.count }
    var isEmpty: Bool { storage.isEmpty }
    var top: Element? { storage.first }

    /// The positions of the children of the element at `position`.
    @inline(__always) func children(of position: Int) -> Range<Int> {
        let first = Self.arity * position + 1
        return min(first, storage.count)..<min(first + Self.arity, storage.count)
    }

    mutating func reserveCapacity(_ n: Int) { storage.reserveCapacity(n) }

    mutating func push(_ element: Element) {
        storage.append(element)
        storage.withUnsafeMutableBufferPointer { heap in
            var child = heap.count - 1
            let moving = heap[child]
            while child > 0 {
                let parent = (child - 1) / Self.arity
                if !(heap[parent] < moving) { break }
                heap[child] = heap[parent]
                child = parent
            }
            heap[child] = moving
        }
    }

    @discardableResult
    mutating func pop() -> Element? {
        guard let first = storage.first else { return nil }
        let last = storage.removeLast()
        if storage.isEmpty { return first }
        storage.withUnsafeMutableBufferPointer { heap in
            Self.siftDown(heap, from: 0, placing: last)
        }
        return first
    }

    /// Drops every element for which `keep` is false and re-heapifies (used to shed stale entries).
    mutating func compact(keeping keep: (Element) -> Bool) {
        storage.removeAll { !keep($0) }
        if storage.count > 1 {
            storage.withUnsafeMutableBufferPointer { heap in
                for start in stride(from: (heap.count - 2) / Self.arity, through: 0, by: -1) {
                    Self.siftDown(heap, from: start, placing: heap[start])
                }
            }
        }
    }

    /// Moves the hole at `start` down to where `element` belongs and puts it there.
    @inline(__always)
    private static func siftDown(
        _ heap: UnsafeMutableBufferPointer<Element>, from start: Int, placing element: Element
    ) {
        let n = heap.count
        var hole = start
        while true {
            let first = arity * hole + 1
            if first >= n { break }
            var best = first
            var k = first + 1
            let end = min(first + arity, n)
            while k < end {
                if heap[best] < heap[k] { best = k }
                k += 1
            }
            if !(element < heap[best]) { break }
            heap[hole] = heap[best]
            hole = best
        }
        heap[hole] = element
    }
}

/// A ready debtor, ranked by score (higher first; ties go to the lower slot index, for determinism).
struct ReadyEntry: Comparable {
    var score: Float
    var index: UInt32
    var generation: UInt32
    static func < (a: ReadyEntry, b: ReadyEntry) -> Bool {
        a.score != b.score ? a.score < b.score : a.index > b.index
    }
}

/// A waiting debtor, ordered by its next permitted time (earlier is "greater", so the max-heap yields it first).
struct TimeEntry: Comparable {
    var time: Int64
    var index: UInt32
    var generation: UInt32
    static func < (a: TimeEntry, b: TimeEntry) -> Bool {
        a.time != b.time ? a.time > b.time : a.index > b.index
    }
}

/// An active lease, ordered by expiry (earlier first).
struct LeaseEntry: Comparable {
    var expires: Int64
    var sequence: UInt32
    var index: UInt32
    static func < (a: LeaseEntry, b: LeaseEntry) -> Bool {
        a.expires != b.expires ? a.expires > b.expires : a.sequence > b.sequence
    }
}
