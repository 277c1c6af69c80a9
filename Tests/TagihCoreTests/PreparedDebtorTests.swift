import Testing

@testable import TagihCore

/// The prepared path (`PreparedDebtor` + `CompactHistory`) against `decide(for:history:now:)` over randomized
/// debtors and histories: the same decisions, field for field, and the same scores.
@Suite struct PreparedDebtorTests {
    static let zonesByJurisdiction: [String: [String]] = [
        "US": ["America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles"],
        "US-MA": ["America/New_York"], "US-WA": ["America/Los_Angeles"], "US-NY-NYC": ["America/New_York"],
        "US-FL": ["America/New_York", "America/Chicago"], "ID": ["Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura"],
        "IN": ["Asia/Kolkata"], "GB": ["Europe/London"], "XX": ["UTC"],
    ]

    static let outcomes: [Outcome] = [
        .noAnswer, .noAnswer, .noAnswer, .voicemail, .busy, .abandoned, .rightParty, .thirdParty, .wrongNumber,
        .notInService, .promiseToPay, .promiseToPay, .refused, .dispute, .cease, .callbackRequested,
        .callbackRequested, .paid,
    ]

    /// The policies compared: the default (with reasons), a simulation-like one (no reasons) and one drawing
    /// Thompson samples.
    static let policies: [ContactPolicy] = {
        var quiet = PolicyConfiguration()
        quiet.includeReasons = false
        var thompson = PolicyConfiguration()
        thompson.propensity.thompsonSeed = 42
        return [ContactPolicy(), ContactPolicy(configuration: quiet), ContactPolicy(configuration: thompson)]
    }()

    /// A random debtor: 1–3 phones (some without a zone, some not the debtor's, numbers of known prefixes),
    /// 1–3 debts, sometimes no address zone, sometimes quiet times.
    static func randomDebtor(_ rng: inout PropertyTests.Rng, _ id: Int) -> Debtor {
        let j = rng.pick(Array(zonesByJurisdiction.keys).sorted())
        let jz = zonesByJurisdiction[j]!
        let address: String? = rng.int(4) == 0 ? nil : rng.pick(jz)
        let numbers = ["+16175550100", "+13125550101", "+18505550102", "+12085550103", "+6281234567", "+442071234567",
                       "+919876543210", "+15555550104"]
        var phones: [Phone] = []
        for _ in 0..<(1 + rng.int(3)) {
            let zone: String? = rng.int(3) == 0 ? rng.pick(jz) : nil
            phones.append(Phone(number: rng.pick(numbers), kind: rng.pick([.mobile, .home, .work, .other]), zone: zone,
                                owner: rng.int(8) == 0 ? .emergency : .debtor, optedOut: rng.int(20) == 0))
        }
        let debts = (0..<(1 + rng.int(3))).map {
            Debt(id: "A-\($0)", balance: Money(tenThousandths: Int64(1 + rng.int(2_000)) * 10_000), currency: "USD")
        }
        var quiet: [QuietTime] = []
        if rng.int(6) == 0 { quiet.append(QuietTime(days: [], fromMinute: 0, toMinute: 600)) }
        if rng.int(6) == 0 { quiet.append(QuietTime(days: [7], fromMinute: 0, toMinute: 1440)) }
        return Debtor(id: "P-\(id)", jurisdiction: j, zone: address, status: rng.int(15) == 0 ? .cease : .active,
                      segment: rng.pick(["early", "late", nil, "other"]), phones: phones, debts: debts, quiet: quiet)
    }

    /// A random history around `now`, in time order (some events after `now`), with promises, callbacks,
    /// payments, clearances and outcomes about unknown debts or numbers.
    static func randomHistory(_ rng: inout PropertyTests.Rng, _ debtor: Debtor, now: Int64) -> DebtorHistory {
        var events: [OutcomeEvent] = []
        for k in 0..<rng.int(30) {
            let o = rng.pick(outcomes)
            let at = now - Int64(rng.int(25 * 86_400)) + (rng.int(10) == 0 ? Int64(rng.int(86_400)) : 0)
            events.append(randomOutcome(&rng, debtor, k, o, at: at))
        }
        return recorded(events, &rng, debtor, now: now, payments: 3, paymentUnits: 300)
    }

    /// Outcome `o` about `debtor` at `at` (attempt "x`k`"): now and then about an unknown debt or number, with
    /// promise terms or a callback time most of the times they fit.
    static func randomOutcome(_ rng: inout PropertyTests.Rng, _ debtor: Debtor, _ k: Int, _ o: Outcome, at: Int64)
        -> OutcomeEvent
    {
        let debt = rng.int(20) == 0 ? "unknown" : rng.pick(debtor.debts).id
        let number = rng.int(20) == 0 ? "+10000000000" : rng.pick(debtor.phones).number
        var promise: PromiseTerms?
        var callbackAt: Int64?
        if o == .promiseToPay && rng.int(6) != 0 {
            promise = PromiseTerms(amount: Money(tenThousandths: Int64(1 + rng.int(500)) * 10_000),
                                   due: CivilTime.formatDate(at / 86_400 + Int64(rng.int(10))))
        }
        if o == .callbackRequested && rng.int(6) != 0 { callbackAt = at + Int64(rng.int(3 * 86_400)) }
        return OutcomeEvent(attempt: "x\(k)", debtor: debtor.id, debt: debt, phone: number, at: at, outcome: o,
                            promise: promise, callbackAt: callbackAt)
    }

    /// `events` recorded in time order, then fewer than `payments` random payments of up to `paymentUnits` in
    /// the last 20 days, and one time in five a dispute or cease clearance.
    static func recorded(_ events: [OutcomeEvent], _ rng: inout PropertyTests.Rng, _ debtor: Debtor, now: Int64,
                         payments: Int, paymentUnits: Int) -> DebtorHistory
    {
        var history = DebtorHistory()
        for e in events.sorted(by: { $0.at < $1.at }) { history.record(e) }
        for k in 0..<rng.int(payments) {
            history.record(PaymentEvent(payment: "p\(k)", debtor: debtor.id, debt: rng.pick(debtor.debts).id,
                                        amount: Money(tenThousandths: Int64(1 + rng.int(paymentUnits)) * 10_000),
                                        at: now - Int64(rng.int(20 * 86_400))))
        }
        if rng.int(5) == 0 {
            history.record(HoldClearance(kind: rng.pick([.dispute, .cease]), debt: rng.pick(debtor.debts).id,
                                         at: now - Int64(rng.int(10 * 86_400))))
        }
        return history
    }

    @Test(arguments: 0..<6)
    func preparedDecisionsMatchDecide(shard: Int) {
        var rng = PropertyTests.Rng(s: 0x5052_4550 &+ UInt64(shard) &* 7_919)
        var compared = 0
        var open = 0
        for i in 0..<300 {
            let policy = Self.policies[i % Self.policies.count]
            let debtor = Self.randomDebtor(&rng, i)
            let now = 1_767_225_600 + Int64(rng.int(700 * 86_400))
            let history = Self.randomHistory(&rng, debtor, now: now)
            let prepared = policy.prepare(debtor)
            guard let compact = CompactHistory(history, of: debtor, prepared: prepared) else {
                Issue.record("no compact history")
                continue
            }
            #expect(compact.count == history.outcomes.count)
            for at in [now, now + Int64(rng.int(4 * 86_400))] {
                let expected = policy.decide(for: debtor, history: history, now: at)
                var full: [Decision] = []
                policy.forEachDecision(for: debtor, prepared: prepared, history: compact, now: at) { full.append($0) }
                #expect(full == expected, "debtor \(i) at \(at)")
                var compactDecisions: [CompactDecision] = []
                policy.forEachCompactDecision(for: debtor, prepared: prepared, history: compact, now: at) {
                    compactDecisions.append($0)
                }
                #expect(compactDecisions.count == expected.count)
                for (d, c) in zip(expected, compactDecisions) {
                    #expect(debtor.debts[c.debt].id == d.debt)
                    #expect(c.phone.map { debtor.phones[$0].number } == d.phone)
                    #expect(c.earliest == d.earliest && c.best == d.best && c.windowEnds == d.windowEnds)
                    #expect(c.score == d.score && c.consentedCallback == d.consentedCallback)
                    if d.earliest != nil { open += 1 }
                    compared += 1
                }
                // Without the best-time search: the same permitted interval, phone and callback flag.
                var permitted: [CompactDecision] = []
                withUnsafePointer(to: debtor) { dp in
                    withUnsafePointer(to: prepared) { pp in
                        withUnsafePointer(to: compact) { hp in
                            policy.forEachCompactDecision(debtor: dp, prepared: pp, history: hp, now: at, bestTime: false) {
                                permitted.append($0)
                            }
                        }
                    }
                }
                for (c, p) in zip(compactDecisions, permitted) {
                    #expect(p.debt == c.debt && p.phone == c.phone && p.earliest == c.earliest)
                    #expect(p.windowEnds == c.windowEnds && p.consentedCallback == c.consentedCallback)
                    #expect(p.best == p.earliest && p.score == 0)
                }
                for (k, debt) in debtor.debts.enumerated() where debtor.debts.firstIndex(where: { $0.id == debt.id }) == k {
                    let a = policy.score(for: debtor, history: history, debt: debt.id, at: at)
                    let b = policy.score(for: debtor, prepared: prepared, history: compact, debt: k, at: at)
                    #expect(a == b, "score of debtor \(i) debt \(k)")
                }
            }
        }
        #expect(compared > 500)
        #expect(open > 100)
    }

    /// Appending one outcome at a time with indices (the simulator's way) gives the same decisions as
    /// `DebtorHistory` after every append.
    @Test func indexRecordsMatchAfterEveryAppend() {
        var rng = PropertyTests.Rng(s: 77)
        let policy = Self.policies[1]
        for i in 0..<60 {
            let debtor = Self.randomDebtor(&rng, i)
            let prepared = policy.prepare(debtor)
            var history = DebtorHistory()
            var compact = CompactHistory()
            var now = 1_780_000_000 + Int64(rng.int(300 * 86_400))
            for _ in 0..<25 {
                now += Int64(rng.int(20 * 3600))
                let o = rng.pick([Outcome.noAnswer, .voicemail, .busy, .abandoned, .rightParty, .refused, .thirdParty])
                let debt = rng.int(debtor.debts.count)
                let phone = rng.int(debtor.phones.count)
                history.record(OutcomeEvent(attempt: "", debtor: debtor.id, debt: debtor.debts[debt].id,
                                            phone: debtor.phones[phone].number, at: now, outcome: o))
                let firstDebt = debtor.debts.firstIndex { $0.id == debtor.debts[debt].id }!
                let firstPhone = debtor.phones.firstIndex { $0.number == debtor.phones[phone].number }!
                compact.record(at: now, outcome: o, debt: firstDebt, phone: firstPhone, of: debtor, prepared: prepared)
                let expected = policy.decide(for: debtor, history: history, now: now + 60)
                var got: [Decision] = []
                policy.forEachDecision(for: debtor, prepared: prepared, history: compact, now: now + 60) {
                    got.append($0)
                }
                #expect(got == expected)
            }
        }
    }

    /// Indices past a byte switch a history to full-size events: decisions stay the same before and after.
    @Test func manyDebtsAndPhonesSwitchToWideEvents() {
        let debts = (0..<300).map { Debt(id: "A-\($0)", balance: Money(tenThousandths: 1_000_000), currency: "USD") }
        let phones = (0..<3).map { phone("+1617555\(String(format: "%04d", $0))") }
        let debtor = person(phones: phones, debts: debts)
        let prepared = policy.prepare(debtor)
        var history = DebtorHistory()
        var compact = CompactHistory()
        var now = t("2026-12-01T14:00:00Z")
        for (k, debt) in [3, 7, 299, 3, 120, 280].enumerated() {
            now += 5 * 3600
            let o: Outcome = k == 3 ? .rightParty : .noAnswer
            history.record(OutcomeEvent(attempt: "", debtor: debtor.id, debt: debts[debt].id, phone: phones[k % 3].number,
                                        at: now, outcome: o))
            compact.record(at: now, outcome: o, debt: debt, phone: k % 3, of: debtor, prepared: prepared)
            #expect(compact.isWide == (debt >= 255 || k > 2))
            var got: [Decision] = []
            policy.forEachDecision(for: debtor, prepared: prepared, history: compact, now: now + 600) { got.append($0) }
            #expect(got == policy.decide(for: debtor, history: history, now: now + 600))
        }
    }

    @Test func unresolvedAttemptsAreNotCompacted() {
        let debtor = person()
        var history = DebtorHistory()
        history.recordLease("L1", debtor: "D-1", debt: "A-1", phone: "+16175550100", at: t("2026-12-01T15:00:00Z"))
        #expect(CompactHistory(history, of: debtor, prepared: policy.prepare(debtor)) == nil)
    }
}
