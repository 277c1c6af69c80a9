import NIOCore
import Synchronization
import TagihCore
import TagihEngine
import TagihHTTP2
import TagihStore

extension TagihService {
    func newHolder(_ kind: String) -> String {
        let n = sessionCounter.wrappingAdd(1, ordering: .relaxed).newValue
        return "\(kind)-\(n)"
    }

    /// `GET /v1/calls`: lease up to `n`, waiting up to `wait` seconds for more, then end.
    func streamCalls(n: Int, wait: Duration, filter: LeaseFilter, engine: Engine, writer: HTTP2ResponseWriter) async throws {
        let holder = newHolder("calls")
        dialers.openCallStream(holder)
        defer { dialers.closeCallStream(holder) }
        let deliveries = trackDeliveries(writer, holder: holder, engine: engine)
        let deadline = ContinuousClock.now + wait
        var sent = 0
        while sent < n {
            // A client that went away while waiting for more: lease nothing for it.
            if writer.isClosed { return }
            let leases = await engine.lease(n - sent, filter: filter, holder: holder)
            if !leases.isEmpty {
                var buffer = writer.allocator.buffer(capacity: leases.count * 400)
                var starts: [Int] = []
                starts.reserveCapacity(leases.count)
                for lease in leases {
                    sent += 1
                    starts.append(buffer.writerIndex)
                    buffer.writeBytes(Wire.call(lease, seq: sent, now: clock.now()))
                }
                try await writeCalls(
                    buffer, leases: leases, startingAt: starts, deliveries: deliveries, holder: holder, engine: engine,
                    writer: writer)
                metrics.callsLeased(leases.count)
                continue
            }
            if let failure = engine.storeWriteFailure {
                // The stream is under way (status 200 sent): end it with an error line, not silently.
                try await writer.write(lineBuffer(JSONLine.errorLine(
                    code: "store_unavailable", message: Self.storeUnavailableMessage(failure))))
                metrics.error("store_unavailable")
                return
            }
            guard ContinuousClock.now < deadline else { break }
            // Nothing in flight while it waits: a graceful shutdown ends the stream now, saying why, instead of
            // holding the shutdown for its grace period (10 s).
            if writer.isShutdownRequested {
                try await writer.writeLine(HTTP2ResponseWriter.shuttingDownLine)
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Gives back, when `writer`'s stream closes, the leases of the call lines recorded in the returned
    /// ``CallDeliveries`` that never left the server.
    func trackDeliveries(_ writer: HTTP2ResponseWriter, holder: String, engine: Engine) -> CallDeliveries {
        let deliveries = CallDeliveries()
        writer.onUndelivered { taken in
            let ids = deliveries.untaken(from: taken)
            guard !ids.isEmpty else { return }
            Task { await self.giveBack(ids, holder: holder, engine: engine) }
        }
        return deliveries
    }

    /// Writes `buffer`, which carries the call lines of `leases` (each starting at its offset in `starts`). When
    /// the stream has closed already (the client reset it or went away), the calls cannot be delivered: their
    /// leases are given back at once, without counting calls, instead of holding the debtors for the lease TTL
    /// and then counting placed calls. Lines written but not yet sent are recorded in `deliveries`, which gives
    /// their leases back if the stream closes before they leave the server; a line that was sent, even in part,
    /// keeps its lease, which ends by outcome, release or expiry, as any lease whose fate is unknown.
    func writeCalls(
        _ buffer: ByteBuffer, leases: [Lease], startingAt starts: [Int], deliveries: CallDeliveries, holder: String,
        engine: Engine, writer: HTTP2ResponseWriter
    ) async throws {
        if writer.isClosed && !leases.isEmpty {
            await giveBack(leases.map(\.id), holder: holder, engine: engine)
            throw HTTP2StreamError(
                code: "stream_closed", message: "the stream closed before its calls were written; leases given back")
        }
        deliveries.record(leases, startingAt: starts, base: writer.bytesWritten)
        do {
            try await writer.write(buffer)
        } catch {
            // The stream closed: before this buffer was queued, or while it waited. The lines that never left the
            // server are given back here unless the stream's own close did it already (each lease once).
            await giveBack(deliveries.untaken(from: writer.bytesTaken), holder: holder, engine: engine)
            throw error
        }
        deliveries.taken(upTo: writer.bytesTaken)
    }

    /// Gives back the leases of calls that were never delivered, without counting calls.
    func giveBack(_ ids: [String], holder: String, engine: Engine) async {
        guard !ids.isEmpty else { return }
        let released = await engine.releaseLeases(ids, heldBy: holder)
        metrics.undeliveredCalls(released)
        logger.debug(
            "calls not delivered: the stream closed before they were sent; leases given back",
            metadata: ["holder": "\(holder)", "leases": "\(ids.count)", "released": "\(released)"])
    }

    /// `POST /v1/dialer`: credit and outcomes in, calls, acks, heartbeats and errors out.
    func dialerSession(body: HTTP2RequestBody, writer: HTTP2ResponseWriter, filter: LeaseFilter, engine: Engine)
        async throws
    {
        let holder = newHolder("dialer")
        let session = DialerSessionState()
        let doorbell = Doorbell()
        let deliveries = trackDeliveries(writer, holder: holder, engine: engine)
        defer { session.end() }
        metrics.dialerSessions(+1)
        dialers.register(holder, session: session, doorbell: doorbell)
        defer {
            dialers.unregister(holder)
            metrics.dialerSessions(-1)
        }
        // Each task returns whether it is the writer: the session ends when the writer ends it, not when the input
        // ends (its acks still have to be written), or at the first error (a reset stream, a failed write).
        try await withThrowingTaskGroup(of: Bool.self) { group in
            // Reader: credit lines and outcome lines. Acks keep input order.
            group.addTask {
                let acks = OrderedResults(window: self.configuration.inFlightPerStream)
                let outcomes = LineBatches<PendingLine<OutcomeEvent>>(maxBatch: self.configuration.maxLinesPerBatch)
                try await withThrowingTaskGroup(of: Void.self) { inner in
                    inner.addTask {
                        while let batch = await acks.next() {
                            for line in batch where !line.isEmpty { session.enqueue(line) }
                            doorbell.ring()
                            // A client that sends without reading: stop taking its input until the writer
                            // caught up, so that its acks wait in its flow-control window, not in this process.
                            await session.waitForRoom()
                        }
                    }
                    inner.addTask {
                        await outcomes.run(into: acks) {
                            await self.runOutcomes($0, engine, tagged: true, reporter: holder)
                        }
                    }
                    do {
                    for try await item in body.lines(maxLength: self.configuration.maxLineLength) {
                        let index = try await acks.register()
                        switch item {
                        case .failure(let error):
                            acks.complete(
                                index, JSONLine.errorLine(code: error.code, message: error.message, line: error.lineNumber))
                        case .success(let line):
                            switch DialerInput.classify(line.bytes.readableBytesView) {
                            case .blank:
                                acks.complete(index, [])
                            case .ready(let n):
                                let dropped = session.addCredit(n)
                                acks.complete(index, dropped == 0 ? [] : JSONLine.errorLine(
                                    code: "out_of_range",
                                    message: "a session holds at most \(DialerSessionState.maxOutstandingCredit) "
                                        + "credit; \(dropped) of this line's \(n) were not added",
                                    line: line.number, field: "n"))
                                doorbell.ring()
                            case .invalid(let code, let field, let message):
                                acks.complete(
                                    index, JSONLine.errorLine(code: code, message: message, line: line.number, field: field))
                            case .release(let id):
                                // Rare (a dialer that will not place a call): done here, in input order, after the
                                // outcomes sent before it are applied. A release overtaking the outcome of its own
                                // lease would end the lease first ("ok") and make the debtor leasable at once, past
                                // the retry delay, conversation block or cease that outcome sets.
                                await outcomes.waitUntilProcessed()
                                acks.complete(index, await self.releaseLine(id, line: line.number, holder: holder, engine))
                                doorbell.ring()
                            case .outcome:
                                switch self.outcomeLine(line, tagged: true) {
                                case .done(let bytes): acks.complete(index, bytes)
                                case .item(let item): outcomes.add(index, item)
                                }
                            }
                        }
                    }
                    } catch {
                        outcomes.finish()
                        acks.cancel()
                        throw error
                    }
                    outcomes.finish()
                    acks.finishInput()
                    try await inner.waitForAll()
                }
                session.finishInput()
                doorbell.ring()
                return false
            }

            // Writer: the only task that writes to the response.
            group.addTask {
                var lastWrite = ContinuousClock.now
                var seq = 0
                // While the store cannot write no lease can be granted: the session is told once (an error line
                // it survives), leasing is retried once a second rather than at every wake-up, and calls resume
                // by themselves when the store writes again.
                var storeFailureSince: ContinuousClock.Instant?
                while true {
                    // The reader failed (the client reset the stream or dropped the connection) and the group
                    // cancelled this task: stop now. A cancelled task's doorbell wait returns at once, so looping on
                    // would spin this connection's event loop, stalling every other connection on it, until the next
                    // heartbeat's write failed (up to `--heartbeat` seconds).
                    if Task.isCancelled { return true }
                    if writer.isShutdownRequested || self.isDraining {
                        try await writer.write(self.lineBuffer(
                            JSONLine.errorLine(code: "shutting_down", message: "the server is shutting down; reconnect")))
                        return true
                    }
                    var buffer = writer.allocator.buffer(capacity: 4096)
                    for line in session.drainOutbox() { buffer.writeBytes(line) }
                    var leased: [Lease] = []
                    var starts: [Int] = []
                    let credit = session.credit
                    let paused = storeFailureSince.map { ContinuousClock.now - $0 < Store.probeInterval } ?? false
                    if credit > 0 && !paused {
                        let leases = await engine.lease(
                            min(credit, self.configuration.dialerBatch), filter: filter, holder: holder)
                        if leases.isEmpty, let failure = engine.storeWriteFailure {
                            if storeFailureSince == nil {
                                buffer.writeBytes(JSONLine.errorLine(
                                    code: "store_unavailable", message: Self.storeUnavailableMessage(failure)))
                                self.metrics.error("store_unavailable")
                            }
                            storeFailureSince = ContinuousClock.now
                        } else {
                            storeFailureSince = nil
                        }
                        if !leases.isEmpty {
                            leased = leases
                            session.useCredit(leases.count)
                            let now = self.clock.now()
                            starts.reserveCapacity(leases.count)
                            for lease in leases {
                                seq += 1
                                starts.append(buffer.writerIndex)
                                buffer.writeBytes(Wire.call(lease, seq: seq, now: now))
                            }
                            self.metrics.callsLeased(leases.count)
                        }
                    }
                    if buffer.readableBytes > 0 {
                        try await self.writeCalls(
                            buffer, leases: leased, startingAt: starts, deliveries: deliveries, holder: holder,
                            engine: engine, writer: writer)
                        lastWrite = ContinuousClock.now
                        continue
                    }
                    if session.isInputFinished && session.outboxIsEmpty { return true }
                    let idle = ContinuousClock.now - lastWrite
                    if idle >= self.configuration.heartbeatInterval {
                        var hb = JSONLine()
                        hb.add("type", "heartbeat")
                        hb.add("at", RFC3339.formatUTC(self.clock.now()))
                        hb.add("credit", session.credit)
                        try await writer.write(self.lineBuffer(hb.finish()))
                        lastWrite = ContinuousClock.now
                        continue
                    }
                    // Sleep until input arrives, a debtor may have become ready, or a heartbeat is due.
                    let untilHeartbeat = self.configuration.heartbeatInterval - idle
                    // Wake at least every 250 ms to notice graceful shutdown and newly ready debtors.
                    await doorbell.wait(timeout: min(.milliseconds(250), untilHeartbeat))
                }
            }
            // The writer ends the session (input finished and answered, shutdown, or a write failed).
            while let isWriter = try await group.next(), !isWriter {}
            group.cancelAll()
        }
    }

    /// The ack of a release line: the lease ended without a counted call once the release is durable, or why not.
    func releaseLine(_ id: String, line: Int, holder: String, _ engine: Engine) async -> [UInt8] {
        // A lease of a holder that is gone (a dropped session, an ended `GET /v1/calls` stream, a lease restored
        // after a restart) may be given back by any session: a dialer that lost its session reconnects with it.
        switch await engine.releaseLease(id, heldBy: holder, orphanedUnless: { [dialers] in dialers.isOpen($0) }) {
        case .released:
            return Wire.result(line: line, id: id, tagged: true)
        case .notHeld:
            return Wire.result(
                line: line, id: id,
                error: RecordError(
                    code: "not_leased", field: "lease",
                    message: "lease '\(id)' cannot be given back here: unknown, already ended by an outcome, an "
                        + "expiry or a release, or held by another open session"),
                tagged: true)
        case .notLogged:
            // The same code as any other line the store could not take: the lease is still this session's, so
            // the release may be sent again.
            let why = engine.storeWriteFailure.map { ": \($0.summary)" } ?? ""
            return Wire.result(
                line: line, id: id,
                error: RecordError(
                    code: "store_unavailable", field: "lease",
                    message: "the release could not be stored\(why); the lease stays this session's: send the "
                        + "release again later, or it expires as usual"),
                tagged: true)
        }
    }

    func lineBuffer(_ bytes: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeBytes(bytes)
        return buffer
    }
}

/// The open dialer sessions by holder name, for the revocations of their leases.
final class DialerRegistry: Sendable {
    private let sessions = Mutex<[String: (session: DialerSessionState, doorbell: Doorbell)]>([:])
    /// Holders of `GET /v1/calls` streams still open: their leases are theirs (no session may release them), but
    /// they take no revoke lines.
    private let callStreams = Mutex<Set<String>>([])

    /// `GET /v1/calls` stream `holder` is open (until `closeCallStream`).
    func openCallStream(_ holder: String) { _ = callStreams.withLock { $0.insert(holder) } }

    func closeCallStream(_ holder: String) { _ = callStreams.withLock { $0.remove(holder) } }

    func register(_ holder: String, session: DialerSessionState, doorbell: Doorbell) {
        sessions.withLock { $0[holder] = (session, doorbell) }
    }

    func unregister(_ holder: String) {
        _ = sessions.withLock { $0.removeValue(forKey: holder) }
    }

    /// Whether `holder` is an open dialer session or an open `GET /v1/calls` stream.
    func isOpen(_ holder: String) -> Bool {
        sessions.withLock { $0[holder] != nil } || callStreams.withLock { $0.contains(holder) }
    }

    /// Queues a revoke line on the session holding the lease; false when no open session holds it (a finite
    /// `GET /v1/calls` stream, a closed session, a lease restored after a restart).
    func deliver(_ revocation: LeaseRevocation) -> Bool {
        guard let entry = sessions.withLock({ $0[revocation.holder] }) else { return false }
        var json = JSONLine()
        json.add("type", "revoke")
        json.add("lease", revocation.lease)
        json.add("debtor", revocation.debtor)
        json.add("debt", revocation.debt)
        json.add("phone", revocation.phone)
        json.add("reason", revocation.reason)
        json.add("leaseEnded", revocation.leaseEnded)
        json.add("at", RFC3339.formatUTC(revocation.at))
        entry.session.enqueue(json.finish())
        entry.doorbell.ring()
        return true
    }
}

/// The mutable state of one dialer session shared by its reader and writer.
final class DialerSessionState: Sendable {
    private struct State {
        var credit = 0
        var outbox: [[UInt8]] = []
        var outboxBytes = 0
        var inputFinished = false
        var roomWaiter: CheckedContinuation<Void, Never>?
        var cancelled = false
    }
    private let state = Mutex(State())

    /// The bytes of acks and errors the outbox may hold before the reader stops reading input
    /// (``waitForRoom()``): a client that sends without reading its responses is held back by HTTP/2 flow control
    /// instead of growing the server's memory.
    static let outboxLimit = 1 << 20

    var credit: Int { state.withLock { $0.credit } }
    var isInputFinished: Bool { state.withLock { $0.inputFinished } }
    var outboxIsEmpty: Bool { state.withLock { $0.outbox.isEmpty } }
    /// The most credit a session holds (calls it may still be sent).
    static let maxOutstandingCredit = 1_000_000
    /// Adds `n` to the credit, up to ``maxOutstandingCredit``; returns how much of `n` did not fit.
    func addCredit(_ n: Int) -> Int {
        state.withLock {
            let added = min(n, Self.maxOutstandingCredit - $0.credit)
            $0.credit += max(0, added)
            return n - max(0, added)
        }
    }
    func useCredit(_ n: Int) { state.withLock { $0.credit = max(0, $0.credit - n) } }
    func enqueue(_ line: [UInt8]) {
        state.withLock {
            $0.outbox.append(line)
            $0.outboxBytes += line.count
        }
    }
    func drainOutbox() -> [[UInt8]] {
        let (lines, waiter) = state.withLock { s -> ([[UInt8]], CheckedContinuation<Void, Never>?) in
            defer {
                s.outbox.removeAll(keepingCapacity: true)
                s.outboxBytes = 0
                s.roomWaiter = nil
            }
            return (s.outbox, s.roomWaiter)
        }
        waiter?.resume()
        return lines
    }

    /// Returns once the outbox holds at most ``outboxLimit`` bytes (the writer took them), or the session ended.
    func waitForRoom() async {
        if state.withLock({ $0.outboxBytes <= Self.outboxLimit || $0.cancelled }) { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.outboxBytes <= Self.outboxLimit || s.cancelled { return true }
                    s.roomWaiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            end()
        }
    }

    /// The session ended: a reader waiting for room goes on (and finds its input failed).
    func end() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.cancelled = true
            defer { s.roomWaiter = nil }
            return s.roomWaiter
        }
        waiter?.resume()
    }

    func finishInput() { state.withLock { $0.inputFinished = true } }
}

/// The call lines of one response stream that may still wait in its outbound queue, by byte offset. When the
/// stream closes before the HTTP/2 session took a line into a DATA frame (the client stopped reading, reset the
/// stream, lost its connection), that call never left the server: its lease is given back without counting a
/// call, instead of holding the debtor for the lease TTL and then counting a placed call. A line that was taken,
/// even in part, may have reached the dialer, so its lease stays (it ends by outcome, release or expiry).
final class CallDeliveries: Sendable {
    private struct Lines {
        /// Start offsets and leases, in stream order; the entries before `head` are forgotten.
        var starts: [Int] = []
        var leases: [String] = []
        var head = 0
    }
    private let pending = Mutex(Lines())

    /// Records that the call lines of `leases` start at `base + starts[i]` of the stream (one lock per write).
    func record(_ leases: [Lease], startingAt starts: [Int], base: Int) {
        guard !leases.isEmpty else { return }
        pending.withLock { lines in
            for (lease, start) in zip(leases, starts) {
                lines.starts.append(base + start)
                lines.leases.append(lease.id)
            }
        }
    }

    /// Forgets the lines that start before `taken`: they left the server.
    func taken(upTo taken: Int) {
        pending.withLock { lines in
            while lines.head < lines.starts.count && lines.starts[lines.head] < taken { lines.head += 1 }
            if lines.head == lines.starts.count {
                lines.starts.removeAll(keepingCapacity: true)
                lines.leases.removeAll(keepingCapacity: true)
                lines.head = 0
            } else if lines.head >= 4096 && lines.head * 2 >= lines.starts.count {
                lines.starts.removeFirst(lines.head)
                lines.leases.removeFirst(lines.head)
                lines.head = 0
            }
        }
    }

    /// The leases of the lines that start at or after `taken`, forgotten.
    func untaken(from taken: Int) -> [String] {
        pending.withLock { lines in
            defer {
                lines.starts.removeAll()
                lines.leases.removeAll()
                lines.head = 0
            }
            var out: [String] = []
            for k in lines.head..<lines.starts.count where lines.starts[k] >= taken { out.append(lines.leases[k]) }
            return out
        }
    }
}

/// Classifies dialer-session input lines without decoding outcomes twice.
enum DialerInput {
    /// The most credit one ready line grants.
    static let maxCredit = 10_000

    /// The credit `n` of a ready line, or why it is not one: missing, not a number, not a whole number, or out
    /// of range (each says which).
    static func readyCredit(_ value: JSONValue?) -> DialerInput {
        let range = "from 0 to \(maxCredit)"
        guard let value else {
            return .invalid(code: "missing_field", field: "n", message: "a ready line needs 'n', the credit (\(range))")
        }
        guard case .number(let text) = value else {
            return .invalid(code: "wrong_type", field: "n",
                            message: "'n' must be a JSON number \(range), found \(value.typeName)")
        }
        let isWhole = !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" })
        guard isWhole else {
            return .invalid(code: "invalid_value", field: "n",
                            message: "'n' is \(text); it must be a whole number \(range), written without a point or exponent")
        }
        guard let n = Int(text), n >= 0, n <= maxCredit else {
            return .invalid(code: "out_of_range", field: "n",
                            message: "'n' is \(text.count > 24 ? String(text.prefix(24)) + "…" : text); it must be \(range)")
        }
        return .ready(n)
    }

    case blank
    case ready(Int)
    case outcome
    /// A lease to give back without a call.
    case release(String)
    /// `field` is nil when no one field is at fault (the line is not JSON, or not an object).
    case invalid(code: String, field: String?, message: String)

    static func classify(_ bytes: some Collection<UInt8>) -> DialerInput {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { return .blank }
        let object: JSONValue
        do {
            object = try JSONValue.parse(bytes)
        } catch {
            // Where and why, as every other endpoint says it ("invalid JSON at byte 11: …"); no one field is at
            // fault.
            return .invalid(code: error.code, field: nil, message: error.message)
        }
        guard case .object = object else {
            return .invalid(code: "wrong_type", field: nil, message: "expected a JSON object, found \(object.typeName)")
        }
        if let key = object.repeatedKey {
            return .invalid(code: "duplicate_key", field: key,
                            message: "duplicate key: '\(key)' appears more than once in this line; give each key once")
        }
        switch object["type"] {
        case nil, .string("outcome"):
            return .outcome
        case .string("ready"):
            return readyCredit(object["n"])
        case .string("release"):
            switch object["lease"] {
            case .string(let id)?:
                return id.isEmpty
                    ? .invalid(code: "invalid_value", field: "lease",
                               message: "'lease' is empty; give the id of a call line of this session")
                    : .release(id)
            case nil:
                return .invalid(code: "missing_field", field: "lease",
                                message: "a release line needs 'lease', the id of a call line of this session")
            case let other?:
                return .invalid(code: "wrong_type", field: "lease",
                                message: "'lease' must be a string, found \(other.typeName)")
            }
        case .string(let other):
            return .invalid(
                code: "unknown_value", field: "type",
                message: "unknown line type '\(other)'; expected ready, outcome or release")
        default:
            return .invalid(code: "wrong_type", field: "type", message: "'type' must be a string")
        }
    }
}
