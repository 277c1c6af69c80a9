/// An array-backed binary max-heap. Unlike a min-max heap its array is a plain binary heap, so the best k
/// elements can be read without popping (see `Shard.peekScores`).
struct MaxHeap<Element: Comparable> {
    private(set) var storage: [Element] = []

    var count: Int { storage.count }
    var isEmpty: Bool { storage.isEmpty }
    var top: Element? { storage.first }

    mutating func reserveCapacity(_ n: Int) { storage.reserveCapacity(n) }

    mutating func push(_ element: Element) {
        storage.append(element)
        var child = storage.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if !(storage[parent] < storage[child]) { break }
            storage.swapAt(parent, child)
            child = parent
        }
    }

    @discardableResult
    mutating func pop() -> Element? {
        guard let first = storage.first else { return nil }
        let last = storage.removeLast()
        if storage.isEmpty { return first }
        storage[0] = last
        var parent = 0
        let n = storage.count
        while true {
            let left = 2 * parent + 1
            if left >= n { break }
            var best = left
            let right = left + 1
            if right < n && storage[left] < storage[right] { best = right }
            if !(storage[parent] < storage[best]) { break }
            storage.swapAt(parent, best)
            parent = best
        }
        return first
    }

    /// Drops every element for which `keep` is false and re-heapifies (used to shed stale entries).
    mutating func compact(keeping keep: (Element) -> Bool) {
        storage.removeAll { !keep($0) }
        if storage.count > 1 {
            for start in stride(from: storage.count / 2 - 1, through: 0, by: -1) { siftDown(start) }
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        let n = storage.count
        while true {
            let left = 2 * parent + 1
            if left >= n { break }
            var best = left
            if left + 1 < n && storage[left] < storage[left + 1] { best = left + 1 }
            if !(storage[parent] < storage[best]) { break }
            storage.swapAt(parent, best)
            parent = best
        }
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
