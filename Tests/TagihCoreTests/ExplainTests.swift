import Foundation
import Testing

@testable import TagihCore

/// Golden files for `tagih explain` under Fixtures/ (set TAGIH_UPDATE_GOLDEN=1 to rewrite them).
@Suite struct ExplainTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    func read(_ name: String) throws -> String {
        try String(contentsOf: Self.fixtures.appendingPathComponent(name), encoding: .utf8)
    }

    func check(_ actual: String, golden name: String) throws {
        let url = Self.fixtures.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["TAGIH_UPDATE_GOLDEN"] == "1" {
            try actual.write(to: url, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: url, encoding: .utf8)
        #expect(actual == expected, "golden \(name) differs")
    }

    @Test(arguments: [false, true])
    func golden(json: Bool) throws {
        let report = Explainer().explain(population: try read("explain-population.ndjson"),
                                         outcomes: try read("explain-outcomes.ndjson"),
                                         at: t("2026-11-30T14:05:00Z"), json: json)
        try check(report.lines.joined(separator: "\n") + "\n", golden: json ? "explain.ndjson" : "explain.txt")
        try check(report.problems.map(\.description).joined(separator: "\n") + "\n", golden: "explain-problems.txt")
        #expect(report.decisions.count == 6)
    }

    @Test func jsonLinesParseAndCarryRequiredFields() throws {
        let report = Explainer().explain(population: try read("explain-population.ndjson"),
                                         outcomes: try read("explain-outcomes.ndjson"),
                                         at: t("2026-11-30T14:05:00Z"), json: true)
        for line in report.lines {
            let v = try JSONValue.parse(line)
            for key in ["debtor", "debt", "phone", "earliest", "best", "score", "reasons"] {
                #expect(v[key] != nil, "\(key) missing in \(line)")
            }
            if case .string(let e) = v["earliest"] {
                #expect(RFC3339.parse(e) != nil)
                #expect(!e.hasSuffix("Z"))
            }
        }
    }

    @Test func problemsNameLineAndField() throws {
        let report = Explainer().explain(population: try read("explain-population.ndjson"),
                                         outcomes: try read("explain-outcomes.ndjson"),
                                         at: t("2026-11-30T14:05:00Z"), json: false)
        let text = report.problems.map(\.description)
        #expect(text.contains("population:4: error: zone: unknown IANA time zone 'Mars/Olympus'"))
        #expect(text.contains { $0.hasPrefix("population:6: error: debts[0].balance:") })
        #expect(text.contains { $0.hasPrefix("population:7: error:") })
        #expect(text.contains("population:5: warning: nickname: unknown field (ignored)"))
        #expect(text.contains { $0.hasPrefix("outcomes:5: error: outcome: unknown value 'maybe'; allowed: busy,") })
    }

    /// A clearance line (as `POST /v1/clearances` takes it) in `--outcomes` lifts the hold it names, as the server
    /// would: at its optional `at`, else at the decision time, and after the holds listed before it.
    @Test func clearanceLinesLiftTheirHold() throws {
        let population = #"{"id":"D-1","jurisdiction":"US","zone":"America/New_York","phones":[{"number":"+16175550100","kind":"mobile"}],"debts":[{"id":"A-1","balance":"100.00","currency":"USD"}]}"#
        let dispute = #"{"attempt":"a1","debtor":"D-1","debt":"A-1","phone":"+16175550100","at":"2026-12-01T12:00:00Z","outcome":"dispute"}"#
        let at = t("2026-12-01T13:00:00Z")
        let held = Explainer().explain(population: population, outcomes: dispute, at: at, json: false)
        #expect(held.decisions.first?.blockedReason?.contains("dispute open") == true, "\(held.lines)")
        for clearance in [
            #"{"clearance":"CL-1","debtor":"D-1","clears":"dispute","debt":"A-1","by":"ops"}"#,
            #"{"clearance":"CL-1","debtor":"D-1","clears":"dispute","debt":"A-1","by":"ops","at":"2026-12-01T12:30:00Z"}"#,
        ] {
            let cleared = Explainer().explain(population: population, outcomes: dispute + "\n" + clearance, at: at,
                                              json: false)
            #expect(cleared.problems.isEmpty, "\(cleared.problems)")
            #expect(cleared.decisions.first?.blockedReason == nil, "\(cleared.lines)")
        }
        let wrong = #"{"clearance":"CL-2","debtor":"D-1","clears":"dispute","debt":"A-9","by":"ops"}"#
        let report = Explainer().explain(population: population, outcomes: dispute + "\n" + wrong, at: at, json: false)
        #expect(report.problems.map(\.description) == ["outcomes:2: error: debt: debtor 'D-1' has no debt 'A-9'"])
        #expect(report.decisions.first?.blockedReason?.contains("dispute open") == true)
    }

    /// The checks the service makes on ingest apply to explain's history too: a payment in another currency than
    /// its debt's, an event about a debt the debtor does not have, a callback before its call are errors (and left
    /// out); a phone not on record is a warning.
    @Test func eventsTheServiceWouldRefuseAreRefused() throws {
        let population = #"{"id":"D-1","jurisdiction":"US","zone":"America/New_York","phones":[{"number":"+16175550100","kind":"mobile"}],"debts":[{"id":"A-1","balance":"100.00","currency":"USD"}]}"#
        let outcomes = [
            #"{"payment":"P1","debtor":"D-1","debt":"A-1","amount":"100.00","currency":"EUR","at":"2026-12-01T12:00:00Z"}"#,
            #"{"payment":"P2","debtor":"D-1","debt":"AX","amount":"1.00","at":"2026-12-01T12:00:00Z"}"#,
            #"{"attempt":"a1","debtor":"D-1","debt":"AX","phone":"+16175550100","at":"2026-12-01T12:00:00Z","outcome":"no_answer"}"#,
            #"{"attempt":"a2","debtor":"D-1","debt":"A-1","phone":"+16175550100","at":"2026-12-01T12:00:00Z","outcome":"callback_requested","callbackAt":"2026-12-01T11:00:00Z"}"#,
            #"{"attempt":"a3","debtor":"D-1","debt":"A-1","phone":"+16175550199","at":"2026-12-01T12:00:00Z","outcome":"busy"}"#,
        ].joined(separator: "\n")
        let report = Explainer().explain(population: population, outcomes: outcomes, at: t("2026-12-01T13:00:00Z"), json: true)
        let text = report.problems.map(\.description)
        #expect(text.count == 5, "\(text)")
        #expect(text[0].hasPrefix("outcomes:1: error: currency: the payment is in EUR but debt 'A-1' is in USD"), "\(text)")
        #expect(text[1] == "outcomes:2: error: debt: debtor 'D-1' has no debt 'AX'", "\(text)")
        #expect(text[2] == "outcomes:3: error: debt: debtor 'D-1' has no debt 'AX'", "\(text)")
        #expect(text[3].hasPrefix("outcomes:4: error: callbackAt: callbackAt 2026-12-01T11:00:00Z is before"), "\(text)")
        #expect(text[4].hasPrefix("outcomes:5: warning: phone: '+16175550199' is not one of debtor 'D-1''s phones"), "\(text)")
        // The EUR payment did not settle the debt: it is still decided.
        #expect(report.decisions.count == 1 && report.decisions[0].blockedReason == nil, "\(report.lines)")
    }

    /// Events after the decision time had not happened then: left out of the history, with a warning each, as is a
    /// repeated payment id. The decision equals the one made without them.
    @Test func eventsAfterTheDecisionTimeAreLeftOutAndNamed() throws {
        let population = #"{"id":"D-1","jurisdiction":"US-MA","zone":"America/New_York","phones":[{"number":"+16175550100","kind":"mobile"}],"debts":[{"id":"A-1","balance":"100.00","currency":"USD"}]}"#
        let before = #"{"payment":"P1","debtor":"D-1","debt":"A-1","amount":"10.00","at":"2026-12-01T12:00:00Z"}"#
        let outcomes = [
            before,
            #"{"attempt":"a1","debtor":"D-1","debt":"A-1","phone":"+16175550100","at":"2026-12-01T14:00:00Z","outcome":"right_party"}"#,
            #"{"payment":"P2","debtor":"D-1","debt":"A-1","amount":"90.00","at":"2026-12-01T13:30:00Z"}"#,
            before,
        ].joined(separator: "\n")
        let at = t("2026-12-01T13:00:00Z")
        let report = Explainer().explain(population: population, outcomes: outcomes, at: at, json: true)
        let text = report.problems.map(\.description)
        #expect(text == [
            "outcomes:2: warning: at: 2026-12-01T14:00:00Z is after the decision time 2026-12-01T13:00:00Z; left out",
            "outcomes:3: warning: at: 2026-12-01T13:30:00Z is after the decision time 2026-12-01T13:00:00Z; left out",
            "outcomes:4: warning: payment: payment 'P1' repeated; ignored",
        ], "\(text)")
        let without = Explainer().explain(population: population, outcomes: before, at: at, json: true)
        #expect(without.problems.isEmpty)
        #expect(report.lines == without.lines)
        // At a later time the same events count: the conversation blocks the debt.
        let later = Explainer().explain(population: population, outcomes: outcomes, at: t("2026-12-01T15:00:00Z"), json: true)
        #expect(later.lines != without.lines)
        #expect(later.problems.count == 1)
    }
}

@Test(arguments: [
    (0.8970370000000001, "0.897037"), (14470.099999999999, "14470.1"), (0.0123, "0.0123"), (1234567.0, "1234570"),
    (0.000001234564, "0.00000123456"), (0.0, "0"), (9.9999996, "10"), (100.0, "100"),
])
func scoreFormatting(_ v: Double, _ s: String) {
    #expect(DecisionEncoding.formatScore(v) == s)
}
