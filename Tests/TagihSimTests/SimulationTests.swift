import Foundation
import Testing
import TagihCore
@testable import TagihSim

/// 2026-12-01T05:00:00Z = midnight in New York.
let testStart: UnixSeconds = 1_796_101_200

func smallConfiguration(
    days: Int = 3, agents: Int = 4, seed: UInt64 = 11, backend: SimulationBackend = .policy
) -> SimulationConfiguration {
    var c = SimulationConfiguration(start: testStart)
    c.backend = backend
    c.days = days
    c.agents = agents
    c.seed = seed
    return c
}

extension Simulation {
    /// `run(kind, attempt:)` with the report's wall time cleared, so that two runs compare by their results alone.
    func resultOfRun(_ kind: StrategyKind, attempt: ((OutcomeEvent) -> Void)? = nil) async throws -> StrategyReport {
        var report = try await run(kind, attempt: attempt)
        report.wallSeconds = 0
        return report
    }
}

/// Whether the linked TagihCore is the real decision function (not the skeleton's contract stub).
let coreIsReal: Bool = {
    let d = SyntheticPopulation.generate(count: 1, seed: 1)[0]
    return ContactPolicy().decide(for: d, history: DebtorHistory(), now: testStart).first?.reasons != ["stub"]
}()

@Suite struct SimulationTests {
    @Test func sameSeedGivesIdenticalReport() async throws {
        let population = SyntheticPopulation.generate(count: 1500, seed: 5)
        var a = try await SimulationRunner.run(
            population: population, configuration: smallConfiguration(), strategies: [.tagih, .baseline])
        var b = try await SimulationRunner.run(
            population: population, configuration: smallConfiguration(), strategies: [.tagih, .baseline])
        for k in a.strategies.indices {
            a.strategies[k].wallSeconds = 0
            b.strategies[k].wallSeconds = 0
        }
        #expect(a == b)
        #expect(a.strategies[0].dials > 0)
        var other = smallConfiguration()
        other.seed = 12
        let c = try await SimulationRunner.run(population: population, configuration: other, strategies: [.tagih])
        #expect(c.strategies[0].dials != a.strategies[0].dials || c.strategies[0].rightPartyContacts
            != a.strategies[0].rightPartyContacts)
    }

    /// Every strategy, on the default population (which includes debtors of unknown address zone, split-zone
    /// states, quiet times, ID/GB/IN debtors): the independent checker finds no violation.
    @Test(arguments: [
        (StrategyKind.tagih, SimulationBackend.policy), (.baseline, .policy), (.earliest, .policy), (.tagih, .engine),
    ])
    func noViolationsFoundByTheIndependentChecker(kind: StrategyKind, backend: SimulationBackend) async throws {
        let population = SyntheticPopulation.generate(count: backend == .engine ? 1500 : 3000, seed: 9)
        let config = smallConfiguration(
            days: backend == .engine ? 3 : 8, agents: backend == .engine ? 2 : 6, backend: backend)
        let report = try await SimulationRunner.run(population: population, configuration: config, strategies: [kind])
        let r = report.strategies[0]
        #expect(r.dials > 1000)
        #expect(r.backend == (kind == .tagih && backend == .engine ? "Engine" : "ContactPolicy"))
        #expect(r.violations == 0, "\(r.violationsByRule) \(r.violationExamples)")
    }

    @Test(.enabled(if: coreIsReal, "needs the real TagihCore decision function"))
    func tagihBeatsBaselineOnASmallWorld() async throws {
        // Agents are the scarce resource here (3,000 debtors per agent), as on a real floor.
        let population = SyntheticPopulation.generate(count: 6000, seed: 21)
        let report = try await SimulationRunner.run(
            population: population, configuration: smallConfiguration(days: 7, agents: 2, seed: 21),
            strategies: [.tagih, .baseline])
        let tagih = report.strategies[0]
        let baseline = report.strategies[1]
        #expect(tagih.rpcPerDial >= baseline.rpcPerDial)
        #expect(tagih.agentHours == baseline.agentHours)
    }

    /// Chart grids at round numbers (0, 250, 500, 750, 1000 for a maximum of 950, not 0, 237.5, …), and shares
    /// as percentages.
    @Test func chartTicksAreRoundNumbers() {
        #expect(ReportWriter.tickStep(950) == 250)
        #expect(ReportWriter.tickStep(1000) == 250)
        #expect(ReportWriter.tickStep(4) == 1)
        #expect(ReportWriter.tickStep(10) == 2.5)
        #expect(ReportWriter.tickStep(612_345) == 200_000)
        #expect(abs(ReportWriter.tickStep(0.097) - 0.025) < 1e-12)
        #expect(ReportWriter.tickLabel(750, step: 250, percent: false) == "750")
        #expect(ReportWriter.tickLabel(7.5, step: 2.5, percent: false) == "7.5")
        #expect(ReportWriter.tickLabel(0.05, step: 0.025, percent: true) == "5.0 %")
        #expect(ReportWriter.tickLabel(0.1, step: 0.05, percent: true) == "10 %")
    }

    @Test func reportFilesAreWrittenAndWellFormed() async throws {
        let population = SyntheticPopulation.generate(count: 800, seed: 2)
        var configuration = smallConfiguration(days: 2, agents: 2)
        configuration.floorZone = "America/Chicago"
        let report = try await SimulationRunner.run(
            population: population, configuration: configuration, strategies: [.tagih, .baseline, .earliest])
        // The floor zone the shifts were in is part of the run's parameters.
        #expect(report.floorZone == "America/Chicago")
        // Amounts in cents (sums converted from several currencies carried float noise in the last digits).
        let amounts = report.strategies.flatMap { [$0.collected, $0.promisedAmount] + $0.perDay.map(\.collected) }
        #expect(amounts.contains { $0 > 0 })
        #expect(amounts.allSatisfy { abs($0 * 100 - ($0 * 100).rounded()) < 1e-6 }, "\(amounts)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tagih-sim-\(getpid())-report")
        defer { try? FileManager.default.removeItem(at: dir) }
        try ReportWriter.write(report, to: dir)
        let json = try Data(contentsOf: dir.appendingPathComponent("report.json"))
        let decoded = try JSONDecoder().decode(SimulationReport.self, from: json)
        #expect(decoded == report)
        // Zone names as written (America/Chicago), not with escaped slashes (America\/Chicago).
        let text = String(decoding: json, as: UTF8.self)
        #expect(text.contains("America/Chicago") && !text.contains("\\/"), "\(text.prefix(300))")
        let csv = try String(contentsOf: dir.appendingPathComponent("days.csv"), encoding: .utf8)
        let lines = csv.split(separator: "\n")
        #expect(lines.count == 1 + 3 * 2)
        let columns = lines[0].split(separator: ",").count
        #expect(columns == 16)
        #expect(lines.allSatisfy { $0.split(separator: ",", omittingEmptySubsequences: false).count == columns })
        let html = try String(contentsOf: dir.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.components(separatedBy: "<svg").count - 1 == 4)
        #expect(html.components(separatedBy: "</svg>").count - 1 == 4)
        #expect(html.hasSuffix("</html>\n"))
        #expect(html.contains("baseline") && html.contains("earliest"))
        #expect(html.contains("2 agents (shifts in America/Chicago)"))
        #expect(html.contains(">simulated day</text>") && html.contains(" %</text>"), "penetration ticks in %")
        // A marker per day and strategy in each of the 4 charts (a one-day line alone draws nothing).
        #expect(html.components(separatedBy: "<circle").count - 1 == 4 * 3 * 2)
        // A run shorter than 7 days is one 7-day window: its counted calls per debt are not scaled up.
        for r in report.strategies {
            let debts = population.reduce(0) { $0 + $1.debts.count }
            #expect(abs(r.countedCallsPerDebtPerWeek - Double(r.countedCalls) / Double(debts)) < 1e-9)
        }
    }

    /// Indonesian debtors are not called on days the holiday calendar does not cover (2032 here: the bundled one
    /// covers 2025-2030), by any strategy on either backend; in a covered August they are.
    @Test(.enabled(if: coreIsReal, "needs the real TagihCore decision function"), arguments: [
        (StrategyKind.tagih, SimulationBackend.engine), (.baseline, .policy),
    ])
    func indonesianDebtorsAreNotCalledBeyondTheHolidayCalendar(kind: StrategyKind, backend: SimulationBackend)
        async throws
    {
        let population = SyntheticPopulation.generate(count: 3000, seed: 9).filter { $0.jurisdiction == "ID" }
        #expect(population.count > 100)
        var calls: [String: Int] = [:]
        for (year, start) in [("2026", "2026-08-18T00:00:00Z"), ("2032", "2032-08-18T00:00:00Z")] {
            var config = smallConfiguration(days: 2, agents: 2, backend: backend)
            config.start = try #require(RFC3339.parse(start))
            var n = 0
            let report = try await SimulationRunner.run(
                population: population, configuration: config, strategies: [kind], attempt: { _ in n += 1 })
            #expect(report.strategies[0].violations == 0)
            calls[year] = n
        }
        #expect(calls["2026"]! > 100, "\(calls)")
        #expect(calls["2032"] == 0, "\(calls)")
    }

    /// The same run writes the same attempt log, lease ids included (the simulation's engine fixes their tag).
    @Test func theSameRunWritesTheSameAttemptLog() async throws {
        let population = SyntheticPopulation.generate(count: 800, seed: 3)
        var logs: [[String]] = []
        for _ in 0..<2 {
            var lines: [String] = []
            _ = try await SimulationRunner.run(
                population: population, configuration: smallConfiguration(days: 2, agents: 2, backend: .engine),
                strategies: [.tagih], attempt: { lines.append(OutcomeLine.encode($0)) })
            logs.append(lines)
        }
        #expect(logs[0].count > 100 && logs[0].allSatisfy { $0.contains(#""lease":"L000000"#) })
        #expect(logs[0] == logs[1])
    }

    /// Common random numbers: a debtor's first dial draws the same luck under every strategy, so two strategies
    /// that place it in the same hour (same answer rate: same local hour, no fatigue, no callback yet) to the same
    /// number get the same outcome, whatever they dialed before it. With one stream for the whole floor they
    /// agree only by chance (no answer against voicemail, busy, an answer).
    @Test func aDebtorsFirstDialDrawsTheSameLuckUnderEveryStrategy() async throws {
        let population = SyntheticPopulation.generate(count: 3000, seed: 5)
        var firsts: [[String: OutcomeEvent]] = []
        for kind in [StrategyKind.baseline, .earliest] {
            var first: [String: OutcomeEvent] = [:]
            _ = try await SimulationRunner.run(
                population: population, configuration: smallConfiguration(days: 2, agents: 3), strategies: [kind],
                attempt: { event in if first[event.debtor] == nil { first[event.debtor] = event } })
            firsts.append(first)
        }
        var compared = 0
        var answered = 0
        for (debtor, a) in firsts[0] {
            guard let b = firsts[1][debtor], a.phone == b.phone, a.at / 3600 == b.at / 3600,
                a.outcome != .abandoned, b.outcome != .abandoned
            else { continue }
            compared += 1
            if ![.busy, .notInService, .noAnswer, .voicemail].contains(a.outcome) { answered += 1 }
            #expect(a.outcome == b.outcome, "debtor \(debtor): \(a.outcome) against \(b.outcome)")
        }
        #expect(compared > 200, "\(compared) first dials in the same hour")
        #expect(answered > 0)
    }

    @Test func attemptLogLinesAreOutcomeLinesInTimeOrder() async throws {
        let population = SyntheticPopulation.generate(count: 1500, seed: 4)
        var lines: [String] = []
        let configuration = smallConfiguration(days: 4, agents: 4)
        let report = try await SimulationRunner.run(
            population: population, configuration: configuration, strategies: [.tagih],
            attempt: { lines.append(OutcomeLine.encode($0)) })
        #expect(lines.count == report.strategies[0].dials)
        var last = ""
        var promises = 0
        var callbacks = 0
        for line in lines {
            let decoded = try LineDecoder.outcome(from: line)
            #expect(decoded.warnings.isEmpty, "\(decoded.warnings)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            for key in ["attempt", "debtor", "debt", "phone", "at", "outcome"] {
                #expect(object[key] is String, "\(key) in \(line)")
            }
            let outcome = try #require(Outcome(rawValue: object["outcome"] as! String))
            let at = object["at"] as! String
            #expect(at >= last, "time order")
            #expect(LocalTime.rfc3339(decoded.value.at) == at)
            last = at
            if outcome == .promiseToPay {
                let promise = try #require(object["promise"] as? [String: Any])
                #expect(promise["amount"] is String)
                #expect(LocalTime.parseDate(promise["due"] as? String ?? "") != nil)
                promises += 1
            }
            if outcome == .callbackRequested {
                let text = try #require(object["callbackAt"] as? String)
                let callbackAt = try #require(RFC3339.parse(text))
                // Booked for an hour the floor is staffed (an agent does not promise a call when nobody works),
                // unless that hour would be after the run.
                if callbackAt + 3600 <= configuration.start + Int64(configuration.days) * 86_400 {
                    let staffed = Self.floorStaffed(callbackAt, configuration)
                        && Self.floorStaffed(callbackAt + 2700, configuration)
                    #expect(staffed, "callback at \(text) (floor closed)")
                }
                callbacks += 1
            }
        }
        #expect(promises == report.strategies[0].promises)
        #expect(callbacks > 5, "\(callbacks) callbacks")
    }

    /// Whether a shift of `configuration` works at `t` (the floor's zone).
    static func floorStaffed(_ t: UnixSeconds, _ configuration: SimulationConfiguration) -> Bool {
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = TimeZone(identifier: configuration.floorZone)!
        let parts = calendar.dateComponents([.weekday, .hour, .minute], from: Date(timeIntervalSince1970: Double(t)))
        let weekday = (parts.weekday! + 5) % 7 + 1  // Foundation: Sunday 1 … Saturday 7; ISO: Monday 1 … Sunday 7
        let minute = parts.hour! * 60 + parts.minute!
        return configuration.shifts.contains {
            $0.days.contains(weekday) && minute >= $0.fromMinute && minute < $0.toMinute
        }
    }

    @Test func progressIsReportedOncePerDayAndStrategy() async throws {
        let population = SyntheticPopulation.generate(count: 300, seed: 4)
        var seen: [SimulationProgress] = []
        _ = try await SimulationRunner.run(
            population: population, configuration: smallConfiguration(days: 3, agents: 2),
            strategies: [.tagih, .earliest], progress: { seen.append($0) })
        #expect(seen.count == 6)
        #expect(seen.last?.fraction == 1)
        #expect(seen.map(\.day) == [1, 2, 3, 1, 2, 3])
        // In proportion to the strategies' expected costs (tagih on ContactPolicy 2.3, earliest 1.2), so that the
        // fraction tells how much is left, and never backwards.
        #expect(abs(seen[2].fraction - 2.3 / 3.5) < 1e-9, "\(seen.map(\.fraction))")
        #expect(zip(seen, seen.dropFirst()).allSatisfy { $0.fraction < $1.fraction })
        let encoded = try JSONEncoder().encode(seen[0])
        #expect(try JSONDecoder().decode(SimulationProgress.self, from: encoded) == seen[0])
    }

    @Test func invalidConfigurationsAreRejected() async {
        var c = smallConfiguration()
        c.agents = 0
        await #expect(throws: SimulationError.self) {
            _ = try await SimulationRunner.run(population: [], configuration: c, strategies: [.tagih])
        }
        c = smallConfiguration()
        c.floorZone = "Mars/Olympus"
        await #expect(throws: SimulationError.self) {
            _ = try await SimulationRunner.run(population: [], configuration: c, strategies: [.tagih])
        }
        c.floorZone = "EST"  // a fixed offset: the floor's shifts would ignore daylight saving time
        await #expect(throws: SimulationError.self) {
            _ = try await SimulationRunner.run(population: [], configuration: c, strategies: [.tagih])
        }
    }
}

@Suite struct EngineBackendTests {
    @Test func engineBackedRunIsDeterministicAndCarriesLeases() async throws {
        let population = SyntheticPopulation.generate(count: 800, seed: 13)
        let config = smallConfiguration(days: 2, agents: 2, seed: 13, backend: .engine)
        var leased = 0
        var a = try await SimulationRunner.run(
            population: population, configuration: config, strategies: [.tagih],
            attempt: { if $0.lease != nil { leased += 1 } })
        var b = try await SimulationRunner.run(population: population, configuration: config, strategies: [.tagih])
        a.strategies[0].wallSeconds = 0
        b.strategies[0].wallSeconds = 0
        #expect(a == b)
        #expect(a.strategies[0].backend == "Engine")
        #expect(a.strategies[0].dials > 100)
        #expect(leased == a.strategies[0].dials)
    }
}
