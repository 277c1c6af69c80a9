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
        var out: [Decision] = []
        out.reserveCapacity(debtor.debts.count)
        withEvaluator(debtor, history, now) { ev in
            for i in debtor.debts.indices { out.append(ev.decide(debt: i)) }
        }
        return out
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
        let set = data.candidateZones(address: debtor.zone.flatMap { zones.zone(named: $0) }, phone: phone,
                                      jurisdiction: debtor.jurisdiction)
        return (0..<set.count).map { set[$0].name }
    }

    /// The hour-of-week bucket (0 = Monday 00:00–01:00 … 167 = Sunday 23:00) of `instant` in the debtor's primary
    /// zone: `score(for:history:debt:at:)` changes only when this changes, so a ready structure can re-rank
    /// at bucket boundaries.
    public func hourOfWeek(at instant: UnixSeconds, for debtor: Debtor) -> Int {
        let local = primaryZone(for: debtor).localSeconds(at: instant)
        let day = CivilTime.day(ofLocalSeconds: local)
        return (CivilTime.weekday(ofDay: day) - 1) * 24 + Int((local - day * 86_400) / 3600)
    }

    /// The debtor's primary zone: the address zone, else the first candidate zone.
    public func primaryZone(for debtor: Debtor) -> ZoneTable {
        data.primaryZone(debtor)
    }

    func withEvaluator(_ debtor: Debtor, _ history: DebtorHistory, _ now: UnixSeconds, _ body: (Evaluator) -> Void) {
        let n = history.outcomes.count + history.unresolved.count
        withUnsafeTemporaryAllocation(of: Event.self, capacity: max(n, 1)) { events in
            let ev = Evaluator(data: data, debtor: debtor, history: history, now: now, events: events)
            body(ev)
        }
    }
}

/// Precomputed, immutable lookup data of a policy (zones per jurisdiction, phone prefixes, holidays).
final class PolicyData: Sendable {
    let configuration: PolicyConfiguration
    let zones: ZoneDatabase
    let jurisdictionZones: [String: [ZoneTable]]
    let prefixZones: [String: [ZoneTable]]
    let maxPrefix: Int
    let holidays: [String: HolidayCalendar]
    let utc: ZoneTable
    /// Segment prior curves with their maxima (a short list: a linear scan beats hashing).
    let curves: [(name: String, curve: [Double], max: Double)]
    let defaultCurve: (curve: [Double], max: Double)

    /// The prior curve of `segment` and its maximum.
    func prior(for segment: String?) -> (curve: [Double], max: Double) {
        if let segment {
            for c in curves where c.name == segment { return (c.curve, c.max) }
        }
        return defaultCurve
    }

    init(configuration: PolicyConfiguration, zones: ZoneDatabase, phoneZones: PhonePrefixZones) {
        self.configuration = configuration
        self.zones = zones
        curves = configuration.propensity.segmentCurves.sorted { $0.key < $1.key }.map {
            (name: $0.key, curve: $0.value, max: $0.value.max() ?? 1)
        }
        defaultCurve = (configuration.propensity.defaultCurve, configuration.propensity.defaultCurve.max() ?? 1)
        utc = zones.zone(named: "UTC") ?? ZoneTable(fixedName: "UTC", offsetSeconds: 0)
        var jz: [String: [ZoneTable]] = [:]
        var codes = Set(zones.countryZones.keys)
        codes.insert("US")
        for s in JurisdictionZones.usStates.keys { codes.insert("US-" + s) }
        codes.insert("US-NY-NYC")
        for code in codes {
            jz[code] = Self.dedupe(JurisdictionZones.names(for: code, in: zones).compactMap { zones.zone(named: $0) })
        }
        jurisdictionZones = jz
        var pz: [String: [ZoneTable]] = [:]
        for (p, names) in phoneZones.table { pz[p] = names.compactMap { zones.zone(named: $0) } }
        prefixZones = pz
        maxPrefix = phoneZones.maxLength
        var h: [String: HolidayCalendar] = ["ID": .bundled(country: "ID",
                                                             includeCollectiveLeave: configuration.blockCollectiveLeave)]
        for (k, v) in configuration.holidayOverrides { h[k] = v }
        holidays = h
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

    func jurisdictionZoneList(_ code: String) -> [ZoneTable] {
        if let z = jurisdictionZones[code] { return z }
        if code.utf8.count > 2, let z = jurisdictionZones[String(code.prefix(2))] { return z }
        return []
    }

    func phoneZoneList(_ number: String) -> [ZoneTable] {
        var digits = Substring(number)
        if digits.hasPrefix("+") { digits = digits.dropFirst() }
        var n = min(maxPrefix, digits.count)
        while n >= 1 {
            if let z = prefixZones[String(digits.prefix(n))] { return z }
            n -= 1
        }
        return []
    }

    func candidateZones(address: ZoneTable?, phone: Phone, jurisdiction: String) -> ZoneSet {
        var set = ZoneSet()
        if let a = address { set.add(a) }
        if let pz = phone.zone, let z = zones.zone(named: pz) {
            set.add(z)
        } else {
            for z in phoneZoneList(phone.number) { set.add(z) }
        }
        if set.count == 0 {
            // Empty when nothing is known at all: the decision is then "never" (conservative).
            set.shared = jurisdictionZoneList(jurisdiction)
        }
        return set
    }

    func primaryZone(_ debtor: Debtor) -> ZoneTable {
        if let a = debtor.zone, let z = zones.zone(named: a) { return z }
        for p in debtor.phones where p.owner == .debtor {
            if let pz = p.zone, let z = zones.zone(named: pz) { return z }
            if let z = phoneZoneList(p.number).first { return z }
        }
        return jurisdictionZoneList(debtor.jurisdiction).first ?? utc
    }
}

/// Up to four zones inline (no allocation), or a shared array.
struct ZoneSet {
    var z0: ZoneTable?
    var z1: ZoneTable?
    var z2: ZoneTable?
    var z3: ZoneTable?
    var n = 0
    var shared: [ZoneTable]?

    var count: Int { shared?.count ?? n }

    subscript(i: Int) -> ZoneTable {
        if let s = shared { return s[i] }
        switch i {
        case 0: return z0!
        case 1: return z1!
        case 2: return z2!
        default: return z3!
        }
    }

    mutating func add(_ z: ZoneTable) {
        for i in 0..<count where self[i] === z { return }
        if shared != nil {
            shared!.append(z)
            return
        }
        switch n {
        case 0: z0 = z
        case 1: z1 = z
        case 2: z2 = z
        case 3: z3 = z
        default:
            shared = [z0!, z1!, z2!, z3!, z]
        }
        n += 1
    }
}

/// One past attempt, preprocessed (day in the primary zone, indices instead of strings).
struct Event {
    var at: Int64
    var day: Int64
    var debt: Int32  // index into debtor.debts, -1 = unknown debt
    var phone: Int32  // index into debtor.phones, -1 = unknown number
    var outcome: Int8  // Outcome.index, -1 = unresolved (expired lease)
    var bucket: Int16
    var consented: Bool
    var source: Int32  // index into history.outcomes, -1 for unresolved
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

/// What bound the earliest time.
enum Binding: Equatable {
    case none
    case retryDelay(Int8)
    case minimumGap
    case abandonedHold
    case conversationBlock
    case promiseHold
    case capDebt7(Int)
    case capPersonal7
    case capOther30
    case capDebtor7
    case capAttempts7
    case dailyMax
    case voicemailDay
    case busyRetries
    case window(ZoneTable)

    static func == (a: Binding, b: Binding) -> Bool {
        switch (a, b) {
        case (.window(let x), .window(let y)): return x === y
        case (.none, .none), (.minimumGap, .minimumGap), (.abandonedHold, .abandonedHold),
            (.conversationBlock, .conversationBlock), (.promiseHold, .promiseHold), (.capPersonal7, .capPersonal7),
            (.capOther30, .capOther30), (.capDebtor7, .capDebtor7), (.capAttempts7, .capAttempts7),
            (.dailyMax, .dailyMax), (.voicemailDay, .voicemailDay), (.busyRetries, .busyRetries):
            return true
        case (.retryDelay(let x), .retryDelay(let y)): return x == y
        case (.capDebt7(let x), .capDebt7(let y)): return x == y
        default: return false
        }
    }
}

/// The per-call working state of one decision (one object per call; never shared).
final class Evaluator {
    let config: PolicyConfiguration
    let data: PolicyData
    let debtorID: String
    let jurisdiction: String
    let status: DebtorStatus
    let segment: String?
    let phones: [Phone]
    let debts: [Debt]
    let history: DebtorHistory
    let now: Int64
    let events: UnsafeMutableBufferPointer<Event>
    let eventCount: Int
    let pack: RulePack
    let primary: ZoneTable
    /// The zones whose local calendar days the day-based rules are counted in: the address zone; without one,
    /// every zone of the debtor's phones (the stricter reading wins). `dayZones[0]` is `primary`.
    let dayZones: ZoneSet
    let address: ZoneTable?
    let holidays: HolidayCalendar?
    let quiet: [QuietTime]
    let sevenDayCap: Int?
    var debtorNotBefore: Int64 = Int64.min
    var debtorBinding: Binding = .none
    var ceased = false
    var brokenPromises = 0
    var recentUnanswered = 0

    init(data: PolicyData, debtor: borrowing Debtor, history: DebtorHistory, now: Int64,
         events: UnsafeMutableBufferPointer<Event>)
    {
        self.config = data.configuration
        self.data = data
        self.debtorID = debtor.id
        self.jurisdiction = debtor.jurisdiction
        self.status = debtor.status
        self.segment = debtor.segment
        self.phones = debtor.phones
        self.debts = debtor.debts
        self.history = history
        self.now = now
        self.events = events
        self.pack = RulePack.resolve(debtor.jurisdiction)
        self.address = debtor.zone.flatMap { data.zones.zone(named: $0) }
        let primary = address ?? data.primaryZone(debtor)
        self.primary = primary
        var dz = ZoneSet()
        dz.add(primary)
        if address == nil {
            for p in debtor.phones where p.owner == .debtor {
                let c = data.candidateZones(address: nil, phone: p, jurisdiction: debtor.jurisdiction)
                for i in 0..<c.count { dz.add(c[i]) }
            }
        }
        self.dayZones = dz
        self.quiet = debtor.quiet
        if pack.closedOnHolidays {
            holidays = data.holidays[String(debtor.jurisdiction.prefix(2))]
        } else {
            holidays = nil
        }
        switch (pack.countedPerDebtPer7Days, config.houseCountedPerDebtPer7Days) {
        case (let a?, let b?): sevenDayCap = min(a, b)
        case (let a?, nil): sevenDayCap = a
        case (nil, let b?): sevenDayCap = b
        default: sevenDayCap = nil
        }
        // Preprocess the history into events.
        var k = 0
        history.outcomes.withUnsafeBufferPointer { outcomes in
            for si in outcomes.indices {
                events[k] = Event(at: outcomes[si].at, day: 0, debt: Self.index(of: outcomes[si].debt, in: debtor.debts),
                                  phone: Self.phoneIndex(outcomes[si].phone, debtor.phones),
                                  outcome: Int8(outcomes[si].outcome.index), bucket: 0, consented: false,
                                  source: Int32(si))
                k += 1
            }
        }
        for u in history.unresolved {
            events[k] = Event(at: u.at, day: 0, debt: Self.index(of: u.debt, in: debtor.debts),
                              phone: Self.phoneIndex(u.phone, debtor.phones), outcome: -1, bucket: 0,
                              consented: false, source: -1)
            k += 1
        }
        eventCount = k
        for i in 0..<k where events[i].phone >= 0 {
            let kind = debtor.phones[Int(events[i].phone)].kind
            events[i].kindClass = kind == .mobile || kind == .home ? 1 : 2
        }
        var lastAt = Int64.min
        var lastOutcome: Int8 = -1
        var lastAbandoned = Int64.min
        let fatigueFrom = now - config.propensity.fatigueWindowSeconds
        for i in 0..<k {
            let local = primary.localSeconds(at: events[i].at)
            let day = CivilTime.day(ofLocalSeconds: local)
            events[i].day = day
            events[i].bucket = Int16((CivilTime.weekday(ofDay: day) - 1) * 24 + Int((local - day * 86_400) / 3600))
            let e = events[i]
            if e.at >= lastAt {
                lastAt = e.at
                lastOutcome = e.outcome
            }
            if e.outcome == Int8(Outcome.abandoned.index) { lastAbandoned = max(lastAbandoned, e.at) }
            if e.outcome == Int8(Outcome.cease.index) {
                ceased = !history.clearances.contains { $0.kind == .cease && $0.at > e.at } || ceased
            }
            if e.isUnanswered && e.at >= fatigueFrom
                && e.at <= now
            {
                recentUnanswered += 1
            }
            // Consented callbacks: the first attempt on the debt inside [callbackAt, callbackAt + window].
            if e.outcome == Int8(Outcome.callbackRequested.index), e.source >= 0,
                let cb = history.outcomes[Int(e.source)].callbackAt, cb >= e.at,
                cb - e.at <= config.callbackValiditySeconds
            {
                var first = -1
                for j in 0..<k where events[j].debt == e.debt && events[j].at >= cb
                    && events[j].at <= cb + config.callbackWindowSeconds
                {
                    if first < 0 || events[j].at < events[first].at { first = j }
                }
                if first >= 0 { events[first].consented = true }
            }
        }
        if lastAt != Int64.min {
            let retry = lastOutcome >= 0 ? config.retryDelaySeconds[Int(lastOutcome)]
                : config.retryDelay(after: .noAnswer)
            if lastAt + retry > debtorNotBefore {
                debtorNotBefore = lastAt + retry
                debtorBinding = .retryDelay(lastOutcome)
            }
            if lastAt + config.minimumGapSeconds > debtorNotBefore {
                debtorNotBefore = lastAt + config.minimumGapSeconds
                debtorBinding = .minimumGap
            }
        }
        if pack.abandonedHoldSeconds > 0, lastAbandoned != Int64.min,
            lastAbandoned + pack.abandonedHoldSeconds > debtorNotBefore
        {
            debtorNotBefore = lastAbandoned + pack.abandonedHoldSeconds
            debtorBinding = .abandonedHold
        }
        // Broken promises of the debtor (for P(kept)).
        for i in 0..<k where events[i].outcome == Int8(Outcome.promiseToPay.index) {
            let o = history.outcomes[Int(events[i].source)]
            if let p = o.promise, let due = CivilTime.parseDate(p.due) {
                let holdEnd = startOfDay(due + Int64(config.promiseGraceDays) + 1)
                if now >= holdEnd && !promiseKept(o, p) { brokenPromises += 1 }
            }
        }
    }

    static func index(of id: String, in debts: [Debt]) -> Int32 {
        for (i, d) in debts.enumerated() where d.id == id { return Int32(i) }
        return -1
    }

    static func phoneIndex(_ number: String, _ phones: [Phone]) -> Int32 {
        for (i, p) in phones.enumerated() where p.number == number { return Int32(i) }
        return -1
    }

    func promiseKept(_ o: OutcomeEvent, _ p: PromiseTerms) -> Bool {
        var paid: Int64 = 0
        history.payments.withUnsafeBufferPointer { pays in
            for i in pays.indices where pays[i].at >= o.at && pays[i].debt == o.debt {
                paid += pays[i].amount.tenThousandths
            }
        }
        return paid >= p.amount.tenThousandths
    }

    @inline(__always)
    func startOfDay(_ day: Int64) -> Int64 { primary.instant(forLocal: day * 86_400, later: false) }

    @inline(__always)
    func primaryDay(_ t: Int64) -> Int64 { CivilTime.day(ofLocalSeconds: primary.localSeconds(at: t)) }

    /// The local day of event `i` in day zone `zi`.
    @inline(__always)
    func dayOf(_ i: Int, _ zi: Int) -> Int64 {
        zi == 0 ? events[i].day : CivilTime.day(ofLocalSeconds: dayZones[zi].localSeconds(at: events[i].at))
    }

    /// The latest, over the day zones, of the start of local day `(day of t) + days`.
    func startOfDayAfter(_ t: Int64, days: Int64) -> Int64 {
        var r = Int64.min
        for zi in 0..<dayZones.count {
            let z = dayZones[zi]
            let d = CivilTime.day(ofLocalSeconds: z.localSeconds(at: t)) + days
            r = max(r, z.instant(forLocal: d * 86_400, later: false))
        }
        return r
    }

    /// The latest, over the day zones, of the start of calendar day `day`.
    func startOfCalendarDay(_ day: Int64) -> Int64 {
        var r = Int64.min
        for zi in 0..<dayZones.count { r = max(r, dayZones[zi].instant(forLocal: day * 86_400, later: false)) }
        return r
    }

    /// The first instant ≥ `t` whose local day, in every day zone, breaks no cap (with the binding cap).
    func capNext(_ t: Int64, debt di: Int32, phone pi: Int32) -> (Int64, Binding) {
        var next = t
        var binding = Binding.none
        for zi in 0..<dayZones.count {
            let z = dayZones[zi]
            let day = CivilTime.day(ofLocalSeconds: z.localSeconds(at: t))
            let (d2, b) = capDay(day, zone: zi, debt: di, phone: pi)
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
    func nextWindow(_ t: Int64, _ z: ZoneTable) -> (Int64, Int64)? {
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

    /// The first instant ≥ `t` inside the window of every zone of `zones`, with the end of that interval.
    func windowIntersection(_ t0: Int64, _ zones: ZoneSet, _ limit: Int64) -> (Int64, Int64, ZoneTable?)? {
        var t = t0
        var binding: ZoneTable?
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

    // MARK: Caps

    /// The first primary-zone day ≥ `day` on which a call about debt `di` to phone `pi` breaks no cap.
    func capDay(_ day: Int64, zone zi: Int, debt di: Int32, phone pi: Int32) -> (Int64, Binding) {
        var d = day
        var binding = Binding.none
        let personal = phones[Int(pi)].kind == .mobile || phones[Int(pi)].kind == .home
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
            if let cap = sevenDayCap, c7 >= cap {
                next = .capDebt7(c7)
            } else if personal, let cap = pack.personalPerDebtPer7Days, cPersonal >= cap {
                next = .capPersonal7
            } else if !personal, let cap = pack.otherPerDebtPer30Days, cOther >= cap {
                next = .capOther30
            } else if let cap = pack.countedPerDebtorPer7Days, cDebtor >= cap {
                next = .capDebtor7
            } else if let cap = pack.attemptsPerDebtPer7Days, d >= pack.attemptsCapFromDay, cAll >= cap {
                next = .capAttempts7
            } else if cDay >= config.maxAttemptsPerDay {
                next = .dailyMax
            } else if vmDay >= config.voicemailsPerDay {
                next = .voicemailDay
            } else if busyDay >= config.busyRetriesPerPhonePerDay {
                next = .busyRetries
            }
            if next == .none { return (d, binding) }
            binding = next
            d += 1
        }
        return (d, binding)
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
        var never: String?
        var broken = false
        var remaining: Int64
        var callbackAt: Int64?
    }

    func debtState(_ di: Int32) -> DebtState {
        let debt = debts[Int(di)]
        var st = DebtState(notBefore: max(now, debtorNotBefore), binding: debtorNotBefore > now ? debtorBinding : .none,
                           never: nil, remaining: debt.balance.tenThousandths)
        history.payments.withUnsafeBufferPointer { pays in
            for i in pays.indices where pays[i].debt == debt.id { st.remaining -= pays[i].amount.tenThousandths }
        }
        if st.remaining <= 0 {
            st.never = "debt settled by payments"
            return st
        }
        if ceased {
            st.never = "cease requested"
            return st
        }
        var lastConversation = Int64.min
        var lastPromise = -1
        var lastCallback = -1
        for i in 0..<eventCount where events[i].debt == di {
            let e = events[i]
            switch e.outcome {
            case Int8(Outcome.paid.index):
                st.never = "paid on a call"
                return st
            case Int8(Outcome.dispute.index):
                let cleared = history.clearances.contains { $0.kind == .dispute && $0.debt == debt.id && $0.at > e.at }
                if !cleared {
                    st.never = "dispute open (until an operator clears it)"
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
        if pack.conversationBlock, lastConversation != Int64.min {
            let until = startOfDayAfter(lastConversation, days: 7)
            if until > st.notBefore {
                st.notBefore = until
                st.binding = .conversationBlock
            }
        }
        if lastPromise >= 0 {
            let o = history.outcomes[Int(events[lastPromise].source)]
            if let p = o.promise, let due = CivilTime.parseDate(p.due), !promiseKept(o, p) {
                let holdEnd = startOfCalendarDay(due + Int64(config.promiseGraceDays) + 1)
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
            let o = history.outcomes[Int(e.source)]
            if let cb = o.callbackAt, cb >= e.at, cb - e.at <= config.callbackValiditySeconds,
                now < cb + config.callbackWindowSeconds
            {
                let used = (0..<eventCount).contains {
                    events[$0].debt == di && events[$0].at >= cb && events[$0].at <= cb + config.callbackWindowSeconds
                }
                if !used { st.callbackAt = cb }
            }
        }
        return st
    }

    func phoneDialable(_ pi: Int) -> Bool {
        let p = phones[pi]
        guard p.owner == .debtor, !p.optedOut else { return false }
        for i in 0..<eventCount where events[i].phone == Int32(pi) {
            let o = events[i].outcome
            if o == Int8(Outcome.notInService.index) || o == Int8(Outcome.wrongNumber.index) { return false }
        }
        return true
    }

    /// The first permitted interval at or after `t0` for debt `di` on phone `pi`.
    func permitted(_ t0: Int64, _ st: DebtState, _ di: Int32, _ pi: Int32, _ zones: ZoneSet, _ limit: Int64)
        -> (Int64, Int64, Binding)?
    {
        var t = max(t0, st.notBefore)
        // The binding rule: the last non-window constraint that moved `t`, else the window that did.
        var rule: Binding = st.notBefore > t0 ? st.binding : .none
        var windowZone: ZoneTable?
        for _ in 0..<100 {
            if t > limit { return nil }
            let day = primaryDay(t)
            let (next, b) = capNext(t, debt: di, phone: pi)
            if next > t {
                t = next
                rule = b
                continue
            }
            guard let (s, e, z) = windowIntersection(t, zones, limit) else { return nil }
            if s > t {
                t = s
                if let z { windowZone = z }
                if primaryDay(s) != day { continue }
            }
            if rule == .none, let z = windowZone { rule = .window(z) }
            return (t, e, rule)
        }
        return nil
    }

    func decide(debt index: Int) -> Decision {
        let di = Int32(index)
        let debt = debts[index]
        func never(_ why: String, phone: String? = nil) -> Decision {
            Decision(debtor: debtorID, debt: debt.id, phone: phone, earliest: nil, best: nil, windowEnds: nil,
                     score: 0, blockedReason: why, reasons: config.includeReasons ? [why] : [], zone: primary.name)
        }
        if status != .active { return never("status \(status.rawValue)") }
        let st = debtState(di)
        if let why = st.never { return never(why) }
        let limit = max(now, st.notBefore) + max(config.horizonSeconds, 30 * 86_400)
        var bestPhone = -1
        var bestInterval: (Int64, Int64, Binding) = (0, 0, .none)
        var bestZones = ZoneSet()
        var consented = false
        var anyDialable = false
        var zoneUnknown = false
        for pi in phones.indices where phoneDialable(pi) {
            anyDialable = true
            let zs = data.candidateZones(address: address, phone: phones[pi], jurisdiction: jurisdiction)
            if zs.count == 0 {
                zoneUnknown = true
                continue
            }
            var candidate = permitted(now, st, di, Int32(pi), zs, limit)
            var isCallback = false
            if let cb = st.callbackAt {
                let cbEnd = cb + config.callbackWindowSeconds
                if let (s, e, _) = windowIntersection(max(now, cb), zs, cbEnd), s < cbEnd,
                    candidate == nil || s < candidate!.0
                {
                    candidate = (s, min(e, cbEnd), .none)
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
        if !anyDialable { return never("no dialable phone (none owned by the debtor, or all dead, wrong or opted out)") }
        if bestPhone < 0 && zoneUnknown {
            return never("no time zone known (no address zone, no phone zone, unknown jurisdiction \(jurisdiction))")
        }
        guard bestPhone >= 0 else {
            return never("no permitted time within 30 days (windows, holidays, quiet times or holds)")
        }
        let phone = phones[bestPhone]
        let (earliest, windowEnd, binding) = bestInterval
        // Value model.
        let prop = config.propensity
        var k = prop.ptpGivenRPC * prop.keptProbability * pow(prop.keptDecayPerBroken, Double(brokenPromises))
            * Double(st.remaining) / 10_000
        if st.broken { k *= prop.brokenPromiseBoost }
        k *= pow(prop.fatiguePerUnanswered, Double(recentUnanswered))
        let (curve, curveMax) = data.prior(for: segment)
        var bestT = earliest
        var bestV = -1.0
        var bestBucket = 0
        // When the earliest time lies beyond the horizon, look one day past it.
        let horizonEnd = max(now + config.horizonSeconds, earliest + 86_400)
        let lnGamma = log(config.discountPerHour)
        let gamma = config.discountPerHour
        // Caps and holds only loosen as days pass (every counted event is in the past), so after the first
        // permitted interval only the windows can close a later slot.
        var capsMonotone = true
        for i in 0..<eventCount where events[i].at > now { capsMonotone = false }
        withBuckets { att, rpc, recent in
            let thompson = prop.thompsonSeed
            let kappa = prop.kappa
            let penalty = prop.sameBucketPenalty
            let penalties = (1.0, penalty, penalty * penalty, penalty * penalty * penalty)
            let idHash = thompson == nil ? 0 : fnv(debtorID)
            // An upper bound of p̂ over all buckets: once bound × discount falls below the best value found,
            // no later slot can win (branch and bound). Thompson draws are unbounded below 1.
            var bound = curveMax
            if thompson != nil {
                bound = 1
            } else if !att.isEmpty {
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
                _ = penalties.0
                return v
            }
            if consented {
                bestT = earliest
                bestBucket = bucket(earliest)
                bestV = p(bestBucket) * exp(lnGamma * Double(earliest - now) / 3600)
                return
            }
            var interval: (Int64, Int64, Binding)? = bestInterval
            search: while let (s, e, _) = interval, s < horizonEnd {
                let stop = min(e, horizonEnd)
                var t = s
                var f = exp(lnGamma * Double(t - now) / 3600)
                while t < stop {
                    if bestV >= bound * f { break search }
                    // A stretch of constant offset in the primary zone: buckets advance one per hour.
                    let (offset, until) = primary.offsetSegment(at: t)
                    var local = t + Int64(offset)
                    let day = CivilTime.day(ofLocalSeconds: local)
                    var b = (CivilTime.weekday(ofDay: day) - 1) * 24 + Int((local - day * 86_400) / 3600)
                    let segStop = min(stop, until)
                    var step = 3600 - ((local % 3600) + 3600) % 3600
                    while t < segStop {
                        let v = p(b) * f
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
                if capsMonotone {
                    interval = windowIntersection(e, bestZones, horizonEnd).map { ($0.0, $0.1, .none) }
                } else {
                    interval = permitted(e, st, di, Int32(bestPhone), bestZones, horizonEnd)
                }
            }
        }
        var reasons: [String] = []
        if config.includeReasons {
            reasons.append(consented ? "consented callback (exempt from the 7-in-7 count and the conversation block)"
                                     : describe(binding, earliest))
            reasons.append("best hour-of-week bucket " + Self.bucketName(bestBucket))
            if let cap = sevenDayCap {
                reasons.append("cap usage \(capUsage(primaryDay(earliest), debt: di))/\(cap) in 7 days (pack \(pack.code))")
            } else {
                reasons.append("pack \(pack.code)")
            }
            if st.broken { reasons.append("promise broken: raised priority") }
            if recentUnanswered > 0 { reasons.append("fatigue: \(recentUnanswered) unanswered in 7 days") }
        }
        return Decision(debtor: debtorID, debt: debt.id, phone: phone.number, earliest: earliest, best: bestT,
                        windowEnds: windowEnd, score: max(bestV, 0) * k, blockedReason: nil, reasons: reasons,
                        zone: primary.name, consentedCallback: consented)
    }

    func valueNow(debt index: Int) -> Double {
        let di = Int32(index)
        let st = debtState(di)
        if st.never != nil { return 0 }
        let prop = config.propensity
        var k = prop.ptpGivenRPC * prop.keptProbability * pow(prop.keptDecayPerBroken, Double(brokenPromises))
            * Double(st.remaining) / 10_000
        if st.broken { k *= prop.brokenPromiseBoost }
        k *= pow(prop.fatiguePerUnanswered, Double(recentUnanswered))
        let curve = data.prior(for: segment).curve
        let b = bucket(now)
        var att = 0.0, rpc = 0.0, recent = 0.0
        for i in 0..<eventCount where events[i].bucket == b && events[i].outcome >= 0 {
            att += 1
            if events[i].isConversation { rpc += 1 }
            if events[i].isUnanswered && events[i].at >= now - prop.fatigueWindowSeconds
            {
                recent += 1
            }
        }
        return (rpc + prop.kappa * curve[b]) / (att + prop.kappa) * pow(prop.sameBucketPenalty, recent) * k
    }

    @inline(__always)
    func bucket(_ t: Int64) -> Int {
        let local = primary.localSeconds(at: t)
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
        withUnsafeTemporaryAllocation(of: UInt16.self, capacity: 3 * 168) { buf in
            buf.initialize(repeating: 0)
            let fatigueFrom = now - config.propensity.fatigueWindowSeconds
            for i in 0..<eventCount where events[i].outcome >= 0 {
                let e = events[i]
                let b = Int(e.bucket)
                buf[b] &+= 1
                if e.isConversation { buf[168 + b] &+= 1 }
                if e.isUnanswered && e.at >= fatigueFrom && e.at <= now {
                    buf[336 + b] &+= 1
                }
            }
            let base = UnsafeBufferPointer(buf)
            body(UnsafeBufferPointer(rebasing: base[0..<168]), UnsafeBufferPointer(rebasing: base[168..<336]),
                 UnsafeBufferPointer(rebasing: base[336..<504]))
        }
    }

    static let dayNames = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

    static func bucketName(_ b: Int) -> String {
        let h = b % 24
        return dayNames[b / 24] + " " + (h < 10 ? "0" : "") + String(h)
    }

    func local(_ t: Int64) -> String { RFC3339.format(t, in: primary) }

    func describe(_ b: Binding, _ t: Int64) -> String {
        switch b {
        case .none: return "permitted now"
        case .retryDelay(let o):
            let name = o >= 0 ? Outcome.allCases[Int(o)].rawValue : "an expired lease"
            return "retry delay after \(name) until \(local(t))"
        case .minimumGap: return "minimum gap between attempts until \(local(t))"
        case .abandonedHold: return "no redial within 72 h after an abandoned call (\(pack.code)) until \(local(t))"
        case .conversationBlock:
            return "conversation block (conversation day + 6 days, \(pack.code)) until \(local(t))"
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
            return "window \(ws / 60 < 10 ? "0" : "")\(ws / 60):00-\(we / 60):00 \(z.name) (\(pack.code)) opens \(local(t))"
        }
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

/// A small deterministic generator (SplitMix64) with Beta sampling for Thompson draws.
struct SplitMix64 {
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
