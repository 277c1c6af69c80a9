import Dispatch
import TagihCore

/// An independent checker of windows and caps: it watches every placed attempt and counts the
/// ones a regulator would call a violation. It shares no code with TagihCore's rule packs, so a
/// defect in the scheduler shows up here instead of being repeated.
struct ComplianceChecker {
    static let ringSize = 8
    private let world: World
    private var ringDay: [Int32]
    private var ringFlags: [UInt8]  // bit0 counted, bit1 personal number, bit2 placed
    private var ringNext: [UInt8]
    private var lastConversationDay: [Int32]
    private var debtClosed: [Bool]
    private var debtDisputed: [Bool]
    private var debtorCeased: [Bool]
    private var phoneBanned: [Bool]
    private var callbackAt: [Int64]
    private var callbackRequested: [Int64]
    private var lastAbandoned: [Int64]
    private let holidayDays: Set<Int32>
    private let nycStart: Int32

    private(set) var violations = 0
    private(set) var examples: [String] = []
    private(set) var countedCalls = 0
    /// Counted calls that brought a debt to its 7-in-7 cap.
    private(set) var callsAtCap = 0

    private static let flagCounted: UInt8 = 1
    private static let flagPersonal: UInt8 = 2
    private static let flagPlaced: UInt8 = 4

    init(world: World) {
        self.world = world
        let debts = world.debtCount
        ringDay = [Int32](repeating: Int32.min, count: debts * Self.ringSize)
        ringFlags = [UInt8](repeating: 0, count: debts * Self.ringSize)
        ringNext = [UInt8](repeating: 0, count: debts)
        lastConversationDay = [Int32](repeating: Int32.min / 2, count: debts)
        debtClosed = [Bool](repeating: false, count: debts)
        debtDisputed = [Bool](repeating: false, count: debts)
        debtorCeased = [Bool](repeating: false, count: world.debtors.count)
        phoneBanned = [Bool](repeating: false, count: world.phoneCount)
        callbackAt = [Int64](repeating: Int64.min, count: debts)
        callbackRequested = [Int64](repeating: Int64.min, count: debts)
        lastAbandoned = [Int64](repeating: Int64.min / 2, count: world.debtors.count)
        holidayDays = Set(Jurisdictions.indonesianHolidays.compactMap { LocalTime.parseDate($0) })
        nycStart = LocalTime.dayNumber(year: 2026, month: 9, day: 1)
    }

    private(set) var byRule: [String: Int] = [:]

    private mutating func flag(_ rule: String, _ detail: String = "", debtor: Int, at t: UnixSeconds) {
        violations += 1
        byRule[rule, default: 0] += 1
        if examples.count < 40 && byRule[rule, default: 0] <= 5 {
            examples.append("\(LocalTime.rfc3339(t)) \(world.debtors[debtor].id): \(rule)\(detail)")
        }
    }

    /// Counts (debt-local) calls with `mask` set on days `from...to`.
    private func count(debt: Int, mask: UInt8, fromDay: Int32, toDay: Int32) -> Int {
        var n = 0
        let base = debt * Self.ringSize
        for k in 0..<Self.ringSize where ringFlags[base + k] & mask == mask {
            let d = ringDay[base + k]
            if d >= fromDay && d <= toDay { n += 1 }
        }
        return n
    }

    /// Checks one attempt about to be placed; counts every rule it breaks.
    mutating func check(debtor i: Int, debt: Int, phone p: Int, at t: UnixSeconds) {
        let r = world.rules[i]
        if !world.active[i] || debtorCeased[i] { flag("hard stop (status or cease)", debtor: i, at: t) }
        if !world.phoneDialable[p] { flag("not a debtor number", debtor: i, at: t) }
        if phoneBanned[p] { flag("dead or wrong number redialed", debtor: i, at: t) }
        if debtClosed[debt] { flag("debt already paid", debtor: i, at: t) }
        if debtDisputed[debt] { flag("open dispute", debtor: i, at: t) }
        // Window in every candidate zone.
        for z in world.zoneSets[Int(world.phoneZones[p])] {
            let local = world.clock.local(z, t)
            let minute = LocalTime.minute(local)
            let day = LocalTime.day(local)
            if minute < r.windowFrom || minute >= r.windowTo {
                flag("outside window", " in \(world.clock.names[Int(z)]) (local minute \(minute))", debtor: i, at: t)
            }
            if r.noSunday && LocalTime.weekday(day: day) == 7 { flag("Sunday", debtor: i, at: t) }
            if r.holidays && holidayDays.contains(day) { flag("national holiday", debtor: i, at: t) }
        }
        // Consumer quiet times, in every candidate zone (where the consumer is may be unknown).
        if world.hasQuiet[i] {
            let quiet = world.debtors[i].quiet
            for z in world.zoneSets[Int(world.phoneZones[p])] {
                let local = world.clock.local(z, t)
                let minute = LocalTime.minute(local)
                let weekday = LocalTime.weekday(day: LocalTime.day(local))
                for q in quiet where (q.days.isEmpty || q.days.contains(weekday))
                    && minute >= q.fromMinute && minute < q.toMinute
                {
                    flag("consumer quiet time", " in \(world.clock.names[Int(z)])", debtor: i, at: t)
                }
            }
        }
        let today = LocalTime.day(world.primaryLocal(i, t))
        if r.gb && t - lastAbandoned[i] < 72 * 3600 { flag("GB redial within 72 h of an abandoned call", debtor: i, at: t) }
        guard r.usCaps else { return }
        let consented = isConsentedCallback(debt: debt, at: t)
        if !consented {
            let counted = count(debt: debt, mask: Self.flagCounted, fromDay: today - 6, toDay: today)
            if counted >= 7 { flag("8th counted call in 7 days", debtor: i, at: t) }
            if today - lastConversationDay[debt] <= 6 {
                flag("call within 7 days of a conversation", debtor: i, at: t)
            }
            if r.ma {
                let personal = world.phoneKind[p] == .mobile || world.phoneKind[p] == .home
                if personal {
                    let n = count(debt: debt, mask: Self.flagCounted | Self.flagPersonal, fromDay: today - 6, toDay: today)
                    if n >= 2 { flag("US-MA: 3rd call to personal numbers in 7 days", debtor: i, at: t) }
                } else {
                    let all = count(debt: debt, mask: Self.flagCounted, fromDay: today - 29, toDay: today)
                    let personalOnly = count(
                        debt: debt, mask: Self.flagCounted | Self.flagPersonal, fromDay: today - 29, toDay: today)
                    if all - personalOnly >= 2 { flag("US-MA: 3rd call to other numbers in 30 days", debtor: i, at: t) }
                }
            }
            if r.wa {
                var n = 0
                for d in Int(world.debtStart[i])..<Int(world.debtStart[i + 1]) {
                    n += count(debt: d, mask: Self.flagCounted, fromDay: today - 6, toDay: today)
                }
                if n >= 3 { flag("US-WA: 4th call to the debtor in 7 days", debtor: i, at: t) }
            }
        }
        if r.nyc && today >= nycStart {
            let n = count(debt: debt, mask: Self.flagPlaced, fromDay: today - 6, toDay: today)
            if n >= 3 { flag("US-NY-NYC: 4th attempt in 7 days", debtor: i, at: t) }
        }
    }

    private func isConsentedCallback(debt: Int, at t: UnixSeconds) -> Bool {
        let cb = callbackAt[debt]
        return cb != Int64.min && t >= cb && t <= cb + 7200 && cb - callbackRequested[debt] <= 7 * 86_400
    }

    /// Records the outcome of an attempt checked with `check`.
    mutating func record(debtor i: Int, debt: Int, phone p: Int, at t: UnixSeconds, outcome: Outcome,
                         callback: UnixSeconds?)
    {
        let today = LocalTime.day(world.primaryLocal(i, t))
        let consented = isConsentedCallback(debt: debt, at: t)
        if consented { callbackAt[debt] = Int64.min }
        let counted = outcome != .busy && outcome != .notInService && !consented
        var flags = Self.flagPlaced
        if counted {
            flags |= Self.flagCounted
            countedCalls += 1
        }
        if world.phoneKind[p] == .mobile || world.phoneKind[p] == .home { flags |= Self.flagPersonal }
        let slot = debt * Self.ringSize + Int(ringNext[debt])
        ringDay[slot] = today
        ringFlags[slot] = flags
        ringNext[debt] = UInt8((Int(ringNext[debt]) + 1) % Self.ringSize)
        if counted && count(debt: debt, mask: Self.flagCounted, fromDay: today - 6, toDay: today) >= 7 {
            callsAtCap += 1
        }
        switch outcome {
        case .notInService, .wrongNumber: phoneBanned[p] = true
        case .abandoned: lastAbandoned[i] = t
        case .rightParty, .promiseToPay, .refused: lastConversationDay[debt] = today
        case .dispute:
            lastConversationDay[debt] = today
            debtDisputed[debt] = true
        case .cease:
            lastConversationDay[debt] = today
            debtorCeased[i] = true
        case .callbackRequested:
            lastConversationDay[debt] = today
            if let cb = callback {
                callbackAt[debt] = cb
                callbackRequested[debt] = t
            }
        case .paid:
            lastConversationDay[debt] = today
            debtClosed[debt] = true
        case .busy, .noAnswer, .voicemail, .thirdParty: break
        }
    }

    /// A debt settled by a payment outside a call.
    mutating func recordSettled(debt: Int) { debtClosed[debt] = true }
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
        var checker: ComplianceChecker
        init(_ checker: ComplianceChecker) { self.checker = checker }
    }

    private let box: Box
    @exclusivity(unchecked) private var operations: [Operation] = []
    private let queue = DispatchQueue(label: "tagih.sim.checker")
    private let group = DispatchGroup()
    private static let batch = 4096

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
        let work = Unchecked(operations)
        operations = []
        operations.reserveCapacity(Self.batch)
        let box = self.box
        queue.async(group: group) {
            Parallel.runAtBackgroundPriority()
            for operation in work.value {
                switch operation {
                case .check(let i, let debt, let p, let t):
                    box.checker.check(debtor: Int(i), debt: Int(debt), phone: Int(p), at: t)
                case .record(let i, let debt, let p, let t, let outcome, let callback):
                    box.checker.record(
                        debtor: Int(i), debt: Int(debt), phone: Int(p), at: t, outcome: outcome, callback: callback)
                case .settled(let debt):
                    box.checker.recordSettled(debt: Int(debt))
                }
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
