import Foundation
import NIOCore
import TagihCore
import TagihHTTP2
import TagihSim

/// The JSON body of `POST /v1/simulations` (proto-docs/endpoints/simulations.md).
struct SimulationRequest: Decodable {
    var debtors: Int = 10_000
    var start: String
    var days: Int = 30
    var agents: Int = 50
    var seed: UInt64 = 1
    var strategy: String = "all"
    var dialer: String?

    /// The accepted parameters, in the order error messages list them.
    enum CodingKeys: String, CodingKey, CaseIterable { case debtors, start, days, agents, seed, strategy, dialer }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        debtors = try c.decodeIfPresent(Int.self, forKey: .debtors) ?? 10_000
        start = try c.decode(String.self, forKey: .start)
        days = try c.decodeIfPresent(Int.self, forKey: .days) ?? 30
        agents = try c.decodeIfPresent(Int.self, forKey: .agents) ?? 50
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 1
        strategy = try c.decodeIfPresent(String.self, forKey: .strategy) ?? "all"
        dialer = try c.decodeIfPresent(String.self, forKey: .dialer)
    }
}

/// What is wrong with a `POST /v1/simulations` body: answered with status 400 and
/// `{"error":{"code":…,"field":…,"message":…}}` before any simulation runs.
struct SimulationRequestError: Error {
    var code: String
    var field: String?
    var message: String
    /// For `unknown_field`: the accepted parameter names.
    var accepted: [String]? = nil
}

/// A validated simulation request: what `runSimulation` runs.
struct SimulationPlan: Sendable {
    var debtors: Int
    var seed: UInt64
    var strategies: [StrategyKind]
    var configuration: SimulationConfiguration
}

extension TagihService {
    /// Limits that keep one request from monopolising the server.
    static let maxSimulatedDebtors = 2_000_000
    static let maxSimulatedDays = 90
    /// The largest body of `POST /v1/simulations`.
    static let maxSimulationBody = 64 * 1024

    /// `POST /v1/simulations`: the body is read and checked first, so that a bad parameter is answered 400 (not a
    /// 200 and a final error line); a good one starts the NDJSON stream of progress lines and the report.
    func simulationResponse() -> HTTP2Response {
        .afterBody(maxBodyBytes: Self.maxSimulationBody) { raw in
            let plan: SimulationPlan
            do throws(SimulationRequestError) {
                plan = try Self.simulationPlan(raw)
            } catch {
                return self.httpError(400, error)
            }
            return .streaming(status: 200, headers: TagihService.ndjsonHeaders) { _, writer in
                try await self.runSimulation(plan, writer: writer)
            }
        }
    }

    /// A 400 answer naming the bad parameter.
    func httpError(_ status: Int, _ error: SimulationRequestError) -> HTTP2Response {
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

    /// Checks a simulation request body: a JSON object whose members are all known parameters (a typo such as
    /// `"agent": 50` would otherwise run with the default), each of the right type and range.
    static func simulationPlan(_ raw: ByteBuffer) throws(SimulationRequestError) -> SimulationPlan {
        let accepted = SimulationRequest.CodingKeys.allCases.map(\.rawValue)
        let value: JSONValue
        do {
            value = try JSONValue.parse(raw.readableBytesView)
        } catch {
            throw SimulationRequestError(code: "invalid_json", field: nil,
                                         message: "the body is not JSON: \(error.message)")
        }
        guard case .object(let members) = value else {
            throw SimulationRequestError(code: "wrong_type", field: nil,
                                         message: "the body must be a JSON object of simulation parameters, not "
                                             + value.typeName)
        }
        var seen: Set<String> = []
        for (key, _) in members {
            guard accepted.contains(key) else {
                throw SimulationRequestError(
                    code: "unknown_field", field: key,
                    message: "unknown parameter '\(key)'; the accepted parameters are \(accepted.joined(separator: ", "))",
                    accepted: accepted)
            }
            guard seen.insert(key).inserted else {
                throw SimulationRequestError(code: "duplicate_key", field: key,
                                             message: "parameter '\(key)' is given twice; give it once")
            }
        }
        let request: SimulationRequest
        do {
            request = try JSONDecoder().decode(SimulationRequest.self, from: Data(raw.readableBytesView))
        } catch let DecodingError.keyNotFound(key, _) {
            throw SimulationRequestError(code: "missing_field", field: key.stringValue,
                                         message: "'\(key.stringValue)' is required")
        } catch let DecodingError.typeMismatch(_, context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw SimulationRequestError(code: "wrong_type", field: field, message: "'\(field)' has the wrong type")
        } catch let DecodingError.valueNotFound(_, context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw SimulationRequestError(code: "wrong_type", field: field, message: "'\(field)' must not be null")
        } catch let DecodingError.dataCorrupted(context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw SimulationRequestError(code: "wrong_type", field: field.isEmpty ? nil : field,
                                         message: "'\(field)' has the wrong type or is out of range")
        } catch {
            throw SimulationRequestError(code: "invalid_json", field: nil,
                                         message: "the body is not a JSON object of simulation parameters")
        }
        guard (1...Self.maxSimulatedDebtors).contains(request.debtors) else {
            throw SimulationRequestError(code: "out_of_range", field: "debtors",
                                         message: "debtors must be 1...\(Self.maxSimulatedDebtors)")
        }
        guard (1...Self.maxSimulatedDays).contains(request.days) else {
            throw SimulationRequestError(code: "out_of_range", field: "days",
                                         message: "days must be 1...\(Self.maxSimulatedDays)")
        }
        guard (1...100_000).contains(request.agents) else {
            throw SimulationRequestError(code: "out_of_range", field: "agents", message: "agents must be 1...100000")
        }
        let strategies: [StrategyKind]
        if request.strategy == "all" {
            strategies = StrategyKind.allCases
        } else if let kind = StrategyKind(rawValue: request.strategy) {
            strategies = [kind]
        } else {
            throw SimulationRequestError(code: "unknown_value", field: "strategy",
                                         message: "strategy must be tagih, baseline, earliest or all")
        }
        var configuration = SimulationConfiguration(start: 0)
        guard let day = CivilTime.parseDate(request.start),
              let zone = ZoneDatabase.system.zone(named: configuration.floorZone)
        else {
            throw SimulationRequestError(code: "invalid_time", field: "start", message: "start must be a date YYYY-MM-DD")
        }
        configuration.start = zone.instant(forLocal: day * CivilTime.secondsPerDay)
        configuration.days = request.days
        configuration.agents = request.agents
        configuration.seed = request.seed
        if let dialer = request.dialer {
            guard let mode = DialerMode(rawValue: dialer) else {
                let allowed = DialerMode.allCases.map(\.rawValue).joined(separator: ", ")
                throw SimulationRequestError(code: "unknown_value", field: "dialer",
                                             message: "dialer must be one of \(allowed)")
            }
            configuration.dialer = mode
        }
        return SimulationPlan(debtors: request.debtors, seed: request.seed, strategies: strategies,
                              configuration: configuration)
    }

    /// Runs a checked simulation, writing a progress line per simulated day of each strategy, then the report.
    func runSimulation(_ plan: SimulationPlan, writer: HTTP2ResponseWriter) async throws {
        let strategies = plan.strategies
        let population = SyntheticPopulation.generate(count: plan.debtors, seed: plan.seed)
        let settings = plan.configuration
        let (progressLines, progressSink) = AsyncStream.makeStream(of: SimulationProgress.self,
                                                                   bufferingPolicy: .bufferingNewest(64))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try await withThrowingTaskGroup(of: SimulationReport?.self) { group in
            group.addTask {
                defer { progressSink.finish() }
                return try await SimulationRunner.run(
                    population: population, configuration: settings, strategies: strategies,
                    progress: { progressSink.yield($0) })
            }
            group.addTask {
                for await progress in progressLines {
                    var line = Array(#"{"type":"progress","#.utf8)
                    let json = try encoder.encode(progress)
                    line += json.dropFirst()
                    line.append(UInt8(ascii: "\n"))
                    try await writer.write(self.lineBuffer(line))
                }
                return nil
            }
            var report: SimulationReport?
            for try await result in group where result != nil { report = result }
            guard let report else { return }
            var line = Array(#"{"type":"report","#.utf8)
            line += try encoder.encode(report).dropFirst()
            line.append(UInt8(ascii: "\n"))
            try await writer.write(self.lineBuffer(line))
        }
    }
}
