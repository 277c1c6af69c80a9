import Benchmark
import NIOCore
import TagihHTTP2

/// 1 MiB of ~100-byte NDJSON lines, cut into 64 KiB chunks (as they arrive from the socket).
private let ndjsonChunks: [ByteBuffer] = {
    var body = ByteBuffer()
    var seq = 0
    while body.readableBytes < 1 << 20 {
        seq += 1
        body.writeString(#"{"type":"debug","seq":\#(seq),"pad":"0123456789abcdef0123456789abcdef0123456789abcdef"}"# + "\n")
    }
    var chunks: [ByteBuffer] = []
    while body.readableBytes > 0 {
        chunks.append(body.readSlice(length: min(64 << 10, body.readableBytes))!)
    }
    return chunks
}()

/// An in-process server and one client connection, shared by the loopback benchmarks.
private final class Loopback: @unchecked Sendable {
    var server: HTTP2Server?
    var client: HTTP2Client?
    var serverTask: Task<Void, any Error>?

    func start() async throws {
        var configuration = HTTP2ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.shutdownGracePeriod = .seconds(1)
        let server = HTTP2Server(configuration: configuration, responder: HTTP2DebugResponder())
        serverTask = Task { try await server.run() }
        let port = try await server.boundAddress().port!
        client = try await HTTP2Client.connect(host: "127.0.0.1", port: port)
        self.server = server
    }

    func stop() async throws {
        await client?.close()
        server?.shutdownGracefully()
        _ = try await serverTask?.value
        client = nil
        server = nil
    }
}

private let loopback = Loopback()

let benchmarks: @Sendable () -> Void = {
    Benchmark(
        "NDJSON split 1 MiB",
        configuration: .init(metrics: [.wallClock, .throughput, .mallocCountTotal], maxDuration: .seconds(3))
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            var splitter = NDJSONLineSplitter(maxLength: 1 << 20)
            var lines = 0
            for chunk in ndjsonChunks {
                splitter.append(chunk)
                while let line = splitter.next() {
                    if case .success = line { lines += 1 }
                }
            }
            splitter.finish()
            while splitter.next() != nil { lines += 1 }
            blackHole(lines)
        }
    }

    Benchmark(
        "Loopback stream 10k lines (~1 MB) on one connection",
        configuration: .init(metrics: [.wallClock, .throughput, .mallocCountTotal], maxDuration: .seconds(5)),
        closure: { benchmark in
            guard let client = loopback.client else { return }
            for _ in benchmark.scaledIterations {
                let response = try await client.request(path: "/v1/debug/stream?n=10000")
                var bytes = 0
                for try await chunk in response.body { bytes += chunk.readableBytes }
                blackHole(bytes)
            }
        },
        setup: { try await loopback.start() },
        teardown: { try await loopback.stop() }
    )

    Benchmark(
        "Loopback 100 concurrent small GETs on one connection",
        configuration: .init(metrics: [.wallClock, .throughput, .mallocCountTotal], maxDuration: .seconds(5)),
        closure: { benchmark in
            guard let client = loopback.client else { return }
            for _ in benchmark.scaledIterations {
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<100 {
                        group.addTask {
                            let response = try await client.request(path: "/small")
                            return try await response.body.collect(upTo: 64).readableBytes
                        }
                    }
                    var total = 0
                    for try await n in group { total += n }
                    blackHole(total)
                }
            }
        },
        setup: { try await loopback.start() },
        teardown: { try await loopback.stop() }
    )
}
