#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The pure decision function: rule packs + house rules + zones + the propensity model.
///
/// `decide(for:history:now:)` is deterministic: the same inputs give the same output. A policy is an
/// immutable value and may be shared freely across actors.
public struct ContactPolicy: Sendable {
    /// The house rules and model settings.
    public var configuration: PolicyConfiguration { data.configuration }
    /// The tz database.
    public var zones: ZoneDatabase { data.zones }
    let data: PolicyData

    /// The process-wide default policy: documented defaults, the system tz database, the bundled data.
    public static let shared = ContactPolicy(configuration: PolicyConfiguration())

    /// The default policy (cached process-wide: cheap to call).
    public init() { self = Self.shared }

    /// A policy with the given house rules, tz database and phone-prefix table.
    public init(
        configuration: PolicyConfiguration, zones: ZoneDatabase = .system,
        phoneZones: PhonePrefixZones = .bundled
    ) {
        self.data = PolicyData(configuration: configuration, zones: zones, phoneZones: phoneZones)
    }

    /// Decides every open debt of `debtor` at `now`: one `Decision` per debt, in the debtor's debt order.
    public func decide(for debtor: Debtor, history: DebtorHistory, now: UnixSeconds) -> [Decision] {
        withEvaluator(debtor, history, now) { ev in
            // An array literal allocates through this module's specialization (the generic initializers look
            // the array's metadata up at run time); most debtors have one debt.
            let n = ev.debts.count
            if n == 1 { return [ev.decision(debt: 0)] }
            var out: [Decision] = []
            out.reserveCapacity(n)
            for i in 0..<n { out.append(ev.decision(debt: i)) }
            return out
        }
    }

    /// Calls `body` with the decision for every open debt of `debtor` at `now`, in the debtor's debt order: the
    /// same decisions as `decide(for:history:now:)`, without building an array (the engine's hot path).
    public func forEachDecision(
        for debtor: Debtor, history: DebtorHistory, now: UnixSeconds, _ body: (Decision) -> Void
    ) {
        withEvaluator(debtor, history, now) { ev in
            for i in 0..<ev.debts.count { body(ev.decision(debt: i)) }
        }
    }

    /// `forEachDecision(for:history:now:_:)`, then the value of calling now about one debt, on the same evaluation
    /// of the history (one instead of two): after the last decision, `pick` names the debt to value (its id, or nil
    /// for none). Returns `score(for:history:debt:at:)` for that debt at `now` (0 when nil).
    public func forEachDecision(
        for debtor: Debtor, history: DebtorHistory, now: UnixSeconds, _ body: (Decision) -> Void,
        thenValue pick: () -> String?
    ) -> Double {
        let active = debtor.status == .active  // read here: the closure below captures no copy of the debtor
        return withEvaluator(debtor, history, now) { ev in
            for i in 0..<ev.debts.count { body(ev.decision(debt: i)) }
            guard active, let debt = pick(), let i = (0..<ev.debts.count).first(where: { ev.debts[$0].id == debt })
            else { return 0 }
            return ev.valueNow(debt: i)
        }
    }

    /// The value of calling about `debt` at `at` (no discount, caps and windows not checked): the rank of a
    /// debtor that is ready now (DESIGN.md "Ranking under capacity"). 0 for a hard stop or an unknown debt.
    public func score(for debtor: Debtor, history: DebtorHistory, debt: String, at: UnixSeconds) -> Double {
        guard debtor.status == .active, let i = debtor.debts.firstIndex(where: { $0.id == debt }) else { return 0 }
        var s = 0.0
        withEvaluator(debtor, history, at) { ev in s = ev.valueNow(debt: i) }
        return s
    }

    /// The zones a call to `phone` of `debtor` must be legal in (address zone + the phone's zone; when neither
    /// is known, every zone of the jurisdiction), as IANA names.
    public func candidateZones(for debtor: Debtor, phone: Phone) -> [String] {
        withUnsafeTemporaryAllocation(of: ZoneRef.self, capacity: data.zoneSetCapacity) { buf in
            let address = debtor.zone.flatMap { zones.rawZone(named: $0) }
            let set = withUnsafePointer(to: phone) { p in
                withUnsafePointer(to: debtor) { d in
                    data.candidateZones(address: address, phone: p, debtor: d, into: buf.baseAddress!)
                }
            }
            return (0..<set.count).map { set[$0].pointee.table.name }
        }
    }

    /// The hour-of-week bucket (0 = Monday 00:00–01:00 … 167 = Sunday 23:00) of `instant` in the debtor's primary
    /// zone: `score(for:history:debt:at:)` changes only when this changes, so a ready structure can re-rank
    /// at bucket boundaries.
    public func hourOfWeek(at instant: UnixSeconds, for debtor: Debtor) -> Int {
        let local = data.primaryZone(debtor).pointee.localSeconds(at: instant)
        let day = CivilTime.day(ofLocalSeconds: local)
        return (CivilTime.weekday(ofDay: day) - 1) * 24 + Int((local - day * 86_400) / 3600)
    }

    /// The debtor's primary zone: the address zone, else the first candidate zone.
    public func primaryZone(for debtor: Debtor) -> ZoneTable {
        data.primaryZone(debtor).pointee.table
    }

    func withEvaluator<R>(_ debtor: Debtor, _ history: DebtorHistory, _ now: UnixSeconds,
                          _ body: (Evaluator) -> R) -> R
    {
        // Everything below works on pointers into the caller's values (borrowed for the call): no copies, no
        // reference counting.
        debtor.phones.withUnsafeBufferPointer { phones in
            debtor.debts.withUnsafeBufferPointer { debts in
                history.outcomes.withUnsafeBufferPointer { outcomes in
                    history.payments.withUnsafeBufferPointer { payments in
                        history.clearances.withUnsafeBufferPointer { clearances in
                            history.unresolved.withUnsafeBufferPointer { unresolved in
                                debtor.quiet.withUnsafeBufferPointer { quiet in
                                    withUnsafePointer(to: debtor) { dp in
                                        let inputs = Inputs(
                                            debtor: dp, phones: phones, debts: debts, outcomes: outcomes,
                                            payments: payments, clearances: clearances, unresolved: unresolved,
                                            quiet: quiet)
                                        return Self.withEvaluator(data, inputs, now, body)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Pointers into one call's debtor and history.
    struct Inputs {
        var debtor: UnsafePointer<Debtor>
        var phones: UnsafeBufferPointer<Phone>
        var debts: UnsafeBufferPointer<Debt>
        var outcomes: UnsafeBufferPointer<OutcomeEvent>
        var payments: UnsafeBufferPointer<PaymentEvent>
        var clearances: UnsafeBufferPointer<HoldClearance>
        var unresolved: UnsafeBufferPointer<UnresolvedAttempt>
        var quiet: UnsafeBufferPointer<QuietTime>
    }

    static func withEvaluator<R>(_ data: PolicyData, _ inputs: Inputs, _ now: UnixSeconds,
                                 _ body: (Evaluator) -> R) -> R
    {
        let dp = inputs.debtor
        // The history's outcomes are read field by field in `fillEvents` (their debt, phone, instant and outcome: a
        // few words of each 136-byte record); a debtor's records are mostly not in the cache. Ask for those lines
        // now, so that their misses overlap with the zone and rule-pack look-ups below instead of stalling the
        // pass one record after another. A hint only: no result depends on it.
        Self.prefetchOutcomeFields(inputs.outcomes, data.layout)
        let n = inputs.outcomes.count + inputs.unresolved.count
        let phoneCount = inputs.phones.count
        let address = dp.pointee.zone.flatMap { data.zones.rawZone(named: $0) }
        // Per phone: the address zone (else the jurisdiction's zones) and the phone's zones; the day zones: the
        // primary zone (else the primary zone and every phone's zones).
        let setCapacity = address != nil ? 1 + max(data.maxPrefixZones, 1)
            : data.jurisdictionZoneList(dp.pointee.jurisdiction).count + max(data.maxPrefixZones, 1) + 1
        let zoneCapacity = phoneCount * setCapacity + (address != nil ? 1 : 1 + phoneCount * setCapacity)
        return withUnsafeTemporaryAllocation(of: Event.self, capacity: max(n, 1)) { events in
            withUnsafeTemporaryAllocation(of: ZoneSet.self, capacity: max(phoneCount, 1)) { sets in
                withUnsafeTemporaryAllocation(of: ZoneRef.self, capacity: zoneCapacity) { zoneBuffer in
                    withUnsafeTemporaryAllocation(of: UInt16.self, capacity: 3 * 168) { buckets in
                        let ev = Evaluator(
                            data: data, inputs: inputs, now: now, events: events, phoneSets: sets,
                            zoneBuffer: zoneBuffer, setCapacity: setCapacity, address: address, bucketCounts: buckets)
                        return body(ev)
                    }
                }
            }
        }
    }
}

extension ContactPolicy {
    /// Prefetches the cache lines of every outcome's fields that `fillEvents` reads (at most 64 records: a longer
    /// history's later records are reached by the hardware prefetcher while the first ones are processed).
    @inline(__always)
    static func prefetchOutcomeFields(_ outcomes: UnsafeBufferPointer<OutcomeEvent>, _ layout: HotLayout) {
        guard let base = outcomes.baseAddress else { return }
        let stride = MemoryLayout<OutcomeEvent>.stride
        let first = UnsafeRawPointer(base) + layout.outcomeFieldsStart
        let last = layout.outcomeFieldsEnd - layout.outcomeFieldsStart - 1
        for k in 0..<min(outcomes.count, 64) {
            let p = first + k &* stride
            Prefetch.read(p)
            Prefetch.read(p + last)
        }
    }
}

/// A zone on the decision hot path: a pointer to its table's plain view (identity = the table's identity).
typealias ZoneRef = UnsafePointer<RawZone>

/// A list of zones owned by a `PolicyData` (immutable).
struct ZoneList {
    var base: UnsafeMutablePointer<ZoneRef>?
    var count: Int

    static var empty: ZoneList { ZoneList(base: nil, count: 0) }

    init(base: UnsafeMutablePointer<ZoneRef>?, count: Int) {
        self.base = base
        self.count = count
    }

    init(_ zones: [ZoneTable]) {
        count = zones.count
        guard count > 0 else {
            base = nil
            return
        }
        let p = UnsafeMutablePointer<ZoneRef>.allocate(capacity: count)
        for (i, z) in zones.enumerated() { (p + i).initialize(to: z.raw) }
        base = p
    }

    @inline(__always) subscript(i: Int) -> ZoneRef { base![i] }
    var first: ZoneRef? { count > 0 ? base![0] : nil }
    func free() { base?.deallocate() }
}

/// A holiday calendar's bit set (same test as `HolidayCalendar.contains`), without reference counting; a day outside
/// the calendar's years (`HolidayCalendar.coveredDays`) counts as a holiday.
struct RawHolidays {
    var base: Int64
    var bits: UnsafeMutablePointer<UInt64>?
    var count: Int
    /// The first and last day the calendar covers (an empty calendar covers every day: no holidays).
    var firstCovered: Int64
    var lastCovered: Int64

    init(_ cal: HolidayCalendar) {
        let covered = cal.coveredDays ?? Int64.min...Int64.max
        firstCovered = covered.lowerBound
        lastCovered = covered.upperBound
        base = cal.base
        count = cal.bits.count
        if count > 0 {
            let p = UnsafeMutablePointer<UInt64>.allocate(capacity: count)
            p.initialize(from: cal.bits, count: count)
            bits = p
        } else {
            bits = nil
        }
    }

    /// Whether `day` is covered by the calendar's years.
    @inline(__always)
    func covers(_ day: Int64) -> Bool { day >= firstCovered && day <= lastCovered }

    /// Whether `day` is closed: a holiday, or a day the calendar does not cover.
    @inline(__always)
    func contains(_ day: Int64) -> Bool {
        guard covers(day) else { return true }
        let off = day - base
        guard off >= 0 else { return false }
        let w = Int(off / 64)
        guard w < count else { return false }
        return bits![w] & (1 << UInt64(off % 64)) != 0
    }
}

/// The scalar house rules and model settings of a configuration (copied out once per policy).
struct PolicySettings {
    var retryDelays: UnsafeMutablePointer<Int64>
    var retryDelayCount: Int
    var maxAttemptsPerDay: Int
    var minimumGapSeconds: Int64
    var voicemailsPerDay: Int
    var busyRetriesPerPhonePerDay: Int
    var promiseGraceDays: Int
    var horizonSeconds: Int64
    var discountPerHour: Double
    var lnDiscountPerHour: Double
    var callbackWindowSeconds: Int64
    var callbackValiditySeconds: Int64
    var includeReasons: Bool
    var houseConversationBlock: Bool
    var kappa: Double
    var fatigueWindowSeconds: Int64
    var sameBucketPenalty: Double
    var ptpGivenRPC: Double
    var keptProbability: Double
    var brokenPromiseBoost: Double
    var thompsonSeed: UInt64?
    /// `keptPow[n]` = pow(keptDecayPerBroken, n), `fatiguePow[n]` = pow(fatiguePerUnanswered, n) for n < 64.
    var keptPow: UnsafeMutablePointer<Double>
    var fatiguePow: UnsafeMutablePointer<Double>
    var keptDecayPerBroken: Double
    var fatiguePerUnanswered: Double

    static let powTableSize = 64

    init(_ c: PolicyConfiguration) {
        retryDelayCount = c.retryDelaySeconds.count
        retryDelays = .allocate(capacity: max(retryDelayCount, 1))
        retryDelays.initialize(from: c.retryDelaySeconds, count: retryDelayCount)
        maxAttemptsPerDay = c.maxAttemptsPerDay
        minimumGapSeconds = c.minimumGapSeconds
        voicemailsPerDay = c.voicemailsPerDay
        houseConversationBlock = c.houseConversationBlock
        busyRetriesPerPhonePerDay = c.busyRetriesPerPhonePerDay
        promiseGraceDays = c.promiseGraceDays
        horizonSeconds = c.horizonSeconds
        discountPerHour = c.discountPerHour
        lnDiscountPerHour = log(c.discountPerHour)
        callbackWindowSeconds = c.callbackWindowSeconds
        callbackValiditySeconds = c.callbackValiditySeconds
        includeReasons = c.includeReasons
        let p = c.propensity
        kappa = p.kappa
        fatigueWindowSeconds = p.fatigueWindowSeconds
        sameBucketPenalty = p.sameBucketPenalty
        ptpGivenRPC = p.ptpGivenRPC
        keptProbability = p.keptProbability
        brokenPromiseBoost = p.brokenPromiseBoost
        thompsonSeed = p.thompsonSeed
        keptDecayPerBroken = p.keptDecayPerBroken
        fatiguePerUnanswered = p.fatiguePerUnanswered
        keptPow = .allocate(capacity: Self.powTableSize)
        fatiguePow = .allocate(capacity: Self.powTableSize)
        for n in 0..<Self.powTableSize {
            (keptPow + n).initialize(to: pow(p.keptDecayPerBroken, Double(n)))
            (fatiguePow + n).initialize(to: pow(p.fatiguePerUnanswered, Double(n)))
        }
    }

    @inline(__always)
    func retryDelay(_ outcome: Int) -> Int64 {
        precondition(outcome >= 0 && outcome < retryDelayCount, "retryDelaySeconds needs one entry per outcome")
        return retryDelays[outcome]
    }

    /// pow(keptDecayPerBroken, n), bit-identical to calling `pow`.
    @inline(__always)
    func keptDecay(_ n: Int) -> Double { n < Self.powTableSize ? keptPow[n] : pow(keptDecayPerBroken, Double(n)) }

    /// pow(fatiguePerUnanswered, n), bit-identical to calling `pow`.
    @inline(__always)
    func fatigue(_ n: Int) -> Double { n < Self.powTableSize ? fatiguePow[n] : pow(fatiguePerUnanswered, Double(n)) }

    func free() {
        retryDelays.deallocate()
        keptPow.deallocate()
        fatiguePow.deallocate()
    }
}

/// Precomputed, immutable lookup data of a policy (zones per jurisdiction, phone prefixes, holidays, the
/// configuration's scalars), kept as plain pointers so that a decision does no reference counting.
final class PolicyData: @unchecked Sendable {
    let configuration: PolicyConfiguration
    let zones: ZoneDatabase
    let jurisdictionZones: [String: ZoneList]
    let prefixZones: [String: ZoneList]
    let maxPrefix: Int
    /// `prefixZones` keyed by the prefix's digits as a number and its length (`value * 32 + length`), when
    /// every prefix is at most 17 decimal digits (else nil and the string table is used).
    let prefixZonesByDigits: DigitPrefixTable?
    /// The longest jurisdiction and prefix zone lists (bounds for per-call zone buffers).
    let maxJurisdictionZones: Int
    let maxPrefixZones: Int
    let holidays: [String: RawHolidays]
    let utc: ZoneTable
    /// Segment prior curves with their maxima (a short list: a linear scan beats hashing).
    let curves: [(name: String, curve: UnsafeMutablePointer<Double>, max: Double)]
    let defaultCurve: (curve: UnsafeMutablePointer<Double>, max: Double)
    let settingsStorage: UnsafeMutablePointer<PolicySettings>
    var settings: UnsafePointer<PolicySettings> { UnsafePointer(settingsStorage) }
    /// Per pack kind: its 7-day cap per debt under this configuration (the pack's and the house cap, whichever is
    /// lower; the one every decision applies) and the "cap usage u/cap …" reasons for u < 32.
    let capReasons: [(cap: Int?, reasons: [String])]
    /// Per pack kind: "pack CODE".
    let packReasons: [String]
    /// Field offsets read on every decision.
    let layout = HotLayout()
    /// `PackRules.all` (a static constant is checked with `swift_once` on every read).
    let packRules = PackRules.all

    /// `curves` as a plain pointer (read on every decision).
    let curveTable: UnsafeMutablePointer<(name: String, curve: UnsafeMutablePointer<Double>, max: Double)>
    /// The representation (two words) of each curve's name in `curveTable`: equal words, equal names.
    let curveWords: UnsafeMutablePointer<(UInt64, UInt64)>

    /// The prior curve of `segment` and its maximum.
    func prior(for segment: String?) -> (curve: UnsafeMutablePointer<Double>, max: Double) {
        guard let segment else { return defaultCurve }
        // Identical representations first (the common case: the same small string), then string equality.
        let words = withUnsafePointer(to: segment) { Evaluator.words(of: $0) }
        for i in 0..<curves.count where curveWords[i] == words { return (curveTable[i].curve, curveTable[i].max) }
        for i in 0..<curves.count where curveTable[i].name == segment {
            return (curveTable[i].curve, curveTable[i].max)
        }
        return defaultCurve
    }

    static func curve(_ values: [Double]) -> UnsafeMutablePointer<Double> {
        precondition(values.count >= 168, "a propensity curve needs 168 hour-of-week values")
        let p = UnsafeMutablePointer<Double>.allocate(capacity: values.count)
        p.initialize(from: values, count: values.count)
        return p
    }

    init(configuration: PolicyConfiguration, zones: ZoneDatabase, phoneZones: PhonePrefixZones) {
        self.configuration = configuration
        self.zones = zones
        curves = configuration.propensity.segmentCurves.sorted { $0.key < $1.key }.map {
            (name: $0.key, curve: Self.curve($0.value), max: $0.value.max() ?? 1)
        }
        defaultCurve = (Self.curve(configuration.propensity.defaultCurve),
                        configuration.propensity.defaultCurve.max() ?? 1)
        utc = zones.zone(named: "UTC") ?? ZoneTable(fixedName: "UTC", offsetSeconds: 0)
        var jz: [String: ZoneList] = [:]
        var codes = Set(zones.countryZones.keys)
        codes.insert("US")
        for s in JurisdictionZones.usStates.keys { codes.insert("US-" + s) }
        codes.insert("US-NY-NYC")
        var maxJ = 0
        for code in codes {
            let list = Self.dedupe(JurisdictionZones.names(for: code, in: zones).compactMap { zones.zone(named: $0) })
            jz[code] = ZoneList(list)
            maxJ = max(maxJ, list.count)
        }
        jurisdictionZones = jz
        maxJurisdictionZones = maxJ
        var pz: [String: ZoneList] = [:]
        var maxP = 0
        for (p, names) in phoneZones.table {
            let list = names.compactMap { zones.zone(named: $0) }
            pz[p] = ZoneList(list)
            maxP = max(maxP, list.count)
        }
        prefixZones = pz
        maxPrefixZones = maxP
        maxPrefix = phoneZones.maxLength
        if maxPrefix <= 17, pz.keys.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }) {
            var byDigits: [UInt64: ZoneList] = [:]
            for (p, list) in pz { byDigits[UInt64(p)! &* 32 &+ UInt64(p.utf8.count)] = list }
            prefixZonesByDigits = DigitPrefixTable(byDigits)
        } else {
            prefixZonesByDigits = nil
        }
        var h: [String: HolidayCalendar] = ["ID": .bundled(country: "ID",
                                                             includeCollectiveLeave: configuration.blockCollectiveLeave)]
        for (k, v) in configuration.holidayOverrides { h[k] = v }
        holidays = h.mapValues { RawHolidays($0) }
        settingsStorage = .allocate(capacity: 1)
        settingsStorage.initialize(to: PolicySettings(configuration))
        // Each pack's 7-day cap under this configuration, and its reasons rendered once per policy instead of
        // once per decision.
        var capTables: [(cap: Int?, reasons: [String])] = []
        var packTexts: [String] = []
        for k in 0..<8 {
            let rules = PackRules.all[k]
            let code = rules.code
            packTexts.append("pack \(code)")
            let cap: Int? =
                switch (rules.countedPerDebtPer7Days, configuration.houseCountedPerDebtPer7Days) {
                case (let a?, let b?): min(a, b)
                case (let a?, nil): a
                case (nil, let b?): b
                default: nil
                }
            capTables.append((cap, cap.map { c in (0..<32).map { "cap usage \($0)/\(c) in 7 days (pack \(code))" } } ?? []))
        }
        capReasons = capTables
        packReasons = packTexts
        curveTable = .allocate(capacity: max(curves.count, 1))
        curveTable.initialize(from: curves, count: curves.count)
        curveWords = .allocate(capacity: max(curves.count, 1))
        for i in 0..<curves.count {
            (curveWords + i).initialize(to: withUnsafePointer(to: curveTable[i].name) { Evaluator.words(of: $0) })
        }
    }

    deinit {
        for (_, l) in jurisdictionZones { l.free() }
        for (_, l) in prefixZones { l.free() }
        prefixZonesByDigits?.free()
        for (_, h) in holidays { h.bits?.deallocate() }
        for c in curves { c.curve.deallocate() }
        defaultCurve.curve.deallocate()
        settingsStorage.pointee.free()
        settingsStorage.deinitialize(count: 1)
        settingsStorage.deallocate()
        curveTable.deinitialize(count: curves.count)
        curveTable.deallocate()
        curveWords.deallocate()
    }

    /// Drops zones that behave identically from 2020 on (e.g. the Indiana zones), keeping the first.
    static func dedupe(_ list: [ZoneTable]) -> [ZoneTable] {
        let from: Int64 = 1_577_836_800
        var seen = Set<[Int64]>()
        var out: [ZoneTable] = []
        for z in list {
            var sig: [Int64] = [Int64(z.offset(at: from))]
            for (i, t) in z.transitions.enumerated() where t > from {
                sig.append(t)
                sig.append(Int64(z.offsets[i + 1]))
            }
            if seen.insert(sig).inserted { out.append(z) }
        }
        return out
    }

    func jurisdictionZoneList(_ code: String) -> ZoneList {
        if let z = jurisdictionZones[code] { return z }
        if code.utf8.count > 2, let z = jurisdictionZones[String(code.prefix(2))] { return z }
        return .empty
    }

    func phoneZoneList(_ number: String) -> ZoneList {
        if let byDigits = prefixZonesByDigits {
            // The longest prefix of the leading digits (after an optional `+`) that has zones: no strings made.
            var number = number
            return number.withUTF8 { utf8 in
                var i = utf8.first == UInt8(ascii: "+") ? 1 : 0
                var value: UInt64 = 0
                var length = 0
                while i < utf8.count && length < maxPrefix {
                    let b = utf8[i]
                    guard b >= 0x30 && b <= 0x39 else { break }
                    value = value &* 10 &+ UInt64(b &- 0x30)
                    length += 1
                    i += 1
                }
                while length >= 1 {
                    if let z = byDigits[value &* 32 &+ UInt64(length)] { return z }
                    value /= 10
                    length -= 1
                }
                return .empty
            }
        }
        var digits = Substring(number)
        if digits.hasPrefix("+") { digits = digits.dropFirst() }
        var n = min(maxPrefix, digits.count)
        while n >= 1 {
            if let z = prefixZones[String(digits.prefix(n))] { return z }
            n -= 1
        }
        return .empty
    }

    /// The capacity a zone set of one phone needs: the jurisdiction's zones, the address zone, the phone's zones.
    var zoneSetCapacity: Int { maxJurisdictionZones + max(maxPrefixZones, 1) + 1 }

    /// The candidate zones of `phone` into `buffer` (capacity `zoneSetCapacity`).
    /// (The phone and the debtor are passed by pointer: no copies of their strings.)
    func candidateZones(address: ZoneRef?, phone: UnsafePointer<Phone>, debtor: UnsafePointer<Debtor>,
                        into buffer: UnsafeMutablePointer<ZoneRef>) -> ZoneSet
    {
        var set = ZoneSet(base: buffer)
        if let a = address {
            set.add(a)
        } else {
            // An unknown address may be in any zone of the jurisdiction (DESIGN.md: "unknown means every
            // zone of the jurisdiction"); the stricter reading wins, so those zones join the phone's.
            set.append(jurisdictionZoneList(debtor.pointee.jurisdiction))
        }
        if let pz = phone.pointee.zone, let z = zones.rawZone(named: pz) {
            set.add(z)
        } else {
            let list = phoneZoneList(phone.pointee.number)
            for i in 0..<list.count { set.add(list[i]) }
        }
        if set.count == 0 {
            // Empty when nothing is known at all: the decision is then "never" (conservative).
            set.append(jurisdictionZoneList(debtor.pointee.jurisdiction))
        }
        return set
    }

    func primaryZone(_ debtor: Debtor) -> ZoneRef {
        if let a = debtor.zone, let z = zones.rawZone(named: a) { return z }
        for p in debtor.phones where p.owner == .debtor {
            if let pz = p.zone, let z = zones.rawZone(named: pz) { return z }
            if let z = phoneZoneList(p.number).first { return z }
        }
        return jurisdictionZoneList(debtor.jurisdiction).first ?? utc.raw
    }
}

/// The phone-prefix zone lists keyed by `digits * 32 + length` in an open-addressing table with a multiplicative
/// hash (immutable after init; no reference counting): the same look-ups as a `Dictionary` of those keys, without
/// hashing each probe with SipHash (a number's prefixes are tried longest first, so a look-up is several probes).
struct DigitPrefixTable {
    /// Keys (`UInt64.max`: empty) and their lists, `mask + 1` slots each.
    let keys: UnsafeMutablePointer<UInt64>
    let lists: UnsafeMutablePointer<ZoneList>
    let mask: Int
    let shift: UInt64

    init(_ table: [UInt64: ZoneList]) {
        var size = 16
        var bits: UInt64 = 4
        while size < table.count * 2 {
            size <<= 1
            bits += 1
        }
        mask = size - 1
        shift = 64 - bits
        keys = .allocate(capacity: size)
        keys.initialize(repeating: UInt64.max, count: size)
        lists = .allocate(capacity: size)
        lists.initialize(repeating: .empty, count: size)
        for (key, list) in table {
            precondition(key != UInt64.max, "a prefix key is a number of at most 17 digits times 32 plus its length")
            var i = slot(key)
            while keys[i] != UInt64.max { i = (i + 1) & mask }
            keys[i] = key
            lists[i] = list
        }
    }

    @inline(__always)
    func slot(_ key: UInt64) -> Int { Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    /// The list stored under `key`, nil when none.
    @inline(__always)
    subscript(key: UInt64) -> ZoneList? {
        var i = slot(key)
        while true {
            let k = keys[i]
            if k == key { return lists[i] }
            if k == UInt64.max { return nil }
            i = (i + 1) & mask
        }
    }

    /// Frees the table (the lists themselves belong to `PolicyData.prefixZones`).
    func free() {
        keys.deallocate()
        lists.deallocate()
    }
}

/// Field offsets read on every decision (kept in `PolicyData`: a static constant is checked with `swift_once` on
/// every read).
struct HotLayout {
    let outcomeDebt = MemoryLayout<OutcomeEvent>.offset(of: \OutcomeEvent.debt)!
    let outcomePhone = MemoryLayout<OutcomeEvent>.offset(of: \OutcomeEvent.phone)!
    let debtID = MemoryLayout<Debt>.offset(of: \Debt.id)!
    let phoneNumber = MemoryLayout<Phone>.offset(of: \Phone.number)!
    /// The bytes of an `OutcomeEvent` that `Evaluator.fillEvents` reads: its debt, phone, instant and outcome.
    let outcomeFieldsStart: Int
    let outcomeFieldsEnd: Int
    /// Where `PreparedDebtor.inlineZones` lies in its struct.
    let preparedInlineZones = MemoryLayout<PreparedDebtor>.offset(of: \PreparedDebtor.inlineZones)!
    let decision = Decision.Layout()

    init() {
        let at = MemoryLayout<OutcomeEvent>.offset(of: \OutcomeEvent.at)!
        let outcome = MemoryLayout<OutcomeEvent>.offset(of: \OutcomeEvent.outcome)!
        let string = MemoryLayout<String>.size
        outcomeFieldsStart = min(outcomeDebt, outcomePhone, at, outcome)
        outcomeFieldsEnd = max(outcomeDebt + string, outcomePhone + string, at + 8, outcome + 1)
    }
}

/// An ordered set of zones in a caller-provided buffer (no allocation, no reference counting).
struct ZoneSet {
    var base: UnsafeMutablePointer<ZoneRef>
    var count = 0

    init(base: UnsafeMutablePointer<ZoneRef>) { self.base = base }

    @inline(__always) subscript(i: Int) -> ZoneRef { base[i] }

    @inline(__always)
    mutating func add(_ z: ZoneRef) {
        for i in 0..<count where base[i] == z { return }
        base[count] = z
        count += 1
    }

    /// Appends a whole list without de-duplication (only into an empty set, as the list is de-duplicated).
    mutating func append(_ list: ZoneList) {
        for i in 0..<list.count { base[count + i] = list[i] }
        count += list.count
    }
}

/// One past attempt, preprocessed (day in the primary zone, indices instead of strings). 32 bytes, so that a
/// typical history fits the per-call stack buffer.
struct Event {
    var at: Int64
    var day: Int64
    var debt: Int32  // index into debtor.debts, -1 = unknown debt
    var phone: Int32  // index into debtor.phones, -1 = unknown number
    var bucket: Int16
    var outcome: Int8  // Outcome.index, -1 = unresolved (expired lease)
    var consented: Bool
    /// Bit 1: dialed a personal number (mobile, home); bit 2: another number; both when unknown.
    var kindClass: UInt8 = 3

    var isCounted: Bool { outcome != 0 && outcome != 1 }
    /// busy, no_answer, voicemail, abandoned, or an expired lease.
    var isUnanswered: Bool { outcome == -1 || outcome == 0 || outcome == 2 || outcome == 3 || outcome == 4 }
    var isConversation: Bool {
        switch outcome {
        case 5, 8, 9, 10, 11, 12, 13: return true
        default: return false
        }
    }
}

/// What held the start of a permitted interval: the rule that bound it (see ``Binding``), until when that rule held
/// (`until`), and the window that then moved the start further (`window`, nil when the rule ended inside the
/// window): "retry delay until 22:00, then the window opens at 08:00".
struct Hold: Equatable {
    var rule: Binding
    var until: Int64 = 0
    var window: ZoneRef? = nil
}

/// What bound the earliest time.
enum Binding: Equatable {
    case none
    case retryDelay(Int8)
    case minimumGap
    case abandonedHold
    case conversationBlock
    /// The conversation block as a house rule, where the law has none (`houseConversationBlock`).
    case houseConversationBlock
    case promiseHold
    case capDebt7(Int)
    case capPersonal7
    case capOther30
    case capDebtor7
    case capAttempts7
    case dailyMax
    case voicemailDay
    case busyRetries
    case window(ZoneRef)
}

/// The per-call working state of one decision: plain values and pointers into the caller's inputs and the
/// policy's tables (no reference counting); valid only inside `ContactPolicy.withEvaluator`.
struct Evaluator {
    unowned(unsafe) let data: PolicyData
    let debtor: UnsafePointer<Debtor>
    let s: UnsafePointer<PolicySettings>
    let status: DebtorStatus
    let phones: UnsafeBufferPointer<Phone>
    let debts: UnsafeBufferPointer<Debt>
    let outcomes: UnsafeBufferPointer<OutcomeEvent>
    let payments: UnsafeBufferPointer<PaymentEvent>
    let clearances: UnsafeBufferPointer<HoldClearance>
    let quiet: UnsafeBufferPointer<QuietTime>
    let now: Int64
    let events: UnsafeMutableBufferPointer<Event>
    let eventCount: Int
    let pack: PackRules
    let primary: ZoneRef
    /// The zones whose local calendar days the day-based rules are counted in: the address zone; without one,
    /// every zone of the debtor's phones (the stricter reading wins). `dayZones[0]` is `primary`.
    let dayZones: ZoneSet
    /// The candidate zones of each debtor-owned phone (others: empty).
    let phoneSets: UnsafeMutableBufferPointer<ZoneSet>
    let address: ZoneRef?
    let holidays: RawHolidays?
    let sevenDayCap: Int?
    let curve: UnsafeMutablePointer<Double>
    let curveMax: Double
    let idHash: UInt64
    var debtorNotBefore: Int64 = Int64.min
    var debtorBinding: Binding = .none
    /// The end of a legal no-redial hold after an abandoned call (GB: 72 h); a consented callback does not lift it.
    var abandonedHoldEnds: Int64 = Int64.min
    var ceased = false
    var brokenPromises = 0
    var recentUnanswered = 0
    /// Whether no event lies after `now` (then caps and holds only loosen as time passes).
    var capsMonotone = true
    /// Whether any resolved attempt was a conversation (some bucket has an RPC).
    var anyRPC = false
    /// Phones (index < 64) dialed with outcome `not_in_service` or `wrong_number`.
    var deadPhones: UInt64 = 0
    /// Whether a phone at index ≥ 64 is dead (then `phoneDialable` looks at the events).
    var deadBeyondMask = false
    /// Bit `o` set when outcome `o` occurs in the history (bit 15: an unresolved attempt).
    var seen: UInt32 = 0
    /// Per-bucket attempts, RPCs and recent unanswered counts (`eventCount > 0` only).
    let bucketCounts: UnsafeMutableBufferPointer<UInt16>

    init(data: PolicyData, inputs: ContactPolicy.Inputs, now: Int64, events: UnsafeMutableBufferPointer<Event>,
         phoneSets: UnsafeMutableBufferPointer<ZoneSet>, zoneBuffer: UnsafeMutableBufferPointer<ZoneRef>,
         setCapacity: Int, address: ZoneRef?, bucketCounts: UnsafeMutableBufferPointer<UInt16>)
    {
        let dp = inputs.debtor
        let phones = inputs.phones, debts = inputs.debts, outcomes = inputs.outcomes
        let payments = inputs.payments, clearances = inputs.clearances, quiet = inputs.quiet
        self.data = data
        self.debtor = dp
        let s = data.settings
        self.s = s
        self.status = dp.pointee.status
        self.phones = phones
        self.debts = debts
        self.outcomes = outcomes
        self.payments = payments
        self.clearances = clearances
        self.quiet = quiet
        self.now = now
        self.events = events
        let kind = RulePack.resolveKind(dp.pointee.jurisdiction)
        let pack = data.packRules[Int(kind)]
        self.pack = pack
        self.address = address
        // Candidate zones of every debtor-owned phone (the ones that may be dialed, and the day zones).
        var next = zoneBuffer.baseAddress!
        for pi in 0..<phones.count {
            if phones[pi].owner == .debtor {
                phoneSets[pi] = data.candidateZones(address: address, phone: phones.baseAddress! + pi, debtor: dp,
                                                    into: next)
                next += setCapacity
            } else {
                phoneSets[pi] = ZoneSet(base: next)
            }
        }
        self.phoneSets = phoneSets
        let primary = address ?? data.primaryZone(dp.pointee)
        self.primary = primary
        var dz = ZoneSet(base: next)
        dz.add(primary)
        if address == nil {
            for pi in 0..<phones.count where phones[pi].owner == .debtor {
                let c = phoneSets[pi]
                for i in 0..<c.count { dz.add(c[i]) }
            }
        }
        self.dayZones = dz
        if pack.closedOnHolidays {
            holidays = data.holidays[String(dp.pointee.jurisdiction.prefix(2))]
        } else {
            holidays = nil
        }
        sevenDayCap = data.capReasons[Int(kind)].cap
        let prior = data.prior(for: dp.pointee.segment)
        curve = prior.curve
        curveMax = prior.max
        idHash = s.pointee.thompsonSeed == nil ? 0 : TagihCore.fnv(dp.pointee.id)
        // Preprocess the history into events (one pass: indices, local days and buckets, the aggregates).
        let fatigueFrom = now - s.pointee.fatigueWindowSeconds
        self.bucketCounts = bucketCounts
        let kinds = pack.personalPerDebtPer7Days != nil || pack.otherPerDebtPer30Days != nil
        let sum = Self.fillEvents(events, outcomes: outcomes, unresolved: inputs.unresolved, debts: debts, phones: phones,
                                  primary: primary, now: now, fatigueFrom: fatigueFrom, kinds: kinds,
                                  buckets: bucketCounts, layout: data.layout)
        eventCount = sum.count
        absorb(sum)
    }

    /// The history-derived state of an evaluator (holds, retry, callbacks, broken promises) from the summary of its
    /// events; shared by `init(data:inputs:…)` and the prepared path (`PreparedDebtor`).
    mutating func absorb(_ sum: EventSummary) {
        let k = sum.count
        let lastAt = sum.lastAt
        let lastOutcome = sum.lastOutcome
        let lastAbandoned = sum.lastAbandoned
        recentUnanswered = sum.recentUnanswered
        capsMonotone = sum.capsMonotone
        anyRPC = sum.anyRPC
        deadPhones = sum.deadPhones
        deadBeyondMask = sum.deadBeyondMask
        seen = sum.seen
        let callbackValidity = s.pointee.callbackValiditySeconds
        let callbackWindow = s.pointee.callbackWindowSeconds
        if sum.seen & (1 << UInt32(Outcome.cease.index)) != 0 {
            for i in 0..<k where events[i].outcome == Int8(Outcome.cease.index) {
                let at = events[i].at
                ceased = !clearances.contains { $0.kind == .cease && $0.at > at } || ceased
            }
        }
        if sum.seen & (1 << UInt32(Outcome.callbackRequested.index)) != 0 {
            for i in 0..<k {
                let e = events[i]
                // Consented callbacks: the first attempt on the debt inside [callbackAt, callbackAt + window].
                if e.outcome == Int8(Outcome.callbackRequested.index), i < outcomes.count,
                    let cb = outcomes[i].callbackAt, cb >= e.at, cb - e.at <= callbackValidity,
                    !Self.conversationBetween(events, count: k, debt: e.debt, after: e.at, before: cb)
                {
                    var first = -1
                    for j in 0..<k where events[j].debt == e.debt && events[j].at >= cb
                        && events[j].at <= cb + callbackWindow
                    {
                        if first < 0 || events[j].at < events[first].at { first = j }
                    }
                    if first >= 0 { events[first].consented = true }
                }
            }
        }
        if lastAt != Int64.min {
            let retry = lastOutcome >= 0 ? s.pointee.retryDelay(Int(lastOutcome)) : s.pointee.retryDelay(Outcome.noAnswer.index)
            if lastAt + retry > debtorNotBefore {
                debtorNotBefore = lastAt + retry
                debtorBinding = .retryDelay(lastOutcome)
            }
            if lastAt + s.pointee.minimumGapSeconds > debtorNotBefore {
                debtorNotBefore = lastAt + s.pointee.minimumGapSeconds
                debtorBinding = .minimumGap
            }
        }
        if pack.abandonedHoldSeconds > 0, lastAbandoned != Int64.min {
            abandonedHoldEnds = lastAbandoned + pack.abandonedHoldSeconds
        }
        if pack.abandonedHoldSeconds > 0, lastAbandoned != Int64.min,
            lastAbandoned + pack.abandonedHoldSeconds > debtorNotBefore
        {
            debtorNotBefore = lastAbandoned + pack.abandonedHoldSeconds
            debtorBinding = .abandonedHold
        }
        // Broken promises of the debtor (for P(kept)).
        if sum.seen & (1 << UInt32(Outcome.promiseToPay.index)) != 0 {
            for i in 0..<k where events[i].outcome == Int8(Outcome.promiseToPay.index) {
                let o = outcomes[i]
                if let p = o.promise, let due = CivilTime.parseDate(p.due) {
                    let holdEnd = startOfDay(due + Int64(s.pointee.promiseGraceDays) + 1)
                    if now >= holdEnd && !promiseKept(o, p) { brokenPromises += 1 }
                }
            }
        }
    }

    /// Equal strings: identical representations (the common case: the same storage or the same small
    /// string), else the full comparison.
    @inline(__always)
    static func same(_ a: UnsafePointer<String>, _ b: UnsafePointer<String>) -> Bool {
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        if ra.load(as: UInt64.self) == rb.load(as: UInt64.self)
            && ra.load(fromByteOffset: 8, as: UInt64.self) == rb.load(fromByteOffset: 8, as: UInt64.self)
        {
            return true
        }
        return a.pointee == b.pointee
    }


    /// The index of the debt whose id is the string at `id`, -1 when none.
    @inline(__always)
    static func debtIndex(_ id: UnsafePointer<String>, _ debts: UnsafeBufferPointer<Debt>, _ offset: Int) -> Int32 {
        guard let base = debts.baseAddress else { return -1 }
        for i in 0..<debts.count {
            let p = (UnsafeRawPointer(base + i) + offset).assumingMemoryBound(to: String.self)
            if same(id, p) { return Int32(i) }
        }
        return -1
    }

    /// The index of the phone whose number is the string at `number`, -1 when none.
    @inline(__always)
    static func phoneIndex(_ number: UnsafePointer<String>, _ phones: UnsafeBufferPointer<Phone>, _ offset: Int)
        -> Int32
    {
        guard let base = phones.baseAddress else { return -1 }
        for i in 0..<phones.count {
            let p = (UnsafeRawPointer(base + i) + offset).assumingMemoryBound(to: String.self)
            if same(number, p) { return Int32(i) }
        }
        return -1
    }

    /// Fills `events` from the outcomes and the unresolved attempts (in that order): indices instead of
    /// strings (first pass), then the local day and hour-of-week bucket in the primary zone, the kind of number
    /// dialed (only when `kinds`: the pack counts personal and other numbers apart), the aggregates
    /// (`EventSummary`) and the per-bucket counts (second pass). Aggregates that only rare outcomes need (dead
    /// phones, the last abandoned call) are gathered afterwards, only when such an outcome occurs.
    static func fillEvents(_ events: UnsafeMutableBufferPointer<Event>, outcomes: UnsafeBufferPointer<OutcomeEvent>,
                           unresolved: UnsafeBufferPointer<UnresolvedAttempt>, debts: UnsafeBufferPointer<Debt>,
                           phones: UnsafeBufferPointer<Phone>, primary: ZoneRef, now: Int64, fatigueFrom: Int64,
                           kinds: Bool, buckets: UnsafeMutableBufferPointer<UInt16>, layout: HotLayout)
        -> EventSummary
    {
        let outcomeCount = outcomes.count
        let total = outcomeCount + unresolved.count
        var sum = EventSummary()
        sum.count = total
        guard total > 0, let ev = events.baseAddress, let bk = buckets.baseAddress else { return sum }
        buckets.initialize(repeating: 0)
        var days = LocalDayCache()
        let zone = primary
        var lastAt = Int64.min
        var lastOutcome: Int8 = -1
        var seen: UInt32 = 0
        var recentCount = 0
        // The common debtor has one debt and one phone: their ids' representations, compared first.
        let debtOffset = layout.debtID, phoneOffset = layout.phoneNumber
        let od = layout.outcomeDebt, op = layout.outcomePhone
        let debtWords = debts.isEmpty ? (0, 0) : Self.words(UnsafeRawPointer(debts.baseAddress!) + debtOffset)
        let phoneWords = phones.isEmpty ? (0, 0) : Self.words(UnsafeRawPointer(phones.baseAddress!) + phoneOffset)
        let hasDebt = !debts.isEmpty, hasPhone = !phones.isEmpty
        if let ob = outcomes.baseAddress {
            // Pass 1: the debt and phone indices (few live values, so that the loop stays in registers).
            for k in 0..<outcomeCount {
                let o = UnsafeRawPointer(ob + k)
                let debt: Int32 = hasDebt && Self.words(o + od) == debtWords ? 0
                    : debtIndex((o + od).assumingMemoryBound(to: String.self), debts, debtOffset)
                let phone: Int32 = hasPhone && Self.words(o + op) == phoneWords ? 0
                    : phoneIndex((o + op).assumingMemoryBound(to: String.self), phones, phoneOffset)
                (ev + k).initialize(to: Event(at: ob[k].at, day: 0, debt: debt, phone: phone, bucket: 0,
                                              outcome: Int8(truncatingIfNeeded: ob[k].outcome.index),
                                              consented: false, kindClass: 3))
            }
            // Pass 2: local day and bucket, the aggregates and the bucket counts.
            for k in 0..<outcomeCount {
                let e = ev + k
                let at = e.pointee.at
                let oc = UInt32(truncatingIfNeeded: e.pointee.outcome)
                let (day, bucket) = days.locate(at, zone)
                e.pointee.day = day
                e.pointee.bucket = bucket
                if kinds { e.pointee.kindClass = Self.kindClass(e.pointee.phone, phones) }
                seen |= 1 &<< oc
                if at >= lastAt {
                    lastAt = at
                    lastOutcome = Int8(truncatingIfNeeded: oc)
                }
                // busy, no_answer, voicemail, abandoned: unanswered; a recent one feeds fatigue.
                let recent = (Self.unansweredMask &>> oc) & 1 != 0 && at >= fatigueFrom && at <= now
                let b = Int(bucket)
                bk[b] &+= 1
                bk[168 + b] &+= UInt16(truncatingIfNeeded: (Self.conversationMask &>> oc) & 1)
                bk[336 + b] &+= recent ? 1 : 0
                recentCount &+= recent ? 1 : 0
            }
        }
        for ui in 0..<unresolved.count {
            let k = outcomeCount + ui
            let at = unresolved[ui].at
            let debt = Self.index(of: unresolved[ui].debt, in: debts)
            let phone = Self.phoneIndex(unresolved[ui].phone, phones)
            let (day, bucket) = days.locate(at, zone)
            let kindClass: UInt8 = kinds ? Self.kindClass(phone, phones) : 3
            (ev + k).initialize(to: Event(at: at, day: day, debt: debt, phone: phone, bucket: bucket, outcome: -1,
                                          consented: false, kindClass: kindClass))
            seen |= 1 << 15
            if at >= lastAt {
                lastAt = at
                lastOutcome = -1
            }
            // An expired lease counts as unanswered (fatigue), in no bucket.
            if at >= fatigueFrom && at <= now { recentCount += 1 }
        }
        finishSummary(&sum, ev, count: total, lastAt: lastAt, lastOutcome: lastOutcome, seen: seen,
                      recentUnanswered: recentCount, now: now)
        return sum
    }

    /// Outcome bits (by `Outcome.index`) of busy, no_answer, voicemail and abandoned.
    static var unansweredMask: UInt32 { 1 << 0 | 1 << 2 | 1 << 3 | 1 << 4 }
    /// Outcome bits of the conversations (right_party, promise_to_pay, refused, dispute, cease,
    /// callback_requested, paid).
    static var conversationMask: UInt32 { 1 << 5 | 1 << 8 | 1 << 9 | 1 << 10 | 1 << 11 | 1 << 12 | 1 << 13 }

    /// The two words of a string's representation (equal words: equal strings).
    @inline(__always)
    static func words(_ p: UnsafeRawPointer) -> (UInt64, UInt64) {
        (p.load(as: UInt64.self), p.load(fromByteOffset: 8, as: UInt64.self))
    }

    /// The two words of the representation of the string at `p`.
    @inline(__always)
    static func words(of p: UnsafePointer<String>) -> (UInt64, UInt64) {
        words(UnsafeRawPointer(p))
    }

    /// Bit 1: a personal number (mobile, home); bit 2: another number; both when the number is unknown.
    @inline(__always)
    static func kindClass(_ phone: Int32, _ phones: UnsafeBufferPointer<Phone>) -> UInt8 {
        guard phone >= 0 else { return 3 }
        let kind = phones[Int(phone)].kind
        return kind == .mobile || kind == .home ? 1 : 2
    }

    /// The local day and hour-of-week bucket of instants in the primary zone, with the offset stretch of the
    /// previous instant remembered (histories are mostly in time order, and mostly inside one stretch): UTC
    /// instants in `[from, from + span)` have the offset `offset` and local times at or after 1970-01-05 00:00 (a
    /// Monday, day 4), so that day and bucket are unsigned divisions of the local seconds.
    struct LocalDayCache {
        var from = Int64.max
        var span: UInt64 = 0
        var offset: Int64 = 0

        /// Local seconds of 1970-01-05T00:00, the first Monday of the epoch.
        static var firstMonday: UInt64 { 4 * 86_400 }

        @inline(__always)
        mutating func locate(_ at: Int64, _ zone: ZoneRef) -> (day: Int64, bucket: Int16) {
            if UInt64(bitPattern: at &- from) < span {
                let local = UInt64(bitPattern: at &+ offset)  // ≥ firstMonday
                let hourOfWeek = ((local &- Self.firstMonday) % (7 * 86_400)) / 3600
                return (Int64(local / 86_400), Int16(truncatingIfNeeded: hourOfWeek))
            }
            return miss(at, zone)
        }

        @inline(never)
        mutating func miss(_ at: Int64, _ zone: ZoneRef) -> (day: Int64, bucket: Int16) {
            let sg = zone.pointee.segment(at: at)
            let local = at + Int64(sg.offset)
            let day = CivilTime.day(ofLocalSeconds: local)
            let weekday = CivilTime.weekday(ofDay: day)
            let bucket = Int16((weekday - 1) * 24 + Int((local - day * 86_400) / 3600))
            // Cache the stretch only for instants far from the ends of the integer range.
            let offset = Int64(sg.offset)
            let lo = max(sg.from, Int64(Self.firstMonday) - offset)
            let hi = min(sg.until, 1 << 50)
            if at >= lo && at < hi {
                from = lo
                span = UInt64(hi - lo)
                self.offset = offset
            } else {
                span = 0
            }
            return (day, bucket)
        }
    }

    /// What one pass over the events gathers (see `fillEvents`).
    /// The part of an event summary both history passes share (`fillEvents` and the prepared path's `summarize`):
    /// the scalars gathered by the pass, then the last abandoned call and the dead phones, looked up only when
    /// `seen` says such outcomes occur.
    @inline(__always)
    static func finishSummary(
        _ sum: inout EventSummary, _ ev: UnsafeMutablePointer<Event>, count total: Int, lastAt: Int64,
        lastOutcome: Int8, seen: UInt32, recentUnanswered: Int, now: Int64
    ) {
        sum.lastAt = lastAt
        sum.lastOutcome = lastOutcome
        sum.seen = seen
        sum.recentUnanswered = recentUnanswered
        sum.capsMonotone = lastAt <= now
        sum.anyRPC = seen & Self.conversationMask != 0
        if seen & (1 << UInt32(Outcome.abandoned.index)) != 0 {
            for k in 0..<total where ev[k].outcome == Int8(Outcome.abandoned.index) {
                sum.lastAbandoned = max(sum.lastAbandoned, ev[k].at)
            }
        }
        if seen & (1 << UInt32(Outcome.notInService.index) | 1 << UInt32(Outcome.wrongNumber.index)) != 0 {
            for k in 0..<total {
                let e = ev[k]
                if e.phone >= 0,
                    e.outcome == Int8(Outcome.notInService.index) || e.outcome == Int8(Outcome.wrongNumber.index)
                {
                    if e.phone < 64 { sum.deadPhones |= 1 << UInt64(e.phone) } else { sum.deadBeyondMask = true }
                }
            }
        }
    }

    struct EventSummary {
        var count = 0
        var lastAt = Int64.min
        var lastOutcome: Int8 = -1
        var lastAbandoned = Int64.min
        var recentUnanswered = 0
        var capsMonotone = true
        var anyRPC = false
        var deadPhones: UInt64 = 0
        var deadBeyondMask = false
        /// Bit `o` set when outcome `o` occurs (bit 15: an unresolved attempt).
        var seen: UInt32 = 0
    }

    @inline(__always)
    static func index(of id: String, in debts: UnsafeBufferPointer<Debt>) -> Int32 {
        for i in 0..<debts.count where debts[i].id == id { return Int32(i) }
        return -1
    }

    @inline(__always)
    static func phoneIndex(_ number: String, _ phones: UnsafeBufferPointer<Phone>) -> Int32 {
        for i in 0..<phones.count where phones[i].number == number { return Int32(i) }
        return -1
    }

    func promiseKept(_ o: OutcomeEvent, _ p: PromiseTerms) -> Bool {
        var paid: Int64 = 0
        for i in 0..<payments.count where payments[i].at >= o.at && payments[i].debt == o.debt {
            // Saturating: amounts that reached the engine without the line decoder's maximum must not trap.
            let (sum, overflow) = paid.addingReportingOverflow(payments[i].amount.tenThousandths)
            paid = overflow ? .max : sum
        }
        return paid >= p.amount.tenThousandths
    }

    @inline(__always)
    func startOfDay(_ day: Int64) -> Int64 { primary.pointee.instant(forLocal: day * 86_400, later: false) }

    @inline(__always)
    func primaryDay(_ t: Int64) -> Int64 { CivilTime.day(ofLocalSeconds: primary.pointee.localSeconds(at: t)) }

    /// The local day of event `i` in day zone `zi`.
    @inline(__always)
    func dayOf(_ i: Int, _ zi: Int) -> Int64 {
        zi == 0 ? events[i].day : CivilTime.day(ofLocalSeconds: dayZones[zi].pointee.localSeconds(at: events[i].at))
    }

    /// The latest, over the day zones, of the start of local day `(day of t) + days`.
    func startOfDayAfter(_ t: Int64, days: Int64) -> Int64 {
        var r = Int64.min
        for zi in 0..<dayZones.count {
            let z = dayZones[zi].pointee
            let d = CivilTime.day(ofLocalSeconds: z.localSeconds(at: t)) + days
            r = max(r, z.instant(forLocal: d * 86_400, later: false))
        }
        return r
    }

    /// The latest, over the day zones, of the start of calendar day `day`.
    func startOfCalendarDay(_ day: Int64) -> Int64 {
        var r = Int64.min
        for zi in 0..<dayZones.count { r = max(r, dayZones[zi].pointee.instant(forLocal: day * 86_400, later: false)) }
        return r
    }

    /// The first instant ≥ `t` whose local day, in every day zone, breaks no cap (with the binding cap).
    /// With `callback`, the checks of a consented callback: the Reg F 7-in-7 count and the house caps are
    /// waived, the state caps (NYC attempts, MA, WA) are not.
    func capNext(_ t: Int64, debt di: Int32, phone pi: Int32, callback: Bool = false) -> (Int64, Binding) {
        var next = t
        var binding = Binding.none
        for zi in 0..<dayZones.count {
            let z = dayZones[zi].pointee
            let day = CivilTime.day(ofLocalSeconds: z.localSeconds(at: t))
            let (d2, b) = capDay(day, zone: zi, debt: di, phone: pi, callback: callback)
            if d2 > day {
                let s = z.instant(forLocal: d2 * 86_400, later: false)
                if s > next {
                    next = s
                    binding = b
                }
            }
        }
        return (next, binding)
    }

    // MARK: Windows

    @inline(__always)
    func quietApplies(_ q: QuietTime, _ wd: Int) -> Bool { q.days.isEmpty || q.days.contains(wd) }

    /// The first permitted interval of `zone` (window, days, holidays, quiet times) at or after `t`.
    func nextWindow(_ t: Int64, _ zr: ZoneRef) -> (Int64, Int64)? {
        if quiet.isEmpty && holidays == nil { return plainWindow(t, zr) }
        let z = zr.pointee
        let (offset, from, until) = z.segment(at: t)
        let local = t + Int64(offset)
        // Local → UTC: a subtraction while the offset holds well around the instant, else the full mapping.
        @inline(__always) func utc(_ l: Int64, later: Bool) -> Int64 {
            let u = l - Int64(offset)
            if u > from &+ 93_600 && u < until &- 93_600 { return u }
            return z.instant(forLocal: l, later: later)
        }
        let day0 = CivilTime.day(ofLocalSeconds: local)
        let curMin = Int((local - day0 * 86_400) / 60)
        let ws = pack.windowStartMinute
        let we = pack.windowEndMinute
        for k in 0..<21 {
            let d = day0 + Int64(k)
            let wd = CivilTime.weekday(ofDay: d)
            if !pack.allows(weekday: wd) { continue }
            if let h = holidays, h.contains(d) { continue }
            var m = k == 0 ? max(curMin, ws) : ws
            if !quiet.isEmpty {
                var changed = true
                while changed {
                    changed = false
                    for q in quiet where quietApplies(q, wd) && q.fromMinute <= m && m < q.toMinute {
                        m = q.toMinute
                        changed = true
                    }
                }
            }
            if m >= we { continue }
            var endM = we
            for q in quiet where quietApplies(q, wd) && q.fromMinute > m && q.fromMinute < endM { endM = q.fromMinute }
            let start = (k == 0 && m == curMin) ? t : utc(d * 86_400 + Int64(m) * 60, later: true)
            let end = utc(d * 86_400 + Int64(endM) * 60, later: false)
            let s = max(start, t)
            if s < end { return (s, end) }
        }
        return nil
    }

    /// `nextWindow` without quiet times and holidays (the common case; the same steps minus those checks).
    @inline(__always)
    func plainWindow(_ t: Int64, _ zr: ZoneRef) -> (Int64, Int64)? {
        plainWindowInSegment(t, zr).map { ($0.0, $0.1) }
    }

    /// `plainWindow`, with the end of the offset stretch `t` lies in (`[t, until)` has no zone transition).
    @inline(__always)
    func plainWindowInSegment(_ t: Int64, _ zr: ZoneRef) -> (Int64, Int64, Int64)? {
        let z = zr.pointee
        let (offset, from, until) = z.segment(at: t)
        let local = t + Int64(offset)
        @inline(__always) func utc(_ l: Int64, later: Bool) -> Int64 {
            let u = l - Int64(offset)
            if u > from &+ 93_600 && u < until &- 93_600 { return u }
            return z.instant(forLocal: l, later: later)
        }
        let day0 = CivilTime.day(ofLocalSeconds: local)
        let curMin = Int((local - day0 * 86_400) / 60)
        let ws = pack.windowStartMinute
        let we = pack.windowEndMinute
        var wd = CivilTime.weekday(ofDay: day0)
        for k in 0..<21 {
            defer { wd = wd == 7 ? 1 : wd + 1 }
            if !pack.allows(weekday: wd) { continue }
            let d = day0 + Int64(k)
            let m = k == 0 ? max(curMin, ws) : ws
            if m >= we { continue }
            let start = (k == 0 && m == curMin) ? t : utc(d * 86_400 + Int64(m) * 60, later: true)
            let end = utc(d * 86_400 + Int64(we) * 60, later: false)
            let s = max(start, t)
            if s < end { return (s, end, until) }
        }
        return nil
    }

    /// The first instant ≥ `t` inside the window of every zone of `zones`, with the end of that interval.
    func windowIntersection(_ t0: Int64, _ zones: ZoneSet, _ limit: Int64) -> (Int64, Int64, ZoneRef?)? {
        if quiet.isEmpty && holidays == nil && zones.count <= 4 { return plainIntersection(t0, zones, limit) }
        var t = t0
        var binding: ZoneRef?
        for _ in 0..<200 {
            if t > limit { return nil }
            var end = Int64.max
            var moved = false
            for i in 0..<zones.count {
                let z = zones[i]
                guard let (s, e) = nextWindow(t, z) else { return nil }
                if s > t {
                    t = s
                    binding = z
                    moved = true
                    break
                }
                end = min(end, e)
            }
            if !moved { return (t, end, binding) }
        }
        return nil
    }

    /// `windowIntersection` without quiet times and holidays, for up to four zones. It remembers each zone's
    /// last window `[s, e)`, computed at an instant `t0 ≤ t` whose offset holds until `until`: when `t ≤ s < until`
    /// the zone's next window from `t` is the same (the local clock runs evenly there, so no permitted instant
    /// lies before `s`); when `s ≤ t < e` and the offset holds past `e` (and the day after, so that the end maps
    /// the same way), it is `[t, e)`. The zone is then not asked again.
    func plainIntersection(_ t0: Int64, _ zones: ZoneSet, _ limit: Int64) -> (Int64, Int64, ZoneRef?)? {
        var memoStart = (Int64.max, Int64.max, Int64.max, Int64.max)
        var memoEnd = (Int64.min, Int64.min, Int64.min, Int64.min)
        var memoUntil = (Int64.min, Int64.min, Int64.min, Int64.min)
        @inline(__always) func window(_ i: Int, _ t: Int64) -> (Int64, Int64)? {
            let (ms, me, mu): (Int64, Int64, Int64)
            switch i {
            case 0: (ms, me, mu) = (memoStart.0, memoEnd.0, memoUntil.0)
            case 1: (ms, me, mu) = (memoStart.1, memoEnd.1, memoUntil.1)
            case 2: (ms, me, mu) = (memoStart.2, memoEnd.2, memoUntil.2)
            default: (ms, me, mu) = (memoStart.3, memoEnd.3, memoUntil.3)
            }
            // Not yet at the window's start, no offset change before it: the same window.
            if t <= ms && ms < mu { return (ms, me) }
            // Inside the window, no offset change until a day after its end: the rest of the same window.
            if ms <= t && t < me && me < mu &- 93_600 { return (t, me) }
            guard let (s, e, u) = plainWindowInSegment(t, zones[i]) else { return nil }
            switch i {
            case 0: (memoStart.0, memoEnd.0, memoUntil.0) = (s, e, u)
            case 1: (memoStart.1, memoEnd.1, memoUntil.1) = (s, e, u)
            case 2: (memoStart.2, memoEnd.2, memoUntil.2) = (s, e, u)
            default: (memoStart.3, memoEnd.3, memoUntil.3) = (s, e, u)
            }
            return (s, e)
        }
        var t = t0
        var binding: ZoneRef?
        for _ in 0..<200 {
            if t > limit { return nil }
            var end = Int64.max
            var moved = false
            for i in 0..<zones.count {
                guard let (s, e) = window(i, t) else { return nil }
                if s > t {
                    t = s
                    binding = zones[i]
                    moved = true
                    break
                }
                end = min(end, e)
            }
            if !moved { return (t, end, binding) }
        }
        return nil
    }

    // MARK: Caps

    /// The first primary-zone day ≥ `day` on which a call about debt `di` to phone `pi` breaks no cap.
    func capDay(_ day: Int64, zone zi: Int, debt di: Int32, phone pi: Int32, callback: Bool = false)
        -> (Int64, Binding)
    {
        if zi == 0 && pack.personalPerDebtPer7Days == nil && pack.otherPerDebtPer30Days == nil
            && pack.countedPerDebtorPer7Days == nil && pack.attemptsPerDebtPer7Days == nil
        {
            return federalCapDay(day, debt: di, phone: pi, callback: callback)
        }
        var d = day
        var binding = Binding.none
        let personal = phones[Int(pi)].kind == .mobile || phones[Int(pi)].kind == .home
        let maxPerDay = s.pointee.maxAttemptsPerDay
        let vmPerDay = s.pointee.voicemailsPerDay
        let busyPerDay = s.pointee.busyRetriesPerPhonePerDay
        for _ in 0..<120 {
            var c7 = 0, cPersonal = 0, cOther = 0, cDebtor = 0, cAll = 0, cDay = 0, vmDay = 0, busyDay = 0
            for i in 0..<eventCount {
                let e = events[i]
                let age = d - dayOf(i, zi)
                if age < 0 || age >= 30 { continue }
                let counted = e.isCounted
                if age < 7 {
                    if e.debt == di {
                        cAll += 1
                        if counted && !e.consented {
                            c7 += 1
                            if e.kindClass & 1 != 0 { cPersonal += 1 }
                        }
                    }
                    if counted && !e.consented { cDebtor += 1 }
                }
                if e.debt == di && counted && !e.consented && e.kindClass & 2 != 0 { cOther += 1 }
                if age == 0 {
                    if counted && !e.consented { cDay += 1 }
                    if e.outcome == Int8(Outcome.voicemail.index) { vmDay += 1 }
                    if e.outcome == 0 && e.phone == pi { busyDay += 1 }
                }
            }
            var next = Binding.none
            if !callback, let cap = sevenDayCap, c7 >= cap {
                next = .capDebt7(c7)
            } else if personal, let cap = pack.personalPerDebtPer7Days, cPersonal >= cap {
                next = .capPersonal7
            } else if !personal, let cap = pack.otherPerDebtPer30Days, cOther >= cap {
                next = .capOther30
            } else if let cap = pack.countedPerDebtorPer7Days, cDebtor >= cap {
                next = .capDebtor7
            } else if let cap = pack.attemptsPerDebtPer7Days, d >= pack.attemptsCapFromDay, cAll >= cap {
                next = .capAttempts7
            } else if callback {
                // house caps do not apply to a call the consumer asked for
            } else if cDay >= maxPerDay {
                next = .dailyMax
            } else if vmDay >= vmPerDay {
                next = .voicemailDay
            } else if busyDay >= busyPerDay {
                next = .busyRetries
            }
            if next == .none { return (d, binding) }
            binding = next
            d += 1
        }
        return (d, binding)
    }

    /// `capDay` in the primary zone for a pack without state caps (no MA, WA or NYC counts): the same checks,
    /// in the same order, counting only what they use (the 7-day count of the debt and today's counts).
    func federalCapDay(_ day: Int64, debt di: Int32, phone pi: Int32, callback: Bool) -> (Int64, Binding) {
        var d = day
        var binding = Binding.none
        let maxPerDay = s.pointee.maxAttemptsPerDay
        let vmPerDay = s.pointee.voicemailsPerDay
        let busyPerDay = s.pointee.busyRetriesPerPhonePerDay
        let voicemail = Int8(Outcome.voicemail.index)
        for _ in 0..<120 {
            var c7 = 0, cDay = 0, vmDay = 0, busyDay = 0
            for i in 0..<eventCount {
                let e = events[i]
                let age = d &- e.day
                if age < 0 || age >= 7 { continue }
                let counted = e.isCounted && !e.consented
                if counted && e.debt == di { c7 += 1 }
                if age == 0 {
                    if counted { cDay += 1 }
                    if e.outcome == voicemail { vmDay += 1 }
                    if e.outcome == 0 && e.phone == pi { busyDay += 1 }
                }
            }
            var next = Binding.none
            if !callback, let cap = sevenDayCap, c7 >= cap {
                next = .capDebt7(c7)
            } else if callback {
                // house caps do not apply to a call the consumer asked for
            } else if cDay >= maxPerDay {
                next = .dailyMax
            } else if vmDay >= vmPerDay {
                next = .voicemailDay
            } else if busyDay >= busyPerDay {
                next = .busyRetries
            }
            if next == .none { return (d, binding) }
            binding = next
            d += 1
        }
        return (d, binding)
    }

    /// The usage of the pack's state caps on `day` for debt `di`, as `capDay` counts them (in the primary zone):
    /// `US-MA` counted calls to personal numbers in 7 days and to other numbers in 30, `US-WA` counted calls
    /// about any of the debtor's debts in 7 days, `US-NY-NYC` attempts of any outcome in 7 days (from the day the
    /// rule applies). An auditor sees how close each cap is, not only the federal 7-in-7.
    func stateCapUsage(_ day: Int64, debt di: Int32) -> String {
        var personal = 0, other = 0, debtor = 0, attempts = 0
        for i in 0..<eventCount {
            let e = events[i]
            let age = day - e.day
            if age < 0 || age >= 30 { continue }
            let counted = e.isCounted && !e.consented
            if age < 7 {
                if e.debt == di {
                    attempts += 1
                    if counted && e.kindClass & 1 != 0 { personal += 1 }
                }
                if counted { debtor += 1 }
            }
            if e.debt == di && counted && e.kindClass & 2 != 0 { other += 1 }
        }
        var parts: [String] = []
        if let cap = pack.personalPerDebtPer7Days { parts.append("\(personal)/\(cap) to personal numbers in 7 days") }
        if let cap = pack.otherPerDebtPer30Days { parts.append("\(other)/\(cap) to other numbers in 30 days") }
        if let cap = pack.countedPerDebtorPer7Days { parts.append("\(debtor)/\(cap) about the debtor in 7 days") }
        if let cap = pack.attemptsPerDebtPer7Days {
            parts.append(day >= pack.attemptsCapFromDay
                ? "\(attempts)/\(cap) attempts of any outcome in 7 days"
                : "attempts cap \(cap) in 7 days from \(CivilTime.formatDate(pack.attemptsCapFromDay))")
        }
        return "state cap usage " + parts.joined(separator: ", ") + " (pack \(pack.code))"
    }

    /// Cap usage of debt `di` on `day` (counted, non-consented calls in the 7 days ending on `day`).
    func capUsage(_ day: Int64, debt di: Int32) -> Int {
        var c = 0
        for i in 0..<eventCount {
            let e = events[i]
            if e.debt == di && e.isCounted && !e.consented && day - e.day >= 0 && day - e.day < 7 { c += 1 }
        }
        return c
    }

    // MARK: Decision

    struct DebtState {
        var notBefore: Int64
        var binding: Binding
        var never: NeverReason?
        var broken = false
        var remaining: Int64
        var callbackAt: Int64?
    }

    /// Why a debt is never called (rendered by `NeverReason.text`).
    enum NeverReason {
        case settled, ceased, paidOnCall, disputeOpen, status, noDialablePhone, noZone, noPermittedTime
        /// No permitted time, and the holiday calendar does not cover days searched (they count as closed).
        case noHolidayCalendar(year: Int, covered: ClosedRange<Int>)
    }

    func debtState(_ di: Int32) -> DebtState {
        let debt = debts.baseAddress! + Int(di)
        var st = DebtState(notBefore: max(now, debtorNotBefore), binding: debtorNotBefore > now ? debtorBinding : .none,
                           never: nil, remaining: debt.pointee.balance.tenThousandths)
        for i in 0..<payments.count where payments[i].debt == debt.pointee.id {
            st.remaining -= payments[i].amount.tenThousandths
            // Settled: stop before further payments could take the difference past Int64.min (a trap).
            if st.remaining <= 0 { break }
        }
        if st.remaining <= 0 {
            st.never = .settled
            return st
        }
        if ceased {
            st.never = .ceased
            return st
        }
        var lastConversation = Int64.min
        var lastPromise = -1
        var lastCallback = -1
        // Every outcome the loop looks at is a conversation: without one in the history it finds nothing.
        let scan = seen & Self.conversationMask != 0
        for i in 0..<(scan ? eventCount : 0) where events[i].debt == di {
            let e = events[i]
            switch e.outcome {
            case Int8(Outcome.paid.index):
                st.never = .paidOnCall
                return st
            case Int8(Outcome.dispute.index):
                let cleared = clearances.contains { $0.kind == .dispute && $0.debt == debt.pointee.id && $0.at > e.at }
                if !cleared {
                    st.never = .disputeOpen
                    return st
                }
            case Int8(Outcome.promiseToPay.index):
                if lastPromise < 0 || events[lastPromise].at <= e.at { lastPromise = i }
            case Int8(Outcome.callbackRequested.index):
                if lastCallback < 0 || events[lastCallback].at <= e.at { lastCallback = i }
            default: break
            }
            if e.isConversation { lastConversation = max(lastConversation, e.at) }
        }
        if pack.conversationBlock || s.pointee.houseConversationBlock, lastConversation != Int64.min {
            let until = startOfDayAfter(lastConversation, days: 7)
            if until > st.notBefore {
                st.notBefore = until
                st.binding = pack.conversationBlock ? .conversationBlock : .houseConversationBlock
            }
        }
        if lastPromise >= 0 {
            let o = outcomes[lastPromise]
            if let p = o.promise, let due = CivilTime.parseDate(p.due), !promiseKept(o, p) {
                let holdEnd = startOfCalendarDay(due + Int64(s.pointee.promiseGraceDays) + 1)
                if now < holdEnd {
                    if holdEnd > st.notBefore {
                        st.notBefore = holdEnd
                        st.binding = .promiseHold
                    }
                } else {
                    st.broken = true
                }
            }
        }
        if lastCallback >= 0 {
            let e = events[lastCallback]
            let window = s.pointee.callbackWindowSeconds
            if let cb = outcomes[lastCallback].callbackAt, cb >= e.at, cb - e.at <= s.pointee.callbackValiditySeconds,
                now < cb + window,
                !Self.conversationBetween(events, count: eventCount, debt: di, after: e.at, before: cb)
            {
                let used = (0..<eventCount).contains {
                    events[$0].debt == di && events[$0].at >= cb && events[$0].at <= cb + window
                }
                if !used { st.callbackAt = cb }
            }
        }
        return st
    }

    /// Whether a conversation about `debt` took place after `after` and before `before`: a callback the debtor
    /// asked for is answered by a later conversation about the debt (a promise to pay, a refusal, another talk),
    /// so it no longer consents to a call (the stricter reading: the promise's hold or the conversation block
    /// binds, not the older request).
    static func conversationBetween(
        _ events: UnsafeMutableBufferPointer<Event>, count: Int, debt: Int32, after: Int64, before: Int64
    ) -> Bool {
        for j in 0..<count where events[j].debt == debt && events[j].isConversation {
            if events[j].at > after && events[j].at < before { return true }
        }
        return false
    }

    func phoneDialable(_ pi: Int) -> Bool {
        guard phones[pi].owner == .debtor, !phones[pi].optedOut else { return false }
        if pi < 64 { return deadPhones & (1 << UInt64(pi)) == 0 }
        if !deadBeyondMask { return true }
        for i in 0..<eventCount where events[i].phone == Int32(pi) {
            let o = events[i].outcome
            if o == Int8(Outcome.notInService.index) || o == Int8(Outcome.wrongNumber.index) { return false }
        }
        return true
    }

    /// The first permitted interval at or after `t0` for debt `di` on phone `pi`.
    func permitted(_ t0: Int64, _ st: DebtState, _ di: Int32, _ pi: Int32, _ zones: ZoneSet, _ limit: Int64)
        -> (Int64, Int64, Hold)?
    {
        var t = max(t0, st.notBefore)
        // The binding rule: the last non-window constraint that moved `t`, else the window that did; and the
        // window that moved `t` past the end of that rule.
        var rule: Binding = st.notBefore > t0 ? st.binding : .none
        var ruleUntil = t
        var windowZone: ZoneRef?
        var windowAfterRule: ZoneRef?
        for _ in 0..<100 {
            if t > limit { return nil }
            let day = primaryDay(t)
            let (next, b) = capNext(t, debt: di, phone: pi)
            if next > t {
                t = next
                rule = b
                ruleUntil = next
                windowAfterRule = nil
                continue
            }
            guard let (s, e, z) = windowIntersection(t, zones, limit) else { return nil }
            if s > t {
                t = s
                if let z {
                    windowZone = z
                    if rule != .none { windowAfterRule = z }
                }
                if primaryDay(s) != day { continue }
            }
            if rule == .none, let z = windowZone { rule = .window(z) }
            return (t, e, Hold(rule: rule, until: ruleUntil, window: windowAfterRule))
        }
        return nil
    }

    /// The decision for debt `index`, with the strings of `debtor` (the debtor `withEvaluator` was given).
    func decision(debt index: Int, into out: UnsafeMutablePointer<Decision>) {
        let r = decide(debt: index)
        let blocked = r.never.map { Self.text($0, status: status, jurisdiction: debtor.pointee.jurisdiction) }
        let open = blocked == nil
        let reasons: [String]
        if !s.pointee.includeReasons {
            reasons = []
        } else if let blocked {
            reasons = [blocked]
        } else {
            reasons = self.reasons(for: r, debt: Int32(index))
        }
        // Initialized in place, field by field (see `Decision.initialize`).
        Decision.initialize(
            out, layout: data.layout.decision, debtor: debtor.pointee.id, debt: debts[index].id,
            phone: open ? phones[r.phone].number : nil, earliest: open ? r.earliest : nil, best: open ? r.best : nil,
            windowEnds: open ? r.windowEnd : nil, score: open ? r.score : 0, blockedReason: blocked, reasons: reasons,
            zone: primary.pointee.table.name, consentedCallback: open && r.consented)
    }

    /// The decision for debt `index` (see `decision(debt:into:)`).
    @inline(__always)
    func decision(debt index: Int) -> Decision {
        withUnsafeTemporaryAllocation(of: Decision.self, capacity: 1) { p in
            decision(debt: index, into: p.baseAddress!)
            return p.baseAddress!.move()
        }
    }

    static func text(_ why: NeverReason, status: DebtorStatus, jurisdiction: String) -> String {
        switch why {
        case .settled: return "debt settled by payments"
        case .ceased: return "cease requested"
        case .paidOnCall: return "paid on a call"
        case .disputeOpen: return "dispute open (until an operator clears it)"
        case .status: return "status \(status.rawValue)"
        case .noDialablePhone: return "no dialable phone (none owned by the debtor, or all dead, wrong or opted out)"
        case .noZone:
            return "no time zone known (no address zone, no phone zone, unknown jurisdiction \(jurisdiction))"
        case .noPermittedTime: return "no permitted time within 30 days (windows, holidays, quiet times or holds)"
        case .noHolidayCalendar(let year, let covered):
            return "no holiday calendar for \(year) (\(jurisdiction); the calendar in use covers "
                + "\(covered.lowerBound)-\(covered.upperBound)): days it does not cover count as holidays, so no "
                + "permitted time within 30 days"
        }
    }

    /// The outcome of `decide(debt:)` before strings are attached.
    struct Result {
        var never: NeverReason?
        var phone = -1
        var earliest: Int64 = 0
        var best: Int64 = 0
        var windowEnd: Int64 = 0
        var score = 0.0
        var consented = false
        /// What the reasons are made of (rendered by `reasons(for:debt:)` when the configuration asks for them).
        var binding = Hold(rule: .none)
        var bestBucket = 0
        var broken = false

        init(never: NeverReason) { self.never = never }
        init() {}
    }

    /// The decision for debt `index`; without `search`, only the permitted interval and the phone (`best` = the
    /// earliest time, `score` 0: no best-time search).
    func decide(debt index: Int, search: Bool = true) -> Result {
        let di = Int32(index)
        if status != .active { return Result(never: .status) }
        let st = debtState(di)
        if let why = st.never { return Result(never: why) }
        let settings = s.pointee
        let limit = max(now, st.notBefore) + max(settings.horizonSeconds, 30 * 86_400)
        var bestPhone = -1
        var bestInterval: (Int64, Int64, Hold) = (0, 0, Hold(rule: .none))
        var bestZones = dayZones
        var consented = false
        var anyDialable = false
        var zoneUnknown = false
        for pi in 0..<phones.count where phoneDialable(pi) {
            anyDialable = true
            let zs = phoneSets[pi]
            if zs.count == 0 {
                zoneUnknown = true
                continue
            }
            var candidate = permitted(now, st, di, Int32(pi), zs, limit)
            var isCallback = false
            if let cb = st.callbackAt {
                let cbEnd = cb + settings.callbackWindowSeconds
                // A consented callback waives the 7-in-7 count and the conversation block, never the state caps
                // or the no-redial hold after an abandoned call.
                let from = max(now, cb, abandonedHoldEnds)
                let (capped, _) = capNext(from, debt: di, phone: Int32(pi), callback: true)
                if capped < cbEnd, let (s, e, _) = windowIntersection(max(from, capped), zs, cbEnd), s < cbEnd,
                    candidate == nil || s < candidate!.0
                {
                    candidate = (s, min(e, cbEnd), Hold(rule: .none))
                    isCallback = true
                }
            }
            if let c = candidate, bestPhone < 0 || c.0 < bestInterval.0 {
                bestPhone = pi
                bestInterval = c
                bestZones = zs
                consented = isCallback
            }
        }
        if !anyDialable { return Result(never: .noDialablePhone) }
        if bestPhone < 0 && zoneUnknown { return Result(never: .noZone) }
        guard bestPhone >= 0 else {
            if let h = holidays {
                for day in [primaryDay(now), primaryDay(limit)] where !h.covers(day) {
                    let covered = CivilTime.date(ofDay: h.firstCovered).year...CivilTime.date(ofDay: h.lastCovered).year
                    return Result(never: .noHolidayCalendar(year: CivilTime.date(ofDay: day).year, covered: covered))
                }
            }
            return Result(never: .noPermittedTime)
        }
        let (earliest, windowEnd, binding) = bestInterval
        if !search {
            var r = Result()
            r.phone = bestPhone
            r.earliest = earliest
            r.best = earliest
            r.windowEnd = windowEnd
            r.consented = consented
            r.binding = binding
            r.broken = st.broken
            return r
        }
        // Value model.
        var k = settings.ptpGivenRPC * settings.keptProbability * settings.keptDecay(brokenPromises)
            * Double(st.remaining) / 10_000
        if st.broken { k *= settings.brokenPromiseBoost }
        k *= settings.fatigue(recentUnanswered)
        let curve = self.curve
        let curveMax = self.curveMax
        var bestT = earliest
        var bestV = -1.0
        var bestBucket = 0
        // When the earliest time lies beyond the horizon, look one day past it.
        let horizonEnd = max(now + settings.horizonSeconds, earliest + 86_400)
        let lnGamma = settings.lnDiscountPerHour
        let gamma = settings.discountPerHour
        // Caps and holds only loosen as days pass (every counted event is in the past), so after the first
        // permitted interval only the windows can close a later slot.
        let primaryZone = primary.pointee
        withBuckets { att, rpc, recent in
            let thompson = settings.thompsonSeed
            let kappa = settings.kappa
            let penalty = settings.sameBucketPenalty
            let penalties = (1.0, penalty, penalty * penalty, penalty * penalty * penalty)
            let idHash = self.idHash
            // An upper bound of p̂ over all buckets: once bound × discount falls below the best value found,
            // no later slot can win (branch and bound). Thompson draws are unbounded below 1.
            var bound = curveMax
            if thompson != nil {
                bound = 1
            } else if !att.isEmpty && anyRPC {
                for b in 0..<168 where rpc[b] > 0 {
                    bound = max(bound, (Double(rpc[b]) + kappa * curve[b]) / (Double(att[b]) + kappa))
                }
            }
            @inline(__always) func p(_ b: Int) -> Double {
                if att.isEmpty { return curve[b] }
                var v = (Double(rpc[b]) + kappa * curve[b]) / (Double(att[b]) + kappa)
                if let seed = thompson {
                    let a = Double(rpc[b]) + kappa * curve[b]
                    let bb = Double(att[b] - rpc[b]) + kappa * (1 - curve[b])
                    var rng = SplitMix64(seed: seed ^ idHash ^ UInt64(b) &* 0x9E37_79B9 ^ UInt64(now / 3600))
                    v = rng.beta(max(a, 1e-3), max(bb, 1e-3))
                }
                switch recent[b] {
                case 0: break
                case 1: v *= penalties.1
                case 2: v *= penalties.2
                case 3: v *= penalties.3
                default: v *= pow(penalty, Double(recent[b]))
                }
                return v
            }
            if consented {
                bestT = earliest
                bestBucket = bucket(earliest)
                bestV = p(bestBucket) * exp(lnGamma * Double(earliest - now) / 3600)
                return
            }
            var interval: (Int64, Int64, Hold)? = bestInterval
            search: while let (s, e, _) = interval, s < horizonEnd {
                let stop = min(e, horizonEnd)
                var t = s
                // exp(±0) is exactly 1: skip the call when the interval starts now.
                var f = t == now && lnGamma.isFinite ? 1.0 : exp(lnGamma * Double(t - now) / 3600)
                var fLast = f
                while t < stop {
                    if bestV >= bound * f { break search }
                    // A stretch of constant offset in the primary zone: buckets advance one per hour.
                    let (offset, until) = primaryZone.offsetSegment(at: t)
                    var local = t + Int64(offset)
                    let day = CivilTime.day(ofLocalSeconds: local)
                    var b = (CivilTime.weekday(ofDay: day) - 1) * 24 + Int((local - day * 86_400) / 3600)
                    let segStop = min(stop, until)
                    var step = 3600 - ((local % 3600) + 3600) % 3600
                    while t < segStop {
                        let v = p(b) * f
                        fLast = f
                        if v > bestV {
                            bestV = v
                            bestT = t
                            bestBucket = b
                        }
                        f *= step == 3600 ? gamma : exp(lnGamma * Double(step) / 3600)
                        t += step
                        local += step
                        step = 3600
                        b = b == 167 ? 0 : b + 1
                    }
                }
                // The next interval starts after `e` (at least a second later), where the discount is smaller
                // still: when the bound cannot beat the best value even at `e`, the check at the next
                // interval's start would stop the search, so it is not computed.
                // First without `exp`: the discount at the last slot looked at (before `e`, so not smaller than the
                // one at `e`; computed by products of normal numbers, so within a few hundred ulps), with a margin
                // far above that error.
                if lnGamma <= 0 && bound >= 0
                    && ((fLast > 1e-300 && bestV >= bound * (fLast * (1 + 1e-9)))
                        || bestV >= bound * exp(lnGamma * Double(e - now) / 3600))
                {
                    break search
                }
                if capsMonotone {
                    interval = windowIntersection(e, bestZones, horizonEnd).map { ($0.0, $0.1, Hold(rule: .none)) }
                } else {
                    interval = permitted(e, st, di, Int32(bestPhone), bestZones, horizonEnd)
                }
            }
        }
        var r = Result()
        r.phone = bestPhone
        r.earliest = earliest
        r.best = bestT
        r.windowEnd = windowEnd
        r.score = max(bestV, 0) * k
        r.consented = consented
        r.binding = binding
        r.bestBucket = bestBucket
        r.broken = st.broken
        return r
    }

    /// The human-readable reasons of a decided debt: the binding rule, the best bucket, the cap usage.
    func reasons(for r: Result, debt di: Int32) -> [String] {
        var reasons: [String] = []
        reasons.reserveCapacity(5)  // one allocation instead of growing 1 → 2 → 4 → 8
        reasons.append(r.consented ? "consented callback (exempt from the 7-in-7 count and the conversation block)"
                                   : describe(r.binding, r.earliest))
        reasons.append(Self.bucketReasons[r.bestBucket])
        if let cap = sevenDayCap {
            let usage = capUsage(primaryDay(r.earliest), debt: di)
            let table = data.capReasons[Int(pack.kind)].reasons
            if usage >= 0, usage < table.count {
                reasons.append(table[usage])
            } else {
                reasons.append("cap usage \(usage)/\(cap) in 7 days (pack \(pack.code))")
            }
        } else {
            reasons.append(data.packReasons[Int(pack.kind)])
        }
        if pack.personalPerDebtPer7Days != nil || pack.otherPerDebtPer30Days != nil
            || pack.countedPerDebtorPer7Days != nil || pack.attemptsPerDebtPer7Days != nil
        {
            reasons.append(stateCapUsage(primaryDay(r.earliest), debt: di))
        }
        if r.broken { reasons.append("promise broken: raised priority") }
        if recentUnanswered > 0 { reasons.append("fatigue: \(recentUnanswered) unanswered in 7 days") }
        return reasons
    }

    func valueNow(debt index: Int) -> Double {
        let di = Int32(index)
        let st = debtState(di)
        if st.never != nil { return 0 }
        let settings = s.pointee
        var k = settings.ptpGivenRPC * settings.keptProbability * settings.keptDecay(brokenPromises)
            * Double(st.remaining) / 10_000
        if st.broken { k *= settings.brokenPromiseBoost }
        k *= settings.fatigue(recentUnanswered)
        let b = bucket(now)
        var att = 0.0, rpc = 0.0, recent = 0.0
        let fatigueFrom = now - settings.fatigueWindowSeconds
        for i in 0..<eventCount where events[i].bucket == b && events[i].outcome >= 0 {
            att += 1
            if events[i].isConversation { rpc += 1 }
            if events[i].isUnanswered && events[i].at >= fatigueFrom {
                recent += 1
            }
        }
        return (rpc + settings.kappa * curve[b]) / (att + settings.kappa) * pow(settings.sameBucketPenalty, recent) * k
    }

    @inline(__always)
    func bucket(_ t: Int64) -> Int {
        let local = primary.pointee.localSeconds(at: t)
        let day = CivilTime.day(ofLocalSeconds: local)
        return (CivilTime.weekday(ofDay: day) - 1) * 24 + Int((local - day * 86_400) / 3600)
    }

    /// Calls `body` with per-bucket attempts, RPCs and recent unanswered counts (zero when no history).
    func withBuckets(_ body: (UnsafeBufferPointer<UInt16>, UnsafeBufferPointer<UInt16>, UnsafeBufferPointer<UInt16>)
        -> Void)
    {
        if eventCount == 0 {
            let empty = UnsafeBufferPointer<UInt16>(start: nil, count: 0)
            body(empty, empty, empty)
            return
        }
        let base = UnsafeBufferPointer(bucketCounts)
        body(UnsafeBufferPointer(rebasing: base[0..<168]), UnsafeBufferPointer(rebasing: base[168..<336]),
             UnsafeBufferPointer(rebasing: base[336..<504]))
    }

    static let dayNames = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

    /// "best hour-of-week bucket Tue 17" for every bucket, rendered once.
    static let bucketReasons: [String] = (0..<168).map { "best hour-of-week bucket " + bucketName($0) }

    static func bucketName(_ b: Int) -> String {
        let h = b % 24
        return dayNames[b / 24] + " " + (h < 10 ? "0" : "") + String(h)
    }

    func local(_ t: Int64) -> String { RFC3339.format(t, in: primary.pointee.table) }

    /// The reason a hold gives for a call first permitted at `t`: the binding rule, and the window that moved the
    /// call further after that rule ended.
    func describe(_ h: Hold, _ t: Int64) -> String {
        guard let z = h.window, h.until < t else { return describe(h.rule, t) }
        switch h.rule {
        case .none, .window: return describe(h.rule, t)
        default: return describe(h.rule, h.until) + ", then " + describe(.window(z), t)
        }
    }

    func describe(_ b: Binding, _ t: Int64) -> String {
        let config = data.configuration
        switch b {
        case .none: return "permitted now"
        case .retryDelay(let o):
            let name = o >= 0 ? Outcome.allCases[Int(o)].rawValue : "an expired lease"
            return "retry delay after \(name) until \(local(t))"
        case .minimumGap: return "minimum gap between attempts until \(local(t))"
        case .abandonedHold: return "no redial within 72 h after an abandoned call (\(pack.code)) until \(local(t))"
        case .conversationBlock:
            return "conversation block (conversation day + 6 days, \(pack.code)) until \(local(t))"
        case .houseConversationBlock:
            return "house rule: conversation block (conversation day + 6 days) until \(local(t))"
        case .promiseHold: return "promise hold until due date + \(config.promiseGraceDays) days grace: \(local(t))"
        case .capDebt7(let c): return "7-day cap: \(c) counted calls about this debt in 7 days, next \(local(t))"
        case .capPersonal7: return "US-MA cap: 2 calls in 7 days to personal numbers, next \(local(t))"
        case .capOther30: return "US-MA cap: 2 calls in 30 days to other numbers, next \(local(t))"
        case .capDebtor7: return "US-WA cap: 3 calls per debtor in 7 days, next \(local(t))"
        case .capAttempts7: return "US-NY-NYC cap: 3 attempts per debt in 7 days, next \(local(t))"
        case .dailyMax: return "house cap: \(config.maxAttemptsPerDay) attempts per day, next \(local(t))"
        case .voicemailDay: return "house rule: voicemail already left today, next \(local(t))"
        case .busyRetries: return "house rule: \(config.busyRetriesPerPhonePerDay) busy retries today, next \(local(t))"
        case .window(let z):
            let ws = pack.windowStartMinute, we = pack.windowEndMinute
            if let q = quietTimeEnding(at: t, in: z) {
                return "quiet time \(Self.clock(q.fromMinute))-\(Self.clock(q.toMinute)) (the debtor's) ends \(local(t))"
            }
            return "window \(ws / 60 < 10 ? "0" : "")\(ws / 60):00-\(we / 60):00 \(z.pointee.table.name) (\(pack.code)) opens \(local(t))"
        }
    }

    /// The debtor's quiet time that ends at `t` in zone `z` on that local day, after the window opened: what
    /// held the call until `t`, rather than the window.
    func quietTimeEnding(at t: Int64, in z: ZoneRef) -> QuietTime? {
        guard !quiet.isEmpty else { return nil }
        let (offset, _, _) = z.pointee.segment(at: t)
        let localSeconds = t + Int64(offset)
        let day = CivilTime.day(ofLocalSeconds: localSeconds)
        let minute = Int((localSeconds - day * 86_400) / 60)
        let wd = CivilTime.weekday(ofDay: day)
        guard minute > pack.windowStartMinute else { return nil }
        return quiet.first { quietApplies($0, wd) && $0.toMinute == minute && $0.fromMinute < minute }
    }

    /// `HH:MM` of a minute of the day.
    static func clock(_ minute: Int) -> String {
        let h = minute / 60, m = minute % 60
        return (h < 10 ? "0" : "") + String(h) + ":" + (m < 10 ? "0" : "") + String(m)
    }
}

func fnv(_ s: String) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in s.utf8 {
        h ^= UInt64(b)
        h = h &* 0x100_0000_01b3
    }
    return h
}

/// A small deterministic generator (SplitMix64) with Beta sampling for Thompson draws (also the generator of the
/// table-driven random tests).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { (Double(next() >> 11) + 0.5) / 9_007_199_254_740_992 }
    mutating func normal() -> Double {
        sqrt(-2 * log(uniform())) * cos(2 * Double.pi * uniform())
    }
    /// Marsaglia–Tsang gamma sampling.
    mutating func gamma(_ a: Double) -> Double {
        if a < 1 { return gamma(a + 1) * pow(uniform(), 1 / a) }
        let d = a - 1.0 / 3, c = 1 / sqrt(9 * d)
        for _ in 0..<64 {
            var x: Double, v: Double
            repeat {
                x = normal()
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = uniform()
            if u < 1 - 0.0331 * x * x * x * x || log(u) < 0.5 * x * x + d * (1 - v + log(v)) { return d * v }
        }
        return d
    }
    mutating func beta(_ a: Double, _ b: Double) -> Double {
        let x = gamma(a), y = gamma(b)
        return x + y > 0 ? x / (x + y) : 0
    }
}
