import TagihCore

/// One call the strategy wants placed now.
struct Lead {
    var debtor: Int32
    var debt: Int32
    var phone: Int32
    var lease: String?
}

/// A scheduling strategy as the simulated dialer sees it: hand out leads, learn from outcomes.
///
/// Implementations either wrap TagihCore's `ContactPolicy` directly (with the simulator keeping
/// the histories) or drive the real `Engine` under a virtual clock.
protocol DialStrategy: AnyObject {
    /// Up to `count` leads permitted at `now`, best first. Fewer means the list is exhausted for now.
    func next(_ count: Int, now: UnixSeconds, into leads: inout [Lead]) async
    /// The outcome of a lead (or of a call the strategy did not hand out).
    func record(_ event: OutcomeEvent, debtor: Int, debt: Int, phone: Int, now: UnixSeconds) async
    /// A payment arrived.
    func record(_ payment: PaymentEvent, debtor: Int, now: UnixSeconds) async
    /// Called at every dialer step, before `next`, with the simulated time.
    func advance(now: UnixSeconds) async
    /// Calls the strategy wanted but the permission check refused.
    var blockedCalls: Int { get }
    /// How many times the decision function ran.
    var decisions: Int { get }
}

/// The per-debtor decision cache of the ContactPolicy-backed strategies: histories, the latest
/// decision (earliest, window end, best, score, debt and phone), and who is currently leased.
final class PolicyBook {
    let world: World
    let policy: ContactPolicy
    var histories: [DebtorHistory]
    var earliest: [Int64]
    var windowEnds: [Int64]
    var best: [Int64]
    var score: [Float]
    var debt: [Int32]
    var phone: [Int32]
    var leased: [Bool]
    var decisions = 0
    var scored = 0

    static let never = Int64.max

    init(world: World, policy: ContactPolicy, now: UnixSeconds) {
        self.world = world
        self.policy = policy
        let n = world.debtors.count
        histories = [DebtorHistory](repeating: DebtorHistory(), count: n)
        earliest = [Int64](repeating: Self.never, count: n)
        windowEnds = [Int64](repeating: 0, count: n)
        best = [Int64](repeating: Self.never, count: n)
        score = [Float](repeating: 0, count: n)
        debt = [Int32](repeating: -1, count: n)
        phone = [Int32](repeating: -1, count: n)
        leased = [Bool](repeating: false, count: n)
        for i in 0..<n { refresh(i, now: now) }
    }

    /// Runs the decision function for debtor `i` at `now` and caches the result.
    func refresh(_ i: Int, now: UnixSeconds) {
        decisions += 1
        let debtor = world.debtors[i]
        var chosen: Decision?
        // forEachDecision: the same decisions as decide(for:history:now:), without building an array.
        policy.forEachDecision(for: debtor, history: histories[i], now: now) { d in
            guard let e = d.earliest, d.phone != nil else { return }
            guard let c = chosen, let ce = c.earliest else {
                chosen = d
                return
            }
            let nowE = max(e, now)
            let nowC = max(ce, now)
            if nowE < nowC || (nowE == nowC && d.score > c.score) { chosen = d }
        }
        guard let c = chosen, let e = c.earliest, let number = c.phone,
            let debtOffset = debtor.debts.firstIndex(where: { $0.id == c.debt }),
            let phoneOffset = debtor.phones.firstIndex(where: { $0.number == number })
        else {
            earliest[i] = Self.never
            return
        }
        earliest[i] = e
        windowEnds[i] = c.windowEnds ?? (e + 3600)
        best[i] = c.best ?? e
        score[i] = Float(c.score)
        debt[i] = world.debtStart[i] + Int32(debtOffset)
        phone[i] = world.phoneStart[i] + Int32(phoneOffset)
    }

    /// Whether the cached decision is out of date at `now` (its window has closed).
    @inline(__always)
    func isStale(_ i: Int, now: UnixSeconds) -> Bool {
        earliest[i] <= now && now >= windowEnds[i]
    }

    /// Whether a call to debtor `i` is permitted at `now`, re-deciding when the cache is stale.
    func permitted(_ i: Int, now: UnixSeconds) -> Bool {
        if isStale(i, now: now) { refresh(i, now: now) }
        return earliest[i] <= now && now < windowEnds[i]
    }

    func lead(_ i: Int) -> Lead {
        Lead(debtor: Int32(i), debt: debt[i], phone: phone[i], lease: nil)
    }

    func record(_ event: OutcomeEvent, debtor i: Int, now: UnixSeconds) {
        histories[i].record(event)
        leased[i] = false
        refresh(i, now: now)
    }

    func record(_ payment: PaymentEvent, debtor i: Int, now: UnixSeconds) {
        histories[i].record(payment)
        if !leased[i] { refresh(i, now: now) }
    }
}

/// Selects the `count` best candidates by an integer bin (higher is better) in O(n), without sorting:
/// a histogram finds the threshold bin, then candidates are emitted bin by bin.
struct BinSelector {
    static let bins = 4096
    private var binOf: [UInt16]
    private var histogram: [Int]
    private var starts: [Int]
    private var ordered: [Int32]

    init(size: Int) {
        binOf = [UInt16](repeating: 0, count: size)
        histogram = [Int](repeating: 0, count: Self.bins)
        starts = [Int](repeating: 0, count: Self.bins + 1)
        ordered = []
    }

    /// `key(i)` returns a bin in 1..<bins for a candidate, 0 for "not a candidate".
    mutating func select(count: Int, size: Int, key: (Int) -> Int, into out: inout [Int32]) {
        for b in 0..<Self.bins { histogram[b] = 0 }
        for i in 0..<size {
            let b = key(i)
            binOf[i] = UInt16(b)
            histogram[b] += 1
        }
        var threshold = Self.bins
        var taken = 0
        while threshold > 1 && taken < count {
            threshold -= 1
            taken += histogram[threshold]
        }
        // Bucket the candidates at or above the threshold, best bin first.
        var position = 0
        for b in stride(from: Self.bins - 1, through: threshold, by: -1) {
            starts[b] = position
            position += histogram[b]
        }
        if ordered.count < position { ordered = [Int32](repeating: 0, count: position) }
        for i in 0..<size {
            let b = Int(binOf[i])
            if b >= threshold && b > 0 {
                ordered[starts[b]] = Int32(i)
                starts[b] += 1
            }
        }
        out.removeAll(keepingCapacity: true)
        out.append(contentsOf: ordered[0..<min(position, max(count, 0))])
    }
}
