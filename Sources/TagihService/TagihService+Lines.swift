import NIOCore
import TagihCore
import TagihEngine
import TagihStore
import TagihHTTP2

extension TagihService {
    /// Reads NDJSON lines, decodes them in order, runs the decoded ones in batches (``LineBatches``: in input
    /// order, as many per engine call as arrived meanwhile, at most `maxLinesPerBatch`), and writes one result
    /// line per input line in input order while more input is still arriving (full duplex). At most
    /// `inFlightPerStream` lines wait for their results; the reader then stops reading (flow control).
    func processLines<Item: Sendable>(
        _ body: HTTP2RequestBody, _ writer: HTTP2ResponseWriter,
        _ prepare: @escaping @Sendable (NDJSONLine) -> BatchedLine<Item>,
        run: @escaping @Sendable ([Item]) async -> [[UInt8]]
    ) async throws {
        let results = OrderedResults(window: configuration.inFlightPerStream)
        let batches = LineBatches<Item>(maxBatch: configuration.maxLinesPerBatch)
        let watchdog = IdleWatchdog(timeout: configuration.bodyIdleTimeout)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                var buffer = writer.allocator.buffer(capacity: 16 * 1024)
                while let batch = await results.next() {
                    for line in batch where !line.isEmpty { buffer.writeBytes(line) }
                    if buffer.readableBytes > 0 {
                        try await writer.write(buffer)
                        buffer.clear()
                    }
                }
            }
            group.addTask { await batches.run(into: results, run) }
            group.addTask {
                await watchdog.watch { body.interruptPendingRead(with: BodyIdleTimeout(message: watchdog.message)) }
            }
            defer { watchdog.stop() }
            do {
                for try await item in body.lines(maxLength: configuration.maxLineLength) {
                    watchdog.touch()
                    let index = try await results.register()
                    switch item {
                    case .success(let line):
                        if line.bytes.readableBytesView.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) {
                            results.complete(index, [])  // blank line: no result
                            continue
                        }
                        switch prepare(line) {
                        case .done(let bytes): results.complete(index, bytes)
                        case .item(let item): batches.add(index, item)
                        }
                    case .failure(let error):
                        self.metrics.lineRejected("line_too_long")
                        results.complete(
                            index,
                            Wire.result(
                                line: error.lineNumber, id: nil,
                                error: RecordError(code: error.code, field: "", message: error.message)))
                    }
                }
            } catch let timeout as BodyIdleTimeout {
                // Answer every line received so far, then end with the reason.
                batches.finish()
                results.finishInput()
                watchdog.stop()
                try await group.waitForAll()
                try await writer.write(
                    lineBuffer(JSONLine.errorLine(code: "body_timeout", message: timeout.message)))
                return
            } catch {
                batches.finish()
                results.cancel()
                throw error
            }
            batches.finish()
            results.finishInput()
            watchdog.stop()
            try await group.waitForAll()
        }
    }

    /// A decoded line waiting for its batch: its line number, value and the warnings of its decoding.
    struct PendingLine<Value: Sendable>: Sendable {
        var number: Int
        var value: Value
        var warnings: [RecordWarning]
    }

    func upsertLine(_ line: NDJSONLine) -> BatchedLine<PendingLine<Debtor>> {
        switch decode(line, tagged: false, { (b) throws(RecordError) in try LineDecoder.debtor(from: b) }) {
        case .decoded(let d): .item(PendingLine(number: line.number, value: d.value, warnings: d.warnings))
        case .rejected(let result): .done(result)
        }
    }

    /// Upserts a batch of debtors (one group commit); one result line each.
    func runUpserts(_ lines: [PendingLine<Debtor>], _ engine: Engine) async -> [[UInt8]] {
        let started = ContinuousClock.now
        defer { metrics.lineBatch("debtor", lines: lines.count, since: started) }
        do {
            let outcomes = try await engine.upsert(lines.map(\.value))
            return zip(lines, outcomes).map { line, outcome in
                if case .rejected(let code, let message) = outcome {
                    self.metrics.lineRejected(code)
                    return Wire.result(
                        line: line.number, id: nil, error: RecordError(code: code, field: "", message: message))
                }
                self.metrics.linesAccepted("debtor")
                return Wire.result(line: line.number, id: line.value.id, warnings: line.warnings)
            }
        } catch {
            return lines.map { storeFailure($0.number, error) }
        }
    }

    func outcomeLine(_ line: NDJSONLine, tagged: Bool) -> BatchedLine<PendingLine<OutcomeEvent>> {
        switch decode(line, tagged: tagged, { (b) throws(RecordError) in try LineDecoder.outcome(from: b) }) {
        case .decoded(let d): .item(PendingLine(number: line.number, value: d.value, warnings: d.warnings))
        case .rejected(let result): .done(result)
        }
    }

    /// Ingests a batch of outcomes (one group commit); one ack line each, sent by the caller once durable.
    /// `reporter`: the holder name of the dialer session they come from (nil for `POST /v1/outcomes`).
    func runOutcomes(_ lines: [PendingLine<OutcomeEvent>], _ engine: Engine, tagged: Bool, reporter: String? = nil)
        async -> [[UInt8]]
    {
        await ingestResults(lines, id: \.attempt, tagged: tagged, kind: "outcome") {
            try await engine.ingestReportingWarnings(events: $0.map { .outcome($0) }, reporter: reporter)
        }
    }

    func paymentLine(_ line: NDJSONLine) -> BatchedLine<PendingLine<PaymentEvent>> {
        switch decode(line, tagged: false, { (b) throws(RecordError) in try LineDecoder.payment(from: b) }) {
        case .decoded(let d): .item(PendingLine(number: line.number, value: d.value, warnings: d.warnings))
        case .rejected(let result): .done(result)
        }
    }

    /// Ingests a batch of payments (one group commit); one ack line each.
    func runPayments(_ lines: [PendingLine<PaymentEvent>], _ engine: Engine) async -> [[UInt8]] {
        await ingestResults(lines, id: \.payment, tagged: false, kind: "payment") {
            (try await engine.ingest($0), [])
        }
    }

    func clearanceLine(_ line: NDJSONLine) -> BatchedLine<PendingLine<ClearanceLine>> {
        switch decode(line, tagged: false, { (b) throws(RecordError) in try LineDecoder.clearance(from: b) }) {
        case .decoded(let d): .item(PendingLine(number: line.number, value: d.value, warnings: d.warnings))
        case .rejected(let result): .done(result)
        }
    }

    /// Records a batch of operator clearances, stamped with the server's clock; durable before their acks.
    func runClearances(_ lines: [PendingLine<ClearanceLine>], _ engine: Engine) async -> [[UInt8]] {
        let now = clock.now()
        return await ingestResults(lines, id: \.clearance, tagged: false, kind: "clearance") { clearances in
            try await engine.ingestReportingWarnings(events: clearances.map { c in
                .clearance(ClearanceEvent(
                    id: c.clearance, debtor: c.debtor, kind: c.clears, debt: c.debt, at: now, clearedBy: c.by,
                    note: c.note))
            })
        }
    }

    /// A decoded input line, or the result line that rejects it.
    enum ParsedLine<Value: Sendable> {
        case decoded(Decoded<Value>)
        case rejected([UInt8])
    }

    /// Decodes one input line; a bad line becomes its per-line error result (and is counted).
    private func decode<Value>(
        _ line: NDJSONLine, tagged: Bool, _ decoder: (ByteBufferView) throws(RecordError) -> Decoded<Value>
    ) -> ParsedLine<Value> {
        do {
            return .decoded(try decoder(line.bytes.readableBytesView))
        } catch {
            metrics.lineRejected(error.code)
            return .rejected(Wire.result(line: line.number, id: nil, error: error, tagged: tagged))
        }
    }

    /// Runs `ingest` on the batch's values and renders one result line per line (input order). `ingest` returns
    /// a result per value and the engine's warnings (one per value, or none at all), which join the decoder's.
    private func ingestResults<Value: Sendable>(
        _ lines: [PendingLine<Value>], id: KeyPath<Value, String>, tagged: Bool, kind: String,
        _ ingest: ([Value]) async throws -> ([IngestResult], [RecordWarning?])
    ) async -> [[UInt8]] {
        let outcomes: [IngestResult]
        let engineWarnings: [RecordWarning?]
        let started = ContinuousClock.now
        defer { metrics.lineBatch(kind, lines: lines.count, since: started) }
        do {
            (outcomes, engineWarnings) = try await ingest(lines.map(\.value))
        } catch {
            return lines.map { storeFailure($0.number, error, tagged: tagged) }
        }
        return zip(lines, outcomes).enumerated().map { k, pair in
            let (line, outcome) = pair
            let number = line.number
            var warnings = line.warnings
            if k < engineWarnings.count, let w = engineWarnings[k] {
                warnings.append(w)
                metrics.warning(w.code)
            }
            switch outcome {
            case .applied:
                metrics.linesAccepted(kind)
                return Wire.result(
                    line: number, id: line.value[keyPath: id], duplicate: false, warnings: warnings, tagged: tagged)
            case .duplicate:
                metrics.duplicate(kind)
                return Wire.result(
                    line: number, id: line.value[keyPath: id], duplicate: true, warnings: warnings, tagged: tagged)
            case .rejected(let code, let message, let field):
                metrics.lineRejected(code)
                return Wire.result(
                    line: number, id: nil, error: RecordError(code: code, field: field, message: message),
                    tagged: tagged)
            }
        }
    }

    /// The result line of a line whose batch the store could not write. Not logged here, once per line: the store
    /// logs when its writes start failing and when they work again.
    private func storeFailure(_ number: Int, _ error: any Error, tagged: Bool = false) -> [UInt8] {
        metrics.lineRejected("store_unavailable")
        return Wire.result(
            line: number, id: nil,
            error: RecordError(code: "store_unavailable", field: "", message: "not stored: \(error); retry the line"),
            tagged: tagged)
    }
}

/// Answers `GET /v1/debtors/{id}`: the debtor's state and fresh decisions, or 404. The lookups that arrive in
/// one read of a connection are answered together, with one call per shard (`Engine.debtorStates(ids:)`).
final class DebtorLookups: HTTP2LookupBatcher {
    let engine: Engine

    init(engine: Engine) { self.engine = engine }

    func respond(to ids: [String]) async -> [HTTP2CompleteResponse] {
        let snapshots = await engine.debtorStates(ids: ids)
        // All bodies go into one buffer through one reused JSON builder; each response gets a slice of it (the
        // slices share the storage): one allocation per batch instead of two per debtor.
        var json = JSONLine(capacity: 2048)
        var bodies = ByteBufferAllocator().buffer(capacity: 768 * ids.count)
        var ends: [(end: Int, found: Bool)] = []
        ends.reserveCapacity(ids.count)
        for k in ids.indices {
            switch snapshots[k] {
            case .some(let snapshot):
                Wire.debtorState(snapshot, into: &json)
                json.finishAndReset(into: &bodies)
                ends.append((bodies.writerIndex, true))
            case .none:
                bodies.writeBytes(
                    JSONLine.httpErrorBody(code: "unknown_debtor", message: "no debtor with id '\(ids[k])'"))
                ends.append((bodies.writerIndex, false))
            }
        }
        // Slices only once every body is written: a slice taken earlier would make the next write copy the buffer.
        var responses: [HTTP2CompleteResponse] = []
        responses.reserveCapacity(ids.count)
        var start = bodies.readerIndex
        for (end, found) in ends {
            responses.append(HTTP2CompleteResponse(
                status: found ? 200 : 404, headers: TagihService.jsonHeaders,
                body: bodies.getSlice(at: start, length: end - start)!))
            start = end
        }
        return responses
    }
}
