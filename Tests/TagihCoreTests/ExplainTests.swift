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
}

@Test(arguments: [
    (0.8970370000000001, "0.897037"), (14470.099999999999, "14470.1"), (0.0123, "0.0123"), (1234567.0, "1234570"),
    (0.000001234564, "0.00000123456"), (0.0, "0"), (9.9999996, "10"), (100.0, "100"),
])
func scoreFormatting(_ v: Double, _ s: String) {
    #expect(DecisionEncoding.formatScore(v) == s)
}
