import Logging
import NIOCore
import ServiceLifecycle
import Testing
import TagihHTTP2

@Suite("HTTP2Server as a ServiceLifecycle service")
struct ServiceGroupTests {
    @Test func gracefulShutdownThroughServiceGroup() async throws {
        var configuration = HTTP2ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.shutdownGracePeriod = .seconds(2)
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
}
