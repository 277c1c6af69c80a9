import Foundation
import Testing

@testable import TagihCore

/// Seeded random debtors, histories and instants across 2026–2027 (including every DST change of the zones
/// used), checked by an independent checker built on Foundation's TimeZone and Calendar.
@Suite struct PropertyTests {
    struct Rng {
        var s: UInt64
        mutating func next() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }
        mutating func pick<T>(_ a: [T]) -> T { a[int(a.count)] }
    }

    static let zonesByJurisdiction: [String: [String]] = [
        "US": ["America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles",
               "America/Anchorage", "Pacific/Honolulu"],
        "US-MA": ["America/New_York"], "US-WA": ["America/Los_Angeles"], "US-NY-NYC": ["America/New_York"],
        "US-FL": ["America/New_York", "America/Chicago"], "US-AZ": ["America/Phoenix", "America/Denver"],
        "US-GU": ["Pacific/Guam"], "CA-NL": ["America/St_Johns"],
        "ID": ["Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura"], "IN": ["Asia/Kolkata"], "GB": ["Europe/London"],
    ]

    /// Every UTC instant in 2026–2027 at which one of the zones used changes offset (from Foundation).
    static let dstChanges: [Int64] = {
        var out: [Int64] = []
        let names = Set(zonesByJurisdiction.values.flatMap { $0 })
        for n in names {
            let tz = TimeZone(identifier: n)!
            var d = Date(timeIntervalSince1970: 1_767_225_600)
            while let next = tz.nextDaylightSavingTimeTransition(after: d), next.timeIntervalSince1970 < 1_830_297_600 {
                out.append(Int64(next.timeIntervalSince1970))
                d = next
            }
        }
        return out.sorted()
    }()

    static let holidaysID: Set<String> = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/TagihCore/Resources/holidays-ID.tsv")
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        return Set(text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { String($0.prefix(10)) })
    }()

    struct Local {
        var date: String
        var minute: Int
        var weekday: Int  // 1 = Monday
    }

    static func local(_ t: Int64, _ zone: String) -> Local {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: zone)!
        let c = cal.dateComponents([.year, .month, .day, .hour, .minute, .weekday],
                                   from: Date(timeIntervalSince1970: Double(t)))
        let date = String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!)
        return Local(date: date, minute: c.hour! * 60 + c.minute!, weekday: (c.weekday! + 5) % 7 + 1)
    }

    static func dayIndex(_ t: Int64, _ zone: String) -> Int {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: zone)!
        let start = cal.startOfDay(for: Date(timeIntervalSince1970: Double(t)))
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        let c = cal.dateComponents([.year, .month, .day], from: start)
        return utc.dateComponents([.day], from: Date(timeIntervalSince1970: 0),
                                  to: utc.date(from: c)!).day!
    }

    /// The independent check of one decision: nil when it holds, else what broke.
    static func violation(_ d: Decision, debtor: Debtor, history: DebtorHistory, now: Int64) -> String? {
        guard let e = d.earliest, let phoneNumber = d.phone else { return nil }
        if e < now { return "earliest before now" }
        guard let ph = debtor.phones.first(where: { $0.number == phoneNumber }) else { return "unknown phone" }
        if ph.owner != .debtor { return "not the debtor's phone" }
        var zones = Set<String>()
        if let a = debtor.zone { zones.insert(a) }
        if let z = ph.zone { zones.insert(z) }
        if zones.isEmpty { zones = Set(zonesByJurisdiction[debtor.jurisdiction]!) }
        let country = String(debtor.jurisdiction.prefix(2))
        let (ws, we) = country == "ID" ? (480, 1200) : country == "IN" ? (480, 1140) : (480, 1260)
        for instant in [e, (d.windowEnds ?? e + 1) - 1, d.best ?? e] {
            for z in zones {
                let l = local(instant, z)
                if l.minute < ws || l.minute >= we { return "\(instant) outside the window in \(z): \(l)" }
                if country == "ID" && (l.weekday == 7 || holidaysID.contains(l.date)) {
                    return "ID closed day \(l.date) in \(z)"
                }
                for q in debtor.quiet where (q.days.isEmpty || q.days.contains(l.weekday))
                    && l.minute >= q.fromMinute && l.minute < q.toMinute
                {
                    return "quiet time in \(z)"
                }
            }
        }
        if d.consentedCallback { return nil }
        // Retry delays and the minimum gap.
        let past = history.outcomes.filter { $0.at <= now }.sorted { $0.at < $1.at }
        if let last = past.last {
            let delay: Int64 = [.noAnswer, .voicemail, .abandoned, .thirdParty].contains(last.outcome) ? 14_400
                : last.outcome == .busy ? 1800 : 900
            if e < last.at + delay { return "retry delay after \(last.outcome)" }
        }
        // Day-based rules hold in the address zone; without one, in every zone of the debtor's phones.
        var dayZones: [String] = debtor.zone.map { [$0] } ?? debtor.phones.filter { $0.owner == .debtor }
            .compactMap(\.zone)
        if dayZones.isEmpty { dayZones = zonesByJurisdiction[debtor.jurisdiction]! }
        for primary in Set(dayZones) {
            let day = dayIndex(e, primary)
            let counted = past.filter { $0.outcome != .busy && $0.outcome != .notInService }
            let mine = counted.filter { $0.debt == d.debt }
            if mine.filter({ day - dayIndex($0.at, primary) < 7 }).count >= 7 { return "8th counted call in 7 days" }
            if counted.filter({ dayIndex($0.at, primary) == day }).count >= 3 { return "4th attempt in a day" }
            if debtor.jurisdiction.hasPrefix("US") {
                for c in past where c.debt == d.debt
                    && [.rightParty, .promiseToPay, .refused, .callbackRequested].contains(c.outcome)
                {
                    if day - dayIndex(c.at, primary) < 7 { return "call inside the conversation block in \(primary)" }
                }
            }
            if debtor.jurisdiction == "US-WA", counted.filter({ day - dayIndex($0.at, primary) < 7 }).count >= 3 {
                return "US-WA cap"
            }
            if debtor.jurisdiction == "US-NY-NYC", local(e, primary).date >= "2026-09-01",
                past.filter({ $0.debt == d.debt && day - dayIndex($0.at, primary) < 7 }).count >= 3
            {
                return "NYC cap"
            }
        }
        for c in past where c.debt == d.debt && c.outcome == .promiseToPay {
            let due = c.promise!.due
            let dueDay = Int(CivilTime.parseDate(due)!)
            let paid = history.payments.filter { $0.debt == d.debt && $0.at >= c.at }.reduce(Int64(0)) {
                $0 + $1.amount.tenThousandths
            }
            let dayE = dayIndex(e, dayZones[0])
            if paid < c.promise!.amount.tenThousandths, now < e, dayE <= dueDay + 2, c.at == past.last(where: {
                $0.debt == d.debt && $0.outcome == .promiseToPay })?.at
            {
                return "call during the promise hold"
            }
        }
        return nil
    }

    static let outcomesPool: [Outcome] = [
        .noAnswer, .noAnswer, .noAnswer, .noAnswer, .voicemail, .busy, .busy, .abandoned, .rightParty, .thirdParty,
        .promiseToPay, .refused, .notInService,
    ]

    @Test(arguments: 0..<8)
    func randomDebtorsNeverBreakARule(shard: Int) {
        var rng = Rng(s: 0x7A61_6968 &+ UInt64(shard) &* 1_000_003)
        let jurisdictions = Array(Self.zonesByJurisdiction.keys).sorted()
        var checked = 0
        for i in 0..<400 {
            let j = rng.pick(jurisdictions)
            let jz = Self.zonesByJurisdiction[j]!
            let address: String? = rng.int(4) == 0 ? nil : rng.pick(jz)
            var phones: [Phone] = []
            for k in 0..<(1 + rng.int(2)) {
                let zone: String? = address == nil || rng.int(2) == 0 ? rng.pick(jz) : nil
                phones.append(Phone(number: "+1999555\(String(format: "%04d", k))",
                                    kind: rng.pick([.mobile, .home, .work]), zone: zone,
                                    owner: rng.int(10) == 0 ? .emergency : .debtor))
            }
            var quiet: [QuietTime] = []
            if rng.int(5) == 0 { quiet.append(QuietTime(days: [], fromMinute: 0, toMinute: 600)) }
            if rng.int(5) == 0 { quiet.append(QuietTime(days: [7], fromMinute: 0, toMinute: 1440)) }
            let debts = (0..<(1 + rng.int(2))).map { Debt(id: "A-\($0)", balance: Money(tenThousandths: 5_000_000),
                                                          currency: "USD") }
            let debtor = Debtor(id: "P-\(shard)-\(i)", jurisdiction: j, zone: address, segment: rng.pick(["early", "late"]),
                                phones: phones, debts: debts, quiet: quiet)
            // now: random in 2026–2027, or within 3 days of a DST change.
            let now: Int64 = i % 2 == 0
                ? 1_767_225_600 + Int64(rng.int(730 * 86_400))
                : Self.dstChanges[rng.int(Self.dstChanges.count)] - 3 * 86_400 + Int64(rng.int(6 * 86_400))
            var history = DebtorHistory()
            for _ in 0..<rng.int(26) {
                let o = rng.pick(Self.outcomesPool)
                let at = now - Int64(rng.int(20 * 86_400))
                let debt = rng.pick(debts).id
                var promise: PromiseTerms?
                if o == .promiseToPay {
                    promise = PromiseTerms(amount: Money(tenThousandths: 1_000_000),
                                           due: CivilTime.formatDate(at / 86_400 + Int64(rng.int(10))))
                }
                history.record(OutcomeEvent(attempt: "x\(history.outcomes.count)", debtor: debtor.id, debt: debt,
                                            phone: rng.pick(phones).number, at: at, outcome: o, promise: promise))
            }
            history.outcomes.sort { $0.at < $1.at }
            for d in policy.decide(for: debtor, history: history, now: now) {
                if let v = Self.violation(d, debtor: debtor, history: history, now: now) {
                    Issue.record("\(v)\n\(debtor)\nnow \(RFC3339.formatUTC(now)) -> \(DecisionEncoding.jsonLine(d))")
                }
                if d.earliest != nil { checked += 1 }
            }
        }
        #expect(checked > 100)
    }

    /// Every DST change of every zone used, deterministically: debtors in that zone (alone, and paired with a
    /// second zone of the same jurisdiction) with a day of history, decided around the change.
    @Test func everyDSTChange() {
        var count = 0
        for (j, zones) in Self.zonesByJurisdiction.sorted(by: { $0.key < $1.key }) {
            for zone in zones {
                let tz = TimeZone(identifier: zone)!
                var d = Date(timeIntervalSince1970: 1_767_225_600)
                while let next = tz.nextDaylightSavingTimeTransition(after: d), next.timeIntervalSince1970 < 1_830_297_600 {
                    d = next
                    let change = Int64(next.timeIntervalSince1970)
                    for other in [zone, zones.first { $0 != zone } ?? zone] {
                        let debtor = Debtor(id: "T", jurisdiction: j, zone: zone, segment: "late",
                                            phones: [Phone(number: "+19995550000", zone: other)],
                                            debts: [Debt(id: "A-1", balance: Money(tenThousandths: 10_000_000),
                                                         currency: "USD")])
                        let history = DebtorHistory(outcomes: [
                            OutcomeEvent(attempt: "1", debtor: "T", debt: "A-1", phone: "+19995550000",
                                         at: change - 30 * 3600, outcome: .noAnswer),
                            OutcomeEvent(attempt: "2", debtor: "T", debt: "A-1", phone: "+19995550000",
                                         at: change - 6 * 86_400, outcome: .rightParty),
                        ])
                        for delta: Int64 in [-26 * 3600, -7200, -1800, 0, 1800, 7200, 26 * 3600, 6 * 86_400] {
                            let now = change + delta
                            for dec in policy.decide(for: debtor, history: history, now: now) {
                                if let v = Self.violation(dec, debtor: debtor, history: history, now: now) {
                                    Issue.record("\(v) \(zone)/\(other) now \(RFC3339.formatUTC(now)): \(DecisionEncoding.jsonLine(dec))")
                                }
                                count += 1
                            }
                        }
                    }
                }
            }
        }
        #expect(count > 300)
    }

    @Test func checkerCatchesAViolation() {
        // The checker must be able to fail: a decision at 07:00 local is flagged.
        let debtor = person()
        let bad = Decision(debtor: "D-1", debt: "A-1", phone: "+16175550100", earliest: t("2026-11-30T12:00:00Z"),
                           best: nil, windowEnds: t("2026-11-30T13:00:00Z"), score: 1, blockedReason: nil, reasons: [])
        #expect(Self.violation(bad, debtor: debtor, history: DebtorHistory(), now: t("2026-11-30T11:00:00Z")) != nil)
        #expect(Self.dstChanges.count >= 20)
    }
}
