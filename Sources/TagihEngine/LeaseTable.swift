/// A shard's active leases by sequence number: the leases packed in one dense array (`values`), found through an
/// open-addressing table of (sequence, position) pairs.
///
/// Replaces a `[UInt32: ActiveLease]` dictionary, whose SipHash of every key and generic probing were 8–10 % of a
/// durable lease's CPU time. Sequence numbers are handed out consecutively, so the table's slot is the key's low
/// bits: the leases of one `take` sit in adjacent slots (and adjacent dense positions), collisions happen only
/// with a lease older than a whole table's worth of sequences, and probing is linear. The table is at most half
/// full. Removing swaps the last dense lease into the hole (its slot is updated) and closes the probe gap by
/// shifting back (no tombstones).
struct LeaseTable {
    private struct Bucket {
        /// 0 = empty (sequence numbers are never 0).
        var key: UInt32
        var position: UInt32
    }

    private var buckets: [Bucket]
    private var mask: Int
    /// The leases, densely packed (order: insertion, disturbed by removals).
    private(set) var values: [ActiveLease] = []
    /// `keys[p]` is the sequence number of `values[p]`.
    private(set) var keys: [UInt32] = []

    init() {
        buckets = Array(repeating: Bucket(key: 0, position: 0), count: 1_024)
        mask = 1_023
    }

    var count: Int { values.count }
    var isEmpty: Bool { values.isEmpty }

    /// The bucket holding `key`, or nil.
    @inline(__always) private func bucket(of key: UInt32) -> Int? {
        var b = Int(key) & mask
        while true {
            let found = buckets[b].key
            if found == key { return b }
            if found == 0 { return nil }
            b = (b + 1) & mask
        }
    }

    /// The dense position of the lease with sequence `key`, or nil.
    @inline(__always) func position(of key: UInt32) -> Int? {
        guard key != 0, let b = bucket(of: key) else { return nil }
        return Int(buckets[b].position)
    }

    /// The lease at dense position `p` (from `position(of:)`).
    subscript(position p: Int) -> ActiveLease {
        get { values[p] }
        _modify { yield &values[p] }
    }

    /// The lease with sequence `key`; assigning nil removes it.
    subscript(key: UInt32) -> ActiveLease? {
        get { position(of: key).map { values[$0] } }
        set {
            if let newValue { insert(key, newValue) } else { removeValue(forKey: key) }
        }
    }

    /// Inserts or replaces the lease with sequence `key` (never 0).
    mutating func insert(_ key: UInt32, _ lease: ActiveLease) {
        precondition(key != 0, "lease sequence 0 is reserved")
        if let b = bucket(of: key) {
            values[Int(buckets[b].position)] = lease
            return
        }
        if (values.count + 1) * 2 > buckets.count { grow() }
        var b = Int(key) & mask
        while buckets[b].key != 0 { b = (b + 1) & mask }
        buckets[b] = Bucket(key: key, position: UInt32(values.count))
        values.append(lease)
        keys.append(key)
    }

    /// Removes the lease with sequence `key`; returns it.
    @discardableResult
    mutating func removeValue(forKey key: UInt32) -> ActiveLease? {
        guard key != 0, var hole = bucket(of: key) else { return nil }
        let p = Int(buckets[hole].position)
        let last = values.count - 1
        let removed: ActiveLease
        if p != last {
            // Move the last lease into the hole of the dense array and point its bucket there.
            let movedKey = keys[last]
            removed = values[p]
            values.swapAt(p, last)
            keys[p] = movedKey
            buckets[bucket(of: movedKey)!].position = UInt32(p)
        } else {
            removed = values[p]
        }
        values.removeLast()
        keys.removeLast()
        // Backward-shift deletion: move later members of the probe run into the hole when their home allows.
        var next = (hole + 1) & mask
        while buckets[next].key != 0 {
            let home = Int(buckets[next].key) & mask
            // `next` may move to `hole` unless its home lies cyclically in (hole, next].
            let distanceToNext = (next - home) & mask
            let distanceToHole = (hole - home) & mask
            if distanceToHole < distanceToNext {
                buckets[hole] = buckets[next]
                hole = next
            }
            next = (next + 1) & mask
        }
        buckets[hole] = Bucket(key: 0, position: 0)
        return removed
    }

    private mutating func grow() {
        let capacity = buckets.count * 2
        buckets = Array(repeating: Bucket(key: 0, position: 0), count: capacity)
        mask = capacity - 1
        for (p, key) in keys.enumerated() {
            var b = Int(key) & mask
            while buckets[b].key != 0 { b = (b + 1) & mask }
            buckets[b] = Bucket(key: key, position: UInt32(p))
        }
    }
}
