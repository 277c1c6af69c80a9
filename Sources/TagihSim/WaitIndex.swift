import TagihCore

/// The `earliest` strategy's debtors filed by their cached earliest permitted time, so that a refill reads only the
/// longest-waiting debtors instead of ranking every debtor (`WaitKey` over `BinSelector`).
///
/// A debtor with a permitted time is listed in the bucket of 15 minutes (absolute, from `base`) holding its cached
/// `earliest`; `PolicyBook.store` moves it when a decision changes that time (an O(1) swap-remove and append). A
/// refill walks the buckets oldest first: a debtor's `WaitKey` bin, `(now − earliest) / 900 + 1`, never grows from one
/// bucket to the next, so once the debtors already read fill `count` with bins no later bucket can reach, the rest
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
    /// Per debtor: the bucket it is listed in (−1: none, no permitted time) and its position there.
    private let listedIn: UnsafeMutablePointer<Int32>
    private let position: UnsafeMutablePointer<Int32>
    private let count: Int
    @exclusivity(unchecked) private var histogram = [Int](repeating: 0, count: BinSelector.bins)
    @exclusivity(unchecked) private var gathered: [UInt64] = []

    /// How many listed debtors the last selection read (tests and measurements).
    private(set) var lastRead = 0

    init(count: Int, base: Int64) {
        self.count = count
        self.base = base
        listedIn = .allocate(capacity: max(count, 1))
        listedIn.initialize(repeating: -1, count: count)
        position = .allocate(capacity: max(count, 1))
        position.initialize(repeating: 0, count: count)
    }

    deinit {
        listedIn.deallocate()
        position.deallocate()
    }

    @inline(__always)
    private func bucket(of earliest: Int64) -> Int32 {
        if earliest == PolicyBook.never { return -1 }
        if earliest <= base { return 0 }
        let b = (earliest - base) / Self.width
        return Int32(truncatingIfNeeded: min(b, Int64(Self.maxBuckets - 1)))
    }

    /// Files debtor `i` under its new cached earliest permitted time (`PolicyBook.never`: unlisted).
    @inline(__always)
    func update(_ i: Int, earliest: Int64) {
        let b = bucket(of: earliest)
        let old = listedIn[i]
        if b == old { return }
        if old >= 0 {
            // Swap-remove from the old bucket.
            let p = Int(position[i])
            let last = buckets[Int(old)].removeLast()
            if Int(last) != i {
                buckets[Int(old)][p] = last
                position[Int(last)] = Int32(p)
            }
        }
        listedIn[i] = b
        if b >= 0 {
            let bi = Int(b)
            if bi >= buckets.count { buckets.append(contentsOf: repeatElement([], count: bi + 1 - buckets.count)) }
            position[i] = Int32(buckets[bi].count)
            buckets[bi].append(Int32(i))
        }
    }

    /// The `count` best debtors by `WaitKey` at `now` (not leased, permitted at or before `now`, longest waiting
    /// first, then by index), as `BinSelector.select(count:size:key: WaitKey(…), into:)` returns them.
    func select(count: Int, now: Int64, slots: UnsafeMutablePointer<PolicyBook.Slot>, into out: inout [Int32]) {
        out.removeAll(keepingCapacity: true)
        guard count > 0 else { return }
        let bins = BinSelector.bins
        for b in 0..<bins { histogram[b] = 0 }
        gathered.removeAll(keepingCapacity: true)
        // Bins above `boundBin` are complete (no unread debtor can have one); `above` counts them.
        var boundBin = bins - 1
        var above = 0
        var read = 0
        var b = 0
        let lastBucket = now < base ? -1 : min(buckets.count - 1, Int(min((now - base) / Self.width,
                                                                           Int64(Self.maxBuckets - 1))))
        histogram.withUnsafeMutableBufferPointer { histogram in
            while b <= lastBucket {
                buckets[b].withUnsafeBufferPointer { list in
                    read += list.count
                    for i32 in list {
                        let i = Int(i32)
                        let e = slots[i].earliest
                        if slots[i].leased || e > now { continue }
                        let bin = min(bins - 1, Int((now - e) / Self.width) + 1)
                        histogram[bin] += 1
                        gathered.append(UInt64(bins - 1 - bin) << 32 | UInt64(UInt32(i32)))
                    }
                }
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
        lastRead = read
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
