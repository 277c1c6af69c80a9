import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import TagihCore
import TagihEngine
import TagihHTTP2
import TagihService
import TagihSim
import TagihStore

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the schedule over HTTP/2 (h2c prior knowledge, or TLS with ALPN h2).",
        discussion: """
            Data lives in SQLite under --data. Binding a non-loopback address needs --tokens.
            The wire contract is proto-docs/README.md.
            """)

    @Option(help: "Address to bind.") var host = "127.0.0.1"
    @Option(help: "Port to bind (0 = any free port; see --port-file).") var port = 8080
    @Option(help: "Folder of the SQLite store.") var data = "./data"
    @Option(help: "Write the bound port to this file once listening.") var portFile: String?
    @Option(help: "Token file: one 'TOKEN ROLE[,ROLE...] [NAME]' a line (roles: dialer, writer, reader, admin).")
    var tokens: String?
    @Option(help: "TLS certificate chain (PEM); with --tls-key serves TLS with ALPN h2.") var tlsCert: String?
    @Option(help: "TLS private key (PEM).") var tlsKey: String?
    @Option(help: "On an empty store, generate this many synthetic debtors first.") var demo = 0
    @Option(help: "Seconds of idle before a dialer session gets a heartbeat line.") var heartbeat = 15.0
    @Option(help: "Lease time-to-live in seconds.") var leaseTtl = 600
    @Option(help: "Number of shard actors (default 2 x cores).") var shards: Int?
    @Option(help: "Longest accepted NDJSON line in bytes.") var maxLine = 1 << 20
    @Option(help: "Seconds a request body may send no line before its stream is ended (dialer sessions exempt).")
    var bodyTimeout = 60.0
    @Option(help: "POST /v1/simulations allowed to run at once (more get 429); 0 turns the endpoint off.")
    var maxSimulations = 1
    @Option(help: "Start the service clock at this RFC 3339 time (it then runs at wall speed); for tests and demos.")
    var clockStart: String?
    @Flag(help: "With --clock-start: keep the clock standing still (golden transcripts).") var clockFrozen = false
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel = "info"

    func validate() throws {
        if !isLoopback(host: host) && tokens == nil {
            throw ValidationError(
                "refusing to bind \(host) without --tokens: a non-loopback address needs bearer tokens (see README)")
        }
        if clockFrozen && clockStart == nil { throw ValidationError("--clock-frozen needs --clock-start") }
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        // A token file that cannot be read or parsed is a bad option (exit 64), found before anything is created.
        if let tokens {
            do {
                _ = try TokenStore(contentsOfFile: tokens)
            } catch {
                throw ValidationError("--tokens \(error)")
            }
        }
        // Before the store is created or opened: a mistyped path must not leave a new, empty store behind.
        for (option, path) in [("--tls-cert", tlsCert), ("--tls-key", tlsKey)] {
            guard let path else { continue }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                FileManager.default.isReadableFile(atPath: path)
            else { throw ValidationError("\(option) \(path) is not a readable file") }
        }
        if let clockStart, RFC3339.parse(clockStart) == nil {
            throw ValidationError("--clock-start: '\(clockStart)' is not an RFC 3339 time such as 2026-12-01T15:00:00Z")
        }
        // The range outcome times may have (from 2000, as the line decoder checks), with room before year 10000,
        // which RFC 3339 cannot write (lease expiries and best times lie ahead of the clock).
        if let clockStart, let start = RFC3339.parse(clockStart),
            !(LineDecoder.earliestEventTime...RFC3339.parse("9900-01-01T00:00:00Z")!).contains(start)
        {
            throw ValidationError("--clock-start must be from 2000-01-01 to 9899-12-31, not \(clockStart)")
        }
        guard (1...86_400).contains(leaseTtl) else { throw ValidationError("--lease-ttl must be 1...86400 seconds") }
        // Upper bounds too: the seconds become milliseconds in an Int64 (an infinite heartbeat would trap).
        guard heartbeat > 0, heartbeat <= 3_600 else {
            throw ValidationError("--heartbeat must be more than 0 and at most 3600 seconds")
        }
        guard (0...64).contains(maxSimulations) else { throw ValidationError("--max-simulations must be 0...64") }
        guard bodyTimeout > 0, bodyTimeout <= 86_400 else {
            throw ValidationError("--body-timeout must be more than 0 and at most 86400 seconds")
        }
        // NIO would take the port modulo 65536 (70000 bound 4464) and a negative one fails late.
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be 0...65535 (0 = any free port)") }
        guard (0...100_000_000).contains(demo) else { throw ValidationError("--demo must be 0...100000000 debtors") }
        if let shards, !(1...1_024).contains(shards) { throw ValidationError("--shards must be 1...1024") }
        guard (1_024...(64 << 20)).contains(maxLine) else {
            throw ValidationError("--max-line must be 1024...67108864 bytes (a debtor line needs a few hundred)")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError(
                "--log-level must be one of " + Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: data, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw ValidationError("--data \(data) is a file; give the folder of the store (created when missing)")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Acks are expected within milliseconds: finer buckets than the default (5 ms and up).
        factory.durationHistogramBuckets[ServiceMetrics.lineBatchSecondsLabel] = [
            0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000,
        ].map { Duration.microseconds(Int64($0 * 1000)) }
        MetricsSystem.bootstrap(factory)
        let logger = Logger(label: "tagih")

        var serviceConfiguration = ServiceConfiguration()
        if let tokens { serviceConfiguration.tokens = try TokenStore(contentsOfFile: tokens) }
        serviceConfiguration.heartbeatInterval = .milliseconds(Int64(heartbeat * 1000))
        serviceConfiguration.maxLineLength = maxLine
        serviceConfiguration.bodyIdleTimeout = .milliseconds(Int64(bodyTimeout * 1000))
        serviceConfiguration.maxConcurrentSimulations = maxSimulations

        let clock: any EngineClock
        if let clockStart, let start = RFC3339.parse(clockStart) {
            clock = clockFrozen ? VirtualClock(start: start) : ShiftedWallClock(start: start)
        } else {
            clock = WallClock()
        }

        var serverConfiguration = HTTP2ServerConfiguration(host: host, port: port)
        serverConfiguration.maxLineLength = maxLine
        serverConfiguration.responseHeaders = [("tagih-protocol", "1")]  // on the transport's own answers too
        if let tlsCert, let tlsKey {
            serverConfiguration.tls = .init(certificatePath: tlsCert, privateKeyPath: tlsKey)
        }

        let service = TagihService(
            configuration: serviceConfiguration, clock: clock, logger: logger,
            metricsBody: { registry.emitToBuffer() })
        let server = HTTP2Server(configuration: serverConfiguration, responder: service, logger: logger)

        // The data folder (created when missing) and the store's lock before the port: a second server on this
        // store stops with `in_use` here, before it listens (it used to answer /healthz for the two seconds it
        // waited for the lock).
        let reservation = try StoreReservation(directory: data)
        var engineConfiguration = EngineConfiguration(dataDirectory: data)
        engineConfiguration.leaseTTL = Int64(leaseTtl)
        if let shards { engineConfiguration.shardCount = shards }
        let engineService = EngineService(
            configuration: engineConfiguration, clock: clock, service: service, demo: demo,
            reservation: reservation, logger: logger)

        let portFile = self.portFile
        let announcer = AnnounceService(
            server: server, service: service, portFile: portFile, tls: tlsCert != nil, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: engineService),
                    .init(service: server, successTerminationBehavior: .gracefullyShutdownGroup),
                    .init(service: announcer, successTerminationBehavior: .ignore),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
    }
}

/// The wall clock shifted to start at a given instant (`--clock-start`).
struct ShiftedWallClock: EngineClock {
    let start: UnixSeconds
    let began = ContinuousClock.now
    func now() -> UnixSeconds {
        start + (ContinuousClock.now - began).components.seconds
    }
}

/// Opens the store, recovers the shards, seeds the demo population, then runs the engine's
/// background work until shutdown.
struct EngineService: Service {
    let configuration: EngineConfiguration
    let clock: any EngineClock
    let service: TagihService
    let demo: Int
    /// The store's lock taken before the port was bound; let go when the engine is done (the store shares it).
    let reservation: StoreReservation
    let logger: Logger

    func run() async throws {
        defer { reservation.release() }
        let started = ContinuousClock.now
        let engine = try await Engine.open(
            configuration: configuration, clock: clock, policy: ContactPolicy(), logger: logger)
        let held = await engine.count()
        if demo > 0, held > 0 {
            logger.notice(
                "--demo ignored: the store is not empty",
                metadata: [
                    "debtors": "\(held)", "demo": "\(demo)",
                    "hint": .string(
                        "the demo is seeded into an empty store only (a seed that was interrupted is not "
                            + "completed); start on an empty --data to seed it again"),
                ])
        }
        if demo > 0, held == 0 {
            logger.info("seeding demo population", metadata: ["debtors": "\(demo)"])
            let debtors = SyntheticPopulation.generate(count: demo, seed: 1)
            var index = 0
            while index < debtors.count {
                let end = min(index + 10_000, debtors.count)
                _ = try await engine.upsert(Array(debtors[index..<end]))
                index = end
            }
        }
        service.ready(engine: engine)
        let debtors = await engine.count()
        logger.info("store ready", metadata: ["debtors": "\(debtors)", "elapsed": "\(ContinuousClock.now - started)"])
        try? await cancelWhenGracefulShutdown {
            try await engine.run()
        }
        do {
            try await engine.close()
        } catch let error as EngineError {
            // The store is closed; what could not be written at shutdown, and what that costs, in one line.
            logger.error("\(error.code): \(error.message)")
            throw ExitCode(1)
        }
    }
}

/// Prints where the server listens, writes `--port-file` once it is bound, and on graceful
/// shutdown (it is told first: last in the group) flips `/readyz` to 503.
struct AnnounceService: Service {
    let server: HTTP2Server
    let service: TagihService
    let portFile: String?
    let tls: Bool
    let logger: Logger

    func run() async throws {
        let port = try await server.boundAddress().port ?? 0
        let scheme = tls ? "https" : "http"
        logger.info("listening", metadata: ["url": "\(scheme)://\(server.configuration.host):\(port)"])
        if let portFile {
            try "\(port)\n".write(toFile: portFile, atomically: true, encoding: .utf8)
        }
        try? await gracefulShutdown()
        service.beginShutdown()
    }
}
