import NIOCore

/// The first handler of a server connection: looks at the client's first bytes before anything is sent, and
/// hands an HTTP/2 connection (its preface `PRI * HTTP/2.0…`) to the HTTP/2 handler, or answers an HTTP/1.x
/// client itself.
///
/// The service speaks HTTP/2. What speaks HTTP/1.1 only is the operations world: Kubernetes `httpGet` probes,
/// Prometheus scraping a plain-text target, a `curl` without `--http2-prior-knowledge`. So an HTTP/1.x request
/// for `GET` or `HEAD` `/healthz`, `/readyz` or `/metrics` is answered as over HTTP/2 (same responder, same
/// tokens), then the connection closes; any other HTTP/1.x request gets `505 HTTP Version Not Supported` with a
/// sentence saying how to speak HTTP/2. Before this gate, such a client received the server's SETTINGS frame and
/// a closed connection (curl: "Received HTTP/0.9 when not allowed").
///
/// The server's SETTINGS go out once the HTTP/2 handler is added, right after the client's preface arrived:
/// HTTP/2 clients send their preface at once without waiting for the server's, so no round trip is added.
final class HTTP1Gate: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The paths an HTTP/1.x client may ask for (`GET` and `HEAD` only).
    static let operationsPaths: Set<String> = ["/healthz", "/readyz", "/metrics"]
    /// The most bytes of an HTTP/1.x request head read before answering `431`.
    static let maxHeadBytes = 16 << 10

    private let responder: any HTTP2Responder
    private let makeHTTP2Handler: () -> any ChannelHandler
    private var buffered: ByteBuffer?
    private var answering = false

    init(
        responder: any HTTP2Responder, extraHeaders: [(name: String, value: String)] = [],
        makeHTTP2Handler: @escaping () -> any ChannelHandler
    ) {
        self.responder = responder
        self.extraHeaders = extraHeaders.map { ($0.name, $0.value) }
        self.makeHTTP2Handler = makeHTTP2Handler
    }

    /// Added to the gate's own answers (`HTTP2ServerConfiguration.responseHeaders`).
    private let extraHeaders: [(String, String)]

    private enum Verdict { case undecided, http2, http1 }

    /// HTTP/2 for the preface (or anything that is not an HTTP/1 request line: nghttp2 refuses it as before);
    /// HTTP/1 for an upper-case method token followed by a space.
    private static let preface = Array("PRI ".utf8)

    private static func verdict(_ bytes: ByteBufferView) -> Verdict {
        var k = 0
        for b in bytes.prefix(preface.count) {
            guard b == preface[k] else { break }
            k += 1
        }
        if k == min(bytes.count, preface.count) { return k == preface.count ? .http2 : .undecided }
        var letters = 0
        for b in bytes.prefix(9) {
            if b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") {
                letters += 1
                continue
            }
            return b == UInt8(ascii: " ") && letters > 0 ? .http1 : .http2
        }
        return bytes.count >= 9 ? .http2 : .undecided
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        if answering { return }
        if buffered == nil {
            buffered = chunk
        } else {
            buffered!.writeBuffer(&chunk)
        }
        let bytes = buffered!
        switch Self.verdict(bytes.readableBytesView) {
        case .undecided:
            return
        case .http2:
            buffered = nil
            do {
                try context.pipeline.syncOperations.addHandler(makeHTTP2Handler(), position: .after(self))
            } catch {
                context.close(promise: nil)
                return
            }
            context.fireChannelRead(wrapInboundOut(bytes))
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        case .http1:
            answerHTTP1(context: context, bytes)
        }
    }

    private func answerHTTP1(context: ChannelHandlerContext, _ bytes: ByteBuffer) {
        let view = bytes.readableBytesView
        guard let end = Self.headEnd(view) else {
            if view.count > Self.maxHeadBytes {
                respond(context: context, status: 431, headers: [("content-type", "text/plain")],
                        body: "request head larger than \(Self.maxHeadBytes) bytes\n", head: false)
            }
            return
        }
        let text = String(decoding: view[view.startIndex..<end], as: UTF8.self)
        // CR LF is one Character in Swift.
        var lines = text.split(separator: "\r\n" as Character, omittingEmptySubsequences: false).makeIterator()
        let requestLine = lines.next().map { $0.split(separator: " ") } ?? []
        guard requestLine.count == 3, requestLine[2].hasPrefix("HTTP/1.") else {
            respond(context: context, status: 400, headers: [("content-type", "text/plain")],
                    body: "malformed HTTP/1 request line\n", head: false)
            return
        }
        let method = String(requestLine[0])
        let target = requestLine[1]
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var headers: [(name: String, value: String)] = []
        var authority = ""
        while let line = lines.next(), !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = Self.trimmed(line[..<colon]).lowercased()
            let value = Self.trimmed(line[line.index(after: colon)...])
            if name == "host" { authority = value } else { headers.append((name, value)) }
        }
        let pathOnly = String(path[0])
        guard method == "GET" || method == "HEAD", Self.operationsPaths.contains(pathOnly) else {
            respond(
                context: context, status: 505, headers: [("content-type", "text/plain")],
                body: "tagih speaks HTTP/2: h2c with prior knowledge (curl --http2-prior-knowledge) or TLS with ALPN "
                    + "h2. Over HTTP/1.1 it answers only GET /healthz, /readyz and /metrics (probes and scrapers).\n",
                head: method == "HEAD")
            return
        }
        let head = HTTP2RequestHead(
            method: "GET", path: pathOnly, query: path.count > 1 ? String(path[1]) : "", authority: authority,
            scheme: "http", headers: headers)
        switch responder.respond(to: head) {
        case .immediate(let status, let responseHeaders, let body):
            respond(context: context, status: status, headers: responseHeaders, body: body, head: method == "HEAD")
        default:
            respond(context: context, status: 505, headers: [("content-type", "text/plain")],
                    body: "this path is served over HTTP/2 only\n", head: method == "HEAD")
        }
    }

    private static func trimmed(_ text: Substring) -> String {
        String(text.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }

    /// The index just past the `\r\n\r\n` that ends a request head, or nil.
    private static func headEnd(_ view: ByteBufferView) -> ByteBufferView.Index? {
        var i = view.startIndex
        while i + 3 < view.endIndex {
            if view[i] == 13 && view[i + 1] == 10 && view[i + 2] == 13 && view[i + 3] == 10 { return i + 2 }
            i += 1
        }
        return nil
    }

    /// The gate's own answer (400, 505), with the configured extra headers.
    private func respond(context: ChannelHandlerContext, status: Int, headers: [(String, String)], body: String, head: Bool) {
        var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        respond(context: context, status: status, headers: headers + extraHeaders, body: buffer, head: head)
    }

    private func respond(
        context: ChannelHandlerContext, status: Int, headers: [(String, String)], body: ByteBuffer, head: Bool
    ) {
        answering = true
        buffered = nil
        var out = context.channel.allocator.buffer(capacity: 256 + body.readableBytes)
        out.writeString("HTTP/1.1 \(status) \(Self.reason(status))\r\n")
        for (name, value) in headers where name.lowercased() != "content-length" {
            out.writeString("\(name): \(value)\r\n")
        }
        out.writeString("content-length: \(body.readableBytes)\r\nconnection: close\r\n\r\n")
        if !head {
            var body = body
            out.writeBuffer(&body)
        }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(out)).whenComplete { _ in channel.close(promise: nil) }
    }

    private static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 431: "Request Header Fields Too Large"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Status"
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Nothing was decided yet (no byte arrived): an idle timeout or a graceful shutdown closes the connection,
        // as the HTTP/2 handler would.
        if event is IdleStateHandler.IdleStateEvent || event is GracefulShutdownEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
