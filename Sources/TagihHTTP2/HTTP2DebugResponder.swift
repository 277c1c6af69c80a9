import NIOCore

/// A self-contained responder for benchmarks and smoke tests, independent of the domain.
///
/// - `GET /healthz` → `200 ok\n`
/// - `GET /small` → `200 hello\n`
/// - `GET /v1/debug/stream?n=N` → N NDJSON lines `{"type":"debug","seq":i,"pad":"…"}` (about 100 bytes each),
///   written in batches of about 64 KiB; stops early with a final
///   `{"type":"error","code":"shutting_down",...}` line when graceful shutdown begins
/// - `POST /v1/debug/echo` → every request line echoed back, full duplex
/// - anything else → `404` with a JSON error line
public struct HTTP2DebugResponder: HTTP2Responder {
    /// Creates the responder.
    public init() {}

    private static let okBody = ByteBuffer(string: "ok\n")
    private static let helloBody = ByteBuffer(string: "hello\n")
    private static let notFound = ByteBuffer(string: #"{"type":"error","code":"not_found","message":"no such route"}"# + "\n")

    /// See the type's documentation for the routes.
    public func respond(to head: HTTP2RequestHead) -> HTTP2Response {
        switch (head.method, head.path) {
        case ("GET", "/healthz"):
            return .immediate(status: 200, headers: [("content-type", "text/plain")], body: Self.okBody)
        case ("GET", "/small"):
            return .immediate(status: 200, headers: [("content-type", "text/plain")], body: Self.helloBody)
        case ("GET", "/v1/debug/stream"):
            let n = max(0, head.queryItem("n").flatMap(Int.init) ?? 100)
            return .streaming(status: 200, headers: [("content-type", "application/x-ndjson")]) { _, writer in
                try await Self.writeDebugLines(n, to: writer)
            }
        case ("POST", "/v1/debug/echo"):
            return .streaming(status: 200, headers: [("content-type", "application/x-ndjson")]) { body, writer in
                for try await line in body.lines() {
                    switch line {
                    case .success(let line): try await writer.writeLine(line.bytes)
                    case .failure(let error):
                        try await writer.writeLine(
                            #"{"type":"error","code":"\#(error.code)","line":\#(error.lineNumber)}"#
                        )
                    }
                }
            }
        default:
            return .immediate(status: 404, headers: [("content-type", "application/json")], body: Self.notFound)
        }
    }

    private static let linePrefix = Array(#"{"type":"debug","seq":"#.utf8)
    private static let lineSuffix = Array(#","pad":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"}"#.utf8 + [10])

    /// Writes `lines` debug lines `{"type":"debug","seq":i,"pad":"…"}` (i = 1…lines, about 100 bytes each)
    /// in ~64 KiB batches rendered straight into the buffer; ends early with a `shutting_down` error line
    /// when graceful shutdown begins. `tagih serve`'s `/v1/debug/stream` uses it too.
    public static func writeDebugLines(_ lines: Int, to writer: HTTP2ResponseWriter) async throws {
        let linesPerBatch = 640
        let maxLineBytes = linePrefix.count + lineSuffix.count + 20
        var seq = 0
        while seq < lines {
            if writer.isShutdownRequested {
                try await writer.writeLine(
                    #"{"type":"error","code":"shutting_down","message":"the server is shutting down"}"#)
                return
            }
            let count = min(lines - seq, linesPerBatch)
            var buffer = writer.allocator.buffer(capacity: count * maxLineBytes)
            let first = seq + 1
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count * maxLineBytes) { raw in
                var offset = 0
                for number in first..<(first + count) {
                    linePrefix.withUnsafeBytes { raw.baseAddress!.advanced(by: offset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                    offset += linePrefix.count
                    offset += writeDecimal(number, into: raw.baseAddress!.advanced(by: offset))
                    lineSuffix.withUnsafeBytes { raw.baseAddress!.advanced(by: offset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                    offset += lineSuffix.count
                }
                return offset
            }
            seq += count
            try await writer.write(buffer)
        }
    }
}

/// Writes `value` (non-negative) in decimal at `destination`; returns the number of bytes written.
private func writeDecimal(_ value: Int, into destination: UnsafeMutableRawPointer) -> Int {
    var length = 1
    var probe = value / 10
    while probe > 0 {
        length += 1
        probe /= 10
    }
    var rest = value
    for index in stride(from: length - 1, through: 0, by: -1) {
        destination.storeBytes(of: UInt8(truncatingIfNeeded: 48 + rest % 10), toByteOffset: index, as: UInt8.self)
        rest /= 10
    }
    return length
}
