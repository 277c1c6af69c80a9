import ArgumentParser
import Foundation
import TagihCore

struct ExplainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Show the decision for every debt of a population at a given time, with reasons.",
        discussion: """
            Loads debtors (NDJSON v1) and optionally their outcome, payment and clearance history, decides every \
            open debt at --at and prints one decision per debt: text by default, one NDJSON line per debt with --json. \
            Bad input lines are reported on stderr with their line numbers and skipped; so are events after --at \
            (they had not happened yet) and repeated attempt or payment ids.
            """
    )

    @Option(name: .long, help: "Debtor lines (NDJSON v1).")
    var population: String

    @Option(name: .long, help: ArgumentHelp(
        "Outcome, payment and clearance lines (NDJSON v1), in the order they were recorded.",
        discussion: "A clearance line may carry an 'at' (RFC 3339): when it was recorded; without it, the --at time."))
    var outcomes: String?

    @Option(name: .long, help: "The instant to decide at, RFC 3339 with an offset (e.g. 2026-11-30T14:05:00Z).")
    var at: String

    @Option(name: .long, help: "A holiday file (YYYY-MM-DD<TAB>kind<TAB>name) replacing the bundled Indonesian calendar.")
    var holidays: String?

    @Flag(name: .long, help: "One NDJSON line per decision.")
    var json = false

    func run() async throws { try await reportingUsageErrors(execute) }

    private func execute() async throws {
        guard let now = RFC3339.parse(at) else {
            throw ValidationError("--at '\(at)' is not an RFC 3339 time with an offset, e.g. 2026-11-30T14:05:00Z")
        }
        let populationText = try read(population, "--population")
        let outcomesText = try outcomes.map { try read($0, "--outcomes") }
        var explainer = Explainer()
        if let holidays {
            var configuration = PolicyConfiguration()
            do {
                configuration.holidayOverrides["ID"] = try HolidayCalendar.load(path: holidays)
            } catch {
                throw ValidationError("--holidays: \(error.description)")
            }
            explainer.policy = ContactPolicy(configuration: configuration)
        }
        let report = explainer.explain(population: populationText, outcomes: outcomesText, at: now, json: json)
        for p in report.problems { FileHandle.standardError.write(Data((p.description + "\n").utf8)) }
        var out = report.lines.joined(separator: "\n")
        if !out.isEmpty { out += "\n" }
        FileHandle.standardOutput.write(Data(out.utf8))
    }

    private func read(_ path: String, _ option: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("\(option): cannot read '\(path)'")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
