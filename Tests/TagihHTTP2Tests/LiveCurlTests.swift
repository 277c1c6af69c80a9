import Foundation
import NIOCore
import Testing
import TagihHTTP2

/// Parses the `seq` numbers of NDJSON test lines.
func sequenceNumbers(in text: String) -> [Int] {
    text.split(separator: "\n").compactMap { line in
        guard let range = line.range(of: #""seq":"#) else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
    }
}

func jsonObject(_ text: String) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
    return try #require(object as? [String: Any])
}

@Suite("Live server with third-party clients", .serialized)
struct LiveToolTests {
    @Test func curlSmallGET() async throws {
        try await withTestServer { _, port in
            let result = try await runTool("curl", ["-sS", "--http2-prior-knowledge", "http://127.0.0.1:\(port)/small"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == "hello\n")
        }
    }

    @Test(arguments: [1, 10, 5000])
    func curlStreamsNDJSON(lines: Int) async throws {
        try await withTestServer { _, port in
            let result = try await runTool(
                "curl",
                ["-sS", "--http2-prior-knowledge", "http://127.0.0.1:\(port)/stream?n=\(lines)&batch=7"]
            )
            #expect(result.status == 0, "\(result.stderr)")
            #expect(sequenceNumbers(in: result.stdout) == Array(1...lines))
        }
    }

    @Test func curlPostEchoSurvivesTooLongLine() async throws {
        try await withTestServer { _, port in
            let body = "{\"a\":1}\n" + String(repeating: "x", count: 100) + "\n{\"b\":2}\n\n{\"c\":3}"
            let result = try await runTool(
                "curl",
                [
                    "-sS", "--http2-prior-knowledge", "-X", "POST", "--data-binary", body,
                    "http://127.0.0.1:\(port)/echo?max=50",
                ]
            )
            #expect(result.status == 0, "\(result.stderr)")
            let lines = result.stdout.split(separator: "\n").map(String.init)
            #expect(
                lines == [
                    #"{"seq":1,"line":{"a":1}}"#,
                    #"{"type":"error","code":"line_too_long","line":2}"#,
                    #"{"seq":3,"line":{"b":2}}"#,
                    #"{"seq":5,"line":{"c":3}}"#,
                ]
            )
        }
    }

    /// `.afterBody`: the status is chosen after the whole request body was read.
    @Test func curlAfterBodyChoosesTheStatusFromTheBody() async throws {
        try await withTestServer { _, port in
            func post(_ body: String) async throws -> (code: String, body: String) {
                let result = try await runTool(
                    "curl",
                    ["-sS", "--http2-prior-knowledge", "-X", "POST", "--data-binary", body, "-w", "\n%{http_code}",
                     "http://127.0.0.1:\(port)/decide"])
                #expect(result.status == 0, "\(result.stderr)")
                let parts = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
                return (String(parts.last ?? ""), parts.dropLast().joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines))
            }
            var answer = try await post("hello")
            #expect(answer.code == "200" && answer.body == #"{"bytes":5,"bodyLeft":0}"#, "\(answer)")
            answer = try await post("bad")
            #expect(answer.code == "400" && answer.body == #"{"error":"bad"}"#, "\(answer)")
            answer = try await post("fail")
            #expect(answer.code == "500" && answer.body.contains(#""code":"internal""#), "\(answer)")
            answer = try await post(String(repeating: "x", count: 1025))
            #expect(answer.code == "413" && answer.body.contains(#""code":"body_too_large""#), "\(answer)")
            // The connection's other streams are unaffected.
            answer = try await post(String(repeating: "y", count: 1024))
            #expect(answer.code == "200" && answer.body == #"{"bytes":1024,"bodyLeft":0}"#, "\(answer)")
        }
    }

    @Test func curlOversizedHeaderIsRejectedAndNextRequestWorks() async throws {
        try await withTestServer(configure: { $0.maxHeaderListSize = 4096 }) { _, port in
            let big = String(repeating: "y", count: 8000)
            let rejected = try await runTool(
                "curl",
                ["-sS", "--http2-prior-knowledge", "-H", "x-big: \(big)", "http://127.0.0.1:\(port)/small"]
            )
            #expect(rejected.stdout != "hello\n")
            let ok = try await runTool("curl", ["-sS", "--http2-prior-knowledge", "http://127.0.0.1:\(port)/small"])
            #expect(ok.stdout == "hello\n")
        }
    }

    @Test func nghttpGetsStreamAndSmall() async throws {
        try await withTestServer { _, port in
            let stream = try await runTool("nghttp", ["http://127.0.0.1:\(port)/stream?n=300"])
            #expect(stream.status == 0, "\(stream.stderr)")
            #expect(sequenceNumbers(in: stream.stdout) == Array(1...300))
            let small = try await runTool("nghttp", ["-s", "http://127.0.0.1:\(port)/small"])
            #expect(small.status == 0)
            #expect(small.stdout.contains("200"))
        }
    }

    @Test func h2loadSmallGETsAllSucceed() async throws {
        try await withTestServer { server, port in
            let result = try await runTool(
                "h2load",
                ["-n", "4000", "-c", "4", "-m", "20", "http://127.0.0.1:\(port)/small"]
            )
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("4000 succeeded, 0 failed, 0 errored"), "\(result.stdout)")
            #expect(server.metrics.streamsOpened >= 4000)
        }
    }

    @Test func h2loadStreamingSucceeds() async throws {
        try await withTestServer { _, port in
            let result = try await runTool(
                "h2load",
                ["-n", "40", "-c", "2", "-m", "4", "http://127.0.0.1:\(port)/stream?n=2000&batch=64"]
            )
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("40 succeeded, 0 failed, 0 errored"), "\(result.stdout)")
        }
    }

    @Test func pythonH2Interop() async throws {
        try await withTestServer { _, port in
            let result = try await runTool("python3", ["\(clientsDirectory)/h2_probe.py", "get", "\(port)", "/stream?n=50"])
            #expect(result.status == 0, "\(result.stderr)")
            let object = try jsonObject(result.stdout)
            #expect(object["status"] as? Int == 200)
            #expect(sequenceNumbers(in: object["body"] as? String ?? "") == Array(1...50))
        }
    }
}

@Suite("Live server under attack (Python raw frames)", .serialized)
struct LiveAttackTests {
    /// After the attack on one connection, a second connection is still served.
    func expectServed(port: Int) async throws {
        let client = try await HTTP2Client.connect(host: "127.0.0.1", port: port)
        let response = try await client.request(path: "/small")
        #expect(response.status == 200)
        let body = try await response.body.collect(upTo: 1024)
        #expect(String(buffer: body) == "hello\n")
        await client.close()
    }

    @Test func rapidResetClosesThatConnectionOnly() async throws {
        try await withTestServer(configure: { $0.resetRateLimit = .init(burst: 100, ratePerSecond: 10) }) { server, port in
            // A bystander connection opened before the attack keeps working during and after it.
            let bystander = try await HTTP2Client.connect(host: "127.0.0.1", port: port)
            let result = try await runTool(
                "python3",
                ["\(clientsDirectory)/h2_probe.py", "rapid-reset", "\(port)", "1000"]
            )
            #expect(result.status == 0, "\(result.stderr)")
            let object = try jsonObject(result.stdout)
            #expect(object["closed"] as? Bool == true)
            #expect(object["goaway"] as? Int != nil && object["goaway"] as? Int != 0)
            #expect(server.metrics.connectionsClosedForMisbehaviour >= 1)
            let response = try await bystander.request(path: "/small")
            #expect(response.status == 200)
            await bystander.close()
            try await expectServed(port: port)
        }
    }

    @Test func continuationFloodClosesThatConnectionOnly() async throws {
        try await withTestServer { server, port in
            let bystander = try await HTTP2Client.connect(host: "127.0.0.1", port: port)
            let result = try await runTool(
                "python3",
                ["\(clientsDirectory)/h2_probe.py", "continuation-flood", "\(port)", "200"]
            )
            #expect(result.status == 0, "\(result.stderr)")
            let object = try jsonObject(result.stdout)
            #expect(object["closed"] as? Bool == true)
            #expect(server.metrics.connectionsClosedForMisbehaviour >= 1)
            let response = try await bystander.request(path: "/small")
            #expect(response.status == 200)
            await bystander.close()
            try await expectServed(port: port)
        }
    }

    @Test func streamsBeyondMaxConcurrentAreRefused() async throws {
        try await withTestServer(configure: { $0.maxConcurrentStreams = 2 }) { _, port in
            let result = try await runTool(
                "python3",
                ["\(clientsDirectory)/h2_probe.py", "many-streams", "\(port)", "5", "/stubborn"]
            )
            #expect(result.status == 0, "\(result.stderr)")
            let object = try jsonObject(result.stdout)
            let resets = object["resets"] as? [String: Int] ?? [:]
            // REFUSED_STREAM is 0x7.
            #expect(resets["7"] == 3, "\(result.stdout)")
            try await expectServed(port: port)
        }
    }

    @Test func shutdownResetsTheStreamOfAReaderThatNeverOpensItsWindow() async throws {
        // The stream's final `shutting_down` line cannot reach a peer whose window stays shut: when the server
        // closes the connection (grace period + 5 s) it resets the stream, so the cut is explicit (RST_STREAM
        // CANCEL) instead of a stream that stops mid-line without END_STREAM.
        try await withTestServer(configure: {
            $0.shutdownGracePeriod = .milliseconds(300)
            $0.streamHighWaterMark = 64 << 10
        }) { server, port in
            async let probe = runTool(
                "python3",
                ["\(clientsDirectory)/h2_probe.py", "slow-reader", "\(port)", "/firehose", "15"]
            )
            let suspended = await eventually(timeout: .seconds(5)) { server.metrics.currentSuspendedWriters >= 1 }
            #expect(suspended, "\(server.metrics)")
            server.shutdownGracefully()
            let result = try await probe
            #expect(result.status == 0, "\(result.stderr)")
            let object = try jsonObject(result.stdout)
            #expect(object["status"] as? Int == 200)
            #expect(object["ended"] as? Bool == false, "\(result.stdout)")
            // CANCEL is 0x8.
            #expect((object["resets"] as? [String: Int])?["8"] == 1, "\(result.stdout)")
            #expect(object["closed"] as? Bool == true, "\(result.stdout)")
            #expect(object["goaway"] as? Int == 0, "\(result.stdout)")
        }
    }

    @Test func readerThatNeverOpensItsWindowDoesNotGrowServerMemory() async throws {
        let highWaterMark = 64 << 10
        try await withTestServer(configure: { $0.streamHighWaterMark = highWaterMark }) { server, port in
            async let probe = runTool(
                "python3",
                ["\(clientsDirectory)/h2_probe.py", "slow-reader", "\(port)", "/firehose", "4"]
            )
            // The firehose writer must end up suspended: its stream is full and the peer never reads.
            let suspended = await eventually(timeout: .seconds(4)) { server.metrics.currentSuspendedWriters >= 1 }
            #expect(suspended, "\(server.metrics)")
            let atSuspension = server.metrics
            try await Task.sleep(for: .milliseconds(500))
            let later = server.metrics
            // Bounded by the high-water mark plus one write (a ~1 KiB line), and not growing.
            #expect(atSuspension.peakStreamPendingBytes <= highWaterMark + 1100)
            #expect(later.peakStreamPendingBytes == atSuspension.peakStreamPendingBytes)
            #expect(later.currentPendingOutboundBytes <= highWaterMark + 1100)
            let result = try await probe
            let object = try jsonObject(result.stdout)
            #expect(object["status"] as? Int == 200)
            // The client's 1 KiB window was never reopened.
            #expect(object["bodyBytes"] as? Int ?? .max <= 1024)
            try await expectServed(port: port)
        }
    }
}
