import Testing

@testable import TagihCore

/// The prepared path's quick score (`ContactPolicy.quickValue`, read straight from the packed events) against the
/// full evaluator's `valueNow` (`evaluatedScore`) and the plain path's `score(for:history:debt:at:)`, over randomized
/// debtors and histories: the same bits whenever the quick path answers, and it answers for most histories without
/// promises, disputes, cease requests and payments on the call.
@Suite struct ScorePathTests {
    /// Outcomes that leave a debt's state to its payments (the quick path answers).
    static let plainOutcomes: [Outcome] = [
        .noAnswer, .noAnswer, .noAnswer, .voicemail, .busy, .abandoned, .rightParty, .thirdParty, .wrongNumber,
        .notInService, .refused, .callbackRequested,
    ]

    /// A random history in time order: outcomes from `outcomes` (promise terms and callback times where they fit),
    /// some about unknown debts or numbers, some after `now`, in dense stretches (so that buckets repeat); payments
    /// that sometimes settle a debt.
    static func history(_ rng: inout PropertyTests.Rng, _ debtor: Debtor, now: Int64, outcomes: [Outcome])
        -> DebtorHistory
    {
        var events: [OutcomeEvent] = []
        let dense = rng.int(2) == 0
        for k in 0..<rng.int(40) {
            let o = rng.pick(outcomes)
            let spread = dense ? 8 * 86_400 : 25 * 86_400
            let at = now - Int64(rng.int(spread)) + (rng.int(10) == 0 ? Int64(rng.int(2 * 86_400)) : 0)
            events.append(PreparedDebtorTests.randomOutcome(&rng, debtor, k, o, at: at))
        }
        return PreparedDebtorTests.recorded(events, &rng, debtor, now: now, payments: 4, paymentUnits: 1_500)
    }

    @Test(arguments: 0..<4)
    func quickScoreMatchesTheEvaluator(shard: Int) {
        var rng = PropertyTests.Rng(s: 0x5343_4f52 &+ UInt64(shard) &* 104_729)
        var quick = 0
        var compared = 0
        var positive = 0
        for i in 0..<400 {
            let policy = PreparedDebtorTests.policies[i % PreparedDebtorTests.policies.count]
            let debtor = PreparedDebtorTests.randomDebtor(&rng, i)
            let now = 1_767_225_600 + Int64(rng.int(700 * 86_400))
            // Three in four histories have no holds (the quick path's case), the rest every outcome.
            let outcomes = rng.int(4) == 0 ? PreparedDebtorTests.outcomes : Self.plainOutcomes
            let history = Self.history(&rng, debtor, now: now, outcomes: outcomes)
            let prepared = policy.prepare(debtor)
            guard let compact = CompactHistory(history, of: debtor, prepared: prepared) else {
                Issue.record("no compact history")
                continue
            }
            // Now, later the same day, a day later, before some events, at the bucket of an event.
            var instants = [now, now + Int64(rng.int(12 * 3600)), now + 86_400, now - Int64(rng.int(3 * 86_400))]
            if let e = history.outcomes.last { instants.append(e.at + Int64(rng.int(7 * 86_400 / 3600)) * 3600) }
            withUnsafePointer(to: debtor) { d in
                withUnsafePointer(to: prepared) { p in
                    withUnsafePointer(to: compact) { h in
                        for at in instants {
                            for k in 0..<debtor.debts.count {
                                // (`score` is 0 for a debtor who is not active before any evaluation.)
                                let full = debtor.status != .active ? 0
                                    : policy.evaluatedScore(debtor: d, prepared: p, history: h, debt: k, at: at)
                                let scored = policy.score(debtor: d, prepared: p, history: h, debt: k, at: at)
                                #expect(scored.bitPattern == full.bitPattern, "debtor \(i) debt \(k) at \(at)")
                                if debtor.status == .active,
                                    let q = policy.quickValue(debtor: d, prepared: p, history: h, debt: k, at: at)
                                {
                                    #expect(q.bitPattern == full.bitPattern, "quick: debtor \(i) debt \(k) at \(at)")
                                    quick += 1
                                    if q > 0 { positive += 1 }
                                }
                                // The plain path scores the first debt with that id.
                                if debtor.debts.firstIndex(where: { $0.id == debtor.debts[k].id }) == k {
                                    let plain = policy.score(for: debtor, history: history, debt: debtor.debts[k].id,
                                                             at: at)
                                    #expect(plain.bitPattern == full.bitPattern, "plain: debtor \(i) debt \(k)")
                                }
                                compared += 1
                            }
                        }
                    }
                }
            }
        }
        #expect(compared > 2_000)
        #expect(quick > compared / 3, "the quick path answered \(quick) of \(compared)")
        #expect(positive > quick / 2)
    }

    /// The quick path declines what it does not model: a promise, a dispute, a cease request, a payment on the call.
    @Test(arguments: [Outcome.promiseToPay, .dispute, .cease, .paid])
    func quickScoreDeclinesHolds(outcome: Outcome) {
        let debtor = person()
        let prepared = policy.prepare(debtor)
        var history = DebtorHistory()
        history.record(attempt("2026-12-01T15:00:00Z", .noAnswer))
        history.record(attempt("2026-12-02T15:00:00Z", outcome))
        let compact = CompactHistory(history, of: debtor, prepared: prepared)!
        var plain = DebtorHistory()
        plain.record(attempt("2026-12-01T15:00:00Z", .noAnswer))
        let compactPlain = CompactHistory(plain, of: debtor, prepared: prepared)!
        let at = t("2026-12-03T15:00:00Z")
        withUnsafePointer(to: debtor) { d in
            withUnsafePointer(to: prepared) { p in
                withUnsafePointer(to: compact) { h in
                    #expect(policy.quickValue(debtor: d, prepared: p, history: h, debt: 0, at: at) == nil)
                }
                withUnsafePointer(to: compactPlain) { h in
                    let q = policy.quickValue(debtor: d, prepared: p, history: h, debt: 0, at: at)
                    #expect(q != nil && q! > 0)
                    #expect(q == policy.evaluatedScore(debtor: d, prepared: p, history: h, debt: 0, at: at))
                }
            }
        }
    }
}
