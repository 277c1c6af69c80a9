import ArgumentParser
import Foundation
import NIOCore
import TagihHTTP2

/// `tagih dial`: one full-duplex NDJSON stream from a terminal or a script. Lines typed (or piped) on stdin go out
/// as the request body the moment each is complete; response lines are printed the moment they arrive.
///
/// This is what `curl -T -` cannot do: curl blocks on reading stdin and shows nothing the server sends until its
/// input ends, so a dialer session driven by hand (send credit, see a call, report its outcome) stalls.
struct DialCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dial",
        abstract: "Hold one full-duplex NDJSON stream (a dialer session by default): stdin lines out, response lines out on stdout as they arrive.",
        discussion: """
            Each complete line read from stdin is sent at once; each response line is printed at once. When stdin \
            ends, the request body ends, and the command waits for the server to end the response. Example:

              tagih dial --ready 2                       # a dialer session with credit for 2 calls
              {"type":"outcome","attempt":"a-1","lease":"…","debtor":"D-1","debt":"A-1-1","phone":"+1…","at":"…","outcome":"busy"}

            --url may name any NDJSON endpoint (e.g. /v1/outcomes, or /v1/debtors with --method PUT). With \
            --tokens on the server, put the bearer token in the environment variable TAGIH_TOKEN (not on the \
            command line, where other users could read it).

            Exit status: 0 when the server answered 200 and ended the stream; 1 for another status (its body is \
            printed on stderr) or a stream reset; 2 when the server cannot be reached; 64 on bad options.
            """
    )

    @Option(help: "The stream's URL (http:// for h2c prior knowledge, https:// for TLS with ALPN h2).")
    var url: String = "http://127.0.0.1:8080/v1/dialer"

    @Option(help: "Request method.")
    var method: String = "POST"

    @Option(help: "Send {\"type\":\"ready\",\"n\":N} first (dialer sessions), before any stdin line.")
    var ready: Int?

    @Option(help: "With https, trust the CA certificates in this PEM file (for a self-signed server certificate, the certificate itself).")
    var caFile: String?

    @Flag(help: "With https, do not verify the server certificate (tests only).")
    var insecure = false

    func validate() throws {
        _ = try LoadTarget(url)
        guard ["POST", "PUT"].contains(method) else {
            throw ValidationError("--method must be POST or PUT (a stream needs a request body), got \(method)")
        }
        if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw ValidationError("--ca-file \(caFile) cannot be read")
        }
        if let ready, !(0...10_000).contains(ready) {
            throw ValidationError("--ready must be from 0 to 10000 (the server's limit for one ready line), got \(ready)")
        }
    }

    func run() async throws {
        let target = try LoadTarget(url)
        let tls = target.clientTLS(caFile: caFile, insecure: insecure)
        let client: HTTP2Client
        do {
            client = try await HTTP2Client.connect(host: target.host, port: target.port, tls: tls)
        } catch {
            let hint = "\(error)".contains("CERTIFICATE_VERIFY_FAILED") ? " (tagih dial --ca-file PEM)" : ""
            FileHandle.standardError.write(
                Data("tagih dial: cannot reach \(target.host):\(target.port): \(error)\(hint)\n".utf8))
            throw ExitCode(2)
        }
        let headers = [("content-type", "application/x-ndjson")] + tokenHeaders()
        let status: Int32
        do {
            status = try await converse(client: client, target: target, headers: headers)
        } catch {
            await client.close()
            FileHandle.standardError.write(Data("tagih dial: the stream failed: \(error)\n".utf8))
            throw ExitCode(1)
        }
        await client.close()
        if status != 0 { throw ExitCode(status) }
    }

    /// Runs the stream: stdin lines out, response bytes to stdout. Returns the exit status.
    private func converse(client: HTTP2Client, target: LoadTarget, headers: [(String, String)]) async throws -> Int32 {
        let stream = try await client.openStream(method: method, path: target.pathAndQuery, headers: headers)
        if let ready { try await stream.writer.writeLine(#"{"type":"ready","n":\#(ready)}"#) }
        let input = Self.standardInputLines()
        let writer = stream.writer
        // Sending runs beside the reading below: the server answers while the input is still open.
        let sending = Task {
            for await line in input {
                try await writer.writeLine(line)
            }
            try await writer.finish()
        }
        defer { sending.cancel() }
        let response = try await stream.response()
        if response.status != 200 {
            var body = ""
            for try await chunk in response.body { body += String(buffer: chunk) }
            FileHandle.standardError.write(Data("tagih dial: \(response.status) \(body)".utf8))
            if !body.hasSuffix("\n") { FileHandle.standardError.write(Data("\n".utf8)) }
            if response.status == 401 || response.status == 403 {
                FileHandle.standardError.write(Data("tagih dial: the token is taken from the environment variable TAGIH_TOKEN\n".utf8))
            }
            return 1
        }
        for try await chunk in response.body {
            FileHandle.standardOutput.write(Data(chunk.readableBytesView))
        }
        return 0
    }

    /// Lines of stdin (without their newline), read on a thread of their own: reading blocks.
    private static func standardInputLines() -> AsyncStream<String> {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .unbounded)
        let thread = Thread {
            while let line = readLine(strippingNewline: true) {
                continuation.yield(line)
            }
            continuation.finish()
        }
        thread.start()
        return stream
    }
}
