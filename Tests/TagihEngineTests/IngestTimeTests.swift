import Foundation
import Testing
import TagihCore
import TagihStore
@testable import TagihEngine

/// Times an event cannot have (audit of session 11: one outcome dated 2999 took a debtor off the schedule for
/// centuries, across restarts, with no sign of it).
@Suite struct IngestTimeTests {
    @Test func eventsDatedAfterTheClockPlusTheAllowanceAreRejectedAndTheRestApplied() async throws {
        let clock = VirtualClock(start: t0)
        let engine = try await openEngine(temporaryDirectory(), clock: clock)
        let debtors = (0..<4).map { makeDebtor($0) }
        _ = try await engine.upsert(debtors)
        let allowance = EngineConfiguration(dataDirectory: "unused").futureEventAllowance
        #expect(allowance == 300)
        var badCallback = outcome("o-callback", debtors[3], .callbackRequested, at: t0)
        badCallback.callbackAt = t0 - 60
        let results = try await engine.ingest(events: [
            .outcome(outcome("o-ok", debtors[0], .noAnswer, at: t0)),
            .outcome(outcome("o-skew", debtors[1], .noAnswer, at: t0 + allowance)),  // within the allowed skew
            .outcome(outcome("o-2999", debtors[2], .noAnswer, at: t0 + 30_000 * 86_400)),
            .payment(PaymentEvent(payment: "p-ms", debtor: debtors[0].id, debt: debtors[0].debts[0].id,
                                  amount: Money(decimal: "10")!, at: t0 * 1000)),  // milliseconds
            .outcome(badCallback),
        ])
        #expect(results[0] == .applied)
        #expect(results[1] == .applied)
        for i in [2, 3, 4] {
            guard case .rejected(let code, let message, let field) = results[i] else {
                Issue.record("event \(i) was not rejected: \(results[i])")
                continue
            }
            #expect(code == "invalid_time")
            #expect(field == (i == 4 ? "callbackAt" : "at"), "\(field)")
            #expect(message.contains(i == 4 ? "before the call" : "in the future"), "\(message)")
        }
        // Nothing of the rejected events reached the debtors: D-2 is decided as if it never had the outcome.
        let state = try #require(await engine.debtorState(id: debtors[2].id))
        #expect(state.history.outcomes.isEmpty)
        #expect(state.decisions.allSatisfy { ($0.earliest ?? .max) < t0 + 86_400 })
        #expect(try #require(await engine.debtorState(id: debtors[0].id)).history.payments.isEmpty)
        // The clock moves on: the same outcome is accepted once its time has come (its id was never used).
        clock.advance(by: 30_000 * 86_400)
        #expect(try await engine.ingest(outcome("o-2999", debtors[2], .noAnswer, at: t0 + 30_000 * 86_400))
            == .applied)
        try await engine.close()
    }

    @Test func theScheduleGivesTheReasonsOfWaitingDebtorsToo() async throws {
        let clock = VirtualClock(start: t0)
        let engine = try await openEngine(temporaryDirectory(), clock: clock, shards: 2)
        let debtors = (0..<20).map { makeDebtor($0) }
        _ = try await engine.upsert(debtors)
        // Half of them answered no: they wait for their retry delay (a waiting slot keeps no reasons).
        for d in debtors.prefix(10) {
            #expect(try await engine.ingest(outcome("o-\(d.id)", d, .noAnswer, at: t0)) == .applied)
        }
        let planned = await engine.schedule(from: t0 - 86_400, to: t0 + 7 * 86_400, limit: 100)
        #expect(planned.count == 20)
        let waiting = planned.filter { d in debtors.prefix(10).contains { $0.id == d.debtor } }
        #expect(waiting.count == 10)
        for decision in planned {
            #expect(!decision.reasons.isEmpty, "\(decision.debtor) has no reasons in the schedule")
            // The same reasons as the debtor's own view (GET /v1/debtors/{id}).
            let own = try #require(await engine.debtorState(id: decision.debtor))
            #expect(own.decisions.first { $0.debt == decision.debt }?.reasons == decision.reasons)
        }
        try await engine.close()
    }
}

@Suite struct RecordValidationTests {
    @Test(arguments: [
        ("Y-20\u{0}x", "A-1", "id contains a control character"),
        ("Y-21\u{1B}[2J", "A-1", "id contains a control character"),
        ("Y-22", "A-\u{7F}", "the id of debts[0] contains a control character"),
    ])
    func idsWithControlCharactersAreRejected(id: String, debt: String, message: String) async throws {
        let engine = try await openEngine(temporaryDirectory(), clock: VirtualClock(start: t0))
        var bad = makeDebtor(1)
        bad.id = id
        bad.debts[0].id = debt
        let good = makeDebtor(2)
        let results = try await engine.upsert([bad, good])
        #expect(results[0] == .rejected(code: "invalid_record", message: message))
        #expect(results[1] == .inserted)
        #expect(await engine.count() == 1)
        try await engine.close()
    }
}

/// A payment's `currency`, when sent, must be its debt's (audit of session 11: a EUR payment settled a USD debt).
@Suite struct PaymentCurrencyTests {
    @Test func aPaymentInAnotherCurrencyIsRejectedTheOthersApplied() async throws {
        let engine = try await openEngine(temporaryDirectory(), clock: VirtualClock(start: t0))
        let debtors = (0..<3).map { makeDebtor($0, debts: 2) }  // every debt in USD
        _ = try await engine.upsert(debtors)
        func pay(_ id: String, _ d: Debtor, _ debt: Int, _ currency: String?) -> StoredEvent {
            .payment(PaymentEvent(payment: id, debtor: d.id, debt: d.debts[debt].id, amount: Money(decimal: "10")!,
                                  at: t0, currency: currency))
        }
        let results = try await engine.ingest(events: [
            pay("p-eur", debtors[0], 1, "EUR"), pay("p-usd", debtors[1], 1, "USD"), pay("p-none", debtors[2], 0, nil),
        ])
        #expect(results[0] == .rejected(
            code: "invalid_value",
            message: "the payment is in EUR but debt 'A-0-1' is in USD; send the amount in the debt's currency",
            field: "currency"))
        #expect(results[1] == .applied && results[2] == .applied)
        #expect(try #require(await engine.debtorState(id: debtors[0].id)).history.payments.isEmpty)
        #expect(try #require(await engine.debtorState(id: debtors[1].id)).history.payments.count == 1)
        try await engine.close()
    }
}

/// An outcome for a phone the debtor's record does not list (DOMAIN.md: a placed call is a fact; conservatism):
/// accepted, recorded and counted, with a warning for the acknowledgement.
@Suite struct PhoneNotOnRecordTests {
    @Test func isAppliedCountedAndWarnedAbout() async throws {
        let engine = try await openEngine(temporaryDirectory(), clock: VirtualClock(start: t0))
        let debtor = makeDebtor(1)
        _ = try await engine.upsert([debtor, makeDebtor(2)])
        let onRecord = outcome("on-1", debtor, .noAnswer, at: t0 - 7200)
        var offRecord = outcome("off-1", debtor, .noAnswer, at: t0 - 3600)
        offRecord.phone = "+16175559999"
        // The other debtor's number is not this debtor's either.
        var otherDebtors = outcome("off-2", debtor, .busy, at: t0 - 1800)
        otherDebtors.phone = makeDebtor(2).phones[0].number
        let events: [StoredEvent] = [.outcome(onRecord), .outcome(offRecord), .outcome(otherDebtors)]
        let (results, warnings) = try await engine.ingestReportingWarnings(events: events)
        #expect(results == [.applied, .applied, .applied])
        #expect(warnings[0] == nil)
        for (k, phone) in [(1, offRecord.phone), (2, otherDebtors.phone)] {
            let w = try #require(warnings[k])
            #expect(w.code == "phone_not_on_record" && w.field == "phone")
            #expect(w.message.contains("'\(phone)' is not one of debtor 'D-1''s phones"))
            #expect(w.message.contains("counts toward debt 'A-1-0''s caps"))
            #expect(!w.message.contains("E.164"), "\(w.message)")
        }
        // A phone that is not a number at all says so too.
        var garbage = outcome("off-g", debtor, .busy, at: t0 - 1700)
        garbage.phone = "garbage"
        let g = try await engine.ingestReportingWarnings(events: [.outcome(garbage)])
        #expect(g.warnings[0]?.message.contains("nor an E.164 number") == true, "\(String(describing: g.warnings[0]))")
        // Recorded and counted: US-MA allows 2 counted calls per debt in 7 days; the off-record no_answer is the
        // second, so the debt is capped now.
        let state = try #require(await engine.debtorState(id: "D-1"))
        #expect(state.history.outcomes.map(\.attempt).sorted() == ["off-1", "off-2", "off-g", "on-1"])
        let decision = try #require(state.decisions.first)
        #expect((decision.earliest ?? .max) > t0 + 86_400, "\(decision.reasons)")
        // Control: the on-record call alone leaves the debt callable within the day.
        let control = makeDebtor(3)
        _ = try await engine.upsert([control])
        _ = try await engine.ingest(outcome("on-3", control, .noAnswer, at: t0 - 7200))
        let free = try #require(await engine.debtorState(id: "D-3")?.decisions.first)
        #expect((free.earliest ?? .max) < t0 + 86_400, "\(free.reasons)")
        // A repeat is a duplicate and still says so.
        let again = try await engine.ingestReportingWarnings(events: [.outcome(offRecord)])
        #expect(again.results == [.duplicate] && again.warnings[0]?.code == "phone_not_on_record")
        // Rejected events carry no warning.
        var unknown = offRecord
        unknown.debtor = "D-404"
        let rejected = try await engine.ingestReportingWarnings(events: [.outcome(unknown)])
        #expect(rejected.warnings == [nil])
        try await engine.close()
    }
}
