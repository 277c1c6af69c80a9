import Logging
import Metrics
import NIOCore
import Synchronization
import TagihCore
import TagihEngine
import TagihHTTP2
import TagihSim
import TagihStore

/// Settings of the line-protocol service. Every field has a documented default.
public struct ServiceConfiguration: Sendable {
    /// Bearer tokens and roles; `.open` (default) means no authentication (loopback only).
    public var tokens: TokenStore = .open
    /// How long a dialer session may be idle before a heartbeat line (default 15 s).
    public var heartbeatInterval: Duration = .seconds(15)
    /// The longest accepted input line in bytes (default 1 MiB).
    public var maxLineLength: Int = 1 << 20
    /// Input lines read ahead of their results per stream (default 4,096); beyond it the server stops reading
    /// the body until results went out (HTTP/2 flow control pushes back on the client).
    public var inFlightPerStream: Int = 4096
    /// The most lines of one stream handed to the engine at once, in one group commit (default 1,024). Lines
    /// that arrive while a batch is being made durable form the next batch.
    public var maxLinesPerBatch: Int = 1024
    /// The most calls one `GET /v1/calls` may ask for (default 10,000).
    public var maxCallsPerRequest: Int = 10_000
    /// The most calls leased per engine round trip on a dialer session (default 4,096; never more than the
    /// session's credit). Each round trip waits for one durable group commit of the lease grants, so large
    /// credits need large batches to stream at full speed.
    public var dialerBatch: Int = 4096
    /// How long a request body may go without a new line before the stream is ended with a
    /// `body_timeout` error line (default 60 s). Dialer sessions are exempt: they idle by design.
    public var bodyIdleTimeout: Duration = .seconds(60)
    /// How many `POST /v1/simulations` may run at once (default 1); more are answered `429`. A simulation keeps
    /// the cores busy and a large one holds gigabytes (about 5.5 GB at 1M debtors on the engine) in the process
    /// that also serves the dialers.
    public var maxConcurrentSimulations: Int = 1

    public init() {}
}

/// Line protocol v1 (proto-docs/) over the engine: the HTTP/2 responder of `tagih serve`.
///
/// Thread-safe: `respond(to:)` runs on event loops; stream handlers run as tasks.
public final class TagihService: HTTP2Responder, Sendable {
    let configuration: ServiceConfiguration
    let clock: any EngineClock
    let logger: Logger
    private let engineBox = Mutex<(engine: Engine, debtorLookups: DebtorLookups)?>(nil)
    private let draining = Atomic<Bool>(false)
    var isDraining: Bool { draining.load(ordering: .relaxed) }
    let sessionCounter = Atomic<Int>(0)
    /// `POST /v1/simulations` running now (see ``ServiceConfiguration/maxConcurrentSimulations``).
    let runningSimulations = SimulationSlot.Counter()
    /// The open dialer sessions, for revocations (``Engine/revocations``).
    let dialers = DialerRegistry()
    private let metricsBody: @Sendable () -> [UInt8]
    let metrics = ServiceMetrics()

    /// Creates the responder; it answers 503 on data endpoints until ``ready(engine:)``.
    /// - Parameter metricsBody: renders the Prometheus text for `/metrics`.
    public init(
        configuration: ServiceConfiguration, clock: any EngineClock, logger: Logger,
        metricsBody: @escaping @Sendable () -> [UInt8]
    ) {
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.metricsBody = metricsBody
    }

    /// Marks the service ready: the store is open and recovered into `engine`. Call it once per engine: the service
    /// becomes the one consumer of the engine's revocations.
    public func ready(engine: Engine) {
        let lookups = DebtorLookups(engine: engine)
        engineBox.withLock { $0 = (engine, lookups) }
        // Revocations go to the dialer session holding the lease, as a revoke line; the task ends with the engine.
        Task { [dialers, metrics] in
            for await revocation in engine.revocations {
                metrics.revocation(delivered: dialers.deliver(revocation))
            }
        }
    }

    /// Begins graceful shutdown: `/readyz` answers 503 and new data requests are refused.
    public func beginShutdown() { draining.store(true, ordering: .relaxed) }

    var engine: Engine? { engineBox.withLock { $0?.engine } }

    // MARK: - Routing

    /// Routes one request (called on the connection's event loop): health, readiness and metrics are
    /// answered at once; everything that touches the engine runs as a streaming or deferred response.
    public func respond(to head: HTTP2RequestHead) -> HTTP2Response {
        let endpoint: Endpoint
        switch matchRoute(method: head.method, path: head.path) {
        case .notFound:
            return httpError(404, "not_found", "no endpoint \(head.method) \(head.path); see proto-docs/README.md")
        case .badDebtorID:
            return httpError(
                400, "bad_path",
                "the debtor id in \(head.path) is not valid percent-encoding of UTF-8 (write '%' as %25)")
        case .methodNotAllowed(let allow):
            return httpError(
                405, "method_not_allowed", "\(head.path) accepts \(allow.joined(separator: ", ")), not \(head.method)",
                extraHeaders: [("allow", allow.joined(separator: ", "))])
        case .found(let found):
            endpoint = found
        }
        let response = route(endpoint, head)
        metrics.request(endpoint)
        return response
    }

    private func route(_ endpoint: Endpoint, _ head: HTTP2RequestHead) -> HTTP2Response {
        // Two credentials are ambiguous (which one acts?): refused, whichever comes first.
        var credentials = 0
        for h in head.headers where h.name == "authorization" { credentials += 1 }
        if credentials > 1 {
            return httpError(
                400, "bad_request", "\(credentials) authorization headers: send one ('authorization: Bearer TOKEN')")
        }
        switch configuration.tokens.check(authorization: head.header("authorization"), anyOf: endpoint.roles) {
        case .allowed: break
        case .unauthenticated:
            return httpError(
                401, "unauthenticated", "send 'authorization: Bearer TOKEN' with a token from the server's token file",
                extraHeaders: [("www-authenticate", "Bearer")])
        case .forbidden:
            // An admin token may call every route: name it too.
            let roles = endpoint.roles.union([.admin]).map(\.rawValue).sorted().joined(separator: " or ")
            return httpError(403, "forbidden", "this token lacks the role \(roles) that \(head.path) needs")
        }
        if let parameters = endpoint.queryParameters,
            let problem = queryProblem(head.query, accepted: parameters, path: head.path)
        {
            // `field` and `accepted` as for `POST /v1/simulations`'s parameters (schemas/http-error.schema.json).
            return httpError(
                400, RequestError(code: "bad_query", field: problem.parameter, message: problem.message,
                                            accepted: parameters))
        }
        if let accepted = endpoint.bodyMediaTypes, let contentType = head.header("content-type") {
            let media = contentType.split(separator: ";").first.map {
                $0.trimmingCharacters(in: .whitespaces).lowercased()
            } ?? ""
            if !accepted.contains(media) {
                return httpError(
                    415, "unsupported_media_type",
                    "content-type '\(media)' is not accepted here; send \(accepted.joined(separator: " or "))")
            }
        }
        // Bodies are read as they are sent: a compressed one would be parsed as garbage line by line.
        if endpoint.bodyMediaTypes != nil, let encoding = head.header("content-encoding"),
            !encoding.trimmingCharacters(in: .whitespaces).isEmpty,
            encoding.trimmingCharacters(in: .whitespaces).lowercased() != "identity"
        {
            return httpError(
                415, "unsupported_media_type",
                "content-encoding '\(encoding)' is not accepted: send the body uncompressed (HTTP/2 streams it as it "
                    + "is written)")
        }
        switch endpoint {
        case .healthz:
            return text(200, "ok\n")
        case .readyz:
            guard let engine, !draining.load(ordering: .relaxed) else { return text(503, "not ready\n") }
            // A store that cannot write acknowledges nothing and leases nothing: send traffic elsewhere until it
            // can (it retries once a second by itself).
            if let failure = engine.storeWriteFailure { return text(503, "not ready: \(failure.summary)\n") }
            return text(200, "ready\n")
        case .metrics:
            var buffer = ByteBuffer()
            buffer.writeBytes(metricsBody())
            return .immediate(
                status: 200, headers: [("content-type", "text/plain; version=0.0.4"), ("tagih-protocol", "1")],
                body: buffer)
        case .debugStream:
            guard let n = intParameter(head, "n", default: 10, range: 0...1_000_000_000_000) else {
                return badQuery(head, "n", "an integer from 0 to 1000000000000")
            }
            return ndjsonStream { _, writer in try await HTTP2DebugResponder.writeDebugLines(n, to: writer) }
        default:
            break
        }
        if draining.load(ordering: .relaxed) {
            return httpError(503, "shutting_down", "the server is shutting down; retry on another instance")
        }
        guard let (engine, debtorLookups) = engineBox.withLock({ $0 }) else {
            return httpError(503, "not_ready", "the store is still loading; retry when /readyz answers 200")
        }
        switch endpoint {
        case .putDebtors:
            return ndjsonStream { body, writer in
                try await self.processLines(body, writer, self.upsertLine) { await self.runUpserts($0, engine) }
            }
        case .postOutcomes:
            return ndjsonStream { body, writer in
                try await self.processLines(body, writer, { self.outcomeLine($0, tagged: false) }) {
                    await self.runOutcomes($0, engine, tagged: false)
                }
            }
        case .postPayments:
            return ndjsonStream { body, writer in
                try await self.processLines(body, writer, self.paymentLine) { await self.runPayments($0, engine) }
            }
        case .postClearances:
            return ndjsonStream { body, writer in
                try await self.processLines(body, writer, self.clearanceLine) { await self.runClearances($0, engine) }
            }
        case .getDebtor(let id):
            return .lookup(key: id, batcher: debtorLookups)
        case .getCalls:
            guard let n = intParameter(head, "n", default: 1, range: 1...configuration.maxCallsPerRequest) else {
                return badQuery(head, "n", "an integer from 1 to \(configuration.maxCallsPerRequest)")
            }
            guard let wait = secondsParameter(head, "wait", range: 0...60) else {
                return badQuery(head, "wait", "a number of seconds from 0 to 60, such as 5 or 0.5")
            }
            guard let filter = leaseFilter(head) else { return badJurisdiction(head) }
            // A lease is handed out only once its grant is logged: while the store cannot write, say so instead
            // of an empty stream that reads as "nobody to call".
            if let failure = engine.storeWriteFailure { return storeUnavailable(failure) }
            return ndjsonStream { _, writer in
                try await self.streamCalls(n: n, wait: wait, filter: filter, engine: engine, writer: writer)
            }
        case .dialer:
            guard let filter = leaseFilter(head) else { return badJurisdiction(head) }
            return ndjsonStream { body, writer in
                try await self.dialerSession(body: body, writer: writer, filter: filter, engine: engine)
            }
        case .schedule:
            let now = clock.now()
            guard let from = timeParameter(head, "from", default: now) else {
                return badQuery(head, "from", "an RFC 3339 time such as 2026-12-01T08:00:00Z" + plusHint(head, "from"))
            }
            guard let to = timeParameter(head, "to", default: from + 86_400) else {
                return badQuery(head, "to", "an RFC 3339 time such as 2026-12-02T08:00:00Z" + plusHint(head, "to"))
            }
            guard to >= from else {
                return badQuery(head, "to", head.queryItem("from") == nil
                    ? "not before 'from', which is the server's clock when not given (\(RFC3339.formatUTC(from)))"
                    : "not before 'from' (\(RFC3339.formatUTC(from)))")
            }
            guard let limit = intParameter(head, "limit", default: 1000, range: 1...1_000_000) else {
                return badQuery(head, "limit", "an integer from 1 to 1000000")
            }
            // A scan of every shard and up to a million lines: not on the event loop.
            return ndjsonStream(onEventLoop: false) { _, writer in
                let decisions = await engine.schedule(from: from, to: to, limit: limit)
                var buffer = writer.allocator.buffer(capacity: 64 * 1024)
                for d in decisions {
                    buffer.writeBytes(Wire.decision(d, type: true))
                    if buffer.readableBytes >= 60 * 1024 {
                        try await writer.write(buffer)
                        buffer.clear()
                    }
                }
                if buffer.readableBytes > 0 { try await writer.write(buffer) }
            }
        case .simulations:
            return simulationResponse()
        case .healthz, .readyz, .metrics, .debugStream:
            preconditionFailure("handled above")
        }
    }

    // MARK: - Helpers

    /// Response headers of JSON bodies (one array for every response, not one per response).
    static let jsonHeaders = [("content-type", "application/json"), ("tagih-protocol", "1")]
    static let ndjsonHeaders = [("content-type", "application/x-ndjson"), ("tagih-protocol", "1")]

    /// A streamed NDJSON response. `onEventLoop`: the handler runs under the connection's event-loop executor
    /// (line streams: decoding, short engine calls and writes stay on one thread; group commits still run on
    /// the store's writer thread): about half the context switches per outcome line and a fifth less CPU at
    /// 10,000 lines/s. Simulations and schedule scans, which compute for long, run on the global executor.
    private func ndjsonStream(
        onEventLoop: Bool = true,
        _ handler: @escaping @Sendable (HTTP2RequestBody, HTTP2ResponseWriter) async throws -> Void
    ) -> HTTP2Response {
        .streaming(status: 200, headers: TagihService.ndjsonHeaders) { body, writer in
            if onEventLoop, let executor = writer.eventLoopExecutor {
                try await withTaskExecutorPreference(executor) { try await handler(body, writer) }
            } else {
                try await handler(body, writer)
            }
        }
    }

    private func text(_ status: Int, _ body: String) -> HTTP2Response {
        var buffer = ByteBuffer()
        buffer.writeString(body)
        return .immediate(status: status, headers: [("content-type", "text/plain"), ("tagih-protocol", "1")], body: buffer)
    }

    /// `503 store_unavailable`, with `retry-after`, for a request that needs a write the store cannot make now.
    func storeUnavailable(_ failure: StoreWriteFailure) -> HTTP2Response {
        httpError(
            503, "store_unavailable", Self.storeUnavailableMessage(failure),
            extraHeaders: [("retry-after", "\(Int(Store.probeInterval.components.seconds))")])
    }

    /// What a client is told while the store cannot write.
    static func storeUnavailableMessage(_ failure: StoreWriteFailure) -> String {
        "\(failure.summary); nothing is acknowledged or leased until it can write again (it retries every second; "
            + "GET /readyz answers 200 then)"
    }

    func httpError(
        _ status: Int, _ code: String, _ message: String, extraHeaders: [(String, String)] = []
    ) -> HTTP2Response {
        var buffer = ByteBuffer()
        buffer.writeBytes(JSONLine.httpErrorBody(code: code, message: message))
        metrics.error(code)
        return .immediate(
            status: status, headers: extraHeaders.isEmpty ? TagihService.jsonHeaders : TagihService.jsonHeaders + extraHeaders,
            body: buffer)
    }

    /// `400 bad_query` for the value of query parameter `name`: the message quotes the value (its first 64
    /// characters) and says what was expected; `field` names the parameter.
    /// For a time parameter whose value has a space where an offset's sign goes (`…T09:00:00 07:00`): the `+` of
    /// the offset was sent unencoded, and a query string reads `+` as a space.
    private func plusHint(_ head: HTTP2RequestHead, _ name: String) -> String {
        guard let raw = head.queryItem(name), raw.utf8.count >= 6 else { return "" }
        let tail = Array(raw.utf8.suffix(6))
        guard tail[0] == UInt8(ascii: " "), tail[3] == UInt8(ascii: ":") else { return "" }
        return "; a '+' in a query string means a space: send the offset's '+' as %2B (…T09:00:00%2B07:00)"
    }

    private func badQuery(_ head: HTTP2RequestHead, _ name: String, _ expected: String) -> HTTP2Response {
        let raw = head.queryItem(name) ?? ""
        let shown = raw.count > 64 ? String(raw.prefix(64)) + "…" : raw
        return httpError(
            400, RequestError(
                code: "bad_query", field: name, message: "query parameter '\(name)' is '\(shown)'; it must be \(expected)"))
    }

    /// A number of seconds (a decimal such as `0.5` is fine) within `range`; the default 0 when absent.
    private func secondsParameter(_ head: HTTP2RequestHead, _ name: String, range: ClosedRange<Double>) -> Duration? {
        guard let raw = head.queryItem(name) else { return .zero }
        guard let seconds = Double(raw), seconds.isFinite, range.contains(seconds) else { return nil }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    private func intParameter(_ head: HTTP2RequestHead, _ name: String, default value: Int, range: ClosedRange<Int>) -> Int? {
        guard let raw = head.queryItem(name) else { return value }
        guard let n = Int(raw), range.contains(n) else { return nil }
        return n
    }

    private func timeParameter(_ head: HTTP2RequestHead, _ name: String, default value: UnixSeconds) -> UnixSeconds? {
        guard let raw = head.queryItem(name) else { return value }
        return RFC3339.parse(raw)
    }

    /// The `jurisdiction` filter (comma-separated codes), or nil when a code is not well formed (`us`, `U S`): such
    /// a filter would match nobody, and a dialer configured with it would believe there is no work.
    private func leaseFilter(_ head: HTTP2RequestHead) -> LeaseFilter? {
        // Absent: every jurisdiction. Present but empty (`jurisdiction=`, a URL built from an unset variable) is
        // refused rather than read as "all": a dialer of one region would get calls of every region.
        guard let raw = head.queryItem("jurisdiction") else { return .all }
        let codes = raw.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard codes.allSatisfy(Jurisdiction.isWellFormed) else { return nil }
        return LeaseFilter(jurisdictions: codes)
    }

    private func badJurisdiction(_ head: HTTP2RequestHead) -> HTTP2Response {
        badQuery(head, "jurisdiction", "jurisdiction codes such as US, US-MA or ID, comma-separated (upper case)")
    }
}
