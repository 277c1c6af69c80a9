import Logging
import NIOCore
import ServiceLifecycle
import Testing
import TagihHTTP2

@Suite("HTTP2Server as a ServiceLifecycle service")
struct ServiceGroupTests {
    @Test func gracefulShutdownThroughServiceGroup() async throws {
        var configuration = HTTP2ServerConfiguration(host: "127.0.0.1", port: 0)
        // The responder ends its stream within milliseconds of the request to shut down; a grace period a loaded CI
        // machine cannot exhaust (2 s did once, and the server's own `shutting_down` line came instead).
        configuration.shutdownGracePeriod = .seconds(30)
        var logger = Logger(label: "test.group")
        logger.logLevel = .warning
        let server = HTTP2Server(configuration: configuration, responder: TestResponder(), logger: logger)
        let group = ServiceGroup(services: [server], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let port = try #require(try await server.boundAddress().port)
            let client = try await HTTP2Client.connect(host: "127.0.0.1", port: port)
            let response = try await client.request(path: "/until-shutdown")
            var iterator = response.lines().makeAsyncIterator()
            _ = try #require(try await iterator.next())
            // What SIGTERM does in `tagih serve`.
            await group.triggerGracefulShutdown()
            var last = ""
            while let line = try await iterator.next() { last = try line.get().string }
            #expect(last == #"{"type":"end","reason":"shutdown"}"#)
            try await tasks.waitForAll()
        }
        #expect(server.metrics.currentConnections == 0)
        #expect(server.metrics.currentStreams == 0)
    }

    /// A server whose TLS files cannot be loaded fails `run()` and every `boundAddress()` caller with the same error
    /// (audit of session 13: the callers waited forever, so `tagih serve` with a wrong `--tls-cert` hung, deaf to
    /// SIGTERM, instead of exiting with the error).
    @Test(.timeLimit(.minutes(1))) func aTLSFailureFailsTheWaitersToo() async throws {
        var configuration = HTTP2ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.tls = .init(certificatePath: "/nonexistent/cert.pem", privateKeyPath: "/nonexistent/key.pem")
        let server = HTTP2Server(configuration: configuration, responder: TestResponder(), logger: Logger(label: "t"))
        let waiter = Task { try await server.boundAddress() }
        try await Task.sleep(for: .milliseconds(50))  // waiting before `run()` starts
        await #expect(throws: HTTP2ServerError.self) { try await server.run() }
        await #expect(throws: HTTP2ServerError.self) { _ = try await waiter.value }
        // A caller that comes later gets the error at once.
        await #expect(throws: HTTP2ServerError.self) { _ = try await server.boundAddress() }
    }

    /// A cancelled `boundAddress()` caller stops waiting (a server that is never run never binds).
    @Test(.timeLimit(.minutes(1))) func aCancelledWaiterStopsWaiting() async throws {
        let server = HTTP2Server(
            configuration: HTTP2ServerConfiguration(host: "127.0.0.1", port: 0), responder: TestResponder(),
            logger: Logger(label: "t"))
        let task = Task { try await server.boundAddress() }
        try await Task.sleep(for: .milliseconds(50))
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
    }
}
