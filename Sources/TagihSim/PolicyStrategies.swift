import Foundation
import TagihCore

/// Shared hopper logic: an hourly (re-)ranked list of leads, topped up when it runs dry.
class HopperStrategy: DialStrategy {
    let book: PolicyBook
    @exclusivity(unchecked) var hopper: [Int32] = []
    @exclusivity(unchecked) var hopperPosition = 0
    @exclusivity(unchecked) var lastRefill: UnixSeconds = .min
    @exclusivity(unchecked) var dialsThisHour = 0
    @exclusivity(unchecked) var dialsLastHour = 0
    @exclusivity(unchecked) var blockedCalls = 0
    var decisions: Int { book.decisions }
    @exclusivity(unchecked) var selector: BinSelector

    init(book: PolicyBook) {
        self.book = book
        selector = BinSelector(size: book.world.debtors.count)
    }

    /// Builds a new hopper at `now`; `size` is a hint of how many leads are wanted.
    func refill(now: UnixSeconds, size: Int) {}

    /// Whether `refill` joins each debtor it reads (`PolicyBook.joinDebtor`), so the batches in flight need not be
    /// joined before it (the others read every debtor's cached decision).
    var refillJoinsWhatItReads: Bool { false }

    /// Extra per-strategy gate at pop time.
    func wants(_ i: Int, now: UnixSeconds) -> Bool { true }

    /// Whether a walk first re-decides its stale hopper entries together on all cores (`PolicyBook.decideStaleAhead`;
    /// the same results as one by one). Strategies whose hopper holds debtors whose permitted window has closed
    /// (ranked by their cached earliest time only) turn it on; tests turn it off to compare.
    @exclusivity(unchecked) var decidesStaleAhead = false

    @exclusivity(unchecked) private var lastFlush: UnixSeconds = 0

    /// Decides the debtors whose outcomes arrived in the last minute (a batch, on both cores).
    func advance(now: UnixSeconds) async { advanceNow(now: now) }

    func next(_ count: Int, now: UnixSeconds, into leads: inout [Lead]) async { nextNow(count, now: now, into: &leads) }

    var needsOutcomeEvents: Bool { false }

    func record(_ attempt: AttemptOutcome, event: OutcomeEvent?, now: UnixSeconds) async {
        recordNow(attempt, now: now)
    }

    func record(_ payment: PaymentEvent, debtor: Int, now: UnixSeconds) async {
        recordNow(payment, debtor: debtor, now: now)
    }

    // The synchronous versions of the protocol's methods: the floor calls these directly (an `await` per outcome
    // costs an async frame and an executor check).

    func advanceNow(now: UnixSeconds) {
        if now - lastFlush >= 60 {
            book.flushInBackground()
            lastFlush = now
        }
    }

    /// How many hopper entries ahead `nextNow` asks for a debtor's slot (`PolicyBook.prefetchSlot`).
    private static let ahead = 8

    func nextNow(_ count: Int, now: UnixSeconds, into leads: inout [Lead]) {
        var served = 0
        let hour = now / 3600
        if lastRefill / 3600 != hour {
            dialsLastHour = dialsThisHour
            dialsThisHour = 0
            book.flush(joiningInFlight: !refillJoinsWhatItReads)
            refill(now: now, size: max(512, dialsLastHour * 3 / 2))
            lastRefill = now
        }
        if decidesStaleAhead { book.decideStaleAhead(hopper, from: hopperPosition, now: now, wanted: count) }
        defer { if decidesStaleAhead { book.dropAhead() } }
        while served < count {
            if hopperPosition >= hopper.count {
                guard now - lastRefill >= 300 else { break }
                book.flush(joiningInFlight: !refillJoinsWhatItReads)
                refill(now: now, size: max(512, dialsLastHour / 2))
                lastRefill = now
                if hopper.isEmpty { break }
                if decidesStaleAhead {
                    book.decideStaleAhead(hopper, from: hopperPosition, now: now, wanted: count - served)
                }
            }
            if hopperPosition + Self.ahead < hopper.count { book.prefetchSlot(Int(hopper[hopperPosition + Self.ahead])) }
            let i = Int(hopper[hopperPosition])
            hopperPosition += 1
            if book.slots[i].leased || !wants(i, now: now) { continue }
            guard book.permitted(i, now: now) else { continue }
            book.setLeased(i, true)
            book.prefetchOutcome(i)
            leads.append(book.lead(i))
            served += 1
        }
        dialsThisHour += served
    }

    func recordNow(_ attempt: AttemptOutcome, now: UnixSeconds) {
        book.record(attempt, now: now)
    }

    func recordNow(_ payment: PaymentEvent, debtor: Int, now: UnixSeconds) {
        book.record(payment, debtor: debtor, now: now)
    }
}

/// `tagih`: permitted debtors ranked by the value of calling now; the policy's best time and score
/// carry what its propensity model learned from outcomes.
final class TagihPolicyStrategy: HopperStrategy {
    /// γ^h for h hours until the best time (γ = 0.97 per hour), h in 0..<169.
    private let discount: [Double] = (0..<169).map { pow(0.97, Double($0)) }
    @exclusivity(unchecked) private var pool: [Int32] = []
    private let threshold: Double

    private let waiting: WaitingSelector?

    /// With `compactRanking` (the default) the pre-selection reads the debtors `PolicyBook.waitCodes` lists as permitted
    /// (`WaitingSelector`) instead of every slot; the same pool either way.
    init(book: PolicyBook, threshold: Double, compactRanking: Bool = true) {
        self.threshold = threshold
        waiting = compactRanking ? WaitingSelector(size: book.world.debtors.count) : nil
        super.init(book: book)
        if compactRanking { book.enableWaitCodes() }
        decidesStaleAhead = true
    }
    @exclusivity(unchecked) private var exact: [(value: Double, debtor: Int32)] = []
    @exclusivity(unchecked) private var values: [Double] = []
    /// One bit per debtor, all clear between refills (`inIndexOrder`).
    @exclusivity(unchecked) private var marks: [UInt64] = []

    /// Sorts distinct debtor indices ascending (through a bitmap: O(n / 64 + count)).
    private func inIndexOrder(_ list: inout [Int32]) {
        let words = (book.world.debtors.count + 63) >> 6
        if marks.count < words { marks = [UInt64](repeating: 0, count: words) }
        for i in list { marks[Int(i) >> 6] |= 1 << UInt64(Int(i) & 63) }
        list.removeAll(keepingCapacity: true)
        for w in 0..<words where marks[w] != 0 {
            var bits = marks[w]
            while bits != 0 {
                list.append(Int32(w << 6 + bits.trailingZeroBitCount))
                bits &= bits - 1
            }
            marks[w] = 0
        }
    }

    /// Moves the `count` best elements of `a` by `better` (a strict total order: of two different elements, one is
    /// better) to its front, in no particular order (Hoare's selection, as in Wirth's `find`).
    static func moveBestToFront<T>(_ a: UnsafeMutableBufferPointer<T>, count: Int, by better: (T, T) -> Bool) {
        guard count > 0 && count < a.count else { return }
        let k = count - 1
        var lo = 0, hi = a.count - 1
        while lo < hi {
            let pivot = a[k]
            var i = lo, j = hi
            repeat {
                while better(a[i], pivot) { i += 1 }
                while better(pivot, a[j]) { j -= 1 }
                if i <= j {
                    a.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            } while i <= j
            if j < k { lo = i }
            if k < i { hi = j }
        }
    }

    /// Pre-selects twice the wanted number by the cached decision (value at the best time, discounted by
    /// the hours until it), then ranks that pool by the policy's value of calling now
    /// (`ContactPolicy.score(for:history:debt:at:)`: this hour's propensity × value).
    override func refill(now: UnixSeconds, size: Int) {
        let book = self.book
        // (The key runs on all cores: it only reads the slots, and no batch is in flight during a refill.)
        discount.withUnsafeBufferPointer { discount in
            let key = ValueKey(slots: book.slots, discount: discount.baseAddress!, now: now)
            if let waiting, let codes = book.waitCodes {
                waiting.select(count: size * 2, codes: codes, base: book.waitBase, now: now, key: key,
                               groupMin: book.waitGroupMin, into: &pool)
            } else {
                selector.select(count: size * 2, size: book.world.debtors.count, key: key, into: &pool)
            }
        }
        exact.removeAll(keepingCapacity: true)
        // Scored in index order (the records' memory order) on all cores: which debtors end up in the hopper, and in
        // which order, does not depend on the order they are scored in (the sort below is by a total order).
        inIndexOrder(&pool)
        if values.count < pool.count { values = [Double](repeating: 0, count: pool.count) }
        pool.withUnsafeBufferPointer { pool in
            values.withUnsafeMutableBufferPointer { values in book.scoreAll(pool, now: now, into: values.baseAddress!) }
        }
        for (k, i32) in pool.enumerated() {
            let value = values[k]
            // Plan around the caps: spend a call now only when now is worth at least `threshold` of the
            // best permitted time ahead (the decision's discounted value at `best`).
            if value > 0 && value >= threshold * Double(book.slots[Int(i32)].score) { exact.append((value, i32)) }
        }
        // Only the best `size` are kept: they are moved to the front first, and only they are sorted (the order is
        // total, so they and their order are those of sorting everything).
        let better: ((value: Double, debtor: Int32), (value: Double, debtor: Int32)) -> Bool = {
            $0.value > $1.value || ($0.value == $1.value && $0.debtor < $1.debtor)
        }
        if exact.count > size {
            exact.withUnsafeMutableBufferPointer { Self.moveBestToFront($0, count: size, by: better) }
            exact.removeLast(exact.count - size)
        }
        exact.sort(by: better)
        hopper.removeAll(keepingCapacity: true)
        for e in exact.prefix(size) { hopper.append(e.debtor) }
        hopperPosition = 0
    }
}

/// The tagih pre-selection's bin of a debtor: the decision's value at its best time discounted by the hours until it.
struct ValueKey: BinKey, @unchecked Sendable {
    let slots: UnsafeMutablePointer<PolicyBook.Slot>
    let discount: UnsafePointer<Double>
    let now: UnixSeconds

    @inline(__always)
    func bin(_ i: Int) -> Int {
        let e = slots[i].earliest
        if slots[i].leased || e > now { return 0 }
        let hours = min(168, max(0, Int((slots[i].best - now) / 3600)))
        let v = Double(slots[i].score) * discount[hours]
        guard v > 0 else { return 0 }
        return min(BinSelector.bins - 1, max(1, Int((log2(v) + 40) * 64)))
    }
}

/// The `earliest` strategy's bin of a debtor: how long it has been permitted, in quarter hours.
struct WaitKey: BinKey, @unchecked Sendable {
    let slots: UnsafeMutablePointer<PolicyBook.Slot>
    let now: UnixSeconds

    @inline(__always)
    func bin(_ i: Int) -> Int {
        let e = slots[i].earliest
        if slots[i].leased || e > now { return 0 }
        return min(BinSelector.bins - 1, Int((now - e) / 900) + 1)
    }
}

/// `WaitKey` read from `PolicyBook.waitCodes` (the same bins).
struct CompactWaitKey: BinKey, @unchecked Sendable {
    let codes: UnsafeMutablePointer<Int32>
    let base: Int64
    let now: UnixSeconds

    @inline(__always)
    func bin(_ i: Int) -> Int {
        let c = codes[i]
        if c == Int32.max { return 0 }
        let e = base + Int64(c)
        if e > now { return 0 }
        return min(BinSelector.bins - 1, Int((now - e) / 900) + 1)
    }
}

/// `BinSelector.select` for keys whose candidates are all permitted by `now` and not leased (`WaitKey`, `ValueKey`):
/// one pass over `PolicyBook.waitCodes` (4 bytes a debtor, on all cores) finds those debtors, which are few, and
/// computes their bins; the histogram, threshold and order (best bin first, then by index) come from that list.
final class WaitingSelector {
    private let size: Int
    private let pieces: Int
    /// Per piece (from its first index on), the candidates it found in index order and their bins; and how many.
    private let found: UnsafeMutablePointer<Int32>
    private let foundBin: UnsafeMutablePointer<UInt16>
    @exclusivity(unchecked) private var counts: [Int]
    @exclusivity(unchecked) private var histogram = [Int](repeating: 0, count: BinSelector.bins)
    @exclusivity(unchecked) private var ordered: [Int32] = []
    /// Per piece, the histogram of its candidates' bins, then where its candidates of each bin go in `ordered`
    /// (`pieces` rows of `BinSelector.bins`).
    private let pieceBins: UnsafeMutablePointer<Int>

    init(size: Int) {
        self.size = size
        pieces = size >= BinSelector.parallelSize ? Parallel.workers : 1
        found = .allocate(capacity: max(size, 1))
        foundBin = .allocate(capacity: max(size, 1))
        counts = [Int](repeating: 0, count: pieces)
        pieceBins = .allocate(capacity: pieces * BinSelector.bins)
        pieceBins.initialize(repeating: 0, count: pieces * BinSelector.bins)
    }

    deinit {
        found.deallocate()
        foundBin.deallocate()
        pieceBins.deallocate()
    }

    /// Debtors per group of `PolicyBook.waitGroupMin` (a scan reads a group's codes as one SIMD vector).
    static let groupShift = 4
    static let group = 1 << groupShift

    /// The first index of piece `piece` (pieces are split at whole groups, so no two threads write the same group's
    /// bound).
    @inline(__always)
    private func pieceStart(_ piece: Int) -> Int {
        let groups = (size + Self.group - 1) >> Self.groupShift
        return min(size, (groups * piece / pieces) << Self.groupShift)
    }

    /// The same selection as `BinSelector.select(count:size:key:into:)`, for a key whose bin is 0 for every debtor
    /// whose code is above `now` (leased, no permitted time, or permitted later).
    ///
    /// With `groupMin` (per group of 16 debtors a lower bound of their codes, `PolicyBook.waitGroupMin`) a group whose
    /// bound is above the limit is skipped without reading its codes, and every group read gets its exact minimum as
    /// its new bound.
    func select<Key: BinKey>(count: Int, codes: UnsafeMutablePointer<Int32>, base: Int64, now: UnixSeconds, key: Key,
                             groupMin: UnsafeMutablePointer<Int32>? = nil, into out: inout [Int32])
    {
        out.removeAll(keepingCapacity: true)
        let size = self.size, pieces = self.pieces
        // A code is a candidate when it is at most `limit` (leased and never are Int32.max, above any limit).
        let limit = now - base >= Int64(Int32.max) ? Int32.max - 1 : Int32(clamping: now - base)
        let starts = (0...pieces).map { $0 == pieces ? size : pieceStart($0) }
        counts.withUnsafeMutableBufferPointer { counts in
            let shared = Unchecked((codes, found, foundBin, counts, groupMin, starts, pieceBins))
            let body: @Sendable (Int) -> Void = { piece in
                let (codes, found, foundBin, counts, groupMin, starts, pieceBins) = shared.value
                let from = starts[piece], to = starts[piece + 1]
                var n = 0
                @inline(__always) func take(_ i: Int) {
                    let b = key.bin(i)
                    if b == 0 { return }
                    found[from + n] = Int32(truncatingIfNeeded: i)
                    foundBin[from + n] = UInt16(b)
                    n += 1
                }
                // A group of sixteen codes at a time: nearly every debtor waits (or is leased), so most groups have no
                // candidate, and most bounds say so without reading the codes.
                let limits = SIMD16<Int32>(repeating: limit)
                var g = from >> Self.groupShift
                let groupsEnd = (to + Self.group - 1) >> Self.groupShift
                while g < groupsEnd {
                    if let groupMin, groupMin[g] > limit {
                        g += 1
                        continue
                    }
                    let lo = g << Self.groupShift
                    if lo + Self.group <= to {
                        let codes16 = UnsafeRawPointer(codes + lo).loadUnaligned(as: SIMD16<Int32>.self)
                        let candidates = codes16 .<= limits
                        if any(candidates) {
                            for lane in 0..<Self.group where candidates[lane] { take(lo + lane) }
                        }
                        groupMin?[g] = codes16.min()
                    } else {
                        var m = Int32.max
                        for i in lo..<to {
                            m = min(m, codes[i])
                            if codes[i] <= limit { take(i) }
                        }
                        groupMin?[g] = m
                    }
                    g += 1
                }
                counts[piece] = n
                // The piece's histogram (on its own thread).
                let row = pieceBins + piece * BinSelector.bins
                row.update(repeating: 0, count: BinSelector.bins)
                for k in from..<from + n { row[Int(foundBin[k])] += 1 }
            }
            if pieces == 1 { body(0) } else { DispatchQueue.concurrentPerform(iterations: pieces, execute: body) }
        }
        let bins = BinSelector.bins
        for b in 0..<bins {
            var sum = 0
            for piece in 0..<pieces { sum += pieceBins[piece * bins + b] }
            histogram[b] = sum
        }
        let threshold = BinSelector.threshold(taking: count, from: histogram)
        // Bins at or above the threshold, best first; within a bin in index order (pieces in order): each piece's
        // first place in each bin, then the pieces place their candidates on all cores (disjoint places).
        var total = 0
        for b in stride(from: bins - 1, through: threshold, by: -1) {
            for piece in 0..<pieces {
                let n = pieceBins[piece * bins + b]
                pieceBins[piece * bins + b] = total
                total += n
            }
        }
        if ordered.count < total { ordered = [Int32](repeating: 0, count: total) }
        ordered.withUnsafeMutableBufferPointer { ordered in
            let shared = Unchecked((found, foundBin, pieceBins, ordered.baseAddress!, starts, counts))
            let place: @Sendable (Int) -> Void = { piece in
                let (found, foundBin, pieceBins, ordered, starts, counts) = shared.value
                let row = pieceBins + piece * bins
                let from = starts[piece]
                for k in from..<from + counts[piece] {
                    let b = Int(foundBin[k])
                    if b >= threshold {
                        ordered[row[b]] = found[k]
                        row[b] += 1
                    }
                }
            }
            if pieces == 1 || total < 4096 {
                for piece in 0..<pieces { place(piece) }
            } else {
                DispatchQueue.concurrentPerform(iterations: pieces, execute: place)
            }
        }
        out.append(contentsOf: ordered[0..<min(total, max(count, 0))])
    }
}

/// `earliest`: every debtor at its earliest permitted time, longest-waiting first; no learning.
final class EarliestStrategy: HopperStrategy {
    private let waiting: WaitingSelector?

    /// With `compactRanking` (the default) a refill reads the debtors `PolicyBook.waitCodes` lists as permitted
    /// (`WaitingSelector`) instead of ranking every slot with `BinSelector`; the same selection either way.
    init(book: PolicyBook, compactRanking: Bool = true) {
        waiting = compactRanking ? WaitingSelector(size: book.world.debtors.count) : nil
        super.init(book: book)
        if compactRanking { book.enableWaitCodes() }
        decidesStaleAhead = true
    }

    override func refill(now: UnixSeconds, size: Int) {
        if let waiting, let codes = book.waitCodes {
            waiting.select(count: size, codes: codes, base: book.waitBase, now: now,
                           key: CompactWaitKey(codes: codes, base: book.waitBase, now: now),
                           groupMin: book.waitGroupMin, into: &hopper)
        } else {
            selector.select(count: size, size: book.world.debtors.count, key: WaitKey(slots: book.slots, now: now),
                            into: &hopper)
        }
        hopperPosition = 0
    }
}

/// `baseline`: a VICIdial-style hopper. Fixed list order, fixed retry delays by outcome, and the
/// same permission check as everyone else, so it stays legal; what the check refuses is counted.
final class BaselineStrategy: HopperStrategy {
    @exclusivity(unchecked) private var nextRetry: [Int64]
    @exclusivity(unchecked) private var cursor = 0
    private let retryDelay: Int64

    /// Per block of 64 list positions, a lower bound of the time its first debtor becomes a candidate of the walk
    /// (`nextRetry`, or never while the cached decision has no permitted time): the walk skips a whole block whose
    /// debtors all wait (same order and stopping point as checking them one by one). A block is re-examined when
    /// one of its debtors gets a permitted time again (`PolicyBook.unblocked`).
    @exclusivity(unchecked) private var blockMin: [Int64]
    private static let blockShift = 6
    private static let blockSize = 1 << blockShift

    private let skipWaitingBlocks: Bool

    init(book: PolicyBook, start: UnixSeconds, retryDelay: Int64, skipWaitingBlocks: Bool = true) {
        self.skipWaitingBlocks = skipWaitingBlocks
        let n = book.world.debtors.count
        nextRetry = [Int64](repeating: start, count: n)
        blockMin = [Int64](repeating: start, count: (n + Self.blockSize - 1) >> Self.blockShift)
        self.retryDelay = retryDelay
        super.init(book: book)
        book.unblocked = [Bool](repeating: true, count: blockMin.count)
    }

    @inline(__always)
    private func setRetry(_ i: Int, _ t: Int64) {
        nextRetry[i] = t
        let b = i >> Self.blockShift
        if t < blockMin[b] { blockMin[b] = t }
    }

    /// Whether the whole block starting at list position `i` (a multiple of the block size) may be skipped at `now`.
    @inline(__always)
    private func blockWaits(_ i: Int, now: UnixSeconds) -> Bool {
        let b = i >> Self.blockShift
        if blockMin[b] > now && !book.unblocked[b] { return true }
        book.unblocked[b] = false
        var m = Int64.max
        for k in i..<i + Self.blockSize {
            if book.inFlight(k) {
                // A debtor in a batch still in flight whose retry is ahead cannot be a candidate now whatever its new
                // decision: its retry time counts (a lower bound, as if it had a permitted time) without waiting for
                // the batch. Otherwise the batch is joined first.
                if nextRetry[k] > now {
                    m = min(m, nextRetry[k])
                    continue
                }
                book.joinDebtor(k)
            }
            if book.slots[k].earliest != PolicyBook.never { m = min(m, nextRetry[k]) }
        }
        blockMin[b] = m
        return m > now
    }

    override func wants(_ i: Int, now: UnixSeconds) -> Bool { nextRetry[i] <= now }

    /// The walk reads a debtor's cached decision only after `joinDebtor` (or knowing it cannot be a candidate), so
    /// the minute batches in flight go on being decided on the worker threads while it runs.
    override var refillJoinsWhatItReads: Bool { true }

    @exclusivity(unchecked) private var batch: [Int32] = []

    /// Walks the list from the cursor. Candidates are gathered in batches of at most the number still wanted
    /// (so the walk never goes past where a one-by-one walk would stop); the stale decisions of a batch are
    /// re-decided together on both cores before the permission checks, which then run in list order.
    override func refill(now: UnixSeconds, size: Int) {
        hopper.removeAll(keepingCapacity: true)
        hopperPosition = 0
        let n = book.world.debtors.count
        var scanned = 0
        while hopper.count < size && scanned < n {
            batch.removeAll(keepingCapacity: true)
            let want = size - hopper.count
            while batch.count < want && scanned < n {
                let i = cursor
                if skipWaitingBlocks && i & (Self.blockSize - 1) == 0 && i + Self.blockSize <= n
                    && scanned + Self.blockSize <= n
                    && blockWaits(i, now: now)
                {
                    cursor = i + Self.blockSize == n ? 0 : i + Self.blockSize
                    scanned += Self.blockSize
                    continue
                }
                cursor = cursor + 1 == n ? 0 : cursor + 1
                scanned += 1
                guard !book.slots[i].leased, nextRetry[i] <= now else { continue }
                book.joinDebtor(i)
                guard book.slots[i].earliest != PolicyBook.never else { continue }
                batch.append(Int32(i))
                book.settle(i)
                if book.isStale(i, now: now) { book.markPending(i, now: now) }
            }
            book.flush(joiningInFlight: false)
            for i32 in batch {
                let i = Int(i32)
                if book.permitted(i, now: now) {
                    hopper.append(i32)
                } else {
                    // The list wanted this account now; the permission check said no.
                    blockedCalls += 1
                    setRetry(i, now + retryDelay)
                }
            }
        }
    }

    override func recordNow(_ attempt: AttemptOutcome, now: UnixSeconds) {
        let delay: Int64
        switch attempt.outcome {
        case .busy: delay = 1800
        case .noAnswer, .voicemail, .abandoned, .thirdParty, .wrongNumber, .notInService: delay = retryDelay
        case .rightParty, .refused, .callbackRequested: delay = 86_400
        case .promiseToPay: delay = 3 * 86_400
        case .dispute, .cease, .paid: delay = Int64.max / 2
        }
        setRetry(attempt.debtor, now + delay)
        book.record(attempt, now: now)
    }
}
