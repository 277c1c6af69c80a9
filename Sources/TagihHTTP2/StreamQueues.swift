import NIOConcurrencyHelpers
import NIOCore

/// Why a stream operation failed.
public struct HTTP2StreamError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable machine-readable code: `stream_closed`, `stream_reset`, `connection_closed`,
    /// `shutting_down`, `finished`, `protocol_error`, `connect_failed`.
    public var code: String
    /// What happened and what to do about it.
    public var message: String

    /// Creates an error.
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    static let finished = HTTP2StreamError(
        code: "finished",
        message: "the body was already finished; do not write after finish()"
    )
    static let connectionClosed = HTTP2StreamError(
        code: "connection_closed",
        message: "the connection closed before the stream completed"
    )
    static let shuttingDown = HTTP2StreamError(
        code: "shutting_down",
        message: "the server is shutting down and ended this stream"
    )
    static func reset(_ errorCode: UInt32) -> HTTP2StreamError {
        HTTP2StreamError(
            code: "stream_reset",
            message: "the peer reset the stream (HTTP/2 error code \(errorCode))"
        )
    }
}

/// The outbound body of one stream, shared by a producer task and the event loop.
///
/// The producer appends under a lock and suspends while more than `highWaterMark` bytes are pending;
/// the event loop (nghttp2's data source callback) takes bytes and resumes the producer once the
/// pending bytes fall to `lowWaterMark`. Memory per stream is therefore bounded by `highWaterMark`
/// plus one write.
final class OutboundQueue: @unchecked Sendable {
    private struct State {
        var buffers = CircularBuffer<ByteBuffer>(initialCapacity: 4)
        var pendingBytes = 0
        var peakBytes = 0
        var finished = false
        var failure: HTTP2StreamError?
        var waiter: CheckedContinuation<Void, any Error>?
        var waiterID = 0
        /// nghttp2 parked the stream (its read callback returned DEFERRED) and waits for `resumeData`.
        var parked = false
        var shutdownRequested = false
        var shutdownWaiters: [CheckedContinuation<Void, Never>] = []
        /// Bytes appended by the producer since the stream began, and bytes nghttp2 took into DATA frames.
        var appended = 0
        var taken = 0
        /// Called once when the stream closes with bytes it never took (see ``onUndelivered(_:)``).
        var undelivered: (@Sendable (_ taken: Int) -> Void)?
        /// `fail` ran: the stream closed and its pending bytes were dropped.
        var closed = false
    }

    private let lock = NIOLockedValueBox(State())
    let highWaterMark: Int
    let lowWaterMark: Int
    let allocator: ByteBufferAllocator
    private let counters: TransportCounters?
    /// Asks the event loop to resume the parked stream (hops to the loop).
    private let wake: @Sendable () -> Void

    init(highWaterMark: Int, counters: TransportCounters?, allocator: ByteBufferAllocator, wake: @escaping @Sendable () -> Void) {
        self.highWaterMark = max(1, highWaterMark)
        self.lowWaterMark = self.highWaterMark / 2
        self.counters = counters
        self.allocator = allocator
        self.wake = wake
    }

    // MARK: producer side (any task)

    func write(_ buffer: ByteBuffer, newline: Bool) async throws {
        let count = buffer.readableBytes + (newline ? 1 : 0)
        let (needsWake, mustWait): (Bool, Bool) = try lock.withLockedValue { state in
            if let failure = state.failure { throw failure }
            if state.finished { throw HTTP2StreamError.finished }
            state.buffers.append(buffer)
            if newline { state.buffers.append(OutboundQueue.newline) }
            state.pendingBytes += count
            state.appended += count
            if state.pendingBytes > state.peakBytes {
                state.peakBytes = state.pendingBytes
                counters?.raisePeak(state.pendingBytes)
            }
            let needsWake = state.parked
            state.parked = false
            return (needsWake, state.pendingBytes > highWaterMark)
        }
        counters?.currentPendingOutboundBytes.add(count, ordering: .relaxed)
        if needsWake { wake() }
        if mustWait { try await waitForDrain() }
    }

    private func waitForDrain() async throws {
        let id = lock.withLockedValue { state -> Int in
            state.waiterID += 1
            return state.waiterID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let immediate: Result<Void, any Error>? = lock.withLockedValue { state in
                    if let failure = state.failure { return .failure(failure) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if state.pendingBytes <= lowWaterMark { return .success(()) }
                    state.waiter = continuation
                    return nil
                }
                if let immediate {
                    continuation.resume(with: immediate)
                } else {
                    counters?.currentSuspendedWriters.add(1, ordering: .relaxed)
                }
            }
        } onCancel: {
            let waiter = lock.withLockedValue { state -> CheckedContinuation<Void, any Error>? in
                guard state.waiterID == id else { return nil }
                defer { state.waiter = nil }
                return state.waiter
            }
            if let waiter {
                counters?.currentSuspendedWriters.subtract(1, ordering: .relaxed)
                waiter.resume(throwing: CancellationError())
            }
        }
    }

    /// Marks the end of the body. Idempotent; a no-op once the stream failed.
    func finish() {
        let needsWake = lock.withLockedValue { state -> Bool in
            guard !state.finished, state.failure == nil else { return false }
            state.finished = true
            let needsWake = state.parked
            state.parked = false
            return needsWake
        }
        if needsWake { wake() }
    }

    var isFinished: Bool { lock.withLockedValue { $0.finished || $0.failure != nil } }

    var isShutdownRequested: Bool { lock.withLockedValue { $0.shutdownRequested } }

    func waitForShutdownRequest() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = lock.withLockedValue { state -> Bool in
                if state.shutdownRequested || state.failure != nil { return true }
                state.shutdownWaiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    // MARK: event-loop side

    /// Copies up to `buffer.count` pending bytes. Returns `Session.deferred` (and parks) when none.
    func read(into buffer: UnsafeMutableRawBufferPointer, eof: inout Bool) -> Int {
        var copied = 0
        let (result, waiter): (Int, CheckedContinuation<Void, any Error>?) = lock.withLockedValue { state in
            while copied < buffer.count, var first = state.buffers.first {
                let n = min(first.readableBytes, buffer.count - copied)
                first.withUnsafeReadableBytes { source in
                    UnsafeMutableRawBufferPointer(rebasing: buffer[copied..<(copied + n)])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[0..<n]))
                }
                copied += n
                if n == first.readableBytes {
                    state.buffers.removeFirst()
                } else {
                    first.moveReaderIndex(forwardBy: n)
                    state.buffers[state.buffers.startIndex] = first
                }
            }
            state.pendingBytes -= copied
            state.taken += copied
            var waiter: CheckedContinuation<Void, any Error>?
            if state.pendingBytes <= lowWaterMark, let w = state.waiter {
                waiter = w
                state.waiter = nil
            }
            if state.buffers.isEmpty {
                if state.finished || state.failure != nil {
                    eof = true
                } else if copied == 0 {
                    state.parked = true
                    return (Session.deferred, waiter)
                }
            }
            return (copied, waiter)
        }
        if copied > 0 { counters?.currentPendingOutboundBytes.subtract(copied, ordering: .relaxed) }
        if let waiter {
            counters?.currentSuspendedWriters.subtract(1, ordering: .relaxed)
            waiter.resume()
        }
        return result
    }

    /// Ends the stream on the server's behalf: optionally appends a final line (ignoring the high-water
    /// mark), marks the body finished, and makes further writes throw `error`.
    /// Returns true when the stream was parked and needs `resumeData`.
    func terminate(finalLine: ByteBuffer?, error: HTTP2StreamError) -> Bool {
        let (needsResume, waiter, added) = lock.withLockedValue {
            state -> (Bool, CheckedContinuation<Void, any Error>?, Int) in
            var added = 0
            if let finalLine, !state.finished, state.failure == nil {
                state.buffers.append(finalLine)
                state.pendingBytes += finalLine.readableBytes
                state.appended += finalLine.readableBytes
                added = finalLine.readableBytes
            }
            state.finished = true
            if state.failure == nil { state.failure = error }
            let waiter = state.waiter
            state.waiter = nil
            let parked = state.parked
            state.parked = false
            return (parked, waiter, added)
        }
        counters?.currentPendingOutboundBytes.add(added, ordering: .relaxed)
        if let waiter {
            counters?.currentSuspendedWriters.subtract(1, ordering: .relaxed)
            waiter.resume(throwing: error)
        }
        return needsResume
    }

    /// The stream closed: drop pending bytes, fail the producer.
    func fail(_ error: HTTP2StreamError) {
        let (waiter, dropped, shutdownWaiters, undelivered) = lock.withLockedValue {
            state -> (CheckedContinuation<Void, any Error>?, Int, [CheckedContinuation<Void, Never>],
                      (() -> Void)?) in
            if state.failure == nil { state.failure = error }
            state.closed = true
            let dropped = state.pendingBytes
            state.pendingBytes = 0
            state.buffers.removeAll()
            let waiter = state.waiter
            state.waiter = nil
            let shutdownWaiters = state.shutdownWaiters
            state.shutdownWaiters = []
            var undelivered: (() -> Void)?
            if dropped > 0, let callback = state.undelivered {
                let taken = state.taken
                undelivered = { callback(taken) }
            }
            state.undelivered = nil
            return (waiter, dropped, shutdownWaiters, undelivered)
        }
        undelivered?()
        if dropped > 0 { counters?.currentPendingOutboundBytes.subtract(dropped, ordering: .relaxed) }
        if let waiter {
            counters?.currentSuspendedWriters.subtract(1, ordering: .relaxed)
            waiter.resume(throwing: error)
        }
        for waiter in shutdownWaiters { waiter.resume() }
    }

    func requestShutdown() {
        let waiters = lock.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            state.shutdownRequested = true
            defer { state.shutdownWaiters = [] }
            return state.shutdownWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    var pendingBytes: Int { lock.withLockedValue { $0.pendingBytes } }
    var peakBytes: Int { lock.withLockedValue { $0.peakBytes } }
    var appendedBytes: Int { lock.withLockedValue { $0.appended } }
    var takenBytes: Int { lock.withLockedValue { $0.taken } }

    /// Sets the closure called once if the stream closes (reset, connection lost) while bytes are still pending,
    /// with the number of bytes nghttp2 had taken: bytes at and after that offset never left the server. Replaces
    /// an earlier closure. Returns false (and never calls it) when the stream has failed already.
    func onUndelivered(_ body: @escaping @Sendable (_ taken: Int) -> Void) -> Bool {
        lock.withLockedValue { state in
            guard !state.closed else { return false }
            state.undelivered = body
            return true
        }
    }

    private static let newline: ByteBuffer = {
        var buffer = ByteBufferAllocator().buffer(capacity: 1)
        buffer.writeInteger(UInt8(ascii: "\n"))
        return buffer
    }()
}

/// The inbound body of one stream, shared by the event loop (producer) and one consuming task.
///
/// Bytes are reported back to nghttp2 (`nghttp2_session_consume`, which opens the flow-control
/// window) only after the consumer took them, so a slow consumer slows the peer down instead of
/// growing this queue: it never holds more than the stream's flow-control window.
final class InboundQueue: @unchecked Sendable {
    private struct State {
        var buffers = CircularBuffer<ByteBuffer>(initialCapacity: 4)
        var finished = false
        var failure: HTTP2StreamError?
        var waiter: CheckedContinuation<ByteBuffer?, any Error>?
        var waiterID = 0
        var unreported = 0
        var reportScheduled = false
        var detached = false
    }

    private let lock = NIOLockedValueBox(State())
    /// Asks the event loop to call `takeUnreported()` and pass the count to nghttp2.
    private let report: @Sendable () -> Void

    init(report: @escaping @Sendable () -> Void) {
        self.report = report
    }

    // MARK: event-loop side

    func append(_ buffer: ByteBuffer) {
        let waiter = lock.withLockedValue { state -> CheckedContinuation<ByteBuffer?, any Error>? in
            guard state.failure == nil, !state.finished, !state.detached else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                state.unreported += buffer.readableBytes
                return waiter
            }
            state.buffers.append(buffer)
            return nil
        }
        if let waiter {
            // Taken straight by the consumer: consumed now (the caller reports after its read batch).
            waiter.resume(returning: buffer)
            scheduleReport()
        }
    }

    func finish() {
        let waiter = lock.withLockedValue { state -> CheckedContinuation<ByteBuffer?, any Error>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.buffers.isEmpty ? state.waiter : nil
        }
        waiter?.resume(returning: nil)
    }

    /// The stream closed. Fails the consumer unless the body was complete (then buffered chunks stay
    /// readable). Returns the bytes never reported to nghttp2 (buffered or taken but unreported), which
    /// the caller must return to the connection window; later consumption is no longer reported.
    func detach(failure error: HTTP2StreamError) -> Int {
        let (waiter, leftover) = lock.withLockedValue { state -> (CheckedContinuation<ByteBuffer?, any Error>?, Int) in
            var leftover = state.unreported
            state.unreported = 0
            state.detached = true
            for buffer in state.buffers { leftover += buffer.readableBytes }
            if state.finished { return (nil, leftover) }
            state.buffers.removeAll()
            if state.failure == nil { state.failure = error }
            defer { state.waiter = nil }
            return (state.waiter, leftover)
        }
        waiter?.resume(throwing: error)
        return leftover
    }

    func takeUnreported() -> Int {
        lock.withLockedValue { state in
            state.reportScheduled = false
            defer { state.unreported = 0 }
            return state.unreported
        }
    }

    // MARK: consumer side

    private func scheduleReport() {
        let schedule = lock.withLockedValue { state -> Bool in
            guard !state.reportScheduled, !state.detached, state.unreported > 0 else { return false }
            state.reportScheduled = true
            return true
        }
        if schedule { report() }
    }

    /// Wakes a pending `next()` with `error`; the body stays readable. No-op when nobody waits.
    func interrupt(with error: any Error) {
        let waiter = lock.withLockedValue { state -> CheckedContinuation<ByteBuffer?, any Error>? in
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(throwing: error)
    }

    func next() async throws -> ByteBuffer? {
        let immediate: Result<ByteBuffer?, any Error>? = lock.withLockedValue { state in
            if let first = state.buffers.popFirst() {
                if !state.detached { state.unreported += first.readableBytes }
                return .success(first)
            }
            if let failure = state.failure { return .failure(failure) }
            if state.finished { return .success(nil) }
            return nil
        }
        if let immediate {
            scheduleReport()
            return try immediate.get()
        }
        let id = lock.withLockedValue { state -> Int in
            state.waiterID += 1
            return state.waiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ByteBuffer?, any Error>) in
                let now: Result<ByteBuffer?, any Error>? = lock.withLockedValue { state in
                    if let first = state.buffers.popFirst() {
                        if !state.detached { state.unreported += first.readableBytes }
                        return .success(first)
                    }
                    if let failure = state.failure { return .failure(failure) }
                    if state.finished { return .success(nil) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.waiter = continuation
                    return nil
                }
                if let now {
                    continuation.resume(with: now)
                    scheduleReport()
                }
            }
        } onCancel: {
            let waiter = lock.withLockedValue { state -> CheckedContinuation<ByteBuffer?, any Error>? in
                guard state.waiterID == id else { return nil }
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }
}
