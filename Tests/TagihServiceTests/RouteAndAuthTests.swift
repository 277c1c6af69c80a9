import Testing
import Foundation
@testable import TagihService

@Suite struct RouteTests {
    static let cases: [(String, String, RouteMatch)] = [
        ("GET", "/healthz", .found(.healthz)),
        ("HEAD", "/readyz", .found(.readyz)),
        ("PUT", "/v1/debtors", .found(.putDebtors)),
        ("POST", "/v1/debtors", .methodNotAllowed(allow: ["PUT"])),
        ("GET", "/v1/debtors/D-1", .found(.getDebtor(id: "D-1"))),
        ("POST", "/v1/clearances", .found(.postClearances)),
        ("GET", "/v1/clearances", .methodNotAllowed(allow: ["POST"])),
        ("GET", "/v1/debtors/D%2F1", .found(.getDebtor(id: "D/1"))),
        ("GET", "/v1/debtors/", .notFound),
        ("GET", "/v1/debtors/%ZZ", .badDebtorID),
        ("GET", "/v1/debtors/D-%FF", .badDebtorID),  // not UTF-8
        ("GET", "/v1/debtors/%", .badDebtorID),
        ("GET", "/v1/debtors/a/b", .notFound),
        ("DELETE", "/v1/debtors/D-1", .methodNotAllowed(allow: ["GET", "HEAD"])),
        ("POST", "/v1/outcomes", .found(.postOutcomes)),
        ("GET", "/v1/outcomes", .methodNotAllowed(allow: ["POST"])),
        ("POST", "/v1/payments", .found(.postPayments)),
        ("GET", "/v1/calls", .found(.getCalls)),
        ("HEAD", "/v1/calls", .methodNotAllowed(allow: ["GET"])),
        ("HEAD", "/v1/schedule", .methodNotAllowed(allow: ["GET"])),
        ("HEAD", "/v1/debug/stream", .methodNotAllowed(allow: ["GET"])),
        ("HEAD", "/v1/debtors/D-1", .found(.getDebtor(id: "D-1"))),
        ("HEAD", "/metrics", .found(.metrics)),
        ("POST", "/v1/dialer", .found(.dialer)),
        ("GET", "/v1/schedule", .found(.schedule)),
        ("POST", "/v1/simulations", .found(.simulations)),
        ("GET", "/v2/calls", .notFound),
        ("GET", "/", .notFound),
    ]

    @Test(arguments: cases)
    func routes(method: String, path: String, expected: RouteMatch) {
        #expect(matchRoute(method: method, path: path) == expected)
    }

    @Test func queryParsing() {
        let q = parseQuery("n=5&jurisdiction=US-MA&from=2026-11-30T08%3A00%3A00-05%3A00&flag")
        #expect(q["n"] == "5")
        #expect(q["jurisdiction"] == "US-MA")
        #expect(q["from"] == "2026-11-30T08:00:00-05:00")
        #expect(q["flag"] == "")
        #expect(percentDecode("%zz") == nil)
        // `+` is a space in a query only.
        #expect(parseQuery("jurisdiction=US+MA")["jurisdiction"] == "US MA")
        #expect(matchRoute(method: "GET", path: "/v1/debtors/ACME+1") == .found(.getDebtor(id: "ACME+1")))
        #expect(matchRoute(method: "GET", path: "/v1/debtors/ACME%2B1") == .found(.getDebtor(id: "ACME+1")))
        #expect(matchRoute(method: "GET", path: "/v1/debtors/ACME%201") == .found(.getDebtor(id: "ACME 1")))
    }

    @Test func queryProblems() {
        let calls = Endpoint.getCalls.queryParameters!
        #expect(queryProblem("", accepted: calls, path: "/v1/calls") == nil)
        #expect(queryProblem("n=5&wait=2&jurisdiction=US", accepted: calls, path: "/v1/calls") == nil)
        #expect(queryProblem("n=5&&wait=2&", accepted: calls, path: "/v1/calls") == nil)
        #expect(queryProblem("%6E=5", accepted: calls, path: "/v1/calls") == nil)  // "n", percent-encoded
        #expect(queryProblem("n=5&limt=2", accepted: calls, path: "/v1/calls") == QueryProblem(
            parameter: "limt", message: "unknown query parameter 'limt'; /v1/calls accepts n, wait, jurisdiction"))
        #expect(queryProblem("n=1&n=2", accepted: calls, path: "/v1/calls")
            == QueryProblem(parameter: "n", message: "query parameter 'n' is given twice"))
        #expect(queryProblem("n=1&%zz=2", accepted: calls, path: "/v1/calls")
            == QueryProblem(parameter: "%zz", message: "query parameter name '%zz' is not valid percent-encoding"))
        #expect(queryProblem("x", accepted: Endpoint.postOutcomes.queryParameters!, path: "/v1/outcomes")
            == QueryProblem(parameter: "x", message: "/v1/outcomes takes no query parameters (got 'x')"))
        let long = String(repeating: "a", count: 100)
        let shown = String(repeating: "a", count: 64) + "…"
        #expect(queryProblem(long, accepted: [], path: "/v1/debtors")
            == QueryProblem(parameter: shown, message: "/v1/debtors takes no query parameters (got '\(shown)')"))
        // Probes and scrapers may add their own parameters.
        #expect(Endpoint.healthz.queryParameters == nil && Endpoint.metrics.queryParameters == nil)
    }
}

@Suite struct AuthTests {
    let store = try! TokenStore(parsing: """
        # comment
        dialer-token-0123456789 dialer floor-1
        writer-token-0123456789 writer,reader
        admin-token-01234567890 admin
        """)

    static let verdictCases: [(String, Set<Role>, TokenStore.Verdict)] = [
        ("Bearer dialer-token-0123456789", [.dialer], .allowed),
        ("Bearer dialer-token-0123456789", [.writer], .forbidden),
        ("bearer writer-token-0123456789", [.reader], .allowed),
        ("Bearer admin-token-01234567890", [.dialer], .allowed),
        ("Bearer nope-nope-nope-nope-nope", [.reader], .unauthenticated),
        ("Basic abc", [.reader], .unauthenticated),
    ]

    /// A token file saved with Windows line endings keeps every token (audit of session 11: only the first one was
    /// read, the rest became its NAME).
    @Test func crlfTokenFilesKeepEveryToken() throws {
        let crlf = try TokenStore(parsing: "# comment\r\nreader-token-0123456789 reader ops-read\r\n"
            + "admin-token-01234567890 admin boss\r\n\r\nwriter-token-0123456789 writer\r\n")
        #expect(crlf.check(authorization: "Bearer reader-token-0123456789", anyOf: [.reader]) == .allowed)
        #expect(crlf.check(authorization: "Bearer admin-token-01234567890", anyOf: [.dialer]) == .allowed)
        #expect(crlf.check(authorization: "Bearer writer-token-0123456789", anyOf: [.writer]) == .allowed)
        // Line numbers stay exact: the bad line is the fourth.
        #expect {
            _ = try TokenStore(parsing: "a-token-0123456789ab reader\r\n\r\n# c\r\nshort reader\r\n")
        } throws: { error in
            (error as? TokenFileError)?.line == 4
        }
    }

    @Test(arguments: verdictCases)
    func verdicts(header: String, roles: Set<Role>, expected: TokenStore.Verdict) {
        #expect(store.check(authorization: header, anyOf: roles) == expected)
    }

    @Test func missingHeaderIsUnauthenticatedButOpenRoutesPass() {
        #expect(store.check(authorization: nil, anyOf: [.reader]) == .unauthenticated)
        #expect(store.check(authorization: nil, anyOf: []) == .allowed)
        #expect(TokenStore.open.check(authorization: nil, anyOf: [.admin]) == .allowed)
    }

    @Test(arguments: [
        ("short dialer", 1, "shorter than 16"),
        ("0123456789abcdefgh pilot", 1, "unknown role 'pilot'"),
        ("0123456789abcdefgh", 1, "expected"),
        ("0123456789abcdefgh dialer\n0123456789abcdefgh reader", 2, "duplicate token"),
    ])
    func badTokenFiles(text: String, line: Int, message: String) {
        #expect {
            try TokenStore(parsing: text)
        } throws: { error in
            guard let error = error as? TokenFileError else { return false }
            return error.line == line && error.message.contains(message)
        }
    }

    /// A token file that cannot be read says why in plain words (it used to print a Foundation error dump).
    @Test func unreadableTokenFilesSayWhy() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tokens-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let binary = dir.appendingPathComponent("binary")
        try Data([0xFF, 0xFE, 0x00]).write(to: binary)
        for (path, why) in [(dir.path + "/missing", "no such file"), (dir.path, "it is a directory"),
                            (binary.path, "not UTF-8")] {
            #expect {
                try TokenStore(contentsOfFile: path)
            } throws: { error in
                guard let error = error as? TokenFileError else { return false }
                // A problem of the whole file names no line ("path: …", not "path:0: …").
                return error.message.contains(why) && !error.message.contains("NSCocoaErrorDomain")
                    && "\(error)" == "\(path): \(error.message)"
            }
        }
    }

    @Test(arguments: [("127.0.0.1", true), ("127.1.2.3", true), ("localhost", true), ("::1", true),
                      ("0.0.0.0", false), ("10.0.0.1", false), ("example.com", false)])
    func loopback(host: String, expected: Bool) {
        #expect(isLoopback(host: host) == expected)
    }
}

@Suite struct JSONLineTests {
    @Test func escapesAndShapes() {
        var line = JSONLine()
        line.add("a", "q\"b\\\n\u{01}")
        line.add("n", 3)
        line.add("ok", true)
        line.add("r", ["x", "y"])
        line.add("z", nil as String?)
        #expect(String(decoding: line.finish(), as: UTF8.self) == "{\"a\":\"q\\\"b\\\\\\n\\u0001\",\"n\":3,\"ok\":true,\"r\":[\"x\",\"y\"],\"z\":null}\n")
        #expect(String(decoding: JSONLine.httpErrorBody(code: "c", message: "m"), as: UTF8.self) == "{\"error\":{\"code\":\"c\",\"message\":\"m\"}}\n")
    }

    /// Random strings mixing plain runs, every control byte, quotes, backslashes and non-ASCII text
    /// survive a round trip through Foundation's JSON parser.
    @Test func escapedStringsRoundTripThroughAJSONParser() throws {
        var rng = SystemRandomNumberGenerator()
        let pieces = ["plain text", "\"", "\\", "\n", "\r", "\t", "é", "日本", "💸", "", "a\\\"b"]
            + (0..<0x20).map { String(UnicodeScalar(UInt8($0))) }
        for _ in 0..<500 {
            let value = (0..<Int.random(in: 0...8, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
            var line = JSONLine()
            line.add("v", value)
            let parsed = try JSONSerialization.jsonObject(with: Data(line.finish())) as? [String: String]
            #expect(parsed?["v"] == value, "round trip of \(value.debugDescription)")
        }
    }

    /// Every byte that needs an escape, at every offset of a long run (the encoder skips clean runs eight
    /// bytes at a time), next to multi-byte UTF-8; nested objects, negative and extreme integers.
    @Test func escapesAtEveryOffsetAndNestedShapes() throws {
        for special in ["\"", "\\", "\n", "\u{1F}", "\u{00}", "é"] {
            for offset in 0..<20 {
                let value = String(repeating: "a", count: offset) + special + String(repeating: "~", count: 19 - offset)
                var line = JSONLine(capacity: 8)
                line.add("v", value)
                let parsed = try JSONSerialization.jsonObject(with: Data(line.finish())) as? [String: String]
                #expect(parsed?["v"] == value, "\(special.debugDescription) at \(offset)")
            }
        }
        var line = JSONLine(capacity: 1)
        line.add("min", Int.min)
        line.add("max", Int.max)
        line.add("neg", -42)
        line.add("zero", 0)
        line.add("empty", "")
        line.addObject("o") { inner in
            inner.add("a", 1)
            inner.addObjects("list", [1, 2]) { item, n in item.add("n", n) }
        }
        line.add("after", true)
        let text = String(decoding: line.finish(newline: false), as: UTF8.self)
        #expect(text == #"{"min":-9223372036854775808,"max":9223372036854775807,"neg":-42,"zero":0,"empty":"","o":{"a":1,"list":[{"n":1},{"n":2}]},"after":true}"#)
    }
}
