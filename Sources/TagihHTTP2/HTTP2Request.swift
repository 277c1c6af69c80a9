import NIOCore

/// The head of a request: pseudo-headers and regular headers.
public struct HTTP2RequestHead: Sendable {
    /// `:method`, e.g. `GET`.
    public var method: String
    /// `:path` without the query, e.g. `/v1/debug/stream`.
    public var path: String
    /// The raw query after `?` (not decoded), or "" when there is none.
    public var query: String
    /// `:authority` (or "" when absent).
    public var authority: String
    /// `:scheme` (or "" when absent).
    public var scheme: String
    /// Regular headers in arrival order; names are lowercase.
    public var headers: [(name: String, value: String)]

    /// Creates a head.
    public init(
        method: String,
        path: String,
        query: String = "",
        authority: String = "",
        scheme: String = "http",
        headers: [(name: String, value: String)] = []
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.authority = authority
        self.scheme = scheme
        self.headers = headers
    }

    /// The first value of header `name` (case-insensitive), or nil.
    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name == lowered }?.value
    }

    /// The first value of query item `name`, percent-decoded (`+` as space), or nil.
    public func queryItem(_ name: String) -> String? {
        guard !query.isEmpty else { return nil }
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if percentDecode(parts[0]) == name {
                return parts.count > 1 ? percentDecode(parts[1]) : ""
            }
        }
        return nil
    }
}

private func percentDecode(_ text: Substring) -> String {
    guard text.contains(where: { $0 == "%" || $0 == "+" }) else { return String(text) }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(text.utf8.count)
    var iterator = text.utf8.makeIterator()
    while let byte = iterator.next() {
        switch byte {
        case UInt8(ascii: "+"):
            bytes.append(UInt8(ascii: " "))
        case UInt8(ascii: "%"):
            if let high = iterator.next(), let low = iterator.next(), let h = hexValue(high), let l = hexValue(low) {
                bytes.append(h << 4 | l)
            } else {
                bytes.append(byte)
            }
        default:
            bytes.append(byte)
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}

/// What a responder answers with.
public enum HTTP2Response: Sendable {
    /// A complete response sent at once from the event loop (no task is created). `body` may be empty.
    case immediate(status: Int, headers: [(String, String)], body: ByteBuffer)
    /// A response whose status and headers go out at once and whose body is produced by `handler`,
    /// run in its own task. The handler reads the request body (full duplex: while writing) and
    /// writes the response body; the stream ends when the handler returns (or throws: then a final
    /// `{"type":"error","code":"internal",...}` line is written).
    case streaming(
        status: Int,
        headers: [(String, String)],
        handler: @Sendable (HTTP2RequestBody, HTTP2ResponseWriter) async throws -> Void
    )
    /// A complete response whose status, headers and body are only known after asynchronous work
    /// (for example a lookup that may answer 404). Any request body is discarded. If the handler throws,
    /// the answer is a 500 with a JSON error body. The deferred handlers of requests that arrive in the
    /// same read of a connection run one after the other in one task and their responses leave in one
    /// write: keep them short (a lookup, not a wait).
    case deferred(handler: @Sendable () async throws -> HTTP2CompleteResponse)
    /// A complete response to a lookup by `key` that can be answered together with others: the `.lookup`
    /// requests of one read of a connection that name the same `batcher` (the same object) are answered
    /// by one `batcher.respond(to:)` call, with their keys in arrival order. A burst of lookups then
    /// costs one call (one hop to whatever owns the data) instead of one each. Any request body is
    /// discarded. If the call throws, or returns a different number of responses than keys, every one
    /// of those requests gets a 500 with a JSON error body.
    case lookup(key: String, batcher: any HTTP2LookupBatcher)
    /// A response decided only once the whole request body has been read: for a body of parameters whose
    /// mistakes deserve a `4xx` status rather than a `200` and a final error line. The connection collects the
    /// body (at most `maxBodyBytes`; a longer one is answered `413` with a JSON error body and `handler` is not
    /// called), then calls `handler` with it in its own task. `handler` returns the response: `.immediate` (for
    /// example a `400` naming the bad parameter) or `.streaming`, whose handler then runs with a request body that
    /// has already ended (`.deferred` and `.lookup` work too; a nested `.afterBody` is answered `500`). If
    /// `handler` throws, or the body cannot be read, the answer is a `500` with a JSON error body (when the stream
    /// is still open).
    case afterBody(maxBodyBytes: Int, handler: @Sendable (ByteBuffer) async throws -> HTTP2Response)
}

/// Answers `.lookup` responses in batches (see `HTTP2Response.lookup`).
public protocol HTTP2LookupBatcher: AnyObject, Sendable {
    /// One response per key, in the order of `keys`. Runs in a task that prefers the connection's event
    /// loop: keep it short (a lookup, not a wait).
    func respond(to keys: [String]) async throws -> [HTTP2CompleteResponse]
}

/// A status, headers and a complete body, produced by a `.deferred` response.
public struct HTTP2CompleteResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: ByteBuffer
    public init(status: Int, headers: [(String, String)], body: ByteBuffer) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// Answers requests. The service's router implements this.
public protocol HTTP2Responder: Sendable {
    /// Called on the connection's event loop for each new request, once its headers are complete.
    /// Must not block: return `.immediate` for cheap answers, `.streaming` for everything that awaits.
    func respond(to head: HTTP2RequestHead) -> HTTP2Response
}

/// A body arriving as byte chunks (a server's request body, a client's response body).
///
/// Single consumer: iterate it once. Bytes are acknowledged to the peer's flow control only as they
/// are taken, so a slow consumer slows the sender instead of growing a buffer.
public struct HTTP2Body: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer

    let queue: InboundQueue
    let maxLineLength: Int
    let counters: TransportCounters?

    /// The body as NDJSON lines, each at most `maxLength` bytes (default: the server's `maxLineLength`,
    /// 1 MiB for a client). A longer line yields `.failure(NDJSONLineError)` and the sequence goes on.
    public func lines(maxLength: Int? = nil) -> NDJSONLineSequence<HTTP2Body> {
        var onTooLong: (@Sendable () -> Void)?
        if let counters = self.counters {
            onTooLong = { counters.linesTooLong.add(1, ordering: .relaxed) }
        }
        return NDJSONLineSequence(base: self, maxLength: maxLength ?? maxLineLength, onTooLong: onTooLong)
    }

    /// Collects the whole body, failing if it exceeds `upTo` bytes.
    public func collect(upTo maxBytes: Int) async throws -> ByteBuffer {
        var result = ByteBuffer()
        for try await chunk in self {
            guard result.readableBytes + chunk.readableBytes <= maxBytes else {
                throw HTTP2StreamError(code: "body_too_large", message: "the body exceeds \(maxBytes) bytes")
            }
            var chunk = chunk
            result.writeBuffer(&chunk)
        }
        return result
    }

    /// Iterates the chunks.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let queue: InboundQueue

        /// The next chunk, or nil at the end of the body. Throws `HTTP2StreamError` when the stream was
        /// reset or the connection closed.
        public mutating func next() async throws -> ByteBuffer? {
            try await queue.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(queue: queue) }

    /// Makes a read that is waiting for data throw `error` (for example an idle timeout); later
    /// reads work as before. Does nothing when no read is waiting.
    public func interruptPendingRead(with error: any Error) {
        queue.interrupt(with: error)
    }
}

/// The request body as seen by a server handler.
public typealias HTTP2RequestBody = HTTP2Body

/// Writes a streamed body (a server's response, a client's request) with backpressure.
///
/// Sendable: use it from any task. `write` returns at once while the stream's pending bytes stay
/// under the high-water mark and suspends above it until the peer has read enough.
public struct HTTP2BodyWriter: Sendable {
    let queue: OutboundQueue

    /// On a server stream, the executor of the connection's event loop (nil on a client stream). A handler that
    /// mostly moves lines between the socket and short calls can run under it
    /// (`withTaskExecutorPreference(writer.eventLoopExecutor)`): body chunks, its own code and its writes then
    /// stay on one thread instead of crossing to the global executor and back for every chunk. Long CPU work
    /// must not run there: it would hold up every stream of the event loop.
    public let eventLoopExecutor: (any TaskExecutor)?

    init(queue: OutboundQueue, eventLoopExecutor: (any TaskExecutor)? = nil) {
        self.queue = queue
        self.eventLoopExecutor = eventLoopExecutor
    }

    /// An allocator for building buffers to write.
    public var allocator: ByteBufferAllocator { queue.allocator }

    /// Queues `buffer`; suspends while the stream has more than the high-water mark pending.
    /// - Throws: `HTTP2StreamError` when the stream was reset or closed, or the server ended it
    ///   (`shutting_down`); `CancellationError` if the task is cancelled while suspended.
    public func write(_ buffer: ByteBuffer) async throws {
        try await queue.write(buffer, newline: false)
    }

    /// Queues `buffer` followed by `\n`.
    public func writeLine(_ buffer: ByteBuffer) async throws {
        try await queue.write(buffer, newline: true)
    }

    /// Queues `line` (UTF-8) followed by `\n`.
    public func writeLine(_ line: String) async throws {
        var buffer = queue.allocator.buffer(capacity: line.utf8.count + 1)
        buffer.writeString(line)
        buffer.writeInteger(UInt8(ascii: "\n"))
        try await queue.write(buffer, newline: false)
    }

    /// Ends the body (END_STREAM after the pending bytes). Idempotent.
    public func finish() async throws {
        queue.finish()
    }

    /// True once graceful shutdown began: write a final line and finish soon.
    public var isShutdownRequested: Bool { queue.isShutdownRequested }

    /// The final line of a stream that graceful shutdown ends (without its newline): the server writes it to the
    /// streams still open when the grace period runs out; a handler that ends early for shutdown writes it too.
    public static let shuttingDownLine =
        #"{"type":"error","code":"shutting_down","message":"the server is shutting down; reconnect and resume"}"#

    /// True once the stream ended: the body was finished, or the peer reset the stream or closed the
    /// connection (writes then throw). A handler whose work takes long between writes polls this to stop when
    /// nobody is listening any more.
    public var isClosed: Bool { queue.isFinished }

    /// Returns when graceful shutdown begins (or the stream ends). Race it with your own work to write a
    /// final line in time; after the grace period the server ends the stream itself.
    public func shutdownRequested() async {
        await queue.waitForShutdownRequest()
    }

    /// Bytes queued on this stream and not yet taken by the HTTP/2 session.
    public var pendingBytes: Int { queue.pendingBytes }

    /// Bytes written to this body since it began (the offset the next write starts at).
    public var bytesWritten: Int { queue.appendedBytes }

    /// Bytes of this body the HTTP/2 session has taken into DATA frames so far.
    public var bytesTaken: Int { queue.takenBytes }

    /// Calls `body` once if the stream closes (the peer reset it, the connection was lost) while written bytes were
    /// still pending, with the offset up to which the HTTP/2 session had taken bytes into DATA frames: the bytes
    /// from that offset on never left this process. Replaces an earlier closure; returns false, without calling
    /// it, when the stream had closed already.
    @discardableResult
    public func onUndelivered(_ body: @escaping @Sendable (_ takenBytes: Int) -> Void) -> Bool {
        queue.onUndelivered(body)
    }
}

/// The response body writer a server handler gets.
public typealias HTTP2ResponseWriter = HTTP2BodyWriter
/// The request body writer of a full-duplex client stream.
public typealias HTTP2RequestWriter = HTTP2BodyWriter
