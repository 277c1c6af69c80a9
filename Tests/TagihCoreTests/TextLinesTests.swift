import Foundation
import Testing
@testable import TagihCore

/// Line splitting that sees `\r\n` (audit of session 11: `String.split(separator: "\n")` never splits at `\r\n`, one
/// Character, so `tagih explain` read a CRLF file as one line and the token file reader kept only its first token).
@Suite struct TextLinesTests {
    @Test(arguments: [
        ("a\nb\nc", ["a", "b", "c"]),
        ("a\r\nb\r\nc\r\n", ["a", "b", "c"]),
        ("a\r\n\r\nb\n", ["a", "", "b"]),
        ("a\nb\r\nc\rd\n", ["a", "b", "c\rd"]),  // a lone CR inside a line stays
        ("", []),
        ("\n", [""]),
        ("é\r\nß", ["é", "ß"]),
    ])
    func splitsOnLineFeedBytesAndDropsTheCarriageReturn(text: String, lines: [String]) {
        #expect(TextLines.split(text).map(String.init) == lines)
    }

    @Test func explainReadsCRLFAndMixedFilesWithExactLineNumbers() throws {
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        let lf = try String(contentsOf: here.appendingPathComponent("Fixtures/explain-population.ndjson"), encoding: .utf8)
        let outcomes = try String(contentsOf: here.appendingPathComponent("Fixtures/explain-outcomes.ndjson"),
                                  encoding: .utf8)
        let at = RFC3339.parse("2026-11-30T14:05:00Z")!
        let expected = Explainer().explain(population: lf, outcomes: outcomes, at: at, json: true)
        #expect(!expected.lines.isEmpty && !expected.problems.isEmpty)
        // Every line ending CRLF, then every other one: the same decisions and the same problems, same line numbers.
        let crlf = lf.replacingOccurrences(of: "\n", with: "\r\n")
        var mixed = ""
        for (k, line) in lf.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            mixed += line + (k % 2 == 0 ? "\r\n" : "\n")
        }
        for population in [crlf, mixed] {
            let report = Explainer().explain(
                population: population, outcomes: outcomes.replacingOccurrences(of: "\n", with: "\r\n"), at: at,
                json: true)
            #expect(report.lines == expected.lines)
            #expect(report.problems.map(\.description) == expected.problems.map(\.description))
        }
    }
}

@Suite struct PaymentCurrencyDecodingTests {
    @Test func theCurrencyIsReadAndChecked() throws {
        let base = #"{"payment":"P-1","debtor":"D-1","debt":"A-1","amount":"100.00","at":"2026-11-30T15:00:00Z""#
        #expect(try LineDecoder.payment(from: base + "}").value.currency == nil)
        let eur = try LineDecoder.payment(from: base + #","currency":"EUR"}"#)
        #expect(eur.value.currency == "EUR" && eur.warnings.isEmpty)
        #expect {
            _ = try LineDecoder.payment(from: base + #","currency":"eur"}"#)
        } throws: { error in
            (error as? RecordError)?.code == "invalid_value" && (error as? RecordError)?.field == "currency"
        }
    }
}
