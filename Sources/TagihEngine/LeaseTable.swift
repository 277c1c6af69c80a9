/// A shard's active leases by sequence number: the leases packed in one dense array (`values`), found through an
/// open-addressing table of (sequence, position) pairs.
///
/// Replaces a `[UInt32: ActiveLease]` dictionary, whose SipHash of every key and generic probing were 8–10 % of a
/// durable lease's CPU time. Sequence numbers are handed out consecutively, so the table's slot is the key's low
/// bits: the leases of one `take` sit in adjacent slots (and adjacent dense positions), collisions happen only
/// with a lease older than a whole table's worth of sequences, and probing is linear. The table is at most half
/// full. Removing swaps the last dense lease into the hole (its slot is updated) and closes the probe gap by
/// shifting back (no tombstones).
///
/// Consecutive keys fill one long run of occupied buckets, so a probe must not run to the next empty bucket (a
/// lookup of an ended lease, or the shift after a removal, would then walk the whole run: quadratic when 100,000
/// leases are released). The table keeps the largest distance of any lease from its home bucket
/// (`maxDisplacement`, almost always 0) and probes no further.
struct LeaseTable {
    private struct Bucket {
        /// 0 = empty (sequence numbers are never 0).
        var key: UInt32
        var position: UInt32
    }

    private var buckets: [Bucket]
    private var mask: Int
    /// No lease sits further than this from its home bucket (`key & mask`).
    private var maxDisplacement = 0
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
        var distance = 0
        while distance <= maxDisplacement {
            let found = buckets[b].key
            if found == key { return b }
            if found == 0 { return nil }
            b = (b + 1) & mask
            distance += 1
        }
        return nil
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
        place(key, at: values.count)
        values.append(lease)
        keys.append(key)
        // Displaced far (keys a table's length apart still held): a larger table spreads them again.
        if maxDisplacement > 64 && buckets.count < 64 * values.count + 65_536 { grow() }
    }

    /// Puts `key` (dense position `p`) into the first free bucket from its home.
    private mutating func place(_ key: UInt32, at p: Int) {
        var b = Int(key) & mask
        var distance = 0
        while buckets[b].key != 0 {
            b = (b + 1) & mask
            distance += 1
        }
        buckets[b] = Bucket(key: key, position: UInt32(p))
        if distance > maxDisplacement { maxDisplacement = distance }
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
        // Backward-shift deletion: move later members of the probe run into the hole when their home allows. A
        // lease that may move sits at most `maxDisplacement` after the hole (its home is at or before the hole).
        var next = (hole + 1) & mask
        while buckets[next].key != 0 && (next - hole) & mask <= maxDisplacement {
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
        maxDisplacement = 0
        for (p, key) in keys.enumerated() { place(key, at: p) }
    }
}
