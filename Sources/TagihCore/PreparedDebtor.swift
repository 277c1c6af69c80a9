// The prepared fast path of the decision function: a debtor's zones, rule pack, holidays and prior resolved once
// (`PreparedDebtor`), and an append-only history kept in the evaluator's own event form (`CompactHistory`), so a
// decision neither looks strings up nor re-reads string-keyed outcomes. Same decisions as `decide(for:history:now:)`
// (tests compare the two over randomized debtors and histories).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A debtor's policy inputs resolved once by `ContactPolicy.prepare(_:)`: the candidate zones of every phone, the
/// primary and day zones, the rule pack, the holiday calendar, the 7-day cap and the segment's prior curve.
///
/// Valid only with the policy that prepared it and with the same debtor record (same phones, debts, zone,
/// jurisdiction and segment): prepare again when the record changes. Immutable; may be shared across threads.
public struct PreparedDebtor: @unchecked Sendable {
    let data: PolicyData
    let address: ZoneRef?
    let primary: ZoneRef
    let kind: UInt8
    let holidays: RawHolidays?
    let sevenDayCap: Int?
    let curve: UnsafeMutablePointer<Double>
    let curveMax: Double
    let idHash: UInt64
    /// Whether the pack counts personal and other numbers apart (events then carry the kind of number dialed).
    let kinds: Bool
    /// The zones of every phone's candidate set, then the day zones, back to back: in `inlineZones` when there are
    /// at most `inlineZoneCapacity` of them (read in place: no second allocation to reach on every decision; a
    /// prefetch of the struct brings them along), else in `wideZones`.
    let inlineZones: InlineZones
    let wideZones: [ZoneRef]
    let zonesInline: Bool
    /// `bound(p) ..< bound(p + 1)`: phone `p`'s set in `zones`; `bound(phoneCount) ..< bound(phoneCount + 1)`: the
    /// day zones. Kept inline (`narrowBounds`) when there are at most 16 bounds below 256 (no second array to
    /// read on every decision), else in `wideBounds`.
    let narrowBounds: SIMD16<UInt8>
    let wideBounds: [Int32]
    /// The number of phones of the debtor it was prepared from.
    public let phoneCount: Int
    /// The number of debts of the debtor it was prepared from.
    public let debtCount: Int
}

extension PreparedDebtor {
    /// Up to `inlineZoneCapacity` zones stored in the struct (unused slots nil).
    typealias InlineZones = (ZoneRef?, ZoneRef?, ZoneRef?, ZoneRef?, ZoneRef?, ZoneRef?, ZoneRef?, ZoneRef?)
    static var inlineZoneCapacity: Int { 8 }

}

/// A debtor's history in the evaluator's own form, append-only: per attempt its instant, local day and
/// hour-of-week bucket in the debtor's primary zone, debt and phone indices and outcome, computed once when it is
/// recorded. Promise terms and callback times are kept with the few outcomes that carry them; payments and
/// clearances as they are. Expired leases (unresolved attempts) are not supported: use `DebtorHistory` for those.
///
/// Built for one debtor and its `PreparedDebtor`; record in time order, as with `DebtorHistory`.
public struct CompactHistory: @unchecked Sendable {
    /// The events in 16 bytes each (half the cache lines of `Event` to append, grow and read), while every index
    /// fits a byte and every day an `Int32`; else (`isWide`) all of them in `wide` as `Event`s.
    var packed: ContiguousArray<PackedEvent> = []
    var wide: ContiguousArray<Event> = []
    var isWide = false
    /// The primary zone and the pack's kind flag of the debtor's `PreparedDebtor`, taken at the first record (so
    /// that later records need not read it). The zone is immutable data of the policy's tz database.
    var primary: ZoneRef?
    var kinds = false
    /// Outcomes with promise terms or a callback time, by event index.
    var specialIndex: [Int32] = []
    var specialEvents: [OutcomeEvent] = []
    /// Whether an outcome is a `promise_to_pay` or a `callback_requested` (the evaluator then reads outcome events).
    var readsOutcomes = false
    /// Payments, in time order.
    public private(set) var payments: [PaymentEvent] = []
    /// Operator clearances of disputes and cease requests.
    public private(set) var clearances: [HoldClearance] = []

    /// An empty history.
    public init() {}

    /// The history `history` of `debtor` in compact form; nil when it holds unresolved attempts (not supported).
    public init?(_ history: DebtorHistory, of debtor: Debtor, prepared: PreparedDebtor) {
        guard history.unresolved.isEmpty else { return nil }
        packed.reserveCapacity(history.outcomes.count)
        for o in history.outcomes { record(o, of: debtor, prepared: prepared) }
        payments = history.payments
        clearances = history.clearances
    }

    /// The number of outcomes recorded.
    public var count: Int { isWide ? wide.count : packed.count }

    /// Adds an outcome of a call to `debtor` (debt and phone found by id and number, as `DebtorHistory` does;
    /// unknown ones are kept as unknown). The `lease` is ignored (no unresolved attempts here).
    public mutating func record(_ outcome: OutcomeEvent, of debtor: Debtor, prepared: PreparedDebtor) {
        let debt = debtor.debts.firstIndex { $0.id == outcome.debt } ?? -1
        let phone = debtor.phones.firstIndex { $0.number == outcome.phone } ?? -1
        append(at: outcome.at, outcome: outcome.outcome, debt: debt, phone: phone, of: debtor, prepared: prepared)
        if (outcome.outcome == .promiseToPay && outcome.promise != nil)
            || (outcome.outcome == .callbackRequested && outcome.callbackAt != nil)
        {
            specialIndex.append(Int32(count - 1))
            specialEvents.append(outcome)
        }
    }

    /// Adds an outcome without promise terms or callback time (for those use `record(_:of:prepared:)`), with the
    /// debt and the phone given as indices into `debtor.debts` and `debtor.phones`: no strings are read.
    public mutating func record(
        at: UnixSeconds, outcome: Outcome, debt: Int, phone: Int, of debtor: Debtor, prepared: PreparedDebtor
    ) {
        precondition(debt >= 0 && debt < debtor.debts.count && phone >= 0 && phone < debtor.phones.count,
                     "debt and phone must be indices of the debtor's debts and phones")
        append(at: at, outcome: outcome, debt: debt, phone: phone, of: debtor, prepared: prepared)
    }

    /// `record(at:outcome:debt:phone:of:prepared:)` with the debtor and its prepared data passed by address: for
    /// callers that keep them in manually managed memory (a call with values may copy them first). The indices must
    /// be valid (only their sign is checked here); `prepared` is read at the first record only.
    public mutating func record(
        at: UnixSeconds, outcome: Outcome, debt: Int, phone: Int, debtor: UnsafePointer<Debtor>,
        prepared: UnsafePointer<PreparedDebtor>
    ) {
        precondition(debt >= 0 && phone >= 0, "debt and phone must be indices of the debtor's debts and phones")
        // The prepared debtor is read once per history; the debtor's phones only when the pack counts kinds.
        if primary == nil {
            primary = prepared.pointee.primary
            kinds = prepared.pointee.kinds
        }
        var kindClass: UInt8 = 3
        if kinds {
            let kind = debtor.pointee.phones[phone].kind
            kindClass = kind == .mobile || kind == .home ? 1 : 2
        }
        append(at: at, outcome: outcome, debt: debt, phone: phone, kindClass: kindClass, primary: primary!)
    }

    /// Adds a payment in time order.
    public mutating func record(_ payment: PaymentEvent) { payments.append(payment) }

    /// Adds an operator clearance (dispute resolved, cease withdrawn).
    public mutating func record(_ clearance: HoldClearance) { clearances.append(clearance) }

    private mutating func append(
        at: UnixSeconds, outcome: Outcome, debt: Int, phone: Int, of debtor: Debtor, prepared: PreparedDebtor
    ) {
        var kindClass: UInt8 = 3
        if prepared.kinds && phone >= 0 {
            let kind = debtor.phones[phone].kind
            kindClass = kind == .mobile || kind == .home ? 1 : 2
        }
        append(at: at, outcome: outcome, debt: debt, phone: phone, kindClass: kindClass, primary: prepared.primary)
    }

    private mutating func append(at: UnixSeconds, outcome: Outcome, debt: Int, phone: Int, kindClass: UInt8,
                                 primary: ZoneRef)
    {
        var days = Evaluator.LocalDayCache()
        let (day, bucket) = days.locate(at, primary)
        if outcome == .promiseToPay || outcome == .callbackRequested { readsOutcomes = true }
        let event = Event(at: at, day: day, debt: Int32(debt), phone: Int32(phone), bucket: bucket,
                          outcome: Int8(truncatingIfNeeded: outcome.index), consented: false, kindClass: kindClass)
        if !isWide, let p = PackedEvent(event) {
            // Room for 8 events at once (2 reallocations to reach 32 events instead of 5).
            if packed.capacity == 0 { packed.reserveCapacity(8) }
            packed.append(p)
        } else {
            if !isWide {
                isWide = true
                wide = ContiguousArray(packed.map(\.event))
                packed = []
            }
            wide.append(event)
        }
    }
}

/// An `Event` in 16 bytes: debt and phone indices below 255 (255: unknown), the day as an `Int32`, the outcome and
/// the kind of number in one byte.
struct PackedEvent {
    var at: Int64
    var day: Int32
    var debt: UInt8
    var phone: UInt8
    var bucket: UInt8
    /// Outcome + 1 (0 = unresolved) in the low 4 bits, the kind class in bits 4–5.
    var code: UInt8

    init?(_ e: Event) {
        guard e.debt >= -1 && e.debt < 255 && e.phone >= -1 && e.phone < 255, e.bucket >= 0 && e.bucket < 168,
            e.outcome >= -1 && e.outcome < 15, e.kindClass < 4, let day = Int32(exactly: e.day)
        else { return nil }
        at = e.at
        self.day = day
        debt = e.debt < 0 ? 255 : UInt8(e.debt)
        phone = e.phone < 0 ? 255 : UInt8(e.phone)
        bucket = UInt8(e.bucket)
        code = UInt8(e.outcome + 1) | e.kindClass << 4
    }

    @inline(__always)
    var event: Event {
        Event(at: at, day: Int64(day), debt: debt == 255 ? -1 : Int32(debt), phone: phone == 255 ? -1 : Int32(phone),
              bucket: Int16(bucket), outcome: Int8(code & 15) - 1, consented: false, kindClass: code >> 4)
    }
}

/// One debt's decision in index form (`ContactPolicy.forEachDecision(for:prepared:history:now:_:)`): the fields of
/// `Decision` that scheduling reads, with the debt and the phone as indices into the debtor's arrays.
public struct CompactDecision: Sendable, Hashable {
    /// The index of the debt in `debtor.debts`.
    public var debt: Int
    /// The index of the phone to dial in `debtor.phones`; nil when no phone may be dialed.
    public var phone: Int?
    /// The earliest permitted instant (`now` when a call is permitted now); nil = never.
    public var earliest: UnixSeconds?
    /// The best instant within the horizon; nil = never.
    public var best: UnixSeconds?
    /// The end of the permitted window that contains `earliest`.
    public var windowEnds: UnixSeconds?
    /// The value of calling at `best`.
    public var score: Double
    /// Whether `earliest` is a consented callback.
    public var consentedCallback: Bool

    /// A decision with these fields (see the properties).
    public init(debt: Int, phone: Int?, earliest: UnixSeconds?, best: UnixSeconds?, windowEnds: UnixSeconds?,
                score: Double, consentedCallback: Bool)
    {
        self.debt = debt
        self.phone = phone
        self.earliest = earliest
        self.best = best
        self.windowEnds = windowEnds
        self.score = score
        self.consentedCallback = consentedCallback
    }
}

extension ContactPolicy {
    /// Resolves `debtor`'s zones, rule pack, holidays, cap and prior once, for the prepared decision path.
    public func prepare(_ debtor: Debtor) -> PreparedDebtor {
        let data = self.data
        let address = debtor.zone.flatMap { data.zones.rawZone(named: $0) }
        let phoneCount = debtor.phones.count
        let setCapacity = address != nil ? 1 + max(data.maxPrefixZones, 1)
            : data.jurisdictionZoneList(debtor.jurisdiction).count + max(data.maxPrefixZones, 1) + 1
        let zoneCapacity = phoneCount * setCapacity + (address != nil ? 1 : 1 + phoneCount * setCapacity)
        var zones: [ZoneRef] = []
        var bounds: [Int32] = [0]
        // The same sets as `Evaluator.init(data:inputs:…)` builds on every call.
        let primary: ZoneRef = withUnsafeTemporaryAllocation(of: ZoneRef.self, capacity: zoneCapacity) { buffer in
            withUnsafePointer(to: debtor) { dp in
                debtor.phones.withUnsafeBufferPointer { phones in
                    var next = buffer.baseAddress!
                    var sets: [ZoneSet] = []
                    for pi in 0..<phoneCount {
                        if phones[pi].owner == .debtor {
                            sets.append(data.candidateZones(address: address, phone: phones.baseAddress! + pi,
                                                            debtor: dp, into: next))
                            next += setCapacity
                        } else {
                            sets.append(ZoneSet(base: next))
                        }
                    }
                    let primary = address ?? data.primaryZone(debtor)
                    var dz = ZoneSet(base: next)
                    dz.add(primary)
                    if address == nil {
                        for pi in 0..<phoneCount where phones[pi].owner == .debtor {
                            let c = sets[pi]
                            for i in 0..<c.count { dz.add(c[i]) }
                        }
                    }
                    sets.append(dz)
                    for set in sets {
                        for i in 0..<set.count { zones.append(set[i]) }
                        bounds.append(Int32(zones.count))
                    }
                    return primary
                }
            }
        }
        let kind = RulePack.resolveKind(debtor.jurisdiction)
        let pack = data.packRules[Int(kind)]
        let prior = data.prior(for: debtor.segment)
        var inline: PreparedDebtor.InlineZones = (nil, nil, nil, nil, nil, nil, nil, nil)
        let zonesInline = zones.count <= PreparedDebtor.inlineZoneCapacity
        if zonesInline {
            withUnsafeMutableBytes(of: &inline) { raw in
                let slots = raw.bindMemory(to: ZoneRef?.self)
                for (k, z) in zones.enumerated() { slots[k] = z }
            }
        }
        var narrow: SIMD16<UInt8>? = nil
        if bounds.count <= 16 && bounds.allSatisfy({ $0 < 256 }) {
            var v = SIMD16<UInt8>()
            for (k, b) in bounds.enumerated() { v[k] = UInt8(b) }
            narrow = v
        }
        return PreparedDebtor(
            data: data, address: address, primary: primary, kind: kind,
            holidays: pack.closedOnHolidays ? data.holidays[String(debtor.jurisdiction.prefix(2))] : nil,
            sevenDayCap: data.capReasons[Int(kind)].cap, curve: prior.curve, curveMax: prior.max,
            idHash: data.settings.pointee.thompsonSeed == nil ? 0 : TagihCore.fnv(debtor.id),
            kinds: pack.personalPerDebtPer7Days != nil || pack.otherPerDebtPer30Days != nil,
            inlineZones: inline, wideZones: zonesInline ? [] : zones, zonesInline: zonesInline, narrowBounds: narrow ?? SIMD16<UInt8>(), wideBounds: narrow == nil ? bounds : [],
            phoneCount: phoneCount, debtCount: debtor.debts.count)
    }

    /// Calls `body` with the decision for every open debt of `debtor` at `now`, in the debtor's debt order: the same
    /// decisions as `decide(for:history:now:)` with the `DebtorHistory` that `history` was recorded from.
    /// `prepared` must come from `prepare(debtor)` of this policy.
    public func forEachDecision(
        for debtor: Debtor, prepared: PreparedDebtor, history: CompactHistory, now: UnixSeconds,
        _ body: (Decision) -> Void
    ) {
        withUnsafePointer(to: debtor) { d in
            withUnsafePointer(to: prepared) { p in
                withUnsafePointer(to: history) { h in
                    withEvaluator(d, p, h, now) { ev in
                        for i in 0..<ev.debts.count { body(ev.decision(debt: i)) }
                    }
                }
            }
        }
    }

    /// The decisions of `forEachDecision(for:prepared:history:now:_:)` in index form, without building strings (the
    /// simulator's hot path).
    public func forEachCompactDecision(
        for debtor: Debtor, prepared: PreparedDebtor, history: CompactHistory, now: UnixSeconds,
        _ body: (CompactDecision) -> Void
    ) {
        withUnsafePointer(to: debtor) { d in
            withUnsafePointer(to: prepared) { p in
                withUnsafePointer(to: history) { h in
                    forEachCompactDecision(debtor: d, prepared: p, history: h, now: now, body)
                }
            }
        }
    }

    /// `forEachCompactDecision(for:prepared:history:now:_:)` with its inputs passed by address: for callers that keep
    /// them in manually managed memory (a call with values from there copies them first). The pointees must stay
    /// valid and unchanged during the call.
    ///
    /// With `bestTime: false` only the permitted interval and the phone are computed: `best` is then the earliest
    /// time and `score` 0 (for callers that rank by other means; everything else is the same).
    public func forEachCompactDecision(
        debtor: UnsafePointer<Debtor>, prepared: UnsafePointer<PreparedDebtor>, history: UnsafePointer<CompactHistory>,
        now: UnixSeconds, bestTime: Bool = true, _ body: (CompactDecision) -> Void
    ) {
        withEvaluator(debtor, prepared, history, now) { ev in
            for i in 0..<ev.debts.count {
                let r = ev.decide(debt: i, search: bestTime)
                if r.never != nil {
                    body(CompactDecision(debt: i, phone: nil, earliest: nil, best: nil, windowEnds: nil, score: 0,
                                         consentedCallback: false))
                } else {
                    body(CompactDecision(debt: i, phone: r.phone, earliest: r.earliest, best: r.best,
                                         windowEnds: r.windowEnd, score: r.score, consentedCallback: r.consented))
                }
            }
        }
    }

    /// `score(for:prepared:history:debt:at:)` with its inputs passed by address (see
    /// `forEachCompactDecision(debtor:prepared:history:now:_:)`).
    public func score(
        debtor: UnsafePointer<Debtor>, prepared: UnsafePointer<PreparedDebtor>, history: UnsafePointer<CompactHistory>,
        debt: Int, at: UnixSeconds
    ) -> Double {
        guard debtor.pointee.status == .active, debt >= 0, debt < debtor.pointee.debts.count else { return 0 }
        if let value = quickValue(debtor: debtor, prepared: prepared, history: history, debt: debt, at: at) {
            return value
        }
        return evaluatedScore(debtor: debtor, prepared: prepared, history: history, debt: debt, at: at)
    }

    /// `score(debtor:prepared:history:debt:at:)` on a full evaluator (every event unpacked and summarized): the path
    /// for histories `quickValue` does not take, and the reference it is tested against.
    func evaluatedScore(
        debtor: UnsafePointer<Debtor>, prepared: UnsafePointer<PreparedDebtor>, history: UnsafePointer<CompactHistory>,
        debt: Int, at: UnixSeconds
    ) -> Double {
        var s = 0.0
        withEvaluator(debtor, prepared, history, at) { ev in s = ev.valueNow(debt: debt) }
        return s
    }

    /// The value of calling about debt `debt` at `now` (`Evaluator.valueNow` of an active debtor) read straight
    /// from the packed events, without building an evaluator: nil when the history holds an outcome that can stop
    /// or hold the debt or change P(kept) (`promise_to_pay`, `dispute`, `cease`, `paid`) or is in wide form; the
    /// caller then takes the full path.
    ///
    /// Without those outcomes the debt's state reduces to its balance less its payments (settled: 0), no promise is
    /// broken, and the value is this hour-of-week bucket's attempts, conversations and recent unanswered attempts,
    /// the debtor's recent unanswered attempts and the remaining balance: the same counts, combined by the same
    /// operations in the same order as `valueNow`, so the same bits.
    func quickValue(
        debtor: UnsafePointer<Debtor>, prepared: UnsafePointer<PreparedDebtor>, history: UnsafePointer<CompactHistory>,
        debt: Int, at now: UnixSeconds
    ) -> Double? {
        let data = self.data
        precondition(prepared.pointee.data === data, "a PreparedDebtor is valid only with the policy that prepared it")
        precondition(prepared.pointee.phoneCount == debtor.pointee.phones.count
                     && prepared.pointee.debtCount == debtor.pointee.debts.count,
                     "a PreparedDebtor is valid only with the debtor it was prepared from")
        if history.pointee.isWide { return nil }
        let s = data.settings
        let fatigueFrom = now - s.pointee.fatigueWindowSeconds
        // `Evaluator.bucket(now)` in the primary zone.
        let local = prepared.pointee.primary.pointee.localSeconds(at: now)
        let day = CivilTime.day(ofLocalSeconds: local)
        let b = (CivilTime.weekday(ofDay: day) - 1) * 24 + Int((local - day * 86_400) / 3600)
        // One pass: the outcomes seen (`summarize`), the recent unanswered attempts (`summarize`: unanswered, at or
        // after `fatigueFrom`, not after `now`) and this bucket's counts (`valueNow`: attempts, conversations, and
        // unanswered ones at or after `fatigueFrom`).
        var seen: UInt32 = 0
        var recentUnanswered = 0
        var att = 0, rpc = 0, recent = 0
        history.pointee.packed.withUnsafeBufferPointer { events in
            for e in events {
                // Outcome + 1 in the low 4 bits (0: an unresolved attempt, which `record` never makes).
                let code = UInt32(e.code & 15)
                seen |= code == 0 ? 1 << 31 : 1 &<< (code &- 1)
                let oc = code &- 1
                let unanswered = code != 0 && (Evaluator.unansweredMask &>> oc) & 1 != 0
                let fresh = e.at >= fatigueFrom
                recentUnanswered &+= unanswered && fresh && e.at <= now ? 1 : 0
                if Int(e.bucket) == b && code != 0 {
                    att &+= 1
                    rpc &+= Int((Evaluator.conversationMask &>> oc) & 1)
                    recent &+= unanswered && fresh ? 1 : 0
                }
            }
        }
        let holds: UInt32 = 1 << UInt32(Outcome.promiseToPay.index) | 1 << UInt32(Outcome.dispute.index)
            | 1 << UInt32(Outcome.cease.index) | 1 << UInt32(Outcome.paid.index) | 1 << 31
        if seen & holds != 0 { return nil }
        // `debtState`: the balance less the payments about the debt; settled when nothing remains.
        return debtor.pointee.debts.withUnsafeBufferPointer { debts in
            history.pointee.payments.withUnsafeBufferPointer { payments in
                let d = debts.baseAddress! + debt
                var remaining = d.pointee.balance.tenThousandths
                for i in 0..<payments.count where payments[i].debt == d.pointee.id {
                    remaining -= payments[i].amount.tenThousandths
                    if remaining <= 0 { break }  // settled; and no trap past Int64.min (see `debtState`)
                }
                if remaining <= 0 { return 0 }
                let settings = s.pointee
                // `valueNow` with no broken promise (brokenPromises 0, `broken` false).
                var k = settings.ptpGivenRPC * settings.keptProbability * settings.keptDecay(0)
                    * Double(remaining) / 10_000
                k *= settings.fatigue(recentUnanswered)
                let curve = prepared.pointee.curve
                return (Double(rpc) + settings.kappa * curve[b]) / (Double(att) + settings.kappa)
                    * pow(settings.sameBucketPenalty, Double(recent)) * k
            }
        }
    }

    /// The value of calling about debt `debt` (an index into `debtor.debts`) at `at`: the same as
    /// `score(for:history:debt:at:)` with that debt's id (whose first match it scores).
    public func score(
        for debtor: Debtor, prepared: PreparedDebtor, history: CompactHistory, debt: Int, at: UnixSeconds
    ) -> Double {
        withUnsafePointer(to: debtor) { d in
            withUnsafePointer(to: prepared) { p in
                withUnsafePointer(to: history) { h in score(debtor: d, prepared: p, history: h, debt: debt, at: at) }
            }
        }
    }

    func withEvaluator<R>(
        _ debtor: UnsafePointer<Debtor>, _ prepared: UnsafePointer<PreparedDebtor>,
        _ history: UnsafePointer<CompactHistory>, _ now: UnixSeconds, _ body: (Evaluator) -> R
    ) -> R {
        let data = self.data
        precondition(prepared.pointee.data === data, "a PreparedDebtor is valid only with the policy that prepared it")
        precondition(prepared.pointee.phoneCount == debtor.pointee.phones.count
                     && prepared.pointee.debtCount == debtor.pointee.debts.count,
                     "a PreparedDebtor is valid only with the debtor it was prepared from")
        return debtor.pointee.phones.withUnsafeBufferPointer { phones in
            debtor.pointee.debts.withUnsafeBufferPointer { debts in
                debtor.pointee.quiet.withUnsafeBufferPointer { quiet in
                    history.pointee.payments.withUnsafeBufferPointer { payments in
                        history.pointee.clearances.withUnsafeBufferPointer { clearances in
                            Self.withZones(of: prepared, data.layout) { zones in
                                prepared.pointee.wideBounds.withUnsafeBufferPointer { wide in
                                    let parts = Evaluator.PreparedParts(
                                        debtor: debtor, phones: phones, debts: debts, payments: payments,
                                        clearances: clearances, quiet: quiet, zones: zones,
                                        narrowBounds: prepared.pointee.narrowBounds, wideBounds: wide)
                                    if history.pointee.isWide {
                                        return history.pointee.wide.withUnsafeBufferPointer { stored in
                                            Self.withEvaluator(data, prepared, parts, history, stored, now, body)
                                        }
                                    }
                                    // Unpacked onto the stack, where the evaluator then reads them.
                                    return history.pointee.packed.withUnsafeBufferPointer { packed in
                                        let n = packed.count
                                        return withUnsafeTemporaryAllocation(of: Event.self, capacity: max(n, 1)) {
                                            expanded in
                                            let base = expanded.baseAddress!
                                            for k in 0..<n { (base + k).initialize(to: packed[k].event) }
                                            return Self.withEvaluator(
                                                data, prepared, parts, history, UnsafeBufferPointer(start: base, count: n),
                                                now, body)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Calls `body` with the prepared zones (see `PreparedDebtor.inlineZones`; valid during the call).
    @inline(__always)
    static func withZones<R>(
        of prepared: UnsafePointer<PreparedDebtor>, _ layout: HotLayout, _ body: (UnsafeBufferPointer<ZoneRef>) -> R
    ) -> R {
        if prepared.pointee.zonesInline {
            // An optional pointer is stored as the pointer (nil as 0): the filled slots read as `ZoneRef`s.
            let base = (UnsafeRawPointer(prepared) + layout.preparedInlineZones).assumingMemoryBound(
                to: ZoneRef.self)
            return body(UnsafeBufferPointer(start: base, count: PreparedDebtor.inlineZoneCapacity))
        }
        return prepared.pointee.wideZones.withUnsafeBufferPointer(body)
    }

    static func withEvaluator<R>(
        _ data: PolicyData, _ prepared: UnsafePointer<PreparedDebtor>, _ parts: Evaluator.PreparedParts,
        _ history: UnsafePointer<CompactHistory>, _ stored: UnsafeBufferPointer<Event>, _ now: Int64,
        _ body: (Evaluator) -> R
    ) -> R {
        let n = stored.count
        return withUnsafeTemporaryAllocation(of: Event.self, capacity: max(n, 1)) { events in
            withUnsafeTemporaryAllocation(of: ZoneSet.self, capacity: max(parts.phones.count, 1)) { sets in
                withUnsafeTemporaryAllocation(of: UInt16.self, capacity: 3 * 168) { buckets in
                    if !history.pointee.readsOutcomes {
                        // Only consented callbacks mark events (absorb): without callbacks the evaluator reads the
                        // stored events in place.
                        let events = n > 0 ? UnsafeMutableBufferPointer(mutating: stored) : events
                        let ev = Evaluator(data: data, prepared: prepared, parts: parts, now: now, events: events,
                                           eventCount: n, outcomes: UnsafeBufferPointer(start: nil, count: 0),
                                           phoneSets: sets, bucketCounts: buckets)
                        return body(ev)
                    }
                    if n > 0 { events.baseAddress!.initialize(from: stored.baseAddress!, count: n) }
                    // Promise and callback outcomes are read by event index: a buffer of outcome events with the
                    // ones that carry terms or a callback time in place and, elsewhere, outcomes without them.
                    return withUnsafeTemporaryAllocation(of: OutcomeEvent.self, capacity: n) { outcomes in
                        let base = outcomes.baseAddress!
                        var next = 0
                        let specialIndex = history.pointee.specialIndex
                        let specialEvents = history.pointee.specialEvents
                        for i in 0..<n {
                            if next < specialIndex.count && Int(specialIndex[next]) == i {
                                (base + i).initialize(to: specialEvents[next])
                                next += 1
                            } else {
                                (base + i).initialize(to: OutcomeEvent(
                                    attempt: "", debtor: "", debt: "", phone: "", at: stored[i].at, outcome: .noAnswer))
                            }
                        }
                        defer { base.deinitialize(count: n) }
                        let ev = Evaluator(data: data, prepared: prepared, parts: parts, now: now, events: events,
                                           eventCount: n, outcomes: UnsafeBufferPointer(outcomes),
                                           phoneSets: sets, bucketCounts: buckets)
                        return body(ev)
                    }
                }
            }
        }
    }
}

extension Evaluator {
    /// Pointers into one prepared call's debtor, history and prepared zones.
    struct PreparedParts {
        var debtor: UnsafePointer<Debtor>
        var phones: UnsafeBufferPointer<Phone>
        var debts: UnsafeBufferPointer<Debt>
        var payments: UnsafeBufferPointer<PaymentEvent>
        var clearances: UnsafeBufferPointer<HoldClearance>
        var quiet: UnsafeBufferPointer<QuietTime>
        var zones: UnsafeBufferPointer<ZoneRef>
        var narrowBounds: SIMD16<UInt8>
        var wideBounds: UnsafeBufferPointer<Int32>

        @inline(__always)
        func bound(_ k: Int) -> Int { wideBounds.isEmpty ? Int(narrowBounds[k]) : Int(wideBounds[k]) }
    }

    /// The evaluator of a prepared debtor: the same state as `init(data:inputs:…)` builds, from the prepared zones
    /// and the compact events (`events[0..<eventCount]`, already holding indices, days, buckets and kinds).
    init(data: PolicyData, prepared pointer: UnsafePointer<PreparedDebtor>, parts: PreparedParts, now: Int64,
         events: UnsafeMutableBufferPointer<Event>, eventCount: Int, outcomes: UnsafeBufferPointer<OutcomeEvent>,
         phoneSets: UnsafeMutableBufferPointer<ZoneSet>, bucketCounts: UnsafeMutableBufferPointer<UInt16>)
    {
        let prepared = pointer
        self.data = data
        self.debtor = parts.debtor
        let s = data.settings
        self.s = s
        self.status = parts.debtor.pointee.status
        self.phones = parts.phones
        self.debts = parts.debts
        self.outcomes = outcomes
        self.payments = parts.payments
        self.clearances = parts.clearances
        self.quiet = parts.quiet
        self.now = now
        self.events = events
        self.pack = data.packRules[Int(prepared.pointee.kind)]
        self.address = prepared.pointee.address
        // The day zones always hold the primary zone, so `zones` is never empty. The sets are only read.
        let zones = UnsafeMutablePointer(mutating: parts.zones.baseAddress!)
        let phoneCount = parts.phones.count
        for pi in 0..<phoneCount {
            var set = ZoneSet(base: zones + parts.bound(pi))
            set.count = parts.bound(pi + 1) - parts.bound(pi)
            phoneSets[pi] = set
        }
        self.phoneSets = phoneSets
        self.primary = prepared.pointee.primary
        var dz = ZoneSet(base: zones + parts.bound(phoneCount))
        dz.count = parts.bound(phoneCount + 1) - parts.bound(phoneCount)
        self.dayZones = dz
        self.holidays = prepared.pointee.holidays
        self.sevenDayCap = prepared.pointee.sevenDayCap
        self.curve = prepared.pointee.curve
        self.curveMax = prepared.pointee.curveMax
        self.idHash = prepared.pointee.idHash
        self.bucketCounts = bucketCounts
        let sum = Self.summarize(events.baseAddress!, count: eventCount, now: now,
                                 fatigueFrom: now - s.pointee.fatigueWindowSeconds, buckets: bucketCounts)
        self.eventCount = sum.count
        absorb(sum)
    }

    /// The aggregates and bucket counts of events that already hold their days, buckets and kinds: the second pass
    /// of `fillEvents` (outcomes only, no unresolved attempts).
    static func summarize(_ ev: UnsafeMutablePointer<Event>, count total: Int, now: Int64, fatigueFrom: Int64,
                          buckets: UnsafeMutableBufferPointer<UInt16>) -> EventSummary
    {
        var sum = EventSummary()
        sum.count = total
        guard total > 0, let bk = buckets.baseAddress else { return sum }
        buckets.initialize(repeating: 0)
        var lastAt = Int64.min
        var lastOutcome: Int8 = -1
        var seen: UInt32 = 0
        var recentCount = 0
        for k in 0..<total {
            let e = ev + k
            let at = e.pointee.at
            let oc = UInt32(truncatingIfNeeded: e.pointee.outcome)
            seen |= 1 &<< oc
            if at >= lastAt {
                lastAt = at
                lastOutcome = Int8(truncatingIfNeeded: oc)
            }
            let recent = (Self.unansweredMask &>> oc) & 1 != 0 && at >= fatigueFrom && at <= now
            let b = Int(e.pointee.bucket)
            bk[b] &+= 1
            bk[168 + b] &+= UInt16(truncatingIfNeeded: (Self.conversationMask &>> oc) & 1)
            bk[336 + b] &+= recent ? 1 : 0
            recentCount &+= recent ? 1 : 0
        }
        finishSummary(&sum, ev, count: total, lastAt: lastAt, lastOutcome: lastOutcome, seen: seen,
                      recentUnanswered: recentCount, now: now)
        return sum
    }
}
