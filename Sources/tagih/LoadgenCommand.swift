import ArgumentParser
import Foundation
import Histogram
import Logging
import NIOCore
import NIOPosix
import TagihHTTP2

/// `tagih loadgen`: drives an HTTP/2 server with the project's own client and reports throughput and latency.
struct LoadgenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadgen",
        abstract: "Drive a tagih server over HTTP/2 and report requests/s, lines/s, MB/s and latency percentiles.",
        discussion: """
            Each connection runs --streams concurrent request loops for --duration seconds; every request reads \
            its whole response body (NDJSON lines are counted by newline). Latency is the time from sending the \
            request to the end of the response body.

            --in-process starts the transport's debug server (HTTP2DebugResponder: /healthz, /small, \
            /v1/debug/stream?n=N) inside this process on the URL's port first, so the transport can be measured \
            without `tagih serve`. --serve-only runs just that server until SIGINT/SIGTERM (for h2load).

            With --tokens on the server, put a bearer token in the environment variable TAGIH_TOKEN.
            """
    )

    @Option(help: "The URL to request (http:// for h2c prior knowledge, https:// for TLS with ALPN h2).")
    var url: String = "http://127.0.0.1:8080/v1/debug/stream?n=1000"

    @Option(help: "Number of connections.")
    var connections: Int = 1

    @Option(help: "Concurrent streams per connection.")
    var streams: Int = 10

    @Option(help: "How long to run, in seconds.")
    var duration: Double = 10

    @Option(help: "Request method.")
    var method: String = "GET"

    @Option(help: "With https, trust the CA certificates in this PEM file (for a self-signed server certificate, the certificate itself).")
    var caFile: String?

    @Flag(help: "With https, do not verify the server certificate.")
    var insecure = false

    @Flag(help: "Start the transport's debug server in this process on the URL's host and port first.")
    var inProcess = false

    @Flag(help: "Only run the in-process debug server (on the URL's host and port) until SIGINT or SIGTERM.")
    var serveOnly = false

    @Flag(help: "Print the report as one JSON object.")
    var json = false

    @Option(help: "requests (default: the URL in a loop), dialer (call lines/s on one POST /v1/dialer session) or outcomes (ack latency of POST /v1/outcomes at --rate).")
    var scenario: String = "requests"

    @Option(help: "dialer: stop after this many call lines.")
    var count: Int = 1_000_000

    @Option(help: "outcomes: outcome lines per second.")
    var rate: Double = 10_000

    @Option(help: "outcomes: spread outcomes over the demo debtors D-1...D-N.")
    var debtors: Int = 2_000

    @Option(help: "dialer: only this jurisdiction (pack or sub-region).")
    var jurisdiction: String?

    func validate() throws {
        guard connections > 0, streams > 0, duration > 0 else {
            throw ValidationError("--connections, --streams and --duration must be positive")
        }
        _ = try LoadTarget(url)
        guard LoadScenario(rawValue: scenario) != nil else {
            throw ValidationError("--scenario must be one of \(LoadScenario.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard count > 0, rate > 0, debtors > 0 else { throw ValidationError("--count, --rate and --debtors must be positive") }
    }

    func run() async throws { try await reportingUsageErrors(execute) }

    private func execute() async throws {
        let target = try LoadTarget(url)
        if let kind = LoadScenario(rawValue: scenario), kind != .requests {
            try await runScenario(kind, target: target)
            return
        }
        if serveOnly {
            try await serve(target: target, forever: true)
            return
        }
        if inProcess {
            try await withThrowingTaskGroup(of: Void.self) { group in
                let server = makeServer(target: target)
                group.addTask { try await server.run() }
                let port = try await server.boundAddress().port ?? target.port
                var bound = target
                bound.port = port
                try await drive(target: bound)
                server.shutdownGracefully()
                try await group.waitForAll()
            }
        } else {
            try await drive(target: target)
        }
    }

    private func runScenario(_ kind: LoadScenario, target: LoadTarget) async throws {
        let tls = target.clientTLS(caFile: caFile, insecure: insecure)
        let client = try await HTTP2Client.connect(host: target.host, port: target.port, tls: tls)
        let outcome: Result<ScenarioReport, any Error>
        do {
            switch kind {
            case .dialer:
                outcome = .success(
                    try await Scenarios.dialer(client: client, count: count, seconds: duration, jurisdiction: jurisdiction))
            case .outcomes, .requests:
                outcome = .success(
                    try await Scenarios.outcomes(client: client, rate: rate, seconds: duration, debtors: debtors))
            }
        } catch {
            outcome = .failure(error)
        }
        await client.close()
        let report = try outcome.get()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(String(format: "%@: %d lines in %.2f s = %.0f lines/s", report.scenario, report.lines, report.seconds,
                         report.linesPerSecond))
            if let latency = report.latencyMicroseconds {
                let order = ["p50", "p90", "p99", "p999", "max"]
                print("ack latency (µs): " + order.compactMap { k in latency[k].map { "\(k) \($0)" } }.joined(separator: ", "))
            }
        }
    }

    private func makeServer(target: LoadTarget) -> HTTP2Server {
        var configuration = HTTP2ServerConfiguration(host: target.host, port: target.port)
        configuration.shutdownGracePeriod = .seconds(2)
        var logger = Logger(label: "tagih.loadgen.server")
        logger.logLevel = .warning
        return HTTP2Server(configuration: configuration, responder: HTTP2DebugResponder(), logger: logger)
    }

    private func serve(target: LoadTarget, forever: Bool) async throws {
        let server = makeServer(target: target)
        let signals = [SIGINT, SIGTERM].map { signal -> any DispatchSourceSignal in
            Foundation.signal(signal, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signal)
            source.setEventHandler { server.shutdownGracefully() }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            let address = try await server.boundAddress()
            FileHandle.standardError.write(Data("tagih loadgen --serve-only: listening on \(address)\n".utf8))
            try await group.waitForAll()
        }
    }

    private func drive(target: LoadTarget) async throws {
        let tls = target.clientTLS(caFile: caFile, insecure: insecure)
        var clients: [HTTP2Client] = []
        for _ in 0..<connections {
            clients.append(try await HTTP2Client.connect(host: target.host, port: target.port, tls: tls))
        }
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + .milliseconds(Int64(duration * 1000))
        let method = self.method
        let path = target.pathAndQuery
        let headers = tokenHeaders()
        let total = try await withThrowingTaskGroup(of: LoadTally.self) { group in
            for client in clients {
                for _ in 0..<streams {
                    group.addTask {
                        var tally = LoadTally()
                        while clock.now < deadline {
                            let began = clock.now
                            do {
                                let response = try await client.request(method: method, path: path, headers: headers)
                                if response.status >= 400 { tally.errors += 1 }
                                for try await chunk in response.body {
                                    tally.bytes += chunk.readableBytes
                                    tally.lines += countNewlines(chunk)
                                }
                                tally.requests += 1
                                let elapsed = clock.now - began
                                let micros = elapsed.components.seconds * 1_000_000
                                    + elapsed.components.attoseconds / 1_000_000_000_000
                                _ = tally.latency.record(UInt64(max(1, micros)))
                            } catch {
                                tally.errors += 1
                                if tally.errors > 1000 { break }
                            }
                        }
                        return tally
                    }
                }
            }
            var total = LoadTally()
            for try await tally in group { total.merge(tally) }
            return total
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        for client in clients { await client.close() }
        report(total, seconds: seconds)
    }

    private func report(_ tally: LoadTally, seconds: Double) {
        let percentile = { (p: Double) -> Double in Double(tally.latency.valueAtPercentile(p)) / 1000 }
        let result = LoadReport(
            url: url,
            connections: connections,
            streams: streams,
            seconds: seconds,
            requests: tally.requests,
            errors: tally.errors,
            lines: tally.lines,
            bytes: tally.bytes,
            requestsPerSecond: Double(tally.requests) / seconds,
            linesPerSecond: Double(tally.lines) / seconds,
            megabytesPerSecond: Double(tally.bytes) / seconds / 1_000_000,
            latencyMilliseconds: .init(
                p50: percentile(50),
                p90: percentile(90),
                p99: percentile(99),
                p999: percentile(99.9),
                max: Double(tally.latency.max) / 1000
            )
        )
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            if let data = try? encoder.encode(result) { print(String(decoding: data, as: UTF8.self)) }
            return
        }
        print(
            """
            url           \(result.url)
            connections   \(connections) × \(streams) streams, \(String(format: "%.1f", seconds)) s
            requests      \(result.requests) (\(result.errors) errors), \(String(format: "%.0f", result.requestsPerSecond)) req/s
            lines         \(result.lines), \(String(format: "%.0f", result.linesPerSecond)) lines/s
            throughput    \(String(format: "%.1f", result.megabytesPerSecond)) MB/s
            latency (ms)  p50 \(fmt(result.latencyMilliseconds.p50))  p90 \(fmt(result.latencyMilliseconds.p90))  \
            p99 \(fmt(result.latencyMilliseconds.p99))  p99.9 \(fmt(result.latencyMilliseconds.p999))  \
            max \(fmt(result.latencyMilliseconds.max))
            """
        )
    }

    private func fmt(_ value: Double) -> String { String(format: "%.3f", value) }
}

/// Counts `\n` bytes with memchr (the body is not parsed, only measured).
private func countNewlines(_ buffer: ByteBuffer) -> Int {
    buffer.withUnsafeReadableBytes { raw in
        guard var cursor = raw.baseAddress else { return 0 }
        let end = cursor + raw.count
        var count = 0
        while cursor < end, let hit = memchr(cursor, 10, end - cursor) {
            count += 1
            cursor = UnsafeRawPointer(hit) + 1
        }
        return count
    }
}

/// The parsed `--url`.
struct LoadTarget {
    var tls: Bool
    var host: String
    var port: Int
    var pathAndQuery: String

    init(_ url: String) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme,
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
        else {
            throw ValidationError("--url must look like http://HOST:PORT/PATH or https://HOST:PORT/PATH, got \(url)")
        }
        tls = scheme == "https"
        self.host = host
        port = components.port ?? (tls ? 443 : 80)
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        pathAndQuery = components.percentEncodedQuery.map { "\(path)?\($0)" } ?? path
    }

    /// The client's TLS options for an https URL (nil for http): trust `caFile`'s CAs, or verify nothing.
    func clientTLS(caFile: String?, insecure: Bool) -> HTTP2Client.TLS? {
        tls ? HTTP2Client.TLS(trustRootsPath: caFile, verifyCertificate: !insecure) : nil
    }
}

/// Counts of one request loop (merged at the end).
struct LoadTally: Sendable {
    var requests = 0
    var errors = 0
    var lines = 0
    var bytes = 0
    var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)

    mutating func merge(_ other: LoadTally) {
        requests += other.requests
        errors += other.errors
        lines += other.lines
        bytes += other.bytes
        latency.add(other.latency)
    }
}

/// The `--json` report.
struct LoadReport: Codable {
    struct Latency: Codable {
        var p50: Double
        var p90: Double
        var p99: Double
        var p999: Double
        var max: Double
    }

    var url: String
    var connections: Int
    var streams: Int
    var seconds: Double
    var requests: Int
    var errors: Int
    var lines: Int
    var bytes: Int
    var requestsPerSecond: Double
    var linesPerSecond: Double
    var megabytesPerSecond: Double
    var latencyMilliseconds: Latency
}
