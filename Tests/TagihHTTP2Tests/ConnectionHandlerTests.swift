import Logging
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import TagihHTTP2

/// Moves a non-Sendable value into a `@Sendable` closure that runs on the value's event loop.
struct Unchecked<Value>: @unchecked Sendable {
    let value: Value
}

/// A server handler and a client handler on two `NIOAsyncTestingChannel`s, wired by `pump()`.
struct HandlerPair: Sendable {
    let server: NIOAsyncTestingChannel
    let client: NIOAsyncTestingChannel
    let clientHandler: Unchecked<HTTP2ConnectionHandler>
    let counters: TransportCounters

    static func make(
        highWaterMark: Int = 256 << 10,
        clientWindow: UInt32 = 1 << 20
    ) async throws -> HandlerPair {
        let counters = TransportCounters()
        var limits = HTTP2ConnectionHandler.Limits()
        limits.streamHighWaterMark = highWaterMark
        limits.shutdownGracePeriod = .seconds(1)
        let spawn: TaskSpawner = { job in Task { await job() } }
        let logger = Logger(label: "test")
        var clientSettings = SessionSettings()
        clientSettings.initialWindowSize = clientWindow
        clientSettings.connectionWindowSize = 1 << 20
        let server = NIOAsyncTestingChannel()
        let client = NIOAsyncTestingChannel()
        let serverLimits = limits
        let settingsOfClient = clientSettings
        // Handlers are not Sendable: create and add them on their channel's loop.
        try await server.testingEventLoop.executeInContext {
            try server.pipeline.syncOperations.addHandler(
                HTTP2ConnectionHandler(
                    role: .server(TestResponder(), spawn),
                    settings: SessionSettings(),
                    limits: serverLimits,
                    counters: counters,
                    logger: logger
                )
            )
        }
        let clientHandler = try await client.testingEventLoop.executeInContext {
            let handler = HTTP2ConnectionHandler(
                role: .client,
                settings: settingsOfClient,
                limits: .init(),
                counters: nil,
                logger: logger
            )
            try client.pipeline.syncOperations.addHandler(handler)
            return Unchecked(value: handler)
        }
        try await server.connect(to: .init(ipAddress: "127.0.0.1", port: 1)).get()
        try await client.connect(to: .init(ipAddress: "127.0.0.1", port: 1)).get()
        let pair = HandlerPair(server: server, client: client, clientHandler: clientHandler, counters: counters)
        _ = try await pair.pump()
        return pair
    }

    /// Closes both channels (ends streaming handlers still running).
    func close() async {
        try? await server.close()
        try? await client.close()
    }

    /// Delivers every pending outbound buffer to the other side until both are quiet.
    /// Returns the number of buffers the server wrote.
    @discardableResult
    func pump() async throws -> Int {
        var serverWrites = 0
        while true {
            var progressed = false
            // Tasks a handler enqueued from its own loop run only when the testing loop is run.
            await client.testingEventLoop.run()
            await server.testingEventLoop.run()
            while let bytes = try await client.readOutbound(as: ByteBuffer.self) {
                progressed = true
                if server.isActive { try await server.writeInbound(bytes) }
            }
            while let bytes = try await server.readOutbound(as: ByteBuffer.self) {
                progressed = true
                serverWrites += 1
                if client.isActive { try await client.writeInbound(bytes) }
            }
            if !progressed { return serverWrites }
        }
    }

    /// Starts a request on the client handler.
    func request(_ path: String, method: String = "GET", streamingBody: Bool = false)
        async throws -> (EventLoopFuture<(ClientResponseHead, HTTP2Body)>, OutboundQueue?)
    {
        let handler = clientHandler
        let loop = client.testingEventLoop
        return try await loop.executeInContext {
            let promise = loop.makePromise(of: (ClientResponseHead, HTTP2Body).self)
            let writer = handler.value.startRequest(
                method: method,
                scheme: "http",
                authority: "test",
                path: path,
                headers: [],
                body: nil,
                streamingBody: streamingBody,
                promise: promise
            )
            return (promise.futureResult, writer)
        }
    }

    /// Pumps until `condition` holds (streaming handlers run in tasks).
    func pump(until condition: @Sendable () async throws -> Bool) async throws -> Bool {
        for _ in 0..<500 {
            try await pump()
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(5))
        }
        return false
    }
}

/// Collects a body while pumping the pair.
func collect(_ body: HTTP2Body, pair: HandlerPair) async throws -> String {
    try await withThrowingTaskGroup(of: String?.self) { group in
        group.addTask { String(buffer: try await body.collect(upTo: 10 << 20)) }
        group.addTask {
            for _ in 0..<2000 {
                try await pair.pump()
                try await Task.sleep(for: .milliseconds(2))
            }
            return nil
        }
        let text = try await group.next()!
        group.cancelAll()
        return try #require(text)
    }
}

@Suite("HTTP2ConnectionHandler on NIOAsyncTestingChannel")
struct ConnectionHandlerTests {
    @Test func immediateResponseIsOneWritePerReadBatch() async throws {
        let pair = try await HandlerPair.make()
        defer { Task { await pair.close() } }
        let (future, _) = try await pair.request("/small")
        // The client's request goes to the server; the server answers HEADERS + DATA in one buffer.
        while let bytes = try await pair.client.readOutbound(as: ByteBuffer.self) {
            try await pair.server.writeInbound(bytes)
        }
        var serverBuffers: [ByteBuffer] = []
        while let bytes = try await pair.server.readOutbound(as: ByteBuffer.self) { serverBuffers.append(bytes) }
        #expect(serverBuffers.count == 1)
        for bytes in serverBuffers { try await pair.client.writeInbound(bytes) }
        try await pair.pump()
        let (head, body) = try await future.get()
        #expect(head.status == 200)
        #expect(try await collect(body, pair: pair) == "hello\n")
        #expect(pair.counters.streamsOpened.load(ordering: .relaxed) == 1)
        #expect(pair.counters.currentStreams.load(ordering: .relaxed) == 0)
    }

    /// Sends the requests of `paths` to the server in one read and returns each one's status and body.
    private func oneRead(_ paths: [String], pair: HandlerPair) async throws -> [(Int, String)] {
        var futures: [EventLoopFuture<(ClientResponseHead, HTTP2Body)>] = []
        for path in paths { futures.append(try await pair.request(path).0) }
        var joined = ByteBuffer()
        while var bytes = try await pair.client.readOutbound(as: ByteBuffer.self) { joined.writeBuffer(&bytes) }
        try await pair.server.writeInbound(joined)
        let answered = Mutex(0)
        for future in futures { future.whenComplete { _ in answered.withLock { $0 += 1 } } }
        #expect(try await pair.pump { answered.withLock { $0 } == paths.count })
        var results: [(Int, String)] = []
        for future in futures {
            let (head, body) = try await future.get()
            results.append((head.status, try await collect(body, pair: pair)))
        }
        return results
    }

    @Test func lookupsOfOneReadAreAnsweredByOneBatchInTheirOwnStreams() async throws {
        let pair = try await HandlerPair.make()
        defer { Task { await pair.close() } }
        let keys = (0..<5).map { "batch-\($0)" }
        let results = try await oneRead(keys.map { "/lookup/\($0)" } + ["/small"], pair: pair)
        #expect(results.map(\.0) == [200, 200, 200, 200, 200, 200])
        #expect(results.map(\.1) == keys.map { $0 + "\n" } + ["hello\n"])
        #expect(TestLookups.shared.batches(withPrefix: "batch-") == [keys])
    }

    @Test(arguments: ["fail", "short"])
    func aBrokenLookupBatchAnswers500ToEachOfItsRequestsOnly(broken: String) async throws {
        let pair = try await HandlerPair.make()
        defer { Task { await pair.close() } }
        let keys = ["\(broken)-a", "\(broken)-b", "\(broken)-\(broken)"]
        let results = try await oneRead(keys.map { "/lookup/\($0)" } + ["/small"], pair: pair)
        #expect(results.map(\.0) == [500, 500, 500, 200])
        #expect(results[0].1.contains(#""code":"internal""#))
        #expect(results[3].1 == "hello\n")
        #expect(TestLookups.shared.batches(withPrefix: "\(broken)-") == [keys])
        #expect(pair.counters.currentStreams.load(ordering: .relaxed) == 0)
    }

    @Test(arguments: [(1, 1), (100, 1), (1000, 10), (3000, 128)])
    func streamingResponseDeliversEveryLine(lines: Int, batch: Int) async throws {
        let pair = try await HandlerPair.make()
        defer { Task { await pair.close() } }
        let (future, _) = try await pair.request("/stream?n=\(lines)&batch=\(batch)")
        try await pair.pump()
        let (head, body) = try await future.get()
        #expect(head.status == 200)
        let text = try await collect(body, pair: pair)
        #expect(sequenceNumbers(in: text) == Array(1...lines))
    }

    @Test func deferredDataResumesWhenTheWriterProduces() async throws {
        let pair = try await HandlerPair.make()
        defer { Task { await pair.close() } }
        // /echo writes nothing until a request line arrives: the stream is parked (DEFERRED).
        let (future, writer) = try await pair.request("/echo", method: "POST", streamingBody: true)
        try await pair.pump()
        let (head, body) = try await future.get()
        #expect(head.status == 200)
        let requestWriter = HTTP2BodyWriter(queue: try #require(writer))
        try await requestWriter.writeLine(#"{"x":1}"#)
        try await requestWriter.finish()
        #expect(try await collect(body, pair: pair) == #"{"seq":1,"line":{"x":1}}"# + "\n")
    }

    @Test func closedWindowSuspendsTheWriterAtTheHighWaterMark() async throws {
        let highWaterMark = 16 << 10
        // The client opens 1 KiB of stream window and, as nobody reads the body, never more.
        let pair = try await HandlerPair.make(highWaterMark: highWaterMark, clientWindow: 1024)
        defer { Task { await pair.close() } }
        let (future, _) = try await pair.request("/firehose")
        let counters = pair.counters
        let suspended = try await pair.pump { counters.currentSuspendedWriters.load(ordering: .relaxed) == 1 }
        #expect(suspended)
        let peak = counters.peakStreamPendingBytes.load(ordering: .relaxed)
        #expect(peak > highWaterMark)
        #expect(peak <= highWaterMark + 1100)
        // Reading the body reopens the window: the writer runs again and the bound still holds.
        let (_, body) = try await future.get()
        let received = try await withThrowingTaskGroup(of: Int?.self) { group in
            group.addTask {
                var received = 0
                for try await chunk in body {
                    received += chunk.readableBytes
                    if received >= 200 << 10 { break }
                }
                return received
            }
            group.addTask {
                for _ in 0..<2000 {
                    try await pair.pump()
                    try await Task.sleep(for: .milliseconds(2))
                }
                return nil
            }
            let first = try await group.next()!
            group.cancelAll()
            return first
        }
        #expect(received ?? 0 >= 200 << 10)
        #expect(counters.peakStreamPendingBytes.load(ordering: .relaxed) <= highWaterMark + 1100)
    }

    @Test func gracefulShutdownSendsGoAwayAndEndsStreamsWithFinalLine() async throws {
        let pair = try await HandlerPair.make()
        defer { Task { await pair.close() } }
        let (future, _) = try await pair.request("/stubborn")
        try await pair.pump()
        let (_, body) = try await future.get()
        pair.server.pipeline.fireUserInboundEventTriggered(GracefulShutdownEvent())
        try await pair.pump()
        // The client saw the shutdown notice (GOAWAY): it no longer starts streams.
        let handler = pair.clientHandler
        let accepting = try await pair.client.testingEventLoop.executeInContext { handler.value.isAcceptingRequests }
        #expect(!accepting)
        // Past the grace period the server ends the stream with a final error line and closes.
        await pair.server.testingEventLoop.advanceTime(by: .seconds(2))
        let text = try await collect(body, pair: pair)
        #expect(text.hasSuffix(#"{"type":"error","code":"shutting_down","message":"the server is shutting down; reconnect and resume"}"# + "\n"))
        let closed = try await pair.pump { !pair.server.isActive }
        #expect(closed)
    }

    @Test func garbageClosesTheConnectionAndCountsMisbehaviour() async throws {
        let pair = try await HandlerPair.make()
        defer { Task { await pair.close() } }
        try await pair.server.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        #expect(!pair.server.isActive)
        #expect(pair.counters.connectionsClosedForMisbehaviour.load(ordering: .relaxed) == 1)
        #expect(pair.counters.currentConnections.load(ordering: .relaxed) == 0)
    }
}
