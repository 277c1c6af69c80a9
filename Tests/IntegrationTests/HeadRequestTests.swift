import Foundation
import Testing

/// HEAD with real clients (audit of session 11: `curl -I /v1/calls` leased 50 debtors that no dialer ever saw, and
/// HEAD on the other GET routes sent a body, which clients reject as a protocol error).
@Suite(.serialized) struct HeadRequestTests {
    /// `curl -I` (HEAD): exit status, HTTP status and what came after the headers.
    private func head(_ url: String) throws -> (exit: Int32, status: Int, stderr: String) {
        let r = try runCommand(["curl", "-sS", "--http2-prior-knowledge", "-I", "-o", "/dev/null",
                                "-w", "%{http_code}", "--max-time", "30", url])
        return (r.status, Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1, r.stderr)
    }

    @Test func headAnswersWithoutABodyOnlyWhereItHasNoEffect() throws {
        let server = try ServerProcess(extraArguments: ["--demo", "50"] + ServiceLiveTests.clockArguments)
        defer { server.stop() }
        let base = server.baseURL
        let leasesBefore = try grantedLeases(base)

        // Side-effect-free GET routes: the GET's status and headers, no DATA (curl exits 0, no protocol error).
        for path in ["/healthz", "/readyz", "/metrics", "/v1/debtors/D-1", "/v1/debtors/none"] {
            let r = try head(base + path)
            #expect(r.exit == 0, "\(path): \(r.stderr)")
            #expect(r.status == (path.hasSuffix("none") ? 404 : 200), "\(path)")
        }
        // nghttp, another client: the response HEADERS end the stream.
        let n = try runCommand(["nghttp", "-v", "-H", ":method: HEAD", base + "/v1/debtors/D-1"])
        #expect(n.status == 0, "\(n.stdout)\(n.stderr)")
        #expect(n.stdout.contains("recv HEADERS frame") && n.stdout.contains("END_STREAM"), "\(n.stdout)")
        #expect(!n.stdout.contains("recv DATA frame"), "\(n.stdout)")
        #expect(!n.stdout.contains("RST_STREAM"), "\(n.stdout)")

        // Routes that lease or stream: 405 naming GET only, and nothing leased.
        for path in ["/v1/calls?n=50", "/v1/schedule", "/v1/debug/stream?n=3"] {
            let r = try head(base + path)
            #expect(r.exit == 0, "\(path): \(r.stderr)")
            #expect(r.status == 405, "\(path)")
        }
        let allow = try runCommand(["curl", "-sS", "--http2-prior-knowledge", "-I", base + "/v1/calls?n=50"])
        #expect(allow.stdout.lowercased().contains("allow: get\r\n"), "\(allow.stdout)")
        #expect(try grantedLeases(base) == leasesBefore)
        // A GET still leases.
        let (code, body) = try curl("\(base)/v1/calls?n=2")
        #expect(code == 200 && body.contains(#""type":"call""#), "\(body)")
        #expect(try grantedLeases(base) == leasesBefore + 2)
    }

    /// HTTP/1.1 clients (Kubernetes probes, Prometheus on a plain-text target, curl without
    /// --http2-prior-knowledge) get `/healthz`, `/readyz` and `/metrics`, with the same tokens; anything else a 505
    /// that says how to speak HTTP/2. HTTP/2 clients, including one whose preface arrives a byte at a time, are
    /// served as before.
    @Test func http1ClientsGetTheOperationsEndpointsAndA505() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tagih-h1-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let tokens = dir.appendingPathComponent("tokens")
        try "reader-token-0123456789 reader\n".write(to: tokens, atomically: true, encoding: .utf8)
        let server = try ServerProcess(
            extraArguments: ["--demo", "20", "--tokens", tokens.path] + ServiceLiveTests.clockArguments,
            dataDirectory: dir.appendingPathComponent("data"))
        defer { server.stop() }
        let base = server.baseURL
        func http1(_ path: String, _ extra: [String] = []) throws -> String {
            try runCommand(["curl", "-s", "-i", "--http1.1"] + extra + ["\(base)\(path)"]).stdout
        }
        var out = try http1("/readyz")
        #expect(out.hasPrefix("HTTP/1.1 200 OK") && out.hasSuffix("\r\n\r\nready\n"), "\(out)")
        out = try http1("/healthz", ["-I"])
        #expect(out.hasPrefix("HTTP/1.1 200 OK") && out.contains("content-length: 3"), "\(out)")
        out = try http1("/metrics")
        #expect(out.hasPrefix("HTTP/1.1 401"), "\(out)")
        out = try http1("/metrics", ["-H", "authorization: Bearer reader-token-0123456789"])
        #expect(out.hasPrefix("HTTP/1.1 200 OK") && out.contains("tagih_dialer_sessions"), "\(out)")
        out = try http1("/v1/calls?n=1", ["-H", "authorization: Bearer reader-token-0123456789"])
        #expect(out.hasPrefix("HTTP/1.1 505 HTTP Version Not Supported") && out.contains("--http2-prior-knowledge"),
                "\(out)")
        // Every response carries the protocol version (VERSIONING.md), the transport's own answers too.
        #expect(out.contains("tagih-protocol: 1\r\n"), "\(out)")
        out = try http1("/metrics")
        #expect(out.contains("tagih-protocol: 1\r\n"), "\(out)")
        // Python's standard library, as a scraper would use it.
        var r = try runCommand(["python3", "-c", """
            import sys, urllib.request
            req = urllib.request.Request(sys.argv[1] + "/metrics", headers={"authorization": "Bearer reader-token-0123456789"})
            with urllib.request.urlopen(req) as resp:
                body = resp.read().decode()
            print(resp.status, "tagih_engine_leases_total" in body)
            """, base])
        #expect(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "200 True", "\(r.stdout)\(r.stderr)")
        // An HTTP/2 preface that arrives in pieces is still HTTP/2.
        r = try runCommand(["python3", "-c", """
            import socket, sys, time
            import h2.connection, h2.config, h2.events
            sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
            conn.initiate_connection()
            data = conn.data_to_send()
            for piece in (data[:1], data[1:3], data[3:]):
                sock.sendall(piece)
                time.sleep(0.1)
            conn.send_headers(1, [(":method", "GET"), (":path", "/healthz"), (":scheme", "http"), (":authority", "x")], end_stream=True)
            sock.sendall(conn.data_to_send())
            status, body = None, b""
            sock.settimeout(5)
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                ended = False
                for event in conn.receive_data(chunk):
                    if isinstance(event, h2.events.ResponseReceived):
                        status = dict(event.headers)[b":status"]
                    elif isinstance(event, h2.events.DataReceived):
                        body += event.data
                    elif isinstance(event, h2.events.StreamEnded):
                        ended = True
                sock.sendall(conn.data_to_send())
                if ended:
                    break
            print(status.decode(), body.decode().strip())
            """, String(server.port)])
        #expect(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "200 ok", "\(r.stdout)\(r.stderr)")
    }

    /// A compressed request body is refused before a line is read (it would be parsed as garbage, line by line),
    /// `/metrics` carries the protocol header, and a debtor id with `+` in the path is that id.
    @Test func aCompressedBodyIsA415AndPlusInAPathIsItself() throws {
        let server = try ServerProcess(extraArguments: ServiceLiveTests.clockArguments)
        defer { server.stop() }
        let base = server.baseURL
        let line = #"{"id":"ACME+1","jurisdiction":"US","zone":"America/New_York","debts":[]}"# + "\n"
        var (code, body) = try curl(
            "\(base)/v1/debtors", method: "PUT",
            headers: ["content-type: application/x-ndjson", "content-encoding: gzip"], body: line)
        #expect(code == 415 && body.contains("content-encoding 'gzip' is not accepted"), "\(code) \(body)")
        (code, body) = try curl("\(base)/v1/debtors/ACME+1")
        #expect(code == 404, "\(code) \(body)")
        (code, body) = try curl(
            "\(base)/v1/debtors", method: "PUT", headers: ["content-type: application/x-ndjson"], body: line)
        #expect(code == 200 && body.contains(#""ok":true"#), "\(body)")
        (code, body) = try curl("\(base)/v1/debtors/ACME+1")
        #expect(code == 200 && body.contains(#""id":"ACME+1""#), "\(body)")
        let r = try runCommand(["curl", "-sS", "-D", "-", "-o", "/dev/null", "--http2-prior-knowledge", "\(base)/metrics"])
        #expect(r.stdout.lowercased().contains("tagih-protocol: 1"), "\(r.stdout)")
    }

    /// A lowercase or malformed `jurisdiction` filter is a 400 naming the parameter, not an empty 200 (a dialer
    /// configured with `us` would believe there is no work); a well-formed one still leases.
    @Test func aMalformedJurisdictionFilterIsABadQuery() throws {
        let server = try ServerProcess(extraArguments: ["--demo", "50"] + ServiceLiveTests.clockArguments)
        defer { server.stop() }
        let base = server.baseURL
        // Also an empty one (a URL built from an unset variable): it is not "every jurisdiction".
        for filter in ["us", "US,", "U%20S", "USA-", ""] {
            let (code, body) = try curl("\(base)/v1/calls?n=1&jurisdiction=\(filter)")
            #expect(code == 400 && body.contains("bad_query") && body.contains("'jurisdiction'"), "\(filter): \(body)")
        }
        let leased = try grantedLeases(base)
        #expect(leased == 0)
        var (code, body) = try curl("\(base)/v1/calls?n=1&jurisdiction=US,GB")
        #expect(code == 200, "\(body)")
        (code, body) = try curl("\(base)/v1/calls?n=1&jurisdiction=ZZ")
        #expect(code == 200 && !body.contains(#""type":"call""#), "\(body)")
    }

    /// A query parameter an endpoint does not read (a misspelt `limt`), or one given twice, is a 400 naming it, and
    /// nothing is leased; probes may add parameters to `/healthz`.
    @Test func anUnknownOrRepeatedQueryParameterIsABadQuery() throws {
        let server = try ServerProcess(extraArguments: ["--demo", "50"] + ServiceLiveTests.clockArguments)
        defer { server.stop() }
        let base = server.baseURL
        let cases = [
            ("/v1/calls?n=2&limt=5", "unknown query parameter 'limt'; /v1/calls accepts n, wait, jurisdiction"),
            ("/v1/calls?n=2&n=3", "query parameter 'n' is given twice"),
            ("/v1/schedule?from=2026-12-01T00:00:00Z&lmit=3", "unknown query parameter 'lmit'"),
            ("/v1/debtors/D-1?verbose=1", "/v1/debtors/D-1 takes no query parameters (got 'verbose')"),
        ]
        for (path, message) in cases {
            let (code, body) = try curl(base + path)
            #expect(code == 400 && body.contains(#""code":"bad_query""#) && body.contains(message), "\(path): \(body)")
        }
        // Machine-readable too: the parameter in `field`, the accepted ones in `accepted`.
        let (_, typo) = try curl(base + "/v1/calls?n=2&limt=5")
        #expect(typo.contains(#""field":"limt""#) && typo.contains(#""accepted":["n","wait","jurisdiction"]"#), "\(typo)")
        #expect(try grantedLeases(base) == 0)
        // A debtor id that is not valid percent-encoding is the client's error, not a missing endpoint.
        var (code, body) = try curl(base + "/v1/debtors/%ZZ")
        #expect(code == 400 && body.contains(#""code":"bad_path""#), "\(body)")
        (code, body) = try curl(base + "/healthz?probe=k8s")
        #expect(code == 200, "\(body)")
        (code, body) = try curl(base + "/v1/calls?n=2&wait=0")
        #expect(code == 200 && body.contains(#""type":"call""#), "\(body)")
        #expect(try grantedLeases(base) == 2)
    }

    /// A query value out of range or malformed is a 400 whose message quotes the value and whose `field` names the
    /// parameter; `wait` takes a decimal number of seconds.
    @Test func aBadQueryValueIsQuotedAndNamedInField() throws {
        let server = try ServerProcess(extraArguments: ["--demo", "50"] + ServiceLiveTests.clockArguments)
        defer { server.stop() }
        let base = server.baseURL
        let cases = [
            ("/v1/calls?n=0", "n", "query parameter 'n' is '0'; it must be an integer from 1 to 10000"),
            ("/v1/calls?n=1&wait=61", "wait", "query parameter 'wait' is '61'; it must be a number of seconds"),
            ("/v1/calls?n=1&wait=nan", "wait", "query parameter 'wait' is 'nan'"),
            ("/v1/calls?n=1&jurisdiction=us", "jurisdiction", "query parameter 'jurisdiction' is 'us'"),
            ("/v1/schedule?limit=abc", "limit", "query parameter 'limit' is 'abc'; it must be an integer"),
            ("/v1/schedule?from=yesterday", "from", "query parameter 'from' is 'yesterday'; it must be an RFC 3339"),
            ("/v1/schedule?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", "to", "not before 'from'"),
        ]
        for (path, field, message) in cases {
            let (code, body) = try curl(base + path)
            #expect(code == 400 && body.contains(#""code":"bad_query""#), "\(path): \(body)")
            #expect(body.contains(#""field":"\#(field)""#) && body.contains(message), "\(path): \(body)")
        }
        #expect(try grantedLeases(base) == 0)
        // A decimal wait: accepted, and the call still leases what is ready.
        let (code, body) = try curl(base + "/v1/calls?n=1&wait=0.5")
        #expect(code == 200 && body.contains(#""type":"call""#), "\(body)")
        #expect(try grantedLeases(base) == 1)
    }

    /// The `tagih_engine_leases_total{kind="granted"}` counter.
    private func grantedLeases(_ base: String) throws -> Int {
        let (code, body) = try curl("\(base)/metrics")
        #expect(code == 200)
        for line in body.split(separator: "\n") where line.hasPrefix("tagih_engine_leases_total{kind=\"granted\"}") {
            return Int(Double(line.split(separator: " ").last ?? "") ?? -1)
        }
        return 0
    }
}
