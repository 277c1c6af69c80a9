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

/// A ready queue's best entry and the queue it heads (`ShardState.extendRunway` merges the queues by their heads).
struct QueueHead: Comparable {
    var entry: ReadyEntry
    var queue: Int
    static func < (a: QueueHead, b: QueueHead) -> Bool { a.entry < b.entry }
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

/// The waiting debtors by the time they are due: a calendar of one bucket per minute (`time / 60`), drained in
/// time order. Pushing appends to a bucket and taking the due entries reads whole buckets, where a heap of a
/// quarter of a million entries walked a path of cold cache lines per push and per pop.
struct TimeQueue {
    private var buckets: [Int64: [TimeEntry]] = [:]
    /// The number of entries (live or stale).
    private(set) var count = 0
    /// Every bucket before this minute has been drained (`Int64.min`: none yet).
    private var drained = Int64.min

    @inline(__always) private static func minute(_ time: Int64) -> Int64 { time >= 0 ? time / 60 : (time - 59) / 60 }

    mutating func push(_ entry: TimeEntry) {
        // An entry for a minute already drained is due at the next `popDue`: it goes to the current minute's bucket.
        buckets[max(Self.minute(entry.time), drained), default: []].append(entry)
        count += 1
    }

    /// Removes the entries due at `now` (`time <= now`) and returns them earliest first, ties by slot index (the
    /// order a max-heap of `TimeEntry` pops them in).
    mutating func popDue(_ now: Int64) -> [TimeEntry] {
        let current = Self.minute(now)
        if count == 0 {
            drained = max(drained, current)
            return []
        }
        var due: [TimeEntry] = []
        // Minutes before `current`: every entry is due. Walk them one by one while that is cheaper than looking at
        // every bucket (the engine ticks at least every minute, so usually one or two).
        if drained == .min || current - drained > Int64(buckets.count) {
            for m in buckets.keys.filter({ $0 < current }) { due.append(contentsOf: buckets.removeValue(forKey: m)!) }
        } else {
            var m = drained
            while m < current {
                if let entries = buckets.removeValue(forKey: m) { due.append(contentsOf: entries) }
                m += 1
            }
        }
        if let entries = buckets[current] {
            if entries.allSatisfy({ $0.time <= now }) {
                buckets.removeValue(forKey: current)
                due.append(contentsOf: entries)
            } else if entries.contains(where: { $0.time <= now }) {
                due.append(contentsOf: entries.lazy.filter { $0.time <= now })
                buckets[current] = entries.filter { $0.time > now }
            }
        }
        drained = max(drained, current)
        count -= due.count
        if due.count > 1 { due.sort { $0.time != $1.time ? $0.time < $1.time : $0.index < $1.index } }
        return due
    }

    /// Drops every entry for which `keep` is false (used to shed stale entries).
    mutating func compact(keeping keep: (TimeEntry) -> Bool) {
        var kept = 0
        for key in Array(buckets.keys) {
            let entries = buckets[key]!.filter(keep)
            if entries.isEmpty { buckets.removeValue(forKey: key) } else { buckets[key] = entries }
            kept += entries.count
        }
        count = kept
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

/// The ready queue of one jurisdiction: two runs sorted best first (each consumed from its head) plus a small
/// max-heap of the entries filed since. Popping from a run reads the next array element, where a pop from a heap
/// of tens of thousands of entries walks a path of cold cache lines down to a leaf and back.
///
/// - `sorted`: the large run, built at recovery (`consolidate` in `decideAll`) and whenever `recent` has grown to
///   a quarter of it.
/// - `recent`: entries filed later (released or due debtors, re-scores), sorted in from the heap once the heap
///   holds `heapLimit` entries and at least an eighth of `recent` (so every entry is moved a bounded number of
///   times: a merge of the heap into `recent`, later one of `recent` into `sorted`).
/// - `heap`: the latest filings, small enough to stay in cache.
///
/// Sorting a batch of entries once is cheaper than popping them one by one off a heap: after 100,000 leases are
/// released the next 100,000 leases pop them in order (the lease benchmark's second iteration), which cost a
/// fifth of its CPU time as heap pops.
struct ReadyQueue {
    /// Best first from `head`.
    private(set) var sorted: [ReadyEntry] = []
    private(set) var head = 0
    /// Best first from `recentHead`.
    private(set) var recent: [ReadyEntry] = []
    private(set) var recentHead = 0
    private(set) var heap = MaxHeap<ReadyEntry>()
    /// The heap is sorted into `recent` when a pop finds it this large (and at least an eighth of `recent`).
    var heapLimit = 1_024

    var count: Int { sorted.count - head + recent.count - recentHead + heap.count }

    var top: ReadyEntry? {
        var best = heap.top
        if head < sorted.count, best == nil || best! < sorted[head] { best = sorted[head] }
        if recentHead < recent.count, best == nil || best! < recent[recentHead] { best = recent[recentHead] }
        return best
    }

    mutating func push(_ entry: ReadyEntry) { heap.push(entry) }

    @discardableResult
    mutating func pop() -> ReadyEntry? {
        if heap.count >= heapLimit && heap.count * 8 >= recent.count - recentHead { sortHeapIntoRecent() }
        // Which of the three heads is best: 0 = sorted, 1 = recent, 2 = heap.
        var source = -1
        var best = ReadyEntry(score: 0, index: 0, generation: 0)
        if head < sorted.count {
            source = 0
            best = sorted[head]
        }
        if recentHead < recent.count, source < 0 || best < recent[recentHead] {
            source = 1
            best = recent[recentHead]
        }
        if let h = heap.top, source < 0 || best < h {
            source = 2
            best = h
        }
        switch source {
        case 0:
            head += 1
            if head == sorted.count {
                sorted = []
                head = 0
            } else if head > 65_536 && head > sorted.count / 2 {
                sorted.removeSubrange(0..<head)  // give back the consumed half
                head = 0
            }
        case 1:
            recentHead += 1
            if recentHead == recent.count {
                recent.removeAll(keepingCapacity: true)
                recentHead = 0
            }
        case 2:
            heap.pop()
        default:
            return nil
        }
        return best
    }

    /// Sorts the heap's entries into `recent` (and `recent` into `sorted` once it is a quarter of it).
    mutating func sortHeapIntoRecent() {
        guard !heap.isEmpty else { return }
        var extra = heap.storage
        heap = MaxHeap()
        extra.sort { $1 < $0 }
        Self.merge(&recent, &recentHead, extra)
        if (recent.count - recentHead) * 4 >= sorted.count - head {
            Self.merge(&sorted, &head, Array(recent[recentHead...]))
            recent.removeAll(keepingCapacity: true)
            recentHead = 0
        }
    }

    /// Sorts the heap and `recent` into the run `sorted`.
    mutating func consolidate() {
        if !heap.isEmpty {
            var extra = heap.storage
            heap = MaxHeap()
            extra.sort { $1 < $0 }
            Self.merge(&sorted, &head, extra)
        }
        if recentHead < recent.count {
            Self.merge(&sorted, &head, Array(recent[recentHead...]))
        }
        recent = []
        recentHead = 0
    }

    /// Merges the sorted `extra` into the run `run[head...]` (the result starts at index 0).
    private static func merge(_ run: inout [ReadyEntry], _ head: inout Int, _ extra: [ReadyEntry]) {
        if extra.isEmpty { return }
        if head == run.count {
            run = extra
            head = 0
            return
        }
        var merged: [ReadyEntry] = []
        merged.reserveCapacity(run.count - head + extra.count)
        var a = head
        var b = 0
        while a < run.count && b < extra.count {
            if run[a] < extra[b] {
                merged.append(extra[b])
                b += 1
            } else {
                merged.append(run[a])
                a += 1
            }
        }
        merged.append(contentsOf: run[a...])
        merged.append(contentsOf: extra[b...])
        run = merged
        head = 0
    }

    /// Drops every entry for which `keep` is false (used to shed stale entries).
    mutating func compact(keeping keep: (ReadyEntry) -> Bool) {
        sorted = sorted[head...].filter(keep)
        head = 0
        recent = recent[recentHead...].filter(keep)
        recentHead = 0
        heap.compact(keeping: keep)
    }
}
