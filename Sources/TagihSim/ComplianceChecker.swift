import Dispatch
import Synchronization
import TagihCore

/// An independent checker of windows and caps: it watches every placed attempt and counts the
/// ones a regulator would call a violation. It shares no code with TagihCore's rule packs, so a
/// defect in the scheduler shows up here instead of being repeated.
///
/// Its state is kept in three record arrays in manually managed memory: per debtor (32 bytes: rules, status,
/// zone, debts, last abandoned call), per phone (8 bytes) and per debt (64 bytes, one cache line: the ring of the
/// last eight calls and the debt's conversation, dispute, closing and callback state). A check or a record reads
/// three cache lines, and `prefetch` asks for them ahead (the pipeline does, a few operations ahead).
final class ComplianceChecker {
    static let ringSize = 8
    private let world: World

    /// Per debtor: the legal rules that apply, its status and where to find its zone and debts.
    struct DebtorRecord {
        var windowFrom: Int16
        var windowTo: Int16
        var flags: UInt16
        var primaryZone: Int32
        var debtStart: Int32
        var debtEnd: Int32
        var lastAbandoned: Int64
    }

    /// Per phone: its candidate zones (a zone-set id) and what the checker knows of it.
    struct PhoneRecord {
        var zoneSet: Int32
        var personal: Bool
        var dialable: Bool
        var banned: Bool
    }

    /// Per debt, one cache line: the ring of the last `ringSize` calls (local day and flags, bit0 counted, bit1
    /// personal number, bit2 placed) and the debt's state.
    struct DebtRecord {
        var ringDay: (Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32) =
            (.min, .min, .min, .min, .min, .min, .min, .min)
        var ringFlags: UInt64 = 0
        var lastConversationDay = Int32.min / 2
        var ringNext: UInt8 = 0
        var closed = false
        var disputed = false
        var callbackAt = Int64.min
        var callbackRequested = Int64.min
    }

    private static let noSunday: UInt16 = 1
    private static let holidays: UInt16 = 2
    private static let usCaps: UInt16 = 4
    private static let ma: UInt16 = 8
    private static let wa: UInt16 = 16
    private static let nyc: UInt16 = 32
    private static let gb: UInt16 = 64
    private static let active: UInt16 = 128
    private static let ceased: UInt16 = 256
    private static let quiet: UInt16 = 512

    private let debtors: UnsafeMutablePointer<DebtorRecord>
    private let phones: UnsafeMutablePointer<PhoneRecord>
    private let debts: UnsafeMutablePointer<DebtRecord>
    private let debtorCount: Int
    private let phoneCount: Int
    private let debtCount: Int
    /// The candidate zones of zone set `k`: `setZones[setStart[k]..<setStart[k + 1]]`.
    private let setStart: [Int32]
    private let setZones: [Int32]
    private let clock: FlatZoneClock
    /// National holidays as day numbers from `holidayFirst` (true: a holiday).
    private let holidayFirst: Int32
    private let holidayDays: [Bool]
    private let nycStart: Int32

    @exclusivity(unchecked) private(set) var violations = 0
    @exclusivity(unchecked) private(set) var examples: [String] = []
    @exclusivity(unchecked) private(set) var countedCalls = 0
    /// Counted calls that brought a debt to its 7-in-7 cap.
    @exclusivity(unchecked) private(set) var callsAtCap = 0

    private static let flagCounted: UInt8 = 1
    private static let flagPersonal: UInt8 = 2
    private static let flagPlaced: UInt8 = 4

    /// Initializes the records of the debtors in `range` and of their phones and debts.
    private static func initializeRecords(
        _ range: Range<Int>, debtors: UnsafeMutablePointer<DebtorRecord>, phones: UnsafeMutablePointer<PhoneRecord>,
        debts: UnsafeMutablePointer<DebtRecord>, world: World
    ) {
        for i in range {
            let r = world.rules[i]
            var flags: UInt16 = 0
            if r.noSunday { flags |= Self.noSunday }
            if r.holidays { flags |= Self.holidays }
            if r.usCaps { flags |= Self.usCaps }
            if r.ma { flags |= Self.ma }
            if r.wa { flags |= Self.wa }
            if r.nyc { flags |= Self.nyc }
            if r.gb { flags |= Self.gb }
            if world.active[i] { flags |= Self.active }
            if world.hasQuiet[i] { flags |= Self.quiet }
            (debtors + i).initialize(to: DebtorRecord(
                windowFrom: Int16(r.windowFrom), windowTo: Int16(r.windowTo), flags: flags,
                primaryZone: world.primaryZone[i], debtStart: world.debtStart[i], debtEnd: world.debtStart[i + 1],
                lastAbandoned: Int64.min / 2))
        }
        for p in Int(world.phoneStart[range.lowerBound])..<Int(world.phoneStart[range.upperBound]) {
            let kind = world.phoneKind[p]
            (phones + p).initialize(to: PhoneRecord(
                zoneSet: world.phoneZones[p], personal: kind == .mobile || kind == .home,
                dialable: world.phoneDialable[p], banned: false))
        }
        let first = Int(world.debtStart[range.lowerBound])
        (debts + first).initialize(repeating: DebtRecord(), count: Int(world.debtStart[range.upperBound]) - first)
    }

    init(world: World) {
        self.world = world
        let n = world.debtors.count
        debtorCount = n
        phoneCount = world.phoneCount
        debtCount = world.debtCount
        debtors = .allocate(capacity: max(n, 1))
        phones = .allocate(capacity: max(phoneCount, 1))
        // One cache line per debt.
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: max(debtCount, 1) * MemoryLayout<DebtRecord>.stride, alignment: 64)
        debts = raw.bindMemory(to: DebtRecord.self, capacity: max(debtCount, 1))
        // The three record arrays on all cores (disjoint pieces: a piece of debtors with their phones and debts).
        let records = Unchecked((debtors, phones, debts, world))
        Parallel.forEachChunk(count: n) { range in
            let (debtors, phones, debts, world) = records.value
            guard !range.isEmpty else { return }
            Self.initializeRecords(range, debtors: debtors, phones: phones, debts: debts, world: world)
        }
        var starts: [Int32] = [0]
        var zones: [Int32] = []
        for set in world.zoneSets {
            zones.append(contentsOf: set)
            starts.append(Int32(zones.count))
        }
        setStart = starts
        setZones = zones
        clock = world.clock.flattened()
        let holidays = Jurisdictions.indonesianHolidays.compactMap { LocalTime.parseDate($0) }
        let years = Jurisdictions.indonesianHolidayYears
        let first = LocalTime.dayNumber(year: years.lowerBound, month: 1, day: 1)
        var days = [Bool](
            repeating: false, count: Int(LocalTime.dayNumber(year: years.upperBound, month: 12, day: 31) - first) + 1)
        for d in holidays { days[Int(d - first)] = true }
        holidayFirst = first
        holidayDays = days
        nycStart = LocalTime.dayNumber(year: 2026, month: 9, day: 1)
    }

    deinit {
        debtors.deallocate()
        phones.deallocate()
        debts.deinitialize(count: debtCount)
        UnsafeMutableRawPointer(debts).deallocate()
    }

    @exclusivity(unchecked) private(set) var byRule: [String: Int] = [:]

    private func flag(_ rule: String, _ detail: String = "", debtor: Int, at t: UnixSeconds) {
        violations += 1
        byRule[rule, default: 0] += 1
        if examples.count < 40 && byRule[rule, default: 0] <= 5 {
            examples.append("\(LocalTime.rfc3339(t)) \(world.debtors[debtor].id): \(rule)\(detail)")
        }
    }

    /// Asks for the records a check or record of this debtor, debt and phone reads (a hint; see `Prefetch`).
    @inline(__always)
    func prefetch(debtor: Int, debt: Int, phone: Int) {
        Prefetch.read(debtors + debtor)
        Prefetch.read(phones + phone)
        Prefetch.write(debts + debt)
    }

    @inline(__always)
    private func isHoliday(_ day: Int32) -> Bool {
        let k = Int(day) - Int(holidayFirst)
        // A day outside the table's years is unknown: it counts as a holiday.
        return k < 0 || k >= holidayDays.count || holidayDays[k]
    }

    /// Counts (debt-local) calls with `mask` set on days `from...to`.
    @inline(__always)
    private func count(debt: Int, mask: UInt8, fromDay: Int32, toDay: Int32) -> Int {
        let record = debts + debt
        let flags = record.pointee.ringFlags
        return UnsafeMutableRawPointer(record).withMemoryRebound(to: Int32.self, capacity: Self.ringSize) { days in
            var n = 0
            for k in 0..<Self.ringSize where UInt8(truncatingIfNeeded: flags >> (8 * UInt64(k))) & mask == mask {
                let d = days[k]
                if d >= fromDay && d <= toDay { n += 1 }
            }
            return n
        }
    }

    /// Checks one attempt about to be placed; counts every rule it breaks.
    func check(debtor i: Int, debt: Int, phone p: Int, at t: UnixSeconds) {
        let r = debtors[i]
        let phone = phones[p]
        let d = debts + debt
        if r.flags & Self.active == 0 || r.flags & Self.ceased != 0 { flag("hard stop (status or cease)", debtor: i, at: t) }
        if !phone.dialable { flag("not a debtor number", debtor: i, at: t) }
        if phone.banned { flag("dead or wrong number redialed", debtor: i, at: t) }
        if d.pointee.closed { flag("debt already paid", debtor: i, at: t) }
        if d.pointee.disputed { flag("open dispute", debtor: i, at: t) }
        // Window in every candidate zone.
        let zones = Int(setStart[Int(phone.zoneSet)])..<Int(setStart[Int(phone.zoneSet) + 1])
        for k in zones {
            let z = setZones[k]
            let local = clock.local(z, t)
            let minute = LocalTime.minute(local)
            let day = LocalTime.day(local)
            if minute < Int(r.windowFrom) || minute >= Int(r.windowTo) {
                flag("outside window", " in \(world.clock.names[Int(z)]) (local minute \(minute))", debtor: i, at: t)
            }
            if r.flags & Self.noSunday != 0 && LocalTime.weekday(day: day) == 7 { flag("Sunday", debtor: i, at: t) }
            if r.flags & Self.holidays != 0 && isHoliday(day) { flag("national holiday", debtor: i, at: t) }
        }
        // Consumer quiet times, in every candidate zone (where the consumer is may be unknown).
        if r.flags & Self.quiet != 0 {
            let quiet = world.debtors[i].quiet
            for k in zones {
                let z = setZones[k]
                let local = clock.local(z, t)
                let minute = LocalTime.minute(local)
                let weekday = LocalTime.weekday(day: LocalTime.day(local))
                for q in quiet where (q.days.isEmpty || q.days.contains(weekday))
                    && minute >= q.fromMinute && minute < q.toMinute
                {
                    flag("consumer quiet time", " in \(world.clock.names[Int(z)])", debtor: i, at: t)
                }
            }
        }
        let today = LocalTime.day(clock.local(r.primaryZone, t))
        if r.flags & Self.gb != 0 && t - r.lastAbandoned < 72 * 3600 {
            flag("GB redial within 72 h of an abandoned call", debtor: i, at: t)
        }
        guard r.flags & Self.usCaps != 0 else { return }
        let consented = isConsentedCallback(debt: debt, at: t)
        if !consented {
            let counted = count(debt: debt, mask: Self.flagCounted, fromDay: today - 6, toDay: today)
            if counted >= 7 { flag("8th counted call in 7 days", debtor: i, at: t) }
            if today - d.pointee.lastConversationDay <= 6 {
                flag("call within 7 days of a conversation", debtor: i, at: t)
            }
            if r.flags & Self.ma != 0 {
                if phone.personal {
                    let n = count(debt: debt, mask: Self.flagCounted | Self.flagPersonal, fromDay: today - 6, toDay: today)
                    if n >= 2 { flag("US-MA: 3rd call to personal numbers in 7 days", debtor: i, at: t) }
                } else {
                    let all = count(debt: debt, mask: Self.flagCounted, fromDay: today - 29, toDay: today)
                    let personalOnly = count(
                        debt: debt, mask: Self.flagCounted | Self.flagPersonal, fromDay: today - 29, toDay: today)
                    if all - personalOnly >= 2 { flag("US-MA: 3rd call to other numbers in 30 days", debtor: i, at: t) }
                }
            }
            if r.flags & Self.wa != 0 {
                var n = 0
                for other in Int(r.debtStart)..<Int(r.debtEnd) {
                    n += count(debt: other, mask: Self.flagCounted, fromDay: today - 6, toDay: today)
                }
                if n >= 3 { flag("US-WA: 4th call to the debtor in 7 days", debtor: i, at: t) }
            }
        }
        if r.flags & Self.nyc != 0 && today >= nycStart {
            let n = count(debt: debt, mask: Self.flagPlaced, fromDay: today - 6, toDay: today)
            if n >= 3 { flag("US-NY-NYC: 4th attempt in 7 days", debtor: i, at: t) }
        }
    }

    @inline(__always)
    private func isConsentedCallback(debt: Int, at t: UnixSeconds) -> Bool {
        let cb = debts[debt].callbackAt
        return cb != Int64.min && t >= cb && t <= cb + 7200 && cb - debts[debt].callbackRequested <= 7 * 86_400
    }

    /// Records the outcome of an attempt checked with `check`.
    func record(debtor i: Int, debt: Int, phone p: Int, at t: UnixSeconds, outcome: Outcome, callback: UnixSeconds?) {
        let r = debtors + i
        let d = debts + debt
        let today = LocalTime.day(clock.local(r.pointee.primaryZone, t))
        let consented = isConsentedCallback(debt: debt, at: t)
        if consented { d.pointee.callbackAt = Int64.min }
        let counted = outcome != .busy && outcome != .notInService && !consented
        var flags = Self.flagPlaced
        if counted {
            flags |= Self.flagCounted
            countedCalls += 1
        }
        if phones[p].personal { flags |= Self.flagPersonal }
        let slot = Int(d.pointee.ringNext)
        UnsafeMutableRawPointer(d).withMemoryRebound(to: Int32.self, capacity: Self.ringSize) { $0[slot] = today }
        let shift = 8 * UInt64(slot)
        d.pointee.ringFlags = d.pointee.ringFlags & ~(0xFF << shift) | UInt64(flags) << shift
        d.pointee.ringNext = UInt8((slot + 1) % Self.ringSize)
        if counted && count(debt: debt, mask: Self.flagCounted, fromDay: today - 6, toDay: today) >= 7 {
            callsAtCap += 1
        }
        switch outcome {
        case .notInService, .wrongNumber: phones[p].banned = true
        case .abandoned: r.pointee.lastAbandoned = t
        case .rightParty, .promiseToPay, .refused: d.pointee.lastConversationDay = today
        case .dispute:
            d.pointee.lastConversationDay = today
            d.pointee.disputed = true
        case .cease:
            d.pointee.lastConversationDay = today
            r.pointee.flags |= Self.ceased
        case .callbackRequested:
            d.pointee.lastConversationDay = today
            if let cb = callback {
                d.pointee.callbackAt = cb
                d.pointee.callbackRequested = t
            }
        case .paid:
            d.pointee.lastConversationDay = today
            d.pointee.closed = true
        case .busy, .noAnswer, .voicemail, .thirdParty: break
        }
    }

    /// A debt settled by a payment outside a call.
    func recordSettled(debt: Int) { debts[debt].closed = true }
}

/// Runs the `ComplianceChecker` on a serial background queue: the event loop queues every check and record, in
/// order, and goes on; `result()` waits until all queued ones are applied. The checker sees the same sequence as
/// when called directly, so its counts are the same.
final class CheckerPipeline {
    private enum Operation {
        case check(debtor: Int32, debt: Int32, phone: Int32, at: Int64)
        case record(debtor: Int32, debt: Int32, phone: Int32, at: Int64, outcome: Outcome, callback: Int64?)
        case settled(debt: Int32)
    }

    /// The checker, touched only by the queue between `result()` calls.
    private final class Box: @unchecked Sendable {
        let checker: ComplianceChecker
        init(_ checker: ComplianceChecker) { self.checker = checker }
    }

    /// A batch of operations on its way to the checker; its storage is reused (a pool), so queuing a batch does not
    /// allocate (a fresh 160 KB array per batch cost a large allocation and page faults every few thousand calls).
    private final class Buffer: @unchecked Sendable {
        @exclusivity(unchecked) var operations: [Operation] = []
        init() { operations.reserveCapacity(CheckerPipeline.batch) }
    }

    private let box: Box
    @exclusivity(unchecked) private var operations: [Operation] = []
    /// Buffers the checker has emptied, for the next batches.
    private final class Pool: Sendable {
        let buffers = Mutex<[Buffer]>([])
    }

    private let pool = Pool()
    private let queue = DispatchQueue(label: "tagih.sim.checker")
    private let group = DispatchGroup()
    private static let batch = 4096
    /// How many operations ahead the checker asks for the records an operation reads.
    private static let ahead = 8

    init(world: World) {
        box = Box(ComplianceChecker(world: world))
        operations.reserveCapacity(Self.batch)
    }

    /// Queues the check of an attempt about to be placed.
    @inline(__always)
    func check(debtor: Int, debt: Int, phone: Int, at t: UnixSeconds) {
        operations.append(.check(debtor: Int32(debtor), debt: Int32(debt), phone: Int32(phone), at: t))
        if operations.count >= Self.batch { submit() }
    }

    /// Queues the outcome of a placed attempt.
    @inline(__always)
    func record(debtor: Int, debt: Int, phone: Int, at t: UnixSeconds, outcome: Outcome, callback: UnixSeconds?) {
        operations.append(
            .record(debtor: Int32(debtor), debt: Int32(debt), phone: Int32(phone), at: t, outcome: outcome,
                    callback: callback))
        if operations.count >= Self.batch { submit() }
    }

    /// Queues that a debt was paid off.
    func recordSettled(debt: Int) {
        operations.append(.settled(debt: Int32(debt)))
        if operations.count >= Self.batch { submit() }
    }

    private func submit() {
        guard !operations.isEmpty else { return }
        let buffer = pool.buffers.withLock { $0.popLast() } ?? Buffer()
        swap(&operations, &buffer.operations)
        let box = self.box, pool = self.pool
        queue.async(group: group) {
            Parallel.runAtBackgroundPriority()
            let checker = box.checker
            buffer.operations.withUnsafeBufferPointer { operations in
                Self.apply(operations, to: checker)
            }
            buffer.operations.removeAll(keepingCapacity: true)
            pool.buffers.withLock { $0.append(buffer) }
        }
    }

    /// Applies a batch of operations in order (on the checker's queue).
    private static func apply(_ operations: UnsafeBufferPointer<Operation>, to checker: ComplianceChecker) {
        let n = operations.count
        for k in 0..<n {
            // The records of the operation `ahead` places on are asked for now (random debtors, debts, phones).
            if k + Self.ahead < n {
                switch operations[k + Self.ahead] {
                case .check(let i, let debt, let p, _), .record(let i, let debt, let p, _, _, _):
                    checker.prefetch(debtor: Int(i), debt: Int(debt), phone: Int(p))
                case .settled: break
                }
            }
            switch operations[k] {
            case .check(let i, let debt, let p, let t):
                checker.check(debtor: Int(i), debt: Int(debt), phone: Int(p), at: t)
            case .record(let i, let debt, let p, let t, let outcome, let callback):
                checker.record(
                    debtor: Int(i), debt: Int(debt), phone: Int(p), at: t, outcome: outcome, callback: callback)
            case .settled(let debt):
                checker.recordSettled(debt: Int(debt))
            }
        }
    }

    /// Reads the checker after every queued operation (waits for the queue).
    func result<T>(_ body: (borrowing ComplianceChecker) -> T) -> T {
        submit()
        group.wait()
        return body(box.checker)
    }
}
