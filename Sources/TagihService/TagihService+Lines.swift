import NIOCore
import TagihCore
import TagihEngine
import TagihStore
import TagihHTTP2

extension TagihService {
    /// Reads NDJSON lines, decodes them in order, processes up to `inFlightPerStream` concurrently (lines that
    /// share a key in input order, see `KeyedOrder`), and writes one result line per input line in input order
    /// while more input is still arriving (full duplex).
    func processLines(
        _ body: HTTP2RequestBody, _ writer: HTTP2ResponseWriter,
        _ prepare: @escaping @Sendable (NDJSONLine) -> LineJob
    ) async throws {
        let results = OrderedResults(window: configuration.inFlightPerStream)
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
            group.addTask {
                await watchdog.watch { body.interruptPendingRead(with: BodyIdleTimeout(message: watchdog.message)) }
            }
            defer { watchdog.stop() }
            var order = KeyedOrder()
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
                        group.addLineJob(prepare(line), index: index, order: &order, results: results)
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
                results.finishInput()
                watchdog.stop()
                try await group.waitForAll()
                try await writer.write(
                    lineBuffer(JSONLine.errorLine(code: "body_timeout", message: timeout.message)))
                return
            } catch {
                results.cancel()
                throw error
            }
            results.finishInput()
            watchdog.stop()
            try await group.waitForAll()
        }
    }

    func upsertLine(_ line: NDJSONLine, _ engine: Engine) -> LineJob {
        let decoded: Decoded<Debtor>
        switch decode(line, tagged: false, { (b) throws(RecordError) in try LineDecoder.debtor(from: b) }) {
        case .decoded(let value): decoded = value
        case .rejected(let result): return .done(result)
        }
        return .work(keys: ["d:" + decoded.value.id]) {
            do {
                let outcome = try await engine.upsert([decoded.value]).first
                if case .rejected(let code, let message) = outcome {
                    self.metrics.lineRejected(code)
                    return Wire.result(
                        line: line.number, id: nil, error: RecordError(code: code, field: "", message: message))
                }
                self.metrics.linesAccepted("debtor")
                return Wire.result(line: line.number, id: decoded.value.id, warnings: decoded.warnings)
            } catch {
                return self.storeFailure(line.number, error)
            }
        }
    }

    func outcomeLine(_ line: NDJSONLine, _ engine: Engine, tagged: Bool) -> LineJob {
        let decoded: Decoded<OutcomeEvent>
        switch decode(line, tagged: tagged, { (b) throws(RecordError) in try LineDecoder.outcome(from: b) }) {
        case .decoded(let value): decoded = value
        case .rejected(let result): return .done(result)
        }
        let event = decoded.value
        return .work(keys: ["a:" + event.attempt]) {
            await self.ingestResult(line.number, event.attempt, decoded.warnings, tagged: tagged, kind: "outcome") {
                try await engine.ingest(event)
            }
        }
    }

    func paymentLine(_ line: NDJSONLine, _ engine: Engine) -> LineJob {
        let decoded: Decoded<PaymentEvent>
        switch decode(line, tagged: false, { (b) throws(RecordError) in try LineDecoder.payment(from: b) }) {
        case .decoded(let value): decoded = value
        case .rejected(let result): return .done(result)
        }
        let event = decoded.value
        return .work(keys: ["p:" + event.payment]) {
            await self.ingestResult(line.number, event.payment, decoded.warnings, tagged: false, kind: "payment") {
                try await engine.ingest(event)
            }
        }
    }

    /// An operator clearance: stamped with the server's clock, durable before its ack.
    func clearanceLine(_ line: NDJSONLine, _ engine: Engine) -> LineJob {
        let decoded: Decoded<ClearanceLine>
        switch decode(line, tagged: false, { (b) throws(RecordError) in try LineDecoder.clearance(from: b) }) {
        case .decoded(let value): decoded = value
        case .rejected(let result): return .done(result)
        }
        let c = decoded.value
        return .work(keys: ["c:" + c.clearance]) {
            let event = ClearanceEvent(
                id: c.clearance, debtor: c.debtor, kind: c.clears, debt: c.debt, at: self.clock.now(), clearedBy: c.by,
                note: c.note)
            return await self.ingestResult(line.number, c.clearance, decoded.warnings, tagged: false, kind: "clearance") {
                try await engine.clear(event)
            }
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

    private func ingestResult(
        _ number: Int, _ id: String, _ warnings: [RecordWarning], tagged: Bool, kind: String,
        _ ingest: () async throws -> IngestResult
    ) async -> [UInt8] {
        do {
            switch try await ingest() {
            case .applied:
                metrics.linesAccepted(kind)
                return Wire.result(line: number, id: id, duplicate: false, warnings: warnings, tagged: tagged)
            case .duplicate:
                metrics.duplicate(kind)
                return Wire.result(line: number, id: id, duplicate: true, warnings: warnings, tagged: tagged)
            case .rejected(let code, let message):
                metrics.lineRejected(code)
                return Wire.result(
                    line: number, id: nil,
                    error: RecordError(code: code, field: code == "unknown_debt" ? "debt" : "debtor", message: message),
                    tagged: tagged)
            }
        } catch {
            return storeFailure(number, error, tagged: tagged)
        }
    }

    private func storeFailure(_ number: Int, _ error: any Error, tagged: Bool = false) -> [UInt8] {
        logger.error("store write failed", metadata: ["error": "\(error)"])
        metrics.lineRejected("store_unavailable")
        return Wire.result(
            line: number, id: nil,
            error: RecordError(code: "store_unavailable", field: "", message: "not stored: \(error); retry the line"),
            tagged: tagged)
    }
}

extension TagihService {
    /// `GET /v1/debtors/{id}`: the debtor's state and fresh decisions, or 404.
    func debtorResponse(id: String, engine: Engine) -> HTTP2Response {
        .deferred {
            guard let snapshot = await engine.debtorState(id: id) else {
                var body = ByteBuffer()
                body.writeBytes(JSONLine.httpErrorBody(code: "unknown_debtor", message: "no debtor with id '\(id)'"))
                return HTTP2CompleteResponse(
                    status: 404, headers: TagihService.jsonHeaders, body: body)
            }
            var body = ByteBufferAllocator().buffer(capacity: 1024)
            Wire.debtorState(snapshot, into: &body)
            return HTTP2CompleteResponse(
                status: 200, headers: TagihService.jsonHeaders, body: body)
        }
    }
}
