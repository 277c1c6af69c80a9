import TagihCore

/// The `earliest` strategy's debtors filed by their cached earliest permitted time, so that a refill reads only the
/// longest-waiting debtors instead of ranking every debtor (`WaitKey` over `BinSelector`).
///
/// Buckets of 15 minutes (absolute, from `base`). When `PolicyBook.store` moves a debtor's cached `earliest` into
/// another bucket, the debtor is appended to the new one; its entry in the old one is left behind and dropped when a
/// refill next reads that bucket (an entry is current when its debtor's cached `earliest` lies in the entry's bucket;
/// a debtor that came back to a bucket may be listed there twice, and the second entry is dropped). So a store costs
/// an append, and every debtor with a permitted time has an entry in its bucket.
///
/// A refill walks the buckets oldest first: a debtor's `WaitKey` bin, `(now − earliest) / 900 + 1`, never grows from
/// one bucket to the next, so once the debtors already read fill `count` with bins no later bucket can reach, the rest
/// cannot be selected. The selection is the same as `BinSelector.select` with `WaitKey`: best bin first, within a bin
/// by debtor index, the threshold bin cut at `count`.
final class WaitIndex {
    /// Bucket width (the `WaitKey` bin width).
    static let width: Int64 = 900
    /// At most this many buckets (about 10 years); later times share the last one (still a lower bound of its times).
    static let maxBuckets = 96 * 3660

    /// The start of bucket 0 (earlier times are filed there too).
    let base: Int64
    private var buckets: [[Int32]] = []
    /// One bit per debtor: set while a refill reads a bucket (drops a debtor's second entry).
    private var marks: [UInt64]
    @exclusivity(unchecked) private var histogram = [Int](repeating: 0, count: BinSelector.bins)
    @exclusivity(unchecked) private var gathered: [UInt64] = []

    /// How many entries the selections read in all (measurements).
    private(set) var entriesRead = 0

    init(count: Int, base: Int64) {
        self.base = base
        marks = [UInt64](repeating: 0, count: (count + 63) >> 6)
    }

    @inline(__always)
    func bucket(of earliest: Int64) -> Int {
        if earliest == PolicyBook.never { return -1 }
        if earliest <= base { return 0 }
        return Int(min((earliest - base) / Self.width, Int64(Self.maxBuckets - 1)))
    }

    /// Debtor `i`'s cached earliest permitted time changes from `old` to `new` (`PolicyBook.never`: none).
    @inline(__always)
    func update(_ i: Int, from old: Int64, to new: Int64) {
        let b = bucket(of: new)
        if b < 0 || b == bucket(of: old) { return }
        if b >= buckets.count { buckets.append(contentsOf: repeatElement([], count: b + 1 - buckets.count)) }
        buckets[b].append(Int32(truncatingIfNeeded: i))
    }

    /// The `count` best debtors by `WaitKey` at `now` (not leased, permitted at or before `now`, longest waiting
    /// first, then by index), as `BinSelector.select(count:size:key: WaitKey(…), into:)` returns them.
    func select(count: Int, now: Int64, slots: UnsafeMutablePointer<PolicyBook.Slot>, into out: inout [Int32]) {
        out.removeAll(keepingCapacity: true)
        guard count > 0, now >= base else { return }
        let bins = BinSelector.bins
        gathered.removeAll(keepingCapacity: true)
        // Bins above `boundBin` are complete (no unread debtor can have one); `above` counts them.
        var boundBin = bins - 1
        var above = 0
        var read = 0
        var b = 0
        let lastBucket = min(buckets.count - 1, Int(min((now - base) / Self.width, Int64(Self.maxBuckets - 1))))
        histogram.withUnsafeMutableBufferPointer { histogram in
            for k in 0..<bins { histogram[k] = 0 }
            marks.withUnsafeMutableBufferPointer { marks in
                while b <= lastBucket {
                    let kept = buckets[b].withUnsafeMutableBufferPointer { list -> Int in
                        read += list.count
                        // Keep the current entries (compacting in place), then clear their marks.
                        var kept = 0
                        for k in 0..<list.count {
                            let i32 = list[k]
                            let i = Int(i32)
                            let e = slots[i].earliest
                            if bucket(of: e) != b { continue }
                            let bit: UInt64 = 1 << UInt64(i & 63)
                            if marks[i >> 6] & bit != 0 { continue }
                            marks[i >> 6] |= bit
                            list[kept] = i32
                            kept += 1
                            if slots[i].leased || e > now { continue }
                            let bin = min(bins - 1, Int((now - e) / Self.width) + 1)
                            histogram[bin] += 1
                            gathered.append(UInt64(bins - 1 - bin) << 32 | UInt64(UInt32(i32)))
                        }
                        for k in 0..<kept {
                            let i = Int(list[k])
                            marks[i >> 6] &= ~(1 << UInt64(i & 63))
                        }
                        return kept
                    }
                    buckets[b].removeLast(buckets[b].count - kept)
                    b += 1
                    guard b <= lastBucket else { break }
                    // Every debtor of bucket b and later waits since at least its start: its bin is at most `bound`.
                    let start = base + Int64(b) * Self.width
                    let bound = min(bins - 1, Int((now - start) / Self.width) + 1)
                    if bound < boundBin {
                        for k in bound + 1...boundBin { above += histogram[k] }
                        boundBin = bound
                    }
                    if above >= count { break }
                }
            }
        }
        entriesRead += read
        // The threshold bin, as BinSelector finds it.
        var threshold = bins
        var taken = 0
        while threshold > 1 && taken < count {
            threshold -= 1
            taken += histogram[threshold]
        }
        let cut = UInt64(bins - 1 - threshold) << 32 | UInt64(UInt32.max)
        var k = 0
        for j in 0..<gathered.count where gathered[j] <= cut {
            gathered[k] = gathered[j]
            k += 1
        }
        gathered.removeLast(gathered.count - k)
        gathered.sort()
        for key in gathered.prefix(count) { out.append(Int32(truncatingIfNeeded: key & 0xFFFF_FFFF)) }
    }
}
