import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// A response received by `HTTP2Client`.
public struct HTTP2ClientResponse: Sendable {
    /// The `:status`.
    public var status: Int
    /// Response headers (lowercase names), in arrival order.
    public var headers: [(name: String, value: String)]
    /// The body as byte chunks (single consumer).
    public var body: HTTP2Body

    /// The first value of header `name` (case-insensitive), or nil.
    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name == lowered }?.value
    }

    /// The body as NDJSON lines (see `HTTP2Body.lines(maxLength:)`).
    public func lines(maxLength: Int = 1 << 20) -> NDJSONLineSequence<HTTP2Body> {
        body.lines(maxLength: maxLength)
    }
}

/// A full-duplex client stream: write request-body lines while reading the response.
public struct HTTP2ClientStream: Sendable {
    /// Writes the request body; call `finish()` to end it.
    public let writer: HTTP2RequestWriter
    private let responseFuture: EventLoopFuture<HTTP2ClientResponse>

    init(writer: HTTP2RequestWriter, response: EventLoopFuture<HTTP2ClientResponse>) {
        self.writer = writer
        self.responseFuture = response
    }

    /// Waits for the response head. The server may send it before the request body is finished.
    public func response() async throws -> HTTP2ClientResponse {
        try await responseFuture.get()
    }
}

/// An HTTP/2 client on libnghttp2: one connection, many concurrent streams.
///
/// Sendable; every call may come from any task. Requests beyond the server's
/// SETTINGS_MAX_CONCURRENT_STREAMS are queued by nghttp2 until a stream slot frees.
public final class HTTP2Client: Sendable {
    /// TLS options for `connect`.
    public struct TLS: Sendable {
        /// PEM file with the CA certificates to trust; nil uses the system's default trust store.
        public var trustRootsPath: String?
        /// The server name for SNI and verification; nil uses the host.
        public var serverName: String?
        /// Whether to verify the server's certificate. Default true; turn off only in tests.
        public var verifyCertificate: Bool

        /// Creates TLS options.
        public init(trustRootsPath: String? = nil, serverName: String? = nil, verifyCertificate: Bool = true) {
            self.trustRootsPath = trustRootsPath
            self.serverName = serverName
            self.verifyCertificate = verifyCertificate
        }
    }

    private let channel: any Channel
    private let handler: NIOLoopBound<HTTP2ConnectionHandler>
    private let authority: String
    private let scheme: String

    private init(channel: any Channel, handler: NIOLoopBound<HTTP2ConnectionHandler>, authority: String, scheme: String) {
        self.channel = channel
        self.handler = handler
        self.authority = authority
        self.scheme = scheme
    }

    /// Opens a connection: h2c with prior knowledge, or TLS with ALPN `h2` when `tls` is given.
    /// - Throws: `HTTP2StreamError` with code `connect_failed` when the connection cannot be made.
    public static func connect(
        host: String,
        port: Int,
        tls: TLS? = nil,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "tagih.http2.client")
    ) async throws -> HTTP2Client {
        var madeContext: NIOSSLContext?
        if let tls {
            do {
                var configuration = TLSConfiguration.makeClientConfiguration()
                configuration.applicationProtocols = ["h2"]
                if let path = tls.trustRootsPath { configuration.trustRoots = .file(path) }
                if !tls.verifyCertificate { configuration.certificateVerification = .none }
                madeContext = try NIOSSLContext(configuration: configuration)
            } catch {
                throw HTTP2StreamError(code: "connect_failed", message: "invalid TLS configuration: \(error)")
            }
        }
        let sslContext = madeContext
        let serverName = tls?.serverName ?? host
        // The connection handler, kept from the initializer: a connection that fails at once (a refused TLS
        // handshake) may have emptied its pipeline before it could be looked up there.
        let made = Mutex<NIOLoopBound<HTTP2ConnectionHandler>?>(nil)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoopGroup)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelOption(.writeBufferWaterMark, value: .init(low: 256 << 10, high: 1 << 20))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let sslContext {
                            let isIP = (try? SocketAddress(ipAddress: serverName, port: 0)) != nil
                            try channel.pipeline.syncOperations.addHandler(
                                NIOSSLClientHandler(context: sslContext, serverHostname: isIP ? nil : serverName)
                            )
                        }
                        var settings = SessionSettings()
                        settings.initialWindowSize = 1 << 20
                        settings.connectionWindowSize = 16 << 20
                        let handler = HTTP2ConnectionHandler(
                            role: .client,
                            settings: settings,
                            limits: .init(),
                            counters: nil,
                            logger: logger
                        )
                        made.withLock { $0 = NIOLoopBound(handler, eventLoop: channel.eventLoop) }
                        try channel.pipeline.syncOperations.addHandler(handler)
                    }
                }
                .connect(host: host, port: port)
                .get()
        } catch {
            throw HTTP2StreamError(code: "connect_failed", message: "cannot connect to \(host):\(port): \(error)")
        }
        guard let handler = made.withLock({ $0 }) else {
            try? await channel.close()
            throw HTTP2StreamError(code: "connect_failed", message: "\(host):\(port): the connection was not set up")
        }
        // Wait for the server's SETTINGS (one round trip): streams opened before it is known may exceed the
        // server's concurrent-stream limit and be refused.
        do {
            try await channel.eventLoop.flatSubmit {
                let promise = channel.eventLoop.makePromise(of: Void.self)
                let timeout = channel.eventLoop.scheduleTask(in: .seconds(10)) {
                    promise.fail(HTTP2StreamError(code: "timeout", message: "no answer within 10 s"))
                }
                handler.value.peerSettings(on: channel.eventLoop).whenComplete { result in
                    timeout.cancel()
                    promise.completeWith(result)
                }
                return promise.futureResult
            }.get()
        } catch {
            try? await channel.close()
            let reason: String
            if let error = error as? NIOSSLError {
                let text = "\(error)"
                if text.contains("CERTIFICATE_VERIFY_FAILED") {
                    reason = "the server's TLS certificate is not trusted (CERTIFICATE_VERIFY_FAILED): "
                        + "trust its CA (a self-signed certificate is its own CA)"
                } else if text.contains("WRONG_VERSION_NUMBER") {
                    reason = "the server did not answer in TLS (WRONG_VERSION_NUMBER): is this an h2c port (http://)?"
                } else {
                    reason = "the TLS handshake failed: \(text)"
                }
            } else if error is HTTP2StreamError {
                reason = "it sent no HTTP/2 SETTINGS frame (not an HTTP/2 server, or TLS where h2c was expected): \(error)"
            } else {
                reason = "\(error)"
            }
            throw HTTP2StreamError(code: "connect_failed", message: "\(host):\(port): \(reason)")
        }
        let authority = port == (tls == nil ? 80 : 443) ? host : "\(host):\(port)"
        return HTTP2Client(channel: channel, handler: handler, authority: authority, scheme: tls == nil ? "http" : "https")
    }

    /// Sends a request with an optional complete body and waits for the response head.
    /// - Parameters:
    ///   - method: e.g. `GET`.
    ///   - path: path and query, e.g. `/v1/debug/stream?n=10`.
    ///   - headers: extra headers (names are lowercased).
    ///   - body: the request body, or nil.
    /// - Throws: `HTTP2StreamError` when the stream is reset or the connection closes first.
    public func request(
        method: String = "GET",
        path: String,
        headers: [(String, String)] = [],
        body: ByteBuffer? = nil
    ) async throws -> HTTP2ClientResponse {
        let (_, future) = try await start(method: method, path: path, headers: headers, body: body, streaming: false)
        return try await future.get()
    }

    /// Opens a full-duplex stream: write the request body with `writer` while reading the response.
    public func openStream(
        method: String = "POST",
        path: String,
        headers: [(String, String)] = []
    ) async throws -> HTTP2ClientStream {
        let (writer, future) = try await start(method: method, path: path, headers: headers, body: nil, streaming: true)
        guard let writer else {
            // The stream could not start (the connection closed or went away): the response's failure says why.
            _ = try await future.get()
            throw HTTP2StreamError.connectionClosed
        }
        return HTTP2ClientStream(writer: HTTP2BodyWriter(queue: writer), response: future)
    }

    private func start(
        method: String,
        path: String,
        headers: [(String, String)],
        body: ByteBuffer?,
        streaming: Bool
    ) async throws -> (OutboundQueue?, EventLoopFuture<HTTP2ClientResponse>) {
        let handler = self.handler
        let authority = self.authority
        let scheme = self.scheme
        let eventLoop = channel.eventLoop
        return try await eventLoop.submit {
            let promise = eventLoop.makePromise(of: (ClientResponseHead, HTTP2Body).self)
            let writer = handler.value.startRequest(
                method: method,
                scheme: scheme,
                authority: authority,
                path: path,
                headers: headers,
                body: body,
                streamingBody: streaming,
                promise: promise
            )
            let future = promise.futureResult.map { head, body in
                HTTP2ClientResponse(status: head.status, headers: head.headers, body: body)
            }
            return (writer, future)
        }.get()
    }

    /// Whether new requests can be started (the connection is open and no GOAWAY was received).
    public var isActive: Bool {
        get async {
            let handler = self.handler
            return (try? await channel.eventLoop.submit { handler.value.isAcceptingRequests }.get()) ?? false
        }
    }

    /// Sends GOAWAY and closes the connection; open streams fail with `connection_closed`.
    public func close() async {
        let handler = self.handler
        try? await channel.eventLoop.submit { handler.value.closeGracefully() }.get()
        try? await channel.closeFuture.get()
    }
}
