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

    enum CodingKeys: String, CodingKey { case debtors, start, days, agents, seed, strategy, dialer }

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

extension TagihService {
    /// Limits that keep one request from monopolising the server.
    static let maxSimulatedDebtors = 2_000_000
    static let maxSimulatedDays = 90

    func runSimulation(body: HTTP2RequestBody, writer: HTTP2ResponseWriter) async throws {
        func fail(_ code: String, _ field: String?, _ message: String) async throws {
            try await writer.write(lineBuffer(JSONLine.errorLine(code: code, message: message, field: field)))
        }
        let raw = try await body.collect(upTo: 64 * 1024)
        let request: SimulationRequest
        do {
            request = try JSONDecoder().decode(SimulationRequest.self, from: Data(raw.readableBytesView))
        } catch let DecodingError.keyNotFound(key, _) {
            return try await fail("missing_field", key.stringValue, "'\(key.stringValue)' is required")
        } catch let DecodingError.typeMismatch(_, context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            return try await fail("wrong_type", field, "'\(field)' has the wrong type")
        } catch {
            return try await fail("invalid_json", nil, "the body is not a JSON object of simulation parameters")
        }
        guard (1...Self.maxSimulatedDebtors).contains(request.debtors) else {
            return try await fail("out_of_range", "debtors", "debtors must be 1...\(Self.maxSimulatedDebtors)")
        }
        guard (1...Self.maxSimulatedDays).contains(request.days) else {
            return try await fail("out_of_range", "days", "days must be 1...\(Self.maxSimulatedDays)")
        }
        guard (1...100_000).contains(request.agents) else {
            return try await fail("out_of_range", "agents", "agents must be 1...100000")
        }
        let strategies: [StrategyKind]
        if request.strategy == "all" {
            strategies = StrategyKind.allCases
        } else if let kind = StrategyKind(rawValue: request.strategy) {
            strategies = [kind]
        } else {
            return try await fail("unknown_value", "strategy", "strategy must be tagih, baseline, earliest or all")
        }
        var configuration = SimulationConfiguration(start: 0)
        guard let day = CivilTime.parseDate(request.start),
              let zone = ZoneDatabase.system.zone(named: configuration.floorZone)
        else {
            return try await fail("invalid_time", "start", "start must be a date YYYY-MM-DD")
        }
        configuration.start = zone.instant(forLocal: day * CivilTime.secondsPerDay)
        configuration.days = request.days
        configuration.agents = request.agents
        configuration.seed = request.seed
        if let dialer = request.dialer {
            guard let mode = DialerMode(rawValue: dialer) else {
                let allowed = DialerMode.allCases.map(\.rawValue).joined(separator: ", ")
                return try await fail("unknown_value", "dialer", "dialer must be one of \(allowed)")
            }
            configuration.dialer = mode
        }
        let population = SyntheticPopulation.generate(count: request.debtors, seed: request.seed)
        let settings = configuration
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
