import Foundation
import Synchronization
import NIOCore
import TagihCore
import TagihHTTP2
import TagihSim

/// The parameters of `POST /v1/simulations` (proto-docs/endpoints/simulations.md), in the order error messages
/// list them.
enum SimulationParameter: String, CaseIterable {
    case debtors, start, days, agents, seed, strategy, dialer, mix, floorZone
}

/// What is wrong with a request before any of it runs (a `POST /v1/simulations` body, a query parameter): answered
/// with status 400 and `{"error":{"code":…,"field":…,"message":…}}` (``TagihService/httpError(_:_:)``).
struct RequestError: Error {
    var code: String
    var field: String?
    var message: String
    /// For `unknown_field` and an unread query parameter: the accepted parameter names.
    var accepted: [String]? = nil
}

/// A validated simulation request: what `runSimulation` runs.
struct SimulationPlan: Sendable {
    var debtors: Int
    var seed: UInt64
    var strategies: [StrategyKind]
    var configuration: SimulationConfiguration
    /// One run per count, in this order (the agents curve); `configuration.agents` is the first.
    var agentCounts: [Int]
}

extension TagihService {
    /// Limits that keep one request from monopolising the server.
    static let maxSimulatedDebtors = 2_000_000
    static let maxSimulatedDays = 90
    /// The most work one request may ask for: debtors × days × runs (agent counts × strategies). 100 M is 1M
    /// debtors × 30 days × 3 strategies (about four minutes of this process's CPU on two cores, most of it the
    /// `tagih` strategy); each limit alone allows far more (2M × 90 days × 20 counts × 3 = 10.8 G, about a day).
    static let maxSimulationWork = 100_000_000
    /// The largest body of `POST /v1/simulations`.
    static let maxSimulationBody = 64 * 1024

    /// `POST /v1/simulations`: the body is read and checked first, so that a bad parameter is answered 400 (not a
    /// 200 and a final error line); a good one starts the NDJSON stream of progress lines and the report.
    func simulationResponse() -> HTTP2Response {
        .afterBody(maxBodyBytes: Self.maxSimulationBody) { raw in
            let plan: SimulationPlan
            do throws(RequestError) {
                plan = try Self.simulationPlan(raw)
            } catch {
                return self.httpError(400, error)
            }
            // One slot per running simulation, taken before the status line and given back when the handler is
            // done with it or, should it never run (the stream closed first), when the response is dropped.
            let limit = self.configuration.maxConcurrentSimulations
            guard let slot = SimulationSlot(self.runningSimulations, limit: limit) else {
                if limit == 0 {
                    return self.httpError(
                        403, "simulations_disabled",
                        "this server runs no simulations (tagih serve --max-simulations 0); run `tagih simulate`")
                }
                return self.httpError(
                    429, "too_many_simulations",
                    "\(limit == 1 ? "a simulation is" : "\(limit) simulations are") running already (this server runs "
                        + "at most \(limit) at once: tagih serve --max-simulations); retry when it ends, or run "
                        + "`tagih simulate` on another machine",
                    extraHeaders: [("retry-after", "30")])
            }
            return .streaming(status: 200, headers: TagihService.ndjsonHeaders) { _, writer in
                defer { slot.release() }
                try await self.runSimulation(plan, writer: writer)
            }
        }
    }

    /// A 400 answer naming the bad parameter.
    func httpError(_ status: Int, _ error: RequestError) -> HTTP2Response {
        var json = JSONLine()
        json.addObject("error") { inner in
            inner.add("code", error.code)
            inner.add("message", error.message)
            if let field = error.field { inner.add("field", field) }
            if let accepted = error.accepted { inner.add("accepted", accepted) }
        }
        var buffer = ByteBuffer()
        buffer.writeBytes(json.finish())
        metrics.error(error.code)
        return .immediate(status: status, headers: TagihService.jsonHeaders, body: buffer)
    }

    /// The longest agents curve one request may ask for.
    static let maxAgentCounts = 20

    /// Checks a simulation request body: a JSON object whose members are all known parameters (a typo such as
    /// `"agent": 50` would otherwise run with the default), each of the right type and range. Each error names the
    /// parameter and quotes the value.
    static func simulationPlan(_ raw: ByteBuffer) throws(RequestError) -> SimulationPlan {
        let accepted = SimulationParameter.allCases.map(\.rawValue)
        let value: JSONValue
        do {
            value = try JSONValue.parse(raw.readableBytesView)
        } catch {
            throw RequestError(code: "invalid_json", field: nil,
                                         message: "the body is not JSON: \(error.message)")
        }
        guard case .object(let members) = value else {
            throw RequestError(code: "wrong_type", field: nil,
                                         message: "the body must be a JSON object of simulation parameters, not "
                                             + value.typeName)
        }
        var given: [SimulationParameter: JSONValue] = [:]
        for (key, member) in members {
            guard let parameter = SimulationParameter(rawValue: key) else {
                throw RequestError(
                    code: "unknown_field", field: key,
                    message: "unknown parameter '\(key)'; the accepted parameters are \(accepted.joined(separator: ", "))",
                    accepted: accepted)
            }
            guard given[parameter] == nil else {
                throw RequestError(code: "duplicate_key", field: key,
                                             message: "parameter '\(key)' is given twice; give it once")
            }
            if case .null = member {
                throw RequestError(code: "wrong_type", field: key, message: "'\(key)' must not be null")
            }
            given[parameter] = member
        }

        let debtors = try given[.debtors].map { v throws(RequestError) in
            try wholeNumber(v, .debtors, 1...Self.maxSimulatedDebtors)
        } ?? 10_000
        guard let startValue = given[.start] else {
            throw RequestError(code: "missing_field", field: "start",
                                         message: "'start' is required: the first simulated day, YYYY-MM-DD")
        }
        let start = try text(startValue, .start)
        let days = try given[.days].map { v throws(RequestError) in
            try wholeNumber(v, .days, 1...Self.maxSimulatedDays)
        } ?? 30
        let agentCounts: [Int]
        switch given[.agents] {
        case nil:
            agentCounts = [50]
        case .array(let items)?:
            guard (1...Self.maxAgentCounts).contains(items.count) else {
                throw RequestError(
                    code: "out_of_range", field: "agents",
                    message: "'agents' lists \(items.count) counts; an agents curve takes 1 to \(Self.maxAgentCounts)")
            }
            var counts: [Int] = []
            for item in items { counts.append(try wholeNumber(item, .agents, 1...100_000)) }
            agentCounts = counts
        case let v?:
            agentCounts = [try wholeNumber(v, .agents, 1...100_000)]
        }
        let seed: UInt64
        if let v = given[.seed] {
            let expected = "a whole number from 0 to \(UInt64.max)"
            guard case .number(let written) = v else { throw wrongType(v, .seed, expected) }
            guard let n = UInt64(written) else { throw notWhole(written, .seed, expected) }
            seed = n
        } else {
            seed = 1
        }
        let strategies: [StrategyKind]
        let strategy = try given[.strategy].map { v throws(RequestError) in try text(v, .strategy) } ?? "all"
        if strategy == "all" {
            strategies = StrategyKind.allCases
        } else if let kind = StrategyKind(rawValue: strategy) {
            strategies = [kind]
        } else {
            throw RequestError(code: "unknown_value", field: "strategy",
                                         message: "'strategy' is '\(strategy)'; it must be tagih, baseline, earliest or all")
        }

        let work = debtors * days * agentCounts.count * strategies.count
        guard work <= Self.maxSimulationWork else {
            throw RequestError(
                code: "out_of_range", field: "debtors",
                message: "the simulation asks for \(work) debtor-days (debtors × days × agent counts × strategies: "
                    + "\(debtors) × \(days) × \(agentCounts.count) × \(strategies.count)); this server runs at most "
                    + "\(Self.maxSimulationWork) per request: ask for fewer, or run `tagih simulate`")
        }
        var configuration = SimulationConfiguration(start: 0)
        if let v = given[.floorZone] {
            let name = try text(v, .floorZone)
            guard ZoneDatabase.system.zone(named: name) != nil else {
                throw RequestError(
                    code: "unknown_value", field: "floorZone",
                    message: "'floorZone' is '\(name)'; it must be an IANA zone such as America/New_York")
            }
            guard LineDecoder.isPlaceZone(name) else {
                throw RequestError(
                    code: "unknown_value", field: "floorZone",
                    message: "'floorZone' is '\(name)', a fixed offset, not a place: give the IANA zone of the floor "
                        + "(such as America/New_York), whose daylight saving time its shifts follow")
            }
            configuration.floorZone = name
        }
        guard let day = CivilTime.parseDate(start),
              let zone = ZoneDatabase.system.zone(named: configuration.floorZone)
        else {
            throw RequestError(
                code: "invalid_time", field: "start",
                message: "'start' is '\(start)'; it must be a date that exists, YYYY-MM-DD (such as 2026-12-01)")
        }
        configuration.start = zone.instant(forLocal: day * CivilTime.secondsPerDay)
        configuration.days = days
        configuration.agents = agentCounts[0]
        configuration.seed = seed
        if let v = given[.dialer] {
            let dialer = try text(v, .dialer)
            guard let mode = DialerMode(rawValue: dialer) else {
                let allowed = DialerMode.allCases.map(\.rawValue).joined(separator: ", ")
                throw RequestError(code: "unknown_value", field: "dialer",
                                             message: "'dialer' is '\(dialer)'; it must be one of \(allowed)")
            }
            configuration.dialer = mode
        }
        if let v = given[.mix] {
            configuration.world.mix = try mix(v)
        }
        return SimulationPlan(debtors: debtors, seed: seed, strategies: strategies,
                              configuration: configuration, agentCounts: agentCounts)
    }

    /// The archetype mix, given as an object of shares (`{"day-worker":0.5,"never":0.1}`), checked as
    /// `tagih simulate --mix` checks its list.
    private static func mix(_ value: JSONValue) throws(RequestError) -> [Archetype: Double] {
        let example = #"{"day-worker":0.5,"never":0.1}"#
        guard case .object(let shares) = value else {
            throw wrongType(value, .mix, "an object of archetype shares such as \(example)")
        }
        guard !shares.isEmpty else {
            throw RequestError(code: "invalid_mix", field: "mix",
                                         message: "'mix' is empty; give at least one archetype share, such as \(example)")
        }
        var parts: [String] = []
        for (name, share) in shares {
            guard case .number(let written) = share else {
                throw RequestError(
                    code: "wrong_type", field: "mix.\(name)",
                    message: "'mix.\(name)' must be a number (a share), not \(share.typeName)")
            }
            // Each entry checked on its own first, so that the error names the key in this request's words.
            guard Archetype(rawValue: name) != nil else {
                throw RequestError(
                    code: "invalid_mix", field: "mix.\(name)",
                    message: "unknown archetype '\(name)'; the archetypes are "
                        + Archetype.allCases.map(\.rawValue).joined(separator: ", "))
            }
            guard let value = Double(written), value.isFinite, value >= 0 else {
                throw RequestError(
                    code: "invalid_mix", field: "mix.\(name)",
                    message: "'mix.\(name)' is \(written); a share is a finite number, 0 or more")
            }
            parts.append("\(name)=\(written)")
        }
        do {
            return try WorldConfiguration.parseMix(parts.joined(separator: ","))
        } catch {
            throw RequestError(code: "invalid_mix", field: "mix", message: error.message)
        }
    }

    private static func wholeNumber(
        _ value: JSONValue, _ parameter: SimulationParameter, _ range: ClosedRange<Int>
    ) throws(RequestError) -> Int {
        let name = parameter.rawValue
        let expected = "a whole number from \(range.lowerBound) to \(range.upperBound)"
        guard case .number(let written) = value else { throw wrongType(value, parameter, expected) }
        guard let n = Int(written) else { throw notWhole(written, parameter, expected) }
        guard range.contains(n) else {
            throw RequestError(code: "out_of_range", field: name,
                                         message: "'\(name)' is \(written); it must be \(expected)")
        }
        return n
    }

    /// A number that is not a whole number in range: written with a point or exponent (`wrong_type`), or too
    /// large or negative for its type (`out_of_range`).
    private static func notWhole(
        _ written: String, _ parameter: SimulationParameter, _ expected: String
    ) -> RequestError {
        let fractional = written.contains(where: { ".eE".contains($0) })
        return RequestError(
            code: fractional ? "wrong_type" : "out_of_range", field: parameter.rawValue,
            message: "'\(parameter.rawValue)' is \(written); it must be \(expected)"
                + (fractional ? ", written without a point or exponent" : ""))
    }

    private static func text(_ value: JSONValue, _ parameter: SimulationParameter) throws(RequestError) -> String {
        guard case .string(let s) = value else { throw wrongType(value, parameter, "a string") }
        return s
    }

    private static func wrongType(_ value: JSONValue, _ parameter: SimulationParameter, _ expected: String) -> RequestError {
        RequestError(code: "wrong_type", field: parameter.rawValue,
                               message: "'\(parameter.rawValue)' must be \(expected), not \(value.typeName)")
    }

    /// Runs a checked simulation, writing a progress line per simulated day of each strategy, then the report; an
    /// agents curve runs once per count, each run's progress and report lines carrying its `agents`.
    ///
    /// The run stops (within 5 simulated seconds) when its stream ends early (the client reset it or went away:
    /// nobody would read the report) or the server shuts down (the stream then ends with a `shutting_down`
    /// error line).
    func runSimulation(_ plan: SimulationPlan, writer: HTTP2ResponseWriter) async throws {
        let population = SyntheticPopulation.generate(count: plan.debtors, seed: plan.seed)
        for agents in plan.agentCounts {
            var settings = plan.configuration
            settings.agents = agents
            do {
                try await runSimulation(population: population, settings: settings, strategies: plan.strategies,
                                        writer: writer)
            } catch SimulationStop.shuttingDown {
                try await writer.write(lineBuffer(JSONLine.errorLine(
                    code: "shutting_down",
                    message: "the server is shutting down; the simulation was stopped (run it again elsewhere)")))
                return
            } catch SimulationStop.streamClosed {
                logger.info("simulation stopped: its client went away", metadata: ["agents": "\(agents)"])
                return
            }
        }
    }

    /// A place among the simulations allowed to run at once, given back once: by `release()`, or when the last
    /// reference goes (a response whose handler never ran).
    final class SimulationSlot: Sendable {
        private let running: Counter
        private let held = Atomic<Bool>(true)

        /// Shares the count of running simulations.
        final class Counter: Sendable {
            let value = Atomic<Int>(0)
        }

        /// Takes a slot, or nil when `limit` simulations run already.
        init?(_ running: Counter, limit: Int) {
            guard running.value.wrappingAdd(1, ordering: .relaxed).newValue <= limit else {
                running.value.wrappingSubtract(1, ordering: .relaxed)
                return nil
            }
            self.running = running
        }

        func release() {
            if held.exchange(false, ordering: .relaxed) { running.value.wrappingSubtract(1, ordering: .relaxed) }
        }

        deinit { release() }
    }

    /// Set once the run returned or threw (for the task watching its stream).
    private final class RunFlag: Sendable {
        let value = Atomic<Bool>(false)
    }

    /// Why a simulation stopped before its report.
    private enum SimulationStop: Error {
        case shuttingDown, streamClosed
    }

    private func runSimulation(
        population: [Debtor], settings: SimulationConfiguration, strategies: [StrategyKind], writer: HTTP2ResponseWriter
    ) async throws {
        let (progressLines, progressSink) = AsyncStream.makeStream(of: SimulationProgress.self,
                                                                   bufferingPolicy: .bufferingNewest(64))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let agents = settings.agents
        let finished = RunFlag()
        try await withThrowingTaskGroup(of: SimulationReport?.self) { group in
            group.addTask {
                defer {
                    finished.value.store(true, ordering: .relaxed)
                    progressSink.finish()
                }
                return try await SimulationRunner.run(
                    population: population, configuration: settings, strategies: strategies,
                    progress: { progressSink.yield($0) })
            }
            // Minutes may pass between two writes (a day of a large world): watch the stream meanwhile. Throwing
            // here cancels the run, which stops at its next step.
            group.addTask {
                while !finished.value.load(ordering: .relaxed) {
                    if writer.isShutdownRequested { throw SimulationStop.shuttingDown }
                    if writer.isClosed { throw SimulationStop.streamClosed }
                    try await Task.sleep(for: .milliseconds(200))
                }
                return nil
            }
            group.addTask {
                for await progress in progressLines {
                    var line = Array(#"{"type":"progress","agents":\#(agents),"#.utf8)
                    let json = try encoder.encode(progress)
                    line += json.dropFirst()
                    line.append(UInt8(ascii: "\n"))
                    do {
                        try await writer.write(self.lineBuffer(line))
                    } catch {
                        // The stream is gone (a reset is often noticed here before the watcher sees it): the same
                        // stop, logged the same way.
                        throw writer.isShutdownRequested ? SimulationStop.shuttingDown : SimulationStop.streamClosed
                    }
                }
                return nil
            }
            var report: SimulationReport?
            for try await result in group where result != nil { report = result }
            guard let report else { return }
            var line = Array(#"{"type":"report","#.utf8)
            line += try encoder.encode(report).dropFirst()
            line.append(UInt8(ascii: "\n"))
            do {
                try await writer.write(self.lineBuffer(line))
            } catch {
                throw writer.isShutdownRequested ? SimulationStop.shuttingDown : SimulationStop.streamClosed
            }
        }
    }
}
