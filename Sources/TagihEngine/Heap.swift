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

/// The ready queue of one jurisdiction: a run sorted best first (consumed from `head`) plus a max-heap of the
/// entries filed since the run was last built. Popping from the run reads the next array element, where a pop
/// from one heap of hundreds of thousands of entries walks a path of cold cache lines down to a leaf; entries
/// filed later (released or due debtors, re-scores) go into the heap, which stays small between rebuilds.
/// `consolidate` sorts the heap into the run: after recovery (`decideAll`) and, amortised, when the heap has
/// grown to half the run.
struct ReadyQueue {
    /// Best first from `head`.
    private(set) var sorted: [ReadyEntry] = []
    private(set) var head = 0
    private(set) var heap = MaxHeap<ReadyEntry>()

    var count: Int { sorted.count - head + heap.count }

    var top: ReadyEntry? {
        guard head < sorted.count else { return heap.top }
        guard let h = heap.top else { return sorted[head] }
        return sorted[head] < h ? h : sorted[head]
    }

    mutating func push(_ entry: ReadyEntry) { heap.push(entry) }

    @discardableResult
    mutating func pop() -> ReadyEntry? {
        if heap.count > 65_536 && heap.count > (sorted.count - head) / 2 { consolidate() }
        guard head < sorted.count else { return heap.pop() }
        let first = sorted[head]
        if let h = heap.top, first < h { return heap.pop() }
        head += 1
        if head == sorted.count {
            sorted = []
            head = 0
        } else if head > 65_536 && head > sorted.count / 2 {
            sorted.removeSubrange(0..<head)  // give back the consumed half
            head = 0
        }
        return first
    }

    /// Sorts the heap's entries into the run.
    mutating func consolidate() {
        guard !heap.isEmpty else { return }
        var extra = heap.storage
        heap = MaxHeap()
        extra.sort { $1 < $0 }
        if head == sorted.count {
            sorted = extra
            head = 0
            return
        }
        var merged: [ReadyEntry] = []
        merged.reserveCapacity(sorted.count - head + extra.count)
        var a = head
        var b = 0
        while a < sorted.count && b < extra.count {
            if sorted[a] < extra[b] {
                merged.append(extra[b])
                b += 1
            } else {
                merged.append(sorted[a])
                a += 1
            }
        }
        merged.append(contentsOf: sorted[a...])
        merged.append(contentsOf: extra[b...])
        sorted = merged
        head = 0
    }

    /// Drops every entry for which `keep` is false (used to shed stale entries).
    mutating func compact(keeping keep: (ReadyEntry) -> Bool) {
        sorted = sorted[head...].filter(keep)
        head = 0
        heap.compact(keeping: keep)
    }
}
