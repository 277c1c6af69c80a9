import Testing

@testable import TagihCore

/// The decision hot path's shortcuts against the general code they stand in for.
@Suite struct FastPathTests {
    /// Debtors covering the shortcuts: two candidate zones (window memo), several debts, a dead phone, a callback,
    /// a state cap pack (general cap check), an unknown address (several day zones), no history.
    static let debtors: [(String, Debtor, DebtorHistory)] = {
        let twoZones = person("US-NY", phones: [phone("+13125550100", zone: "America/Chicago")])
        var history = DebtorHistory()
        let outcomes: [Outcome] = [.noAnswer, .busy, .voicemail, .noAnswer, .noAnswer]
        for i in 0..<20 {
            let at = t("2026-11-09T15:05:00Z") + Int64(i) * 86_400 + Int64(i % 5) * 3600
            history.record(OutcomeEvent(attempt: "a\(i)", debtor: "D-1", debt: "A-1", phone: "+13125550100", at: at,
                                        outcome: outcomes[i % 5]))
        }
        let twoDebts = person(debts: [Debt(id: "A-1", balance: Money(decimal: "100.00")!, currency: "USD"),
                                      Debt(id: "A-2", balance: Money(decimal: "900.00")!, currency: "USD")])
        let callback = DebtorHistory(outcomes: [
            attempt("2026-11-30T15:00:00Z", .callbackRequested, callbackAt: "2026-12-01T16:00:00Z"),
        ])
        let dead = DebtorHistory(outcomes: [attempt("2026-11-28T15:00:00Z", .wrongNumber)])
        let massachusetts = person("US-MA", phones: [phone("+16175550100", .work)])
        let noAddress = person("US-FL", zone: nil, phones: [phone("+18505550100"), phone("+12085550101")])
        return [
            ("two zones, 20 attempts", twoZones, history),
            ("two zones, no history", twoZones, DebtorHistory()),
            ("two debts", twoDebts, DebtorHistory(outcomes: [attempt("2026-11-30T14:00:00Z", .rightParty, debt: "A-2")])),
            ("consented callback", person(), callback),
            ("wrong number", person(phones: [phone("+16175550100"), phone("+16175550199")]), dead),
            ("US-MA caps", massachusetts, DebtorHistory(outcomes: dailyNoAnswers)),
            ("no address zone", noAddress, DebtorHistory(outcomes: dailyNoAnswers)),
        ]
    }()

    /// Instants over three days, across the 2026-11-01 DST end and at window edges.
    static let instants: [Int64] = {
        var out: [Int64] = []
        for base in [t("2026-10-31T10:00:00Z"), t("2026-11-30T10:00:00Z")] {
            for k in 0..<40 { out.append(base + Int64(k) * 5_413) }
        }
        out.append(t("2026-12-01T01:59:59Z"))
        out.append(t("2026-12-01T02:00:00Z"))
        return out
    }()

    @Test(arguments: 0..<debtors.count)
    func forEachDecisionMatchesDecide(_ index: Int) {
        let (_, debtor, history) = Self.debtors[index]
        for now in Self.instants {
            var each: [Decision] = []
            policy.forEachDecision(for: debtor, history: history, now: now) { each.append($0) }
            #expect(each == policy.decide(for: debtor, history: history, now: now), "at \(fmt(now))")
        }
    }

    /// A quiet time that never applies (`[0, 0)`) sends windows down the general path (quiet times checked day by
    /// day, no memo): the decisions must be the same as on the plain path.
    @Test(arguments: 0..<debtors.count)
    func plainWindowsMatchTheGeneralPath(_ index: Int) {
        let (_, debtor, history) = Self.debtors[index]
        var general = debtor
        general.quiet = [QuietTime(days: [], fromMinute: 0, toMinute: 0)]
        for now in Self.instants {
            #expect(policy.decide(for: general, history: history, now: now)
                    == policy.decide(for: debtor, history: history, now: now), "at \(fmt(now))")
        }
    }

    @Test func plainWindowsMatchAcrossEveryDSTChange() {
        let zones = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
                     "America/Anchorage", "America/St_Johns", "Europe/London", "Australia/Lord_Howe"]
        for (i, address) in zones.enumerated() {
            let other = zones[(i + 3) % zones.count]
            let debtor = person("XX", zone: address, phones: [phone("+99912345", zone: other)])
            var general = debtor
            general.quiet = [QuietTime(days: [], fromMinute: 0, toMinute: 0)]
            let z = ZoneDatabase.system.zone(named: address)!
            for tr in z.transitions where tr > t("2026-01-01T00:00:00Z") && tr < t("2027-12-31T00:00:00Z") {
                for k in stride(from: -40, through: 40, by: 3) {
                    let now = tr + Int64(k) * 1_811
                    #expect(policy.decide(for: general, history: DebtorHistory(), now: now)
                            == policy.decide(for: debtor, history: DebtorHistory(), now: now),
                            "\(address) + \(other) at \(fmt(now))")
                }
            }
        }
    }

    @Test func zoneLookupByBytesMatchesTheNameIndex() {
        let db = ZoneDatabase.system
        for (name, table) in db.zonesByName {
            #expect(db.rawZone(named: name) == table.raw, "\(name)")
        }
        // Same first and last eight bytes and length, another middle (the key alone does not decide); short names.
        for miss in ["", "Bad/Zone", "america/new_york", "America/New_York ", "Europe/L\u{00F6}ndon", "UTC\u{0301}",
                     "America/Argentinx/Buenos_Aires", "America/Indiana/Indianapolix", "UTX", "GMT0x"]
        {
            #expect(db.rawZone(named: miss) == db.zone(named: miss)?.raw, "\(miss)")
        }
        #expect(db.rawZone(named: "America/Argentina/Buenos_Aires") != nil)
    }

    /// `Decision.initialize` (field by field, the hot path) builds the same value as `Decision.init`, and covers
    /// every stored property (a new one would be left uninitialized).
    @Test func decisionInitializedInPlaceEqualsInit() {
        let values = [
            Decision(debtor: "D-1", debt: "A-1", phone: "+13125550100", earliest: 1_700_000_000, best: 1_700_003_600,
                     windowEnds: 1_700_010_000, score: 12.5, blockedReason: nil,
                     reasons: ["permitted now", "best hour-of-week bucket Tue 17"],
                     zone: "America/Argentina/Buenos_Aires", consentedCallback: true),
            Decision(debtor: "a debtor id longer than fifteen bytes", debt: "A-2", phone: nil, earliest: nil, best: nil,
                     windowEnds: nil, score: 0, blockedReason: "status cease", reasons: [], zone: nil),
        ]
        #expect(Mirror(reflecting: values[0]).children.count == 11)
        let layout = Decision.Layout()
        for d in values {
            let made = withUnsafeTemporaryAllocation(of: Decision.self, capacity: 1) { p in
                Decision.initialize(
                    p.baseAddress!, layout: layout, debtor: d.debtor, debt: d.debt, phone: d.phone,
                    earliest: d.earliest, best: d.best, windowEnds: d.windowEnds, score: d.score,
                    blockedReason: d.blockedReason, reasons: d.reasons, zone: d.zone,
                    consentedCallback: d.consentedCallback)
                return p.baseAddress!.move()
            }
            #expect(made == d)
        }
    }

    /// Phone-prefix zones looked up by digits (no strings) agree with the table of prefix strings, for numbers
    /// of every NANP and Indonesian prefix in the table, random digits, short numbers and numbers with
    /// punctuation or letters.
    @Test func prefixZonesByDigitsAgreeWithTheStringTable() throws {
        let data = ContactPolicy().data
        #expect(data.prefixZonesByDigits != nil)
        func reference(_ number: String) -> [ZoneRef] {
            var digits = Substring(number)
            if digits.hasPrefix("+") { digits = digits.dropFirst() }
            var n = min(data.maxPrefix, digits.count)
            while n >= 1 {
                if let z = data.prefixZones[String(digits.prefix(n))] { return (0..<z.count).map { z[$0] } }
                n -= 1
            }
            return []
        }
        var numbers = data.prefixZones.keys.flatMap { ["+" + $0 + "5550100", $0, "+" + $0] }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let length = Int.random(in: 0...14, using: &rng)
            var text = Bool.random(using: &rng) ? "+" : ""
            for _ in 0..<length { text += String("0123456789+- ()x".randomElement(using: &rng)!) }
            numbers.append(text)
            numbers.append("+1" + String(Int.random(in: 200...999, using: &rng)) + "5550100")
            numbers.append("+62" + String(Int.random(in: 10...999, using: &rng)) + "123456")
        }
        var found = 0
        for number in numbers {
            let list = data.phoneZoneList(number)
            let fast = (0..<list.count).map { list[$0] }
            #expect(fast == reference(number), "\(number)")
            if !fast.isEmpty { found += 1 }
        }
        #expect(found > 1000)
    }
}
