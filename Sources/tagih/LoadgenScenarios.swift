import Foundation
import Histogram
import NIOCore
import TagihCore
import TagihHTTP2

/// Load scenarios of the line protocol for `tagih loadgen --scenario`: they measure what the
/// service endpoints promise (Benchmarks/README.md), on the project's own HTTP/2 client.
enum LoadScenario: String, CaseIterable {
    /// GET/POST the URL repeatedly (the transport loop of `tagih loadgen`).
    case requests
    /// One `POST /v1/dialer` session: keep credit ahead and count call lines per second.
    case dialer
    /// `POST /v1/outcomes` at a fixed rate on one full-duplex stream: latency from sending an
    /// outcome line to its ack, which the server sends after the event is durable and the
    /// debtor re-decided.
    case outcomes
}

struct ScenarioReport: Encodable {
    var scenario: String
    var seconds: Double
    var lines: Int
    var linesPerSecond: Double
    var offeredRate: Double?
    var latencyMicroseconds: [String: Int]?
}

enum Scenarios {
    /// Receives call lines on one dialer session until `count` arrived or `seconds` passed.
    static func dialer(client: HTTP2Client, count: Int, seconds: Double, jurisdiction: String?) async throws
        -> ScenarioReport
    {
        var path = "/v1/dialer"
        if let jurisdiction { path += "?jurisdiction=\(jurisdiction)" }
        let stream = try await client.openStream(
            method: "POST", path: path, headers: [("content-type", "application/x-ndjson")] + tokenHeaders())
        let credit = 10_000
        try await stream.writer.writeLine(#"{"type":"ready","n":\#(credit)}"#)
        try await stream.writer.writeLine(#"{"type":"ready","n":\#(credit)}"#)
        var granted = 2 * credit
        let response = try await stream.response()
        guard response.status == 200 else { throw LoadError("the dialer session answered \(response.status)") }
        let started = ContinuousClock.now
        let deadline = started + .milliseconds(Int64(seconds * 1000))
        var calls = 0
        for try await item in response.lines() {
            guard case .success(let line) = item else { continue }
            if line.bytes.readableBytesView.starts(with: Array(#"{"type":"call""#.utf8)) {
                calls += 1
                if calls >= count || (calls % 1000 == 0 && ContinuousClock.now >= deadline) { break }
                if granted - calls < credit {
                    try await stream.writer.writeLine(#"{"type":"ready","n":\#(credit)}"#)
                    granted += credit
                }
            } else if line.bytes.readableBytesView.starts(with: Array(#"{"type":"heartbeat""#.utf8)) {
                break  // idle: nothing more is ready
            }
        }
        let elapsed = (ContinuousClock.now - started).seconds
        try? await stream.writer.finish()
        return ScenarioReport(
            scenario: "dialer", seconds: elapsed, lines: calls, linesPerSecond: Double(calls) / elapsed)
    }

    /// Sends outcome lines at `rate` per second for `seconds` and records each line's ack latency.
    static func outcomes(client: HTTP2Client, rate: Double, seconds: Double, debtors: Int) async throws
        -> ScenarioReport
    {
        // Learn a phone and a debt of the first `debtors` demo debtors.
        var targets: [(id: String, debt: String, phone: String)] = []
        for i in 1...debtors {
            let r = try await client.request(path: "/v1/debtors/D-\(i)", headers: tokenHeaders())
            let body = try await r.body.collect(upTo: 1 << 20)
            guard r.status == 200, let json = try? JSONValue.parse(Array(body.readableBytesView)),
                case .string(let debt)? = json["decisions"].flatMap({ if case .array(let a) = $0 { a.first } else { nil } })?["debt"],
                case .array(let phones)? = json["debtor"]?["phones"], case .string(let phone)? = phones.first?["number"]
            else { continue }
            targets.append((id: "D-\(i)", debt: debt, phone: phone))
        }
        guard !targets.isEmpty else { throw LoadError("no demo debtors D-1...D-\(debtors) found; serve with --demo") }
        let targetList = targets

        let stream = try await client.openStream(
            method: "POST", path: "/v1/outcomes", headers: [("content-type", "application/x-ndjson")] + tokenHeaders())
        let response = try await stream.response()
        guard response.status == 200 else { throw LoadError("/v1/outcomes answered \(response.status)") }
        let total = Int(rate * seconds)
        let sentAt = SentTimes(capacity: total)
        let runID = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let started = ContinuousClock.now
        return try await withThrowingTaskGroup(of: ScenarioReport?.self) { group in
            group.addTask {
                let interval = 1.0 / rate
                let at = RFC3339.formatUTC(Int64(Date().timeIntervalSince1970))
                for n in 0..<total {
                    let due = started + .nanoseconds(Int64(Double(n) * interval * 1e9))
                    let now = ContinuousClock.now
                    if due > now { try await Task.sleep(until: due, clock: .continuous) }
                    let t = targetList[n % targetList.count]
                    let line = #"{"attempt":"lg-\#(runID)-\#(n)","debtor":"\#(t.id)","debt":"\#(t.debt)","phone":"\#(t.phone)","at":"\#(at)","outcome":"busy"}"#
                    sentAt.record(n, ContinuousClock.now)
                    try await stream.writer.writeLine(line)
                }
                try await stream.writer.finish()
                return nil
            }
            group.addTask {
                var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
                var acks = 0
                for try await item in response.lines() {
                    guard case .success = item else { continue }
                    let latency = ContinuousClock.now - sentAt.get(acks)
                    histogram.record(UInt64(max(1, latency.microseconds)))
                    acks += 1
                    if acks == total { break }
                }
                let elapsed = (ContinuousClock.now - started).seconds
                var percentiles: [String: Int] = [:]
                for (name, p) in [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9), ("max", 100.0)] {
                    percentiles[name] = Int(histogram.valueAtPercentile(p))
                }
                return ScenarioReport(
                    scenario: "outcomes", seconds: elapsed, lines: acks, linesPerSecond: Double(acks) / elapsed,
                    offeredRate: rate, latencyMicroseconds: percentiles)
            }
            var report: ScenarioReport?
            for try await r in group where r != nil { report = r }
            return report!
        }
    }
}

/// Send instants by line index, shared by the sender and the ack reader.
final class SentTimes: @unchecked Sendable {
    private var times: [ContinuousClock.Instant]
    private let lock = NSLock()
    init(capacity: Int) { times = Array(repeating: .now, count: max(1, capacity)) }
    func record(_ i: Int, _ t: ContinuousClock.Instant) { lock.withLock { times[i] = t } }
    func get(_ i: Int) -> ContinuousClock.Instant { lock.withLock { times[min(i, times.count - 1)] } }
}

struct LoadError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var microseconds: Int64 { components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000 }
}
