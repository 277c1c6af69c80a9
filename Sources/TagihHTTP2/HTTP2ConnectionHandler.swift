#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CNGHTTP2
import Logging
import NIOCore

/// Sent down a server connection's pipeline to begin graceful shutdown.
struct GracefulShutdownEvent: Sendable {}

/// Runs a streaming handler's work in the owner's task group (server) or a fresh task (tests, client).
typealias TaskSpawner = @Sendable (@escaping @Sendable () async -> Void) -> Void

/// The response head a client stream is waiting for.
struct ClientResponseHead {
    var status: Int
    var headers: [(name: String, value: String)]
}

/// Drives one HTTP/2 connection: bytes in → `Session` (nghttp2) → callbacks → streams; stream output →
/// `Session` → one ByteBuffer per send batch → one flush.
///
/// Server role: dispatches each request to an `HTTP2Responder`. Client role: starts requests submitted
/// through `startRequest`. Lives on its channel's event loop only.
final class HTTP2ConnectionHandler: ChannelInboundHandler, SessionDelegate {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Role {
        case server(any HTTP2Responder, TaskSpawner)
        case client
    }

    /// A `.deferred` or `.lookup` response waiting for the end of the read that dispatched it.
    enum PendingDeferred: Sendable {
        case handler(Int32, @Sendable () async throws -> HTTP2CompleteResponse)
        case lookup(Int32, String, any HTTP2LookupBatcher)
    }

    /// Per-stream state, on the event loop.
    final class Stream {
        let id: Int32
        var method = ""
        var path = ""
        var authority = ""
        var scheme = ""
        var status = 0
        var headers: [(name: String, value: String)] = []
        var headerBytes = 0
        /// A complete body sent from memory (immediate responses, fixed client request bodies).
        var fixedBody: ByteBuffer?
        var inbound: InboundQueue?
        var outbound: OutboundQueue?
        /// Client: resolved with the response head.
        var responsePromise: EventLoopPromise<(ClientResponseHead, HTTP2Body)>?
        /// Server: the request was dispatched (a later HEADERS frame carries trailers).
        var dispatched = false

        init(id: Int32) { self.id = id }
    }

    struct Limits {
        var maxHeaderListSize = 64 << 10
        var maxLineLength = 1 << 20
        var streamHighWaterMark = 256 << 10
        var shutdownGracePeriod: TimeAmount = .seconds(10)
        var goAwayDelay: TimeAmount = .milliseconds(100)
        /// Added to the responses this handler makes itself (`HTTP2ServerConfiguration.responseHeaders`).
        var responseHeaders: [(name: String, value: String)] = []
    }

    private let role: Role
    private let settings: SessionSettings
    private let limits: Limits
    private let counters: TransportCounters?
    private let logger: Logger

    private var session: Session?
    private var streams: [Int32: Stream] = [:]
    private var context: ChannelHandlerContext?
    private var loopBound: NIOLoopBound<HTTP2ConnectionHandler>?

    private var flushing = false
    private var flushAgain = false
    private var flushScheduled = false
    private var lastBatchSize = 4096
    private var closed = false
    private var misbehaved = false
    private var goAwaySent = false
    private var shuttingDown = false
    private var peerGoingAway = false
    private var scheduledTasks: [Scheduled<Void>] = []
    /// `.deferred` and `.lookup` responses dispatched during the current read, run together in one task (see
    /// `spawnDeferred`).
    private var pendingDeferred: [PendingDeferred] = []
    /// The stream whose header block nghttp2 is delivering (saves a lookup per header field).
    private var headerStream: Stream?
    /// Runs `.deferred` handlers on this connection's event loop (created on first use).
    private var deferredExecutor: EventLoopTaskExecutor?
    /// Whether the peer's first SETTINGS frame arrived; who waits for it (`peerSettings()`).
    private var peerSettingsReceived = false
    private var peerSettingsWaiters: [EventLoopPromise<Void>] = []
    /// The first error the pipeline reported (a TLS handshake failure, say): what a client waiting for the peer's
    /// SETTINGS learns, instead of only that the connection closed.
    private var firstError: (any Error)?
    /// Client: fulfilled once the connection is usable or failed.
    var onClose: (() -> Void)?

    init(role: Role, settings: SessionSettings, limits: Limits, counters: TransportCounters?, logger: Logger) {
        self.role = role
        self.settings = settings
        self.limits = limits
        self.counters = counters
        self.logger = logger
    }

    private var isServer: Bool {
        if case .server = role { return true }
        return false
    }

    // MARK: channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        do {
            session = try Session(server: isServer, settings: settings, delegate: self)
        } catch {
            logger.error("cannot create HTTP/2 session", metadata: ["error": "\(error)"])
            context.close(promise: nil)
            return
        }
        if isServer { counters?.connectionsAccepted.add(1, ordering: .relaxed) }
        counters?.currentConnections.add(1, ordering: .relaxed)
        if context.channel.isActive { flushOutput() }
    }

    func channelActive(context: ChannelHandlerContext) {
        flushOutput()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let session, !closed else { return }
        let buffer = unwrapInboundIn(data)
        counters?.bytesReceived.add(buffer.readableBytes, ordering: .relaxed)
        let rc = session.receive(buffer)
        spawnDeferred()
        if rc < 0 {
            misbehaved = true
            logger.debug(
                "closing HTTP/2 connection after a protocol error",
                metadata: ["error": "\(SessionError(code: rc, operation: "mem_recv"))"]
            )
            closeConnection(sendingPending: true)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        spawnDeferred()
        flushOutput()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { flushOutput() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        tearDown()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        tearDown()
        self.context = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("HTTP/2 connection error", metadata: ["error": "\(error)"])
        if firstError == nil { firstError = error }
        closeConnection(sendingPending: false)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is GracefulShutdownEvent {
            beginGracefulShutdown()
        } else if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            if streams.isEmpty {
                logger.debug("closing idle HTTP/2 connection")
                session?.submitGoAway()
                goAwaySent = true
                flushOutput()
                closeConnection(sendingPending: false)
            }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func tearDown() {
        guard !closed || session != nil else { return }
        if !closed { closed = true }
        let settingsWaiters = peerSettingsWaiters
        peerSettingsWaiters = []
        for promise in settingsWaiters { promise.fail(firstError ?? HTTP2StreamError.connectionClosed) }
        for task in scheduledTasks { task.cancel() }
        scheduledTasks = []
        let failure = HTTP2StreamError.connectionClosed
        for stream in streams.values { release(stream, error: failure) }
        streams = [:]
        if session != nil {
            counters?.currentConnections.subtract(1, ordering: .relaxed)
            if misbehaved { counters?.connectionsClosedForMisbehaviour.add(1, ordering: .relaxed) }
        }
        // The session is freed with this handler (nghttp2 callbacks may be on the stack now).
        session = nil
        onClose?()
        onClose = nil
    }

    private func release(_ stream: Stream, error: HTTP2StreamError) {
        if let inbound = stream.inbound {
            let leftover = inbound.detach(failure: error)
            if leftover > 0, !closed { session?.consumeConnection(bytes: leftover) }
        }
        stream.outbound?.fail(error)
        stream.responsePromise?.fail(error)
        stream.responsePromise = nil
        if isServer { counters?.currentStreams.subtract(1, ordering: .relaxed) }
    }

    private func closeConnection(sendingPending: Bool) {
        guard !closed, let context else { return }
        if sendingPending, let session {
            var buffer = context.channel.allocator.buffer(capacity: 256)
            _ = session.send(into: &buffer, limit: 64 << 10)
            if buffer.readableBytes > 0 {
                counters?.bytesSent.add(buffer.readableBytes, ordering: .relaxed)
                context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            }
        }
        closed = true
        context.close(promise: nil)
    }

    // MARK: output

    /// Serialises everything nghttp2 wants to send, in batches, with one flush at the end.
    func flushOutput() {
        guard let context, let session, !closed else { return }
        if flushing {
            flushAgain = true
            return
        }
        flushing = true
        defer { flushing = false }
        repeat {
            flushAgain = false
            var wrote = false
            while context.channel.isWritable {
                // Size the batch buffer after the previous one so streaming does not regrow it every time.
                var buffer = context.channel.allocator.buffer(capacity: lastBatchSize)
                let n = session.send(into: &buffer, limit: 256 << 10)
                if n < 0 {
                    misbehaved = true
                    closeConnection(sendingPending: false)
                    return
                }
                if buffer.readableBytes == 0 { break }
                lastBatchSize = min(max(buffer.readableBytes + 1024, 4096), (256 << 10) + (32 << 10))
                counters?.bytesSent.add(buffer.readableBytes, ordering: .relaxed)
                context.write(wrapOutboundOut(buffer), promise: nil)
                wrote = true
                if n < 256 << 10 { break }
            }
            if wrote { context.flush() }
        } while flushAgain && !closed
        if closed { return }
        if !session.wantsRead && !session.wantsWrite {
            closeConnection(sendingPending: false)
        } else if goAwaySent && streams.isEmpty && !session.wantsWrite && shuttingDown {
            closeConnection(sendingPending: false)
        }
    }

    /// Coalesces wake-ups from producers into one send pass per event-loop tick.
    private func scheduleFlush() {
        guard !flushScheduled, let context else { return }
        flushScheduled = true
        let loopBound = self.loopBound!
        context.eventLoop.execute {
            let handler = loopBound.value
            handler.flushScheduled = false
            handler.flushOutput()
        }
    }

    private func resume(streamID: Int32) {
        guard !closed, streams[streamID] != nil else { return }
        session?.resumeData(streamID: streamID)
        scheduleFlush()
    }

    private func reportConsumed(streamID: Int32) {
        guard !closed, let stream = streams[streamID], let inbound = stream.inbound else { return }
        let n = inbound.takeUnreported()
        guard n > 0 else { return }
        session?.consume(streamID: streamID, bytes: n)
        scheduleFlush()
    }

    private func makeOutbound(streamID: Int32) -> OutboundQueue {
        let loopBound = self.loopBound!
        let eventLoop = context!.eventLoop
        return OutboundQueue(
            highWaterMark: limits.streamHighWaterMark,
            counters: counters,
            allocator: context!.channel.allocator
        ) {
            eventLoop.execute { loopBound.value.resume(streamID: streamID) }
        }
    }

    private func makeInbound(streamID: Int32) -> InboundQueue {
        let loopBound = self.loopBound!
        let eventLoop = context!.eventLoop
        return InboundQueue {
            eventLoop.execute { loopBound.value.reportConsumed(streamID: streamID) }
        }
    }

    // MARK: graceful shutdown (server)

    private func beginGracefulShutdown() {
        guard !shuttingDown, !closed, let context, let session else { return }
        shuttingDown = true
        session.submitShutdownNotice()
        for stream in streams.values { stream.outbound?.requestShutdown() }
        flushOutput()
        let loopBound = self.loopBound!
        scheduledTasks.append(
            context.eventLoop.scheduleTask(in: limits.goAwayDelay) {
                let handler = loopBound.value
                guard !handler.closed else { return }
                handler.session?.submitGoAway()
                handler.goAwaySent = true
                handler.flushOutput()
                if handler.streams.isEmpty { handler.closeConnection(sendingPending: true) }
            }
        )
        scheduledTasks.append(
            context.eventLoop.scheduleTask(in: limits.shutdownGracePeriod) {
                loopBound.value.endRemainingStreams()
            }
        )
        scheduledTasks.append(
            context.eventLoop.scheduleTask(in: limits.shutdownGracePeriod + .seconds(5)) {
                loopBound.value.resetRemainingStreams()
                loopBound.value.closeConnection(sendingPending: true)
            }
        )
    }

    /// Resets (RST_STREAM CANCEL) every stream still open when the connection is closed at the end of graceful
    /// shutdown: a peer that did not open its flow-control window could not receive the stream's final line, and
    /// the reset tells it the stream was cut, not ended. RST_STREAM is not flow-controlled, and nghttp2 sends it
    /// before queued DATA.
    private func resetRemainingStreams() {
        guard !closed, let session else { return }
        for id in streams.keys.sorted() {
            session.resetStream(streamID: id, errorCode: UInt32(NGHTTP2_CANCEL.rawValue))
        }
    }

    private func endRemainingStreams() {
        guard !closed, let context else { return }
        let line = context.channel.allocator.buffer(string: HTTP2ResponseWriter.shuttingDownLine + "\n")
        for stream in streams.values {
            if let outbound = stream.outbound {
                if outbound.terminate(finalLine: line, error: .shuttingDown) {
                    session?.resumeData(streamID: stream.id)
                }
            }
        }
        flushOutput()
    }

    // MARK: client requests

    /// Starts a request (client role). The promise gets the response head and body.
    /// Returns the writer of a streamed request body when `streamingBody` is true.
    func startRequest(
        method: String,
        scheme: String,
        authority: String,
        path: String,
        headers: [(String, String)],
        body: ByteBuffer?,
        streamingBody: Bool,
        promise: EventLoopPromise<(ClientResponseHead, HTTP2Body)>
    ) -> OutboundQueue? {
        guard let session, !closed, !peerGoingAway else {
            promise.fail(HTTP2StreamError.connectionClosed)
            return nil
        }
        let hasBody = streamingBody || (body?.readableBytes ?? 0) > 0
        let id = session.submitRequest(
            method: method,
            scheme: scheme,
            authority: authority,
            path: path,
            headers: headers,
            hasBody: hasBody
        )
        guard id > 0 else {
            promise.fail(
                HTTP2StreamError(
                    code: "protocol_error",
                    message: "cannot start a request: \(SessionError(code: Int(id), operation: "submit_request"))"
                )
            )
            return nil
        }
        let stream = Stream(id: id)
        stream.responsePromise = promise
        var outbound: OutboundQueue?
        if streamingBody {
            outbound = makeOutbound(streamID: id)
            stream.outbound = outbound
        } else if hasBody {
            stream.fixedBody = body
        }
        streams[id] = stream
        flushOutput()
        return outbound
    }

    /// Resets a client stream (the caller lost interest).
    func cancelStream(_ streamID: Int32) {
        guard !closed, streams[streamID] != nil else { return }
        session?.resetStream(streamID: streamID, errorCode: UInt32(NGHTTP2_CANCEL.rawValue))
        flushOutput()
    }

    /// Sends GOAWAY and closes once nothing is left to write (client close).
    func closeGracefully() {
        guard !closed else { return }
        session?.submitGoAway()
        goAwaySent = true
        flushOutput()
        closeConnection(sendingPending: true)
    }

    // MARK: SessionDelegate

    func sessionBeginHeaders(streamID: Int32) -> Int32 {
        if isServer, streams[streamID] == nil {
            let stream = Stream(id: streamID)
            streams[streamID] = stream
            headerStream = stream
            counters?.streamsOpened.add(1, ordering: .relaxed)
            counters?.currentStreams.add(1, ordering: .relaxed)
        }
        return 0
    }

    func sessionHeader(streamID: Int32, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> Int32 {
        // nghttp2 delivers a header block's fields one after the other: remember the stream between them.
        let stream: Stream
        if let last = headerStream, last.id == streamID {
            stream = last
        } else {
            guard let found = streams[streamID] else { return 0 }
            headerStream = found
            stream = found
        }
        stream.headerBytes += name.count + value.count + 32
        if stream.headerBytes > limits.maxHeaderListSize {
            return Session.temporalCallbackFailure
        }
        let valueString = String(decoding: value, as: UTF8.self)
        if name.first == UInt8(ascii: ":") {
            if Self.equals(name, ":path") {
                stream.path = valueString
            } else if Self.equals(name, ":method") {
                stream.method = valueString
            } else if Self.equals(name, ":authority") {
                stream.authority = valueString
            } else if Self.equals(name, ":scheme") {
                stream.scheme = valueString
            } else if Self.equals(name, ":status") {
                stream.status = Int(valueString) ?? 0
            }
        } else {
            if stream.headers.isEmpty { stream.headers.reserveCapacity(8) }
            stream.headers.append((String(decoding: name, as: UTF8.self), valueString))
        }
        return 0
    }

    /// Byte equality of a header name and a literal.
    @inline(__always) private static func equals(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        bytes.count == literal.utf8CodeUnitCount
            && memcmp(bytes.baseAddress!, literal.utf8Start, bytes.count) == 0
    }

    func sessionHeadersComplete(streamID: Int32, endStream: Bool) -> Int32 {
        guard let stream = streams[streamID] else { return 0 }
        switch role {
        case .server(let responder, let spawn):
            if stream.dispatched {
                // Trailers.
                if endStream { stream.inbound?.finish() }
                return 0
            }
            dispatch(stream, responder: responder, spawn: spawn, endStream: endStream)
        case .client:
            if stream.status >= 100 && stream.status < 200 {
                stream.status = 0
                stream.headers = []
                return 0
            }
            if let promise = stream.responsePromise {
                stream.responsePromise = nil
                let inbound = makeInbound(streamID: streamID)
                stream.inbound = inbound
                if endStream { inbound.finish() }
                let body = HTTP2Body(queue: inbound, maxLineLength: limits.maxLineLength, counters: nil)
                promise.succeed((ClientResponseHead(status: stream.status, headers: stream.headers), body))
            } else if endStream {
                stream.inbound?.finish()
            }
        }
        return 0
    }

    private func dispatch(_ stream: Stream, responder: any HTTP2Responder, spawn: @escaping TaskSpawner, endStream: Bool) {
        stream.dispatched = true
        var path = stream.path
        var query = ""
        if let question = path.utf8.firstIndex(of: UInt8(ascii: "?")) {
            query = String(path[path.index(after: question)...])
            path = String(path[..<question])
        }
        let head = HTTP2RequestHead(
            method: stream.method,
            path: path,
            query: query,
            authority: stream.authority,
            scheme: stream.scheme,
            headers: stream.headers
        )
        stream.headers = []
        start(responder.respond(to: head), on: stream, spawn: spawn, endStream: endStream)
    }

    /// Starts `response` on a dispatched `stream` (on the event loop): at once for `.immediate` and `.streaming`,
    /// after the read for `.deferred` and `.lookup`, after the request body for `.afterBody`.
    private func start(_ response: HTTP2Response, on stream: Stream, spawn: @escaping TaskSpawner, endStream: Bool) {
        guard let session else { return }
        switch response {
        case .afterBody(let maxBodyBytes, let decide):
            let inbound = makeInbound(streamID: stream.id)
            if endStream { inbound.finish() }
            stream.inbound = inbound
            let body = HTTP2Body(queue: inbound, maxLineLength: limits.maxLineLength, counters: counters)
            guard let loopBound, let eventLoop = context?.eventLoop else { return }
            let streamID = stream.id
            let logger = self.logger
            let jsonHeaders =
                [("content-type", "application/json")] + limits.responseHeaders.map { ($0.name, $0.value) }
            spawn {
                var answer: HTTP2Response
                do {
                    let raw = try await body.collect(upTo: maxBodyBytes)
                    answer = try await decide(raw)
                } catch let error as HTTP2StreamError where error.code == "body_too_large" {
                    answer = .immediate(
                        status: 413, headers: jsonHeaders,
                        body: Self.errorBody(code: "body_too_large",
                                             message: "the request body exceeds \(maxBodyBytes) bytes"))
                } catch {
                    logger.debug("after-body handler failed", metadata: ["error": "\(error)"])
                    answer = .immediate(status: 500, headers: jsonHeaders, body: Self.internalError().body)
                }
                if case .afterBody = answer {
                    answer = .immediate(status: 500, headers: jsonHeaders, body: Self.internalError().body)
                }
                let decided = answer
                eventLoop.execute {
                    let handler = loopBound.value
                    guard !handler.closed, let stream = handler.streams[streamID] else { return }
                    handler.start(decided, on: stream, spawn: spawn, endStream: true)
                    handler.spawnDeferred()
                    handler.flushOutput()
                }
            }
        case .immediate(let status, let headers, let body):
            // A HEAD answer is the GET answer's status and headers without the body (RFC 9110 §9.3.2).
            let hasBody = body.readableBytes > 0 && stream.method != "HEAD"
            if hasBody { stream.fixedBody = body }
            session.submitResponse(streamID: stream.id, status: status, headers: headers, hasBody: hasBody)
        case .deferred(let handler):
            if pendingDeferred.isEmpty { pendingDeferred.reserveCapacity(16) }
            pendingDeferred.append(.handler(stream.id, handler))
        case .lookup(let key, let batcher):
            if pendingDeferred.isEmpty { pendingDeferred.reserveCapacity(16) }
            pendingDeferred.append(.lookup(stream.id, key, batcher))
        case .streaming(let status, let headers, let handler):
            if stream.method == "HEAD" {
                // A streaming body is produced by running its handler, which may act (lease, ingest): a HEAD
                // request never runs it. Responders should not route HEAD to such endpoints at all.
                session.submitResponse(streamID: stream.id, status: status, headers: headers, hasBody: false)
                return
            }
            // After `.afterBody` the request body was read already (and its queue finished).
            let inbound = stream.inbound ?? makeInbound(streamID: stream.id)
            if endStream { inbound.finish() }
            let outbound = makeOutbound(streamID: stream.id)
            if shuttingDown { outbound.requestShutdown() }
            stream.inbound = inbound
            stream.outbound = outbound
            session.submitResponse(streamID: stream.id, status: status, headers: headers, hasBody: true)
            let body = HTTP2Body(queue: inbound, maxLineLength: limits.maxLineLength, counters: counters)
            if deferredExecutor == nil, let context { deferredExecutor = EventLoopTaskExecutor(context.eventLoop) }
            let writer = HTTP2BodyWriter(queue: outbound, eventLoopExecutor: deferredExecutor)
            let logger = self.logger
            spawn {
                do {
                    try await handler(body, writer)
                } catch {
                    if !outbound.isFinished {
                        logger.debug("streaming handler failed", metadata: ["error": "\(error)"])
                        try? await writer.writeLine(
                            #"{"type":"error","code":"internal","message":"the request handler failed"}"#
                        )
                    }
                }
                outbound.finish()
            }
        }
    }

    /// Runs the `.deferred` handlers of one read in a single task, one after the other, then its `.lookup`s with
    /// one call per batcher, and completes their responses in one event-loop turn with one flush. A burst of
    /// small lookups (h2load -m 32, a dialer fetching many debtors) then costs one task, one hop back and one
    /// write instead of one each.
    private func spawnDeferred() {
        guard !pendingDeferred.isEmpty, isServer, let context else { return }
        let batch = pendingDeferred
        pendingDeferred = []
        let loopBound = self.loopBound!
        let eventLoop = context.eventLoop
        let logger = self.logger
        let extraHeaders = limits.responseHeaders
        if deferredExecutor == nil { deferredExecutor = EventLoopTaskExecutor(eventLoop) }
        // Unstructured on purpose: the work is a bounded lookup, and the stream (not the task) is what graceful
        // shutdown waits for; a late answer to a closed stream is dropped by `completeDeferred`.
        Task(executorPreference: deferredExecutor) {
            let done = await HTTP2ConnectionHandler.answer(batch, logger: logger, extraHeaders: extraHeaders)
            let complete: @Sendable () -> Void = {
                let handler = loopBound.value
                for (streamID, response) in done { handler.completeDeferred(streamID: streamID, response: response) }
                handler.flushOutput()
            }
            if eventLoop.inEventLoop { complete() } else { eventLoop.execute(complete) }
        }
    }

    /// The answers to one read's `.deferred` handlers (in order) and `.lookup`s (one call per batcher).
    private static func answer(
        _ batch: [PendingDeferred], logger: Logger, extraHeaders: [(name: String, value: String)]
    ) async -> [(Int32, HTTP2CompleteResponse)] {
        var responses: [(Int32, HTTP2CompleteResponse)] = []
        responses.reserveCapacity(batch.count)
        var groups: [LookupGroup] = []
        for entry in batch {
            switch entry {
            case .handler(let streamID, let handler):
                do {
                    responses.append((streamID, try await handler()))
                } catch {
                    logger.debug("deferred handler failed", metadata: ["error": "\(error)"])
                    responses.append((streamID, internalError(extraHeaders)))
                }
            case .lookup(let streamID, let key, let batcher):
                if let g = groups.firstIndex(where: { $0.batcher === batcher }) {
                    groups[g].streamIDs.append(streamID)
                    groups[g].keys.append(key)
                } else {
                    groups.append(LookupGroup(batcher: batcher, streamIDs: [streamID], keys: [key]))
                }
            }
        }
        for group in groups {
            var answers: [HTTP2CompleteResponse] = []
            do {
                answers = try await group.batcher.respond(to: group.keys)
                if answers.count != group.keys.count {
                    logger.error("a lookup batcher answered \(answers.count) of \(group.keys.count) lookups")
                }
            } catch {
                logger.debug("lookup batch failed", metadata: ["error": "\(error)"])
            }
            if answers.count == group.keys.count {
                for (streamID, answer) in zip(group.streamIDs, answers) { responses.append((streamID, answer)) }
            } else {
                for streamID in group.streamIDs { responses.append((streamID, internalError(extraHeaders))) }
            }
        }
        return responses
    }

    /// The `.lookup`s of one read that share a batcher.
    private struct LookupGroup {
        let batcher: any HTTP2LookupBatcher
        var streamIDs: [Int32]
        var keys: [String]
    }

    /// A JSON error body `{"error":{"code":…,"message":…}}` (code and message must need no JSON escaping).
    private static func errorBody(code: String, message: String) -> ByteBuffer {
        var body = ByteBuffer()
        body.writeString(#"{"error":{"code":"\#(code)","message":"\#(message)"}}"# + "\n")
        return body
    }

    /// The 500 answer of a `.deferred` handler or `.lookup` batch that failed.
    private static func internalError(_ extraHeaders: [(name: String, value: String)] = []) -> HTTP2CompleteResponse {
        var body = ByteBuffer()
        body.writeString(#"{"error":{"code":"internal","message":"the request handler failed"}}"# + "\n")
        return HTTP2CompleteResponse(
            status: 500, headers: [("content-type", "application/json")] + extraHeaders.map { ($0.name, $0.value) },
            body: body)
    }

    /// Submits the answer of a `.deferred` response, if the stream is still open (the caller flushes).
    private func completeDeferred(streamID: Int32, response: HTTP2CompleteResponse) {
        guard let stream = streams[streamID], let session, !closed else { return }
        let hasBody = response.body.readableBytes > 0 && stream.method != "HEAD"
        if hasBody { stream.fixedBody = response.body }
        session.submitResponse(streamID: streamID, status: response.status, headers: response.headers, hasBody: hasBody)
    }

    func sessionRemoteEnded(streamID: Int32) -> Int32 {
        streams[streamID]?.inbound?.finish()
        return 0
    }

    func sessionDataChunk(streamID: Int32, data: UnsafeRawBufferPointer) -> Int32 {
        if let inbound = streams[streamID]?.inbound, let context {
            var buffer = context.channel.allocator.buffer(capacity: data.count)
            buffer.writeBytes(data)
            inbound.append(buffer)
        } else {
            // Nobody reads this body: give the window back at once.
            session?.consume(streamID: streamID, bytes: data.count)
        }
        return 0
    }

    func sessionStreamClosed(streamID: Int32, errorCode: UInt32) -> Int32 {
        if headerStream?.id == streamID { headerStream = nil }
        guard let stream = streams.removeValue(forKey: streamID) else { return 0 }
        let error: HTTP2StreamError = errorCode == 0 ? .connectionClosed : .reset(errorCode)
        release(stream, error: errorCode == 0 ? HTTP2StreamError(code: "stream_closed", message: "the stream closed") : error)
        return 0
    }

    func sessionReadData(streamID: Int32, into buffer: UnsafeMutableRawBufferPointer, eof: inout Bool) -> Int {
        guard let stream = streams[streamID] else {
            return Int(Session.temporalCallbackFailure)
        }
        if var body = stream.fixedBody {
            let n = min(body.readableBytes, buffer.count)
            body.withUnsafeReadableBytes { source in
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[0..<n]))
            }
            body.moveReaderIndex(forwardBy: n)
            if body.readableBytes == 0 {
                eof = true
                stream.fixedBody = nil
            } else {
                stream.fixedBody = body
            }
            return n
        }
        if let outbound = stream.outbound {
            return outbound.read(into: buffer, eof: &eof)
        }
        eof = true
        return 0
    }

    func sessionGoAwayReceived(lastStreamID: Int32, errorCode: UInt32) {
        peerGoingAway = true
    }

    func sessionSettingsReceived() {
        peerSettingsReceived = true
        let waiters = peerSettingsWaiters
        peerSettingsWaiters = []
        for promise in waiters { promise.succeed() }
    }

    /// Succeeds once the peer's first SETTINGS frame arrived (its stream limit is then known: a client that
    /// opens streams before it may exceed the server's limit and see them refused); fails if the connection
    /// closes first.
    func peerSettings(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        if peerSettingsReceived { return eventLoop.makeSucceededVoidFuture() }
        if closed || context == nil { return eventLoop.makeFailedFuture(firstError ?? HTTP2StreamError.connectionClosed) }
        let promise = eventLoop.makePromise(of: Void.self)
        peerSettingsWaiters.append(promise)
        return promise.futureResult
    }

    func sessionGoAwaySent(errorCode: UInt32) {
        goAwaySent = true
        if errorCode != 0 { misbehaved = true }
    }

    /// Whether a client may start new streams on this connection.
    var isAcceptingRequests: Bool { !closed && !peerGoingAway && !goAwaySent }

    /// Streams open now (tests).
    var openStreamCount: Int { streams.count }
}

@available(*, unavailable)
extension HTTP2ConnectionHandler: Sendable {}
