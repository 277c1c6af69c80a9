import Synchronization
import TagihCore

/// The `tagih` (ContactPolicy) refills' cache of `ContactPolicy.score` values: a refill scores every permitted debtor
/// of its pool, up to twelve times an hour, and many of them (the ones it holds for a better hour) are the same as at
/// the previous refill, with the same history.
///
/// A debtor's value of calling now reads its history, its records and `now`. With the history unchanged, it changes
/// with `now` only when (a) the local hour of the debtor's primary zone changes (the hour-of-week bucket), (b) a local
/// day starts in one of its day zones (a promise's hold ends: the promise counts as broken), or (c) one of its
/// unanswered attempts leaves the fatigue window (`now − fatigueWindowSeconds`). ContactPolicy takes those zones from
/// the debtor's address, phones, number prefixes and jurisdiction, or UTC: the zones the world interns for the debtor
/// (`PolicyBook.enableScoreCache`). When each of them has whole-hour UTC offsets over the simulated period, changing
/// only at whole UTC hours (`ZoneClock.period`), (a) and (b) happen only at a whole UTC hour, and a value is kept for
/// the UTC hour it was computed in; with quarter hours, for the UTC quarter hour; otherwise it is not kept (the
/// debtor's `period`). The rule rests on how ContactPolicy computes a score: `verify` checks it. For (c), a debtor
/// with an attempt in the period one fatigue window earlier is not kept in that period (this needs a fatigue window
/// of whole periods). Any change of the history (an outcome, a
/// payment) or of the cached decision (whose debt is the one scored) drops the value.
///
/// `verify` recomputes every value served from the cache and stops the run if it differs (tests).
final class ScoreCache {
    static let quarter: Int64 = 900

    /// Per debtor: the value, and the period index (`now / period`) it holds for (`Int32.min`: none).
    let values: UnsafeMutablePointer<Double>
    let keys: UnsafeMutablePointer<Int32>
    /// Per debtor: how long a value may be kept, in quarter hours (0: not kept, 1, or 4).
    let quarters: UnsafeMutablePointer<UInt8>
    private let count: Int
    /// The fatigue window in quarter hours.
    private let lag: Int64
    /// Debtors by the quarter hour of their attempts, for the last `lag` + a few quarter hours (a ring).
    @exclusivity(unchecked) private var attempts: [[Int32]]
    @exclusivity(unchecked) private var attemptQuarter: [Int64]
    /// One bit per debtor: an attempt of it leaves the fatigue window during `crossingQuarter` (`crossing`), or during
    /// the hour of `crossingQuarter` (`crossingHour`).
    @exclusivity(unchecked) private(set) var crossing: [UInt64]
    @exclusivity(unchecked) private(set) var crossingHour: [UInt64]
    @exclusivity(unchecked) private var crossingQuarter: Int64 = .min
    @exclusivity(unchecked) private var crossingList: [Int32] = []
    @exclusivity(unchecked) private var crossingHourList: [Int32] = []
    var verify = false
    /// Values served from the cache, and computed (measurements).
    let hits = Atomic<Int>(0)
    let misses = Atomic<Int>(0)

    /// `periods(i)`: debtor `i`'s period in quarter hours (0, 1 or 4). Nil when the fatigue window is not a whole
    /// number of quarter hours.
    init?(count: Int, fatigueWindowSeconds: Int64, periods: (Int) -> UInt8) {
        guard fatigueWindowSeconds > 0, fatigueWindowSeconds % Self.quarter == 0 else { return nil }
        self.count = count
        lag = fatigueWindowSeconds / Self.quarter
        let hourly = fatigueWindowSeconds % 3600 == 0
        values = .allocate(capacity: max(count, 1))
        values.initialize(repeating: 0, count: count)
        keys = .allocate(capacity: max(count, 1))
        keys.initialize(repeating: Int32.min, count: count)
        quarters = .allocate(capacity: max(count, 1))
        for i in 0..<count {
            let p = periods(i)
            (quarters + i).initialize(to: p == 4 && !hourly ? 1 : p)
        }
        let ring = Int(lag) + 16
        attempts = [[Int32]](repeating: [], count: ring)
        attemptQuarter = [Int64](repeating: .min, count: ring)
        crossing = [UInt64](repeating: 0, count: (count + 63) >> 6)
        crossingHour = crossing
    }

    deinit {
        values.deallocate()
        keys.deallocate()
        quarters.deallocate()
    }

    @inline(__always)
    private func ringSlot(_ q: Int64) -> Int {
        let n = Int64(attempts.count)
        return Int(((q % n) + n) % n)
    }

    @inline(__always)
    private static func quarter(of t: UnixSeconds) -> Int64 {
        t >= 0 ? t / quarter : (t - quarter + 1) / quarter
    }

    /// Notes an attempt of debtor `i` placed at `at` (its history changed: its value is dropped too).
    @inline(__always)
    func noteAttempt(_ i: Int, at: UnixSeconds) {
        keys[i] = Int32.min
        let q = Self.quarter(of: at)
        let slot = ringSlot(q)
        if attemptQuarter[slot] != q {
            attempts[slot].removeAll(keepingCapacity: true)
            attemptQuarter[slot] = q
        }
        attempts[slot].append(Int32(truncatingIfNeeded: i))
    }

    /// Marks, for the quarter hour of `now`, the debtors with an attempt leaving the fatigue window in it (`crossing`)
    /// or in its hour (`crossingHour`).
    func prepare(now: UnixSeconds) {
        let q = Self.quarter(of: now)
        if q == crossingQuarter { return }
        for i in crossingList { crossing[Int(i) >> 6] = 0 }
        crossingList.removeAll(keepingCapacity: true)
        let from = q - lag
        let slot = ringSlot(from)
        if attemptQuarter[slot] == from {
            for i in attempts[slot] {
                crossing[Int(i) >> 6] |= 1 << UInt64(Int(i) & 63)
                crossingList.append(i)
            }
        }
        let hour = now >= 0 ? now / 3600 : (now - 3599) / 3600
        if crossingQuarter == .min || (crossingQuarter * Self.quarter).floorDiv(3600) != hour {
            for i in crossingHourList { crossingHour[Int(i) >> 6] = 0 }
            crossingHourList.removeAll(keepingCapacity: true)
            let first = hour * 4 - lag
            for f in first..<first + 4 {
                let s = ringSlot(f)
                guard attemptQuarter[s] == f else { continue }
                for i in attempts[s] {
                    crossingHour[Int(i) >> 6] |= 1 << UInt64(Int(i) & 63)
                    crossingHourList.append(i)
                }
            }
        }
        crossingQuarter = q
    }

    /// The key a value of debtor `i` computed at `now` is kept under (`Int32.min`: not kept), after `prepare(now:)`.
    @inline(__always)
    func key(_ i: Int, now: UnixSeconds) -> Int32 {
        let bit: UInt64 = 1 << UInt64(i & 63)
        switch quarters[i] {
        case 1:
            if crossing[i >> 6] & bit != 0 { return Int32.min }
            return Int32(truncatingIfNeeded: Self.quarter(of: now))
        case 4:
            if crossingHour[i >> 6] & bit != 0 { return Int32.min }
            return Int32(truncatingIfNeeded: now.floorDiv(3600))
        default:
            return Int32.min
        }
    }
}

extension Int64 {
    /// Division rounding toward minus infinity.
    @inline(__always)
    func floorDiv(_ d: Int64) -> Int64 { self >= 0 ? self / d : (self - d + 1) / d }
}
