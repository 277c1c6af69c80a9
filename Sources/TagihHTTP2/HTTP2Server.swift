import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle

/// Why the server could not start or run.
public struct HTTP2ServerError: Error, Sendable, CustomStringConvertible {
    /// `bind_failed`, `tls_configuration`, or `not_running`.
    public var code: String
    /// What went wrong and how to fix it.
    public var message: String
    /// The underlying error, if any.
    public var cause: (any Error)?

    public var description: String {
        if let cause { return "\(code): \(message) (\(cause))" }
        return "\(code): \(message)"
    }
}

/// An HTTP/2 server (libnghttp2 framing inside SwiftNIO) that dispatches requests to an `HTTP2Responder`.
///
/// Run it as a `Service` in a `ServiceGroup`: graceful shutdown (SIGTERM/SIGINT through the group, or
/// `shutdownGracefully()`) stops accepting, sends GOAWAY on every connection, tells streaming handlers
/// (`HTTP2ResponseWriter.shutdownRequested()`), ends streams still open after
/// `shutdownGracePeriod` with a `shutting_down` error line, closes every connection and returns.
/// Streaming handlers run as child tasks of `run()`.
public final class HTTP2Server: Service, Sendable {
    private enum Phase {
        case idle
        case running
        case shuttingDown
        case stopped
    }

    private struct State {
        var phase = Phase.idle
        var serverChannel: (any Channel)?
        var children: [ObjectIdentifier: any Channel] = [:]
        var localAddress: SocketAddress?
        /// Callers of `boundAddress()` waiting for the bind, by a number of their own (so a cancelled one can leave).
        var bindWaiters: [Int: CheckedContinuation<SocketAddress, any Error>] = [:]
        var nextWaiter = 0
        var bindFailure: HTTP2ServerError?
        var jobs: AsyncStream<@Sendable () async -> Void>.Continuation?
    }

    /// The configuration the server was created with.
    public let configuration: HTTP2ServerConfiguration
    private let responder: any HTTP2Responder
    private let logger: Logger
    private let group: any EventLoopGroup
    private let counters = TransportCounters()
    private let state = NIOLockedValueBox(State())

    /// Creates a server; nothing happens until `run()`.
    /// - Parameters:
    ///   - configuration: address, limits and TLS files.
    ///   - responder: answers every request (called on event loops).
    ///   - logger: for connection-level events (debug) and failures. Payloads are never logged.
    ///   - eventLoopGroup: defaults to `MultiThreadedEventLoopGroup.singleton` (one loop per core).
    public init(
        configuration: HTTP2ServerConfiguration,
        responder: any HTTP2Responder,
        logger: Logger = Logger(label: "tagih.http2.server"),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.configuration = configuration
        self.responder = responder
        self.logger = logger
        self.group = eventLoopGroup
    }

    /// The bound address once `run()` bound the socket, else nil.
    public var localAddress: SocketAddress? { state.withLockedValue { $0.localAddress } }

    /// The bound port once `run()` bound the socket, else nil.
    public var port: Int? { localAddress?.port }

    /// Current transport counters (for metrics).
    public var metrics: HTTP2ServerMetrics { counters.snapshot }

    /// Waits until `run()` has bound the socket and returns the address.
    /// - Throws: `HTTP2ServerError` if `run()` failed before it listened (TLS files, bind); `CancellationError`
    ///   when the calling task is cancelled first.
    public func boundAddress() async throws -> SocketAddress {
        let id = state.withLockedValue { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let result: Result<SocketAddress, any Error>? = state.withLockedValue { state in
                    if let address = state.localAddress { return .success(address) }
                    if let failure = state.bindFailure { return .failure(failure) }
                    // Checked under the lock that `onCancel` takes: either the handler finds this waiter, or the
                    // flag it set first is seen here.
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.bindWaiters[id] = continuation
                    return nil
                }
                if let result { continuation.resume(with: result) }
            }
        } onCancel: {
            let waiter = state.withLockedValue { $0.bindWaiters.removeValue(forKey: id) }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Records that `run()` failed before listening and fails every `boundAddress()` caller with `failure`.
    private func failStart(_ failure: HTTP2ServerError) {
        let waiters = state.withLockedValue { state in
            state.bindFailure = failure
            state.phase = .stopped
            defer { state.bindWaiters = [:] }
            return Array(state.bindWaiters.values)
        }
        for waiter in waiters { waiter.resume(throwing: failure) }
    }

    /// Begins graceful shutdown, as SIGTERM through a `ServiceGroup` would. `run()` returns when done.
    public func shutdownGracefully() {
        beginShutdown()
    }

    /// Binds, serves until graceful shutdown or cancellation, then drains and returns.
    /// - Throws: `HTTP2ServerError` when TLS files cannot be loaded or the address cannot be bound.
    public func run() async throws {
        let sslContext: NIOSSLContext?
        do {
            sslContext = try makeSSLContext()
        } catch {
            failStart(error)  // else `boundAddress()` callers would wait for a bind that never comes
            throw error
        }
        let (jobs, jobsContinuation) = AsyncStream.makeStream(of: (@Sendable () async -> Void).self)
        state.withLockedValue { $0.jobs = jobsContinuation }
        let spawn: TaskSpawner = { job in jobsContinuation.yield(job) }

        let serverChannel: any Channel
        do {
            serverChannel = try await makeBootstrap(sslContext: sslContext, spawn: spawn)
                .bind(host: configuration.host, port: configuration.port)
                .get()
        } catch {
            let failure = HTTP2ServerError(
                code: "bind_failed",
                message: "cannot listen on \(configuration.host):\(configuration.port); "
                    + "is the port in use or the host not local?",
                cause: error
            )
            failStart(failure)
            throw failure
        }
        let address = serverChannel.localAddress
        let (waiters, alreadyShuttingDown) = state.withLockedValue { state in
            state.serverChannel = serverChannel
            state.localAddress = address
            let shuttingDown = state.phase == .shuttingDown
            if !shuttingDown { state.phase = .running }
            defer { state.bindWaiters = [:] }
            return (Array(state.bindWaiters.values), shuttingDown)
        }
        if let address {
            for waiter in waiters { waiter.resume(returning: address) }
            logger.info("HTTP/2 server listening", metadata: ["address": "\(address)", "tls": "\(sslContext != nil)"])
        }
        if alreadyShuttingDown { beginShutdown() }

        await withTaskCancellationOrGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for await job in jobs {
                    group.addTask { await job() }
                }
                group.cancelAll()
            }
        } onCancelOrGracefulShutdown: {
            self.beginShutdown()
        }
        try? await serverChannel.close()
        state.withLockedValue { $0.phase = .stopped }
        logger.info("HTTP/2 server stopped")
    }

    private func makeSSLContext() throws(HTTP2ServerError) -> NIOSSLContext? {
        guard let tls = configuration.tls else { return nil }
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(tls.certificatePath).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(file: tls.privateKeyPath, format: .pem)
            var tlsConfiguration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            tlsConfiguration.applicationProtocols = ["h2"]
            return try NIOSSLContext(configuration: tlsConfiguration)
        } catch {
            throw HTTP2ServerError(
                code: "tls_configuration",
                message: "cannot load the TLS certificate \(tls.certificatePath) or key \(tls.privateKeyPath); "
                    + "both must be PEM files readable by this process",
                cause: error
            )
        }
    }

    private func makeBootstrap(sslContext: NIOSSLContext?, spawn: @escaping TaskSpawner) -> ServerBootstrap {
        let configuration = self.configuration
        let responder = self.responder
        let logger = self.logger
        let counters = self.counters
        let limits = configuration.connectionLimits
        let settings = configuration.sessionSettings
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: Int32(clamping: configuration.backlog))
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 256 << 10, high: 1 << 20))
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [self] channel in
                guard self.track(channel) else {
                    return channel.close()
                }
                return channel.eventLoop.makeCompletedFuture {
                    let handlers = channel.pipeline.syncOperations
                    if let sslContext {
                        try handlers.addHandler(NIOSSLServerHandler(context: sslContext))
                    }
                    try handlers.addHandler(IdleStateHandler(readTimeout: configuration.idleTimeout))
                    // HTTP/2 once the client's preface arrived; an HTTP/1.x probe or scraper answered by the gate.
                    try handlers.addHandler(
                        HTTP1Gate(responder: responder, extraHeaders: configuration.responseHeaders) {
                            HTTP2ConnectionHandler(
                                role: .server(responder, spawn),
                                settings: settings,
                                limits: limits,
                                counters: counters,
                                logger: logger
                            )
                        })
                }
            }
    }

    /// Registers a child channel; false when the server is shutting down (the channel is then closed).
    private func track(_ channel: any Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let accepted = state.withLockedValue { state -> Bool in
            guard state.phase == .running || state.phase == .idle else { return false }
            state.children[id] = channel
            return true
        }
        guard accepted else { return false }
        channel.closeFuture.whenComplete { _ in
            let finished = self.state.withLockedValue { state -> AsyncStream<@Sendable () async -> Void>.Continuation? in
                state.children[id] = nil
                return state.phase == .shuttingDown && state.children.isEmpty ? state.jobs : nil
            }
            finished?.finish()
        }
        return true
    }

    private func beginShutdown() {
        let (serverChannel, children, jobs, first) = state.withLockedValue {
            state -> ((any Channel)?, [any Channel], AsyncStream<@Sendable () async -> Void>.Continuation?, Bool) in
            let first = state.phase != .shuttingDown && state.phase != .stopped
            if first { state.phase = .shuttingDown }
            return (state.serverChannel, Array(state.children.values), state.children.isEmpty ? state.jobs : nil, first)
        }
        guard first else { return }
        logger.info("HTTP/2 server shutting down", metadata: ["connections": "\(children.count)"])
        serverChannel?.close(promise: nil)
        for child in children {
            child.pipeline.fireUserInboundEventTriggered(GracefulShutdownEvent())
        }
        jobs?.finish()
    }
}
