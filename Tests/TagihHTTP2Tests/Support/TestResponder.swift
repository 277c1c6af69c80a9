import NIOCore
import Synchronization
import TagihHTTP2

/// The test server's routes:
/// - `GET /small` → `hello\n`
/// - `GET /stream?n=N&batch=B` → N lines `{"seq":i,...}` (B lines per write, default 1)
/// - `POST /echo` → each request line echoed as `{"seq":n,"line":<line>}`, full duplex; a too-long line
///   gives `{"type":"error","code":"line_too_long","line":n}` and the echo goes on
/// - `GET /until-shutdown` → a line every 10 ms until shutdown is requested, then `{"type":"end"}`
/// - `GET /stubborn` → a line every 10 ms forever, ignoring shutdown
/// - `GET /firehose` → writes 1 KiB lines as fast as the writer lets it, forever
/// - `GET /fail` → one line, then the handler throws
/// - `POST /upload` → reads the whole body, answers `{"bytes":N}`
/// - `POST /decide` → `.afterBody` (at most 1024 bytes): body `bad` → 400 `{"error":"bad"}`; `fail` → the handler
///   throws; anything else → 200 and a streamed line `{"bytes":N,"bodyLeft":M}` (M: what the streaming handler
///   still finds in the request body, which must be 0)
/// - `GET /lookup/KEY` → `.lookup` by KEY through `TestLookups.shared`: `KEY\n`, or a failed batch when a key
///   of the batch is `…fail`, or one answer too few when a key is `…short`
struct TestFailure: Error {}

/// Answers `/lookup/KEY` in batches and records each batch's keys.
final class TestLookups: HTTP2LookupBatcher {
    static let shared = TestLookups()
    private let batches = Mutex<[[String]]>([])

    func respond(to keys: [String]) async throws -> [HTTP2CompleteResponse] {
        batches.withLock { $0.append(keys) }
        if keys.contains(where: { $0.hasSuffix("fail") }) { throw TestFailure() }
        let answers = keys.map { HTTP2CompleteResponse(status: 200, headers: [], body: ByteBuffer(string: $0 + "\n")) }
        return keys.contains(where: { $0.hasSuffix("short") }) ? Array(answers.dropLast()) : answers
    }

    /// The recorded batches whose keys start with `prefix` (tests run in parallel: each uses its own prefix).
    func batches(withPrefix prefix: String) -> [[String]] {
        batches.withLock { $0.filter { $0.contains { $0.hasPrefix(prefix) } } }
    }
}

struct TestResponder: HTTP2Responder {
    static let smallBody = "hello\n"

    func respond(to head: HTTP2RequestHead) -> HTTP2Response {
        switch (head.method, head.path) {
        case ("GET", "/small"), ("GET", "/healthz"):
            return .immediate(
                status: 200,
                headers: [("content-type", "text/plain")],
                body: ByteBuffer(string: Self.smallBody)
            )
        case ("GET", "/stream"), ("GET", "/v1/debug/stream"):
            let n = head.queryItem("n").flatMap(Int.init) ?? 10
            let batch = max(1, head.queryItem("batch").flatMap(Int.init) ?? 1)
            return .streaming(status: 200, headers: [("content-type", "application/x-ndjson")]) { _, writer in
                var buffer = writer.allocator.buffer(capacity: 128 * batch)
                var inBatch = 0
                for seq in 1...max(1, n) where n > 0 {
                    buffer.writeString(#"{"type":"test","seq":"#)
                    buffer.writeString(String(seq))
                    buffer.writeString(#","payload":"abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz"}"#)
                    buffer.writeInteger(UInt8(ascii: "\n"))
                    inBatch += 1
                    if inBatch == batch {
                        try await writer.write(buffer)
                        buffer.clear()
                        inBatch = 0
                    }
                }
                if buffer.readableBytes > 0 { try await writer.write(buffer) }
                try await writer.finish()
            }
        case ("POST", "/echo"):
            let maxLength = head.queryItem("max").flatMap(Int.init)
            return .streaming(status: 200, headers: [("content-type", "application/x-ndjson")]) { body, writer in
                for try await result in body.lines(maxLength: maxLength) {
                    switch result {
                    case .success(let line):
                        try await writer.writeLine(#"{"seq":\#(line.number),"line":\#(line.string)}"#)
                    case .failure(let error):
                        try await writer.writeLine(
                            #"{"type":"error","code":"\#(error.code)","line":\#(error.lineNumber)}"#
                        )
                    }
                }
                try await writer.finish()
            }
        case ("POST", "/upload"):
            return .streaming(status: 200, headers: []) { body, writer in
                var total = 0
                for try await chunk in body { total += chunk.readableBytes }
                try await writer.writeLine(#"{"bytes":\#(total)}"#)
            }
        case ("POST", "/decide"):
            return .afterBody(maxBodyBytes: 1024) { raw in
                let text = String(buffer: raw)
                if text == "bad" {
                    return .immediate(status: 400, headers: [("content-type", "application/json")],
                                      body: ByteBuffer(string: #"{"error":"bad"}"# + "\n"))
                }
                if text == "fail" { throw TestFailure() }
                return .streaming(status: 200, headers: [("content-type", "application/x-ndjson")]) { body, writer in
                    var left = 0
                    for try await chunk in body { left += chunk.readableBytes }
                    try await writer.writeLine(#"{"bytes":\#(raw.readableBytes),"bodyLeft":\#(left)}"#)
                }
            }
        case ("GET", "/until-shutdown"):
            return .streaming(status: 200, headers: []) { _, writer in
                var seq = 0
                while !writer.isShutdownRequested {
                    seq += 1
                    try await writer.writeLine(#"{"seq":\#(seq)}"#)
                    try await Task.sleep(for: .milliseconds(10))
                }
                try await writer.writeLine(#"{"type":"end","reason":"shutdown"}"#)
                try await writer.finish()
            }
        case ("GET", "/stubborn"):
            return .streaming(status: 200, headers: []) { _, writer in
                var seq = 0
                while true {
                    seq += 1
                    try await writer.writeLine(#"{"seq":\#(seq)}"#)
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
        case ("GET", "/fail"):
            return .streaming(status: 200, headers: []) { _, writer in
                try await writer.writeLine(#"{"seq":1}"#)
                throw TestFailure()
            }
        case ("GET", "/firehose"):
            return .streaming(status: 200, headers: []) { _, writer in
                let line = ByteBuffer(string: #"{"type":"firehose","pad":""# + String(repeating: "x", count: 1000) + "\"}\n")
                while true { try await writer.write(line) }
            }
        case ("GET", _) where head.path.hasPrefix("/lookup/"):
            return .lookup(key: String(head.path.dropFirst("/lookup/".count)), batcher: TestLookups.shared)
        default:
            return .immediate(
                status: 404,
                headers: [("content-type", "application/json")],
                body: ByteBuffer(string: #"{"type":"error","code":"not_found"}"# + "\n")
            )
        }
    }
}
