import Foundation
import Testing

/// The real `tagih serve` binary, driven by real third-party clients.
@Suite(.serialized) struct ServiceLiveTests {
    static let clockArguments = [
        "--clock-start", "2026-12-01T15:00:00Z", "--heartbeat", "1", "--lease-ttl", "3", "--body-timeout", "2",
    ]

    @Test func pythonProtocolSuite() throws {
        let server = try ServerProcess(extraArguments: Self.clockArguments)
        defer { server.stop() }
        let r = try runCommand(["python3", clientScript("protocol_test.py"), "127.0.0.1", String(server.port)],
                               timeout: 300)
        let summary = r.stdout + r.stderr
        #expect(r.status == 0, "\(summary)\n--- server log ---\n\(server.log())")
        #expect(summary.contains(" passed, 0 failed"))
    }

    @Test func curlEveryEndpoint() throws {
        let server = try ServerProcess(extraArguments: Self.clockArguments)
        defer { server.stop() }
        let base = server.baseURL
        let nd = ["content-type: application/x-ndjson"]

        var (code, body) = try curl("\(base)/healthz")
        #expect(code == 200 && body.contains("ok"))
        (code, body) = try curl("\(base)/readyz")
        #expect(code == 200)
        (code, body) = try curl("\(base)/metrics")
        #expect(code == 200 && body.contains("# TYPE"))

        let debtor = #"{"id":"C-1","jurisdiction":"US","zone":"America/Chicago","phones":[{"number":"+13125550100","zone":"America/Chicago"}],"debts":[{"id":"CA-1","balance":"99.50","currency":"USD"}]}"#
        (code, body) = try curl("\(base)/v1/debtors", method: "PUT", headers: nd, body: debtor + "\n")
        #expect(code == 200 && body.contains(#""ok":true"#), "\(body)")

        (code, body) = try curl("\(base)/v1/debtors/C-1")
        #expect(code == 200 && body.contains(#""decisions""#), "\(body)")
        (code, body) = try curl("\(base)/v1/debtors/none")
        #expect(code == 404 && body.contains("unknown_debtor"), "\(body)")

        (code, body) = try curl("\(base)/v1/calls?n=1")
        #expect(code == 200 && body.contains(#""type":"call""#), "\(body)")

        let outcome = #"{"attempt":"curl-1","debtor":"C-1","debt":"CA-1","phone":"+13125550100","at":"2026-12-01T15:00:00Z","outcome":"busy"}"#
        (code, body) = try curl("\(base)/v1/outcomes", method: "POST", headers: nd, body: outcome + "\n" + outcome + "\n")
        #expect(code == 200 && body.contains(#""duplicate":false"#) && body.contains(#""duplicate":true"#), "\(body)")

        let payment = #"{"payment":"curl-p1","debtor":"C-1","debt":"CA-1","amount":10,"at":"2026-12-01T15:00:00Z"}"#
        (code, body) = try curl("\(base)/v1/payments", method: "POST", headers: nd, body: payment + "\n")
        #expect(code == 200 && body.contains(#""ok":true"#), "\(body)")

        let clearance = #"{"clearance":"curl-cl-1","debtor":"C-1","clears":"cease","by":"ops"}"#
        (code, body) = try curl("\(base)/v1/clearances", method: "POST", headers: nd, body: clearance + "\n")
        #expect(code == 200 && body.contains(#""id":"curl-cl-1","ok":true"#), "\(body)")

        (code, body) = try curl("\(base)/v1/schedule?from=2026-12-01T00:00:00Z&to=2026-12-31T00:00:00Z")
        #expect(code == 200)
        // An offset's '+' sent unencoded reads as a space: the error says so (with %2B it works).
        (code, body) = try curl("\(base)/v1/schedule?from=2026-12-02T09:00:00+07:00&limit=1")
        #expect(code == 400 && body.contains("%2B") && body.contains(#""field":"from""#), "\(body)")
        (code, body) = try curl("\(base)/v1/schedule?from=2026-12-02T09:00:00%2B07:00&limit=1")
        #expect(code == 200, "\(body)")
        // 'to' alone before the server's clock: the message says what 'from' defaulted to.
        (code, body) = try curl("\(base)/v1/schedule?to=2026-01-01T00:00:00Z")
        #expect(code == 400 && body.contains("server's clock when not given"), "\(body)")

        (code, body) = try curl("\(base)/v1/debug/stream?n=3")
        #expect(code == 200 && body.split(separator: "\n").count == 3 && body.contains(#""seq":3"#), "\(body)")

        (code, body) = try curl("\(base)/v1/dialer", method: "POST", headers: nd, body: #"{"type":"ready","n":0}"# + "\n")
        #expect(code == 200, "\(body)")

        (code, body) = try curl("\(base)/v1/simulations", method: "POST", headers: ["content-type: application/json"],
                                body: #"{"debtors":200,"start":"2026-12-01","days":1,"agents":2,"seed":1,"strategy":"tagih"}"#)
        #expect(code == 200 && body.contains(#""type":"report""#), "\(body)")
        // A typo ("agent") is refused with 400 naming it and listing the accepted parameters, not run with defaults.
        (code, body) = try curl("\(base)/v1/simulations", method: "POST", headers: ["content-type: application/json"],
                                body: #"{"debtors":200,"start":"2026-12-01","days":1,"agent":2,"seed":1}"#)
        #expect(code == 400 && body.contains(#""code":"unknown_field""#) && body.contains(#""field":"agent""#)
                    && body.contains("debtors, start, days, agents, seed, strategy, dialer, mix, floorZone"), "\(body)")
        #expect(!body.contains(#""type":"progress""#), "\(body)")

        (code, _) = try curl("\(base)/v1/outcomes", method: "POST", headers: ["content-type: text/plain"], body: "x")
        #expect(code == 415)
        (code, _) = try curl("\(base)/v1/outcomes", method: "GET")
        #expect(code == 405)
        (code, _) = try curl("\(base)/nope")
        #expect(code == 404)
    }

    @Test func tokensAreEnforced() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tagih-tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let tokens = dir.appendingPathComponent("tokens")
        try "reader-token-0123456789 reader\ndialer-token-0123456789 dialer\n".write(to: tokens, atomically: true, encoding: .utf8)
        let server = try ServerProcess(extraArguments: ["--tokens", tokens.path], dataDirectory: dir)
        defer { server.stop() }
        var (code, _) = try curl("\(server.baseURL)/v1/schedule")
        #expect(code == 401)
        (code, _) = try curl("\(server.baseURL)/v1/schedule", headers: ["authorization: Bearer reader-token-0123456789"])
        #expect(code == 200)
        (code, _) = try curl("\(server.baseURL)/v1/calls?n=1", headers: ["authorization: Bearer reader-token-0123456789"])
        #expect(code == 403)
        (code, _) = try curl("\(server.baseURL)/healthz")
        #expect(code == 200)
        // Two credentials are ambiguous, in either order: refused (the last one used to win).
        for pair in [["bad-token-0123456789xx", "reader-token-0123456789"], ["reader-token-0123456789", "bad-token-0123456789xx"]] {
            let body: String
            (code, body) = try curl(
                "\(server.baseURL)/v1/schedule", headers: pair.map { "authorization: Bearer \($0)" })
            #expect(code == 400 && body.contains("2 authorization headers"), "\(pair): \(code) \(body)")
        }
    }

    @Test func refusesPublicBindWithoutTokens() throws {
        let r = try runCommand([try tagihBinary().path, "serve", "--host", "0.0.0.0", "--port", "0",
                                "--data", FileManager.default.temporaryDirectory.path + "/tagih-nobind"], timeout: 60)
        #expect(r.status != 0)
        #expect(r.stderr.contains("--tokens"), "\(r.stderr)")
    }

    @Test func h2loadOnRequestEndpoints() throws {
        let server = try ServerProcess(extraArguments: ["--demo", "500"] + Self.clockArguments)
        defer { server.stop() }
        for path in ["/healthz", "/v1/debtors/D-1", "/v1/debug/stream?n=100"] {
            let r = try runCommand(["h2load", "-n", "2000", "-c", "4", "-m", "10", "\(server.baseURL)\(path)"], timeout: 120)
            #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
            #expect(r.stdout.contains("2000 succeeded, 0 failed, 0 errored"), "\(path): \(r.stdout)")
            #expect(r.stdout.contains("status codes: 2000 2xx"), "\(path): \(r.stdout)")
        }
    }

    @Test func gracefulShutdownEndsLiveStreamsWithAFinalLine() throws {
        let server = try ServerProcess(extraArguments: Self.clockArguments)
        // A dialer session that stays open; SIGTERM must end it with a shutting_down line.
        let script = """
            import sys, time
            sys.path.insert(0, sys.argv[1])
            from tagih_client import DuplexStream
            s = DuplexStream("127.0.0.1", int(sys.argv[2]), "POST", "/v1/dialer", headers=[("content-type", "application/x-ndjson")])
            s.send_line({"type": "ready", "n": 0})
            print("open", flush=True)
            line = s.next_line(timeout=30, predicate=lambda l: l.get("type") == "error")
            print("final", line, s.ended or s.closed, flush=True)
            """
        let clients = repositoryRoot.appendingPathComponent("Tests/IntegrationTests/Clients").path
        let (status, _, text) = try Self.stopWhileClientRuns(server, ["python3", "-c", script, clients, String(server.port)])
        #expect(status == 0, "server exit status \(status): \(server.log())")
        #expect(text.contains("shutting_down"), "\(text)")
    }

    /// Starts a client command, stops `server` with SIGTERM 1.5 s later, and waits for the client: the server's exit
    /// status, the client's, and what the client printed.
    static func stopWhileClientRuns(_ server: ServerProcess, _ arguments: [String]) throws
        -> (server: Int32, client: Int32, output: String)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        Thread.sleep(forTimeInterval: 1.5)
        let status = server.stop(signal: SIGTERM)
        process.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (status, process.terminationStatus, text)
    }

    /// A `GET /v1/calls` waiting for calls (nothing in flight) ends at SIGTERM with its `shutting_down` line at once,
    /// not when the server's 10-second grace period runs out (which held every rolling restart that long). The
    /// client gives up after 9 s: before the fix it got nothing by then.
    @Test func aWaitingCallsRequestEndsAtOnceOnShutdown() throws {
        let server = try ServerProcess(extraArguments: Self.clockArguments)  // an empty store: nothing to lease
        let (status, curl, text) = try Self.stopWhileClientRuns(
            server,
            ["curl", "-sS", "--http2-prior-knowledge", "--max-time", "9", "\(server.baseURL)/v1/calls?n=5&wait=60"])
        #expect(status == 0, "server exit status \(status): \(server.log())")
        #expect(curl == 0 && text.contains(#""code":"shutting_down""#), "curl \(curl): \(text)")
    }
}

/// proto-docs/transcripts replayed as golden fixtures against a frozen-clock server.
@Suite struct TranscriptTests {
    @Test func transcriptsReplayExactly() throws {
        let server = try ServerProcess(extraArguments: ["--clock-start", "2026-12-01T17:00:00Z", "--clock-frozen"])
        defer { server.stop() }
        let r = try runCommand(["python3", clientScript("transcripts_test.py"), "127.0.0.1", String(server.port)],
                               timeout: 120)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)\n--- server log ---\n\(server.log())")
        #expect(r.stdout.contains(" passed, 0 failed"))
    }
}

/// TLS with ALPN h2 when a certificate and key are configured.
@Suite struct TLSLiveTests {
    @Test func servesHTTP2OverTLSWithALPN() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tagih-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let cert = dir.appendingPathComponent("cert.pem").path
        let key = dir.appendingPathComponent("key.pem").path
        let made = try runCommand([
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
            "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ])
        try #require(made.status == 0, "\(made.stderr)")
        let server = try ServerProcess(
            extraArguments: ["--tls-cert", cert, "--tls-key", key], dataDirectory: dir, readyCheck: .tls)
        defer { server.stop() }
        let r = try runCommand([
            "curl", "-sS", "--cacert", cert, "--http2", "-w", "\n%{http_version} %{http_code}",
            "https://127.0.0.1:\(server.port)/healthz",
        ])
        #expect(r.stdout.hasSuffix("2 200"), "\(r.stdout)\(r.stderr)")
        // Plain h2c is refused on a TLS port.
        let plain = try runCommand([
            "curl", "-sS", "--http2-prior-knowledge", "--max-time", "5", "http://127.0.0.1:\(server.port)/healthz",
        ])
        #expect(plain.status != 0)
    }
}

/// What the server acknowledged survives `kill -9` of the real process.
@Suite struct DurabilityLiveTests {
    @Test func acknowledgedWritesSurviveKill9() throws {
        let nd = ["content-type: application/x-ndjson"]
        let first = try ServerProcess(extraArguments: ["--clock-start", "2026-12-01T15:00:00Z"])
        let debtor = #"{"id":"K-1","jurisdiction":"US","zone":"America/New_York","phones":[{"number":"+12125550199","zone":"America/New_York"}],"debts":[{"id":"KA-1","balance":"10.00","currency":"USD"}]}"#
        var (code, body) = try curl("\(first.baseURL)/v1/debtors", method: "PUT", headers: nd, body: debtor + "\n")
        #expect(code == 200 && body.contains(#""ok":true"#))
        let outcome = #"{"attempt":"k-att-1","debtor":"K-1","debt":"KA-1","phone":"+12125550199","at":"2026-12-01T15:00:00Z","outcome":"no_answer"}"#
        (code, body) = try curl("\(first.baseURL)/v1/outcomes", method: "POST", headers: nd, body: outcome + "\n")
        #expect(body.contains(#""duplicate":false"#), "\(body)")
        // A lease handed out and a clearance acknowledged before the kill survive it too.
        let leased = #"{"id":"K-2","jurisdiction":"US","zone":"America/New_York","phones":[{"number":"+12125550198","zone":"America/New_York"}],"debts":[{"id":"KB-1","balance":"20.00","currency":"USD"}]}"#
        let disputed = #"{"id":"K-3","jurisdiction":"US","zone":"America/New_York","phones":[{"number":"+12125550197","zone":"America/New_York"}],"debts":[{"id":"KC-1","balance":"30.00","currency":"USD"}]}"#
        (code, body) = try curl("\(first.baseURL)/v1/debtors", method: "PUT", headers: nd, body: leased + "\n")
        #expect(body.contains(#""ok":true"#), "\(body)")
        (code, body) = try curl("\(first.baseURL)/v1/calls?n=1")
        #expect(code == 200 && body.contains(#""debtor":"K-2""#), "\(body)")
        (code, body) = try curl("\(first.baseURL)/v1/debtors", method: "PUT", headers: nd, body: disputed + "\n")
        let dispute = #"{"attempt":"k-att-3","debtor":"K-3","debt":"KC-1","phone":"+12125550197","at":"2026-11-20T15:00:00Z","outcome":"dispute"}"#
        (code, body) = try curl("\(first.baseURL)/v1/outcomes", method: "POST", headers: nd, body: dispute + "\n")
        #expect(body.contains(#""duplicate":false"#), "\(body)")
        let clearance = #"{"clearance":"k-cl-1","debtor":"K-3","clears":"dispute","debt":"KC-1","by":"ops"}"#
        (code, body) = try curl("\(first.baseURL)/v1/clearances", method: "POST", headers: nd, body: clearance + "\n")
        #expect(body.contains(#""duplicate":false"#) && !body.contains("nothing_to_clear"), "\(body)")
        // A dispute reported by a dialer whose clock runs 2 minutes ahead (within the allowed skew) is dated after
        // the server's clock: the clearance recorded after it still lifts it (it is stamped after the dispute).
        let ahead = #"{"id":"K-4","jurisdiction":"US","zone":"America/New_York","phones":[{"number":"+12125550196","zone":"America/New_York"}],"debts":[{"id":"KD-1","balance":"40.00","currency":"USD"}]}"#
        (code, body) = try curl("\(first.baseURL)/v1/debtors", method: "PUT", headers: nd, body: ahead + "\n")
        let aheadDispute = #"{"attempt":"k-att-4","debtor":"K-4","debt":"KD-1","phone":"+12125550196","at":"2026-12-01T15:02:00Z","outcome":"dispute"}"#
        (code, body) = try curl("\(first.baseURL)/v1/outcomes", method: "POST", headers: nd, body: aheadDispute + "\n")
        #expect(body.contains(#""duplicate":false"#), "\(body)")
        let aheadClearance = #"{"clearance":"k-cl-4","debtor":"K-4","clears":"dispute","debt":"KD-1","by":"ops"}"#
        (code, body) = try curl("\(first.baseURL)/v1/clearances", method: "POST", headers: nd, body: aheadClearance + "\n")
        #expect(body.contains(#""duplicate":false"#) && !body.contains("nothing_to_clear"), "\(body)")
        (code, body) = try curl("\(first.baseURL)/v1/debtors/K-4")
        #expect(code == 200 && !body.contains("dispute open"), "\(body)")
        // A clearance of a hold that is not there (no cease was ever recorded, the dispute is cleared already) is
        // recorded for the audit trail with a warning, not a bare ok.
        let stray = #"{"clearance":"k-cl-2","debtor":"K-3","clears":"cease","by":"ops"}"#
            + "\n" + #"{"clearance":"k-cl-3","debtor":"K-3","clears":"dispute","debt":"KC-1","by":"ops"}"#
        (code, body) = try curl("\(first.baseURL)/v1/clearances", method: "POST", headers: nd, body: stray + "\n")
        let acks = body.split(separator: "\n")
        #expect(code == 200 && acks.count == 2, "\(body)")
        #expect(acks.allSatisfy { $0.contains(#""ok":true"#) && $0.contains(#""warningCodes":["nothing_to_clear"]"#) },
                "\(body)")
        #expect(body.contains("has no open cease request") && body.contains("has no open dispute on debt 'KC-1'"),
                "\(body)")
        let status = first.stop(signal: SIGKILL)
        #expect(status == SIGKILL || status == 9)

        let second = try ServerProcess(
            extraArguments: ["--clock-start", "2026-12-01T15:00:00Z"], dataDirectory: first.dataDirectory)
        defer { second.stop() }
        (code, body) = try curl("\(second.baseURL)/v1/debtors/K-1")
        #expect(code == 200 && body.contains(#""attempts":1"#), "\(body)")
        (code, body) = try curl("\(second.baseURL)/v1/outcomes", method: "POST", headers: nd, body: outcome + "\n")
        #expect(body.contains(#""duplicate":true"#), "\(body)")
        // K-2 is still leased to the dialer of the first process: nobody else gets it.
        (code, body) = try curl("\(second.baseURL)/v1/debtors/K-2")
        #expect(code == 200 && body.contains(#""leased":true"#), "\(body)")
        (code, body) = try curl("\(second.baseURL)/v1/calls?n=10")
        #expect(code == 200 && !body.contains(#""debtor":"K-2""#), "\(body)")
        // K-3's and K-4's disputes stay cleared, and the clearance is not applied twice.
        (code, body) = try curl("\(second.baseURL)/v1/debtors/K-3")
        #expect(code == 200 && !body.contains("dispute open"), "\(body)")
        (code, body) = try curl("\(second.baseURL)/v1/debtors/K-4")
        #expect(code == 200 && !body.contains("dispute open"), "\(body)")
        (code, body) = try curl("\(second.baseURL)/v1/clearances", method: "POST", headers: nd, body: clearance + "\n")
        #expect(body.contains(#""duplicate":true"#) && !body.contains("nothing_to_clear"), "\(body)")
    }
}

/// A dialer that vanishes mid-session leaves the server idle (it used to spin the connection's event loop until
/// the next heartbeat, stalling the other connections on that loop), and a `GET /v1/calls` client that vanishes
/// while waiting gets no more leases (they were held for the TTL and counted as placed calls).
@Suite struct DialerDisconnectLiveTests {
    @Test func vanishedClientsLeaveTheServerIdleAndLeaseNothing() throws {
        // A long heartbeat: the spin lasted until the first heartbeat after the disconnect.
        let server = try ServerProcess(extraArguments: ["--clock-start", "2026-12-01T15:00:00Z", "--heartbeat", "60"])
        defer { server.stop() }
        let r = try runCommand(
            ["python3", clientScript("dialer_disconnect_test.py"), "127.0.0.1", String(server.port),
             String(server.process.processIdentifier)],
            timeout: 120)
        #expect(r.status == 0 && r.stdout.contains("1 passed, 0 failed"),
                "\(r.stdout)\(r.stderr)\n--- server log ---\n\(server.log().suffix(3000))")
    }
}

/// `POST /v1/simulations` shares the process with the dialers: one at a time, stopped when nobody listens.
@Suite struct SimulationLiveTests {
    @Test func oneAtATimeStoppedWhenTheClientLeavesOrTheServerStops() throws {
        let server = try ServerProcess(extraArguments: ["--clock-start", "2026-12-01T15:00:00Z"])
        defer { server.stop() }
        let r = try runCommand(
            ["python3", clientScript("simulation_stop_test.py"), "127.0.0.1", String(server.port),
             String(server.process.processIdentifier), "then-shutdown"],
            timeout: 300)
        #expect(r.status == 0 && r.stdout.contains("1 passed, 0 failed"),
                "\(r.stdout)\(r.stderr)\n--- server log ---\n\(server.log().suffix(3000))")
        // The SIGTERM sent by the client during the last run: a clean exit.
        #expect(server.stop() == 0, "\(server.log().suffix(2000))")
        // Both stops are logged: the closed connection and the reset stream (a reset was often noticed by the
        // failed progress write, which logged nothing).
        let stops = server.log().components(separatedBy: "simulation stopped: its client went away").count - 1
        #expect(stops == 2, "\(stops) stops logged\n\(server.log().suffix(2000))")
    }

    /// A simulation's engine is not the service's: its millions of leases and events stay out of `/metrics`.
    @Test func aSimulationLeavesTheServiceMetricsAlone() throws {
        let server = try ServerProcess(extraArguments: ["--clock-start", "2026-12-01T15:00:00Z", "--demo", "50"])
        defer { server.stop() }
        func engineCounters() throws -> [String] {
            let (code, body) = try curl("\(server.baseURL)/metrics")
            #expect(code == 200)
            return body.split(separator: "\n").map(String.init).filter {
                $0.hasPrefix("tagih_engine_leases_total") || $0.hasPrefix("tagih_engine_events_total")
                    || $0.hasPrefix("tagih_engine_debtors_upserted_total")
            }.sorted()
        }
        let before = try engineCounters()
        #expect(before.contains { $0.hasPrefix("tagih_engine_debtors_upserted_total") }, "\(before)")
        let (code, body) = try curl(
            "\(server.baseURL)/v1/simulations", method: "POST", headers: ["content-type: application/json"],
            body: #"{"debtors":2000,"start":"2026-12-01","days":1,"agents":5,"seed":1}"#)
        #expect(code == 200 && body.contains(#""type":"report""#) && body.contains(#""dials":"#), "\(body.suffix(500))")
        #expect(try engineCounters() == before)
    }

    @Test func turnedOff() throws {
        let server = try ServerProcess(extraArguments: ["--max-simulations", "0"])
        defer { server.stop() }
        let (code, body) = try curl(
            "\(server.baseURL)/v1/simulations", method: "POST", headers: ["content-type: application/json"],
            body: #"{"debtors":100,"start":"2026-12-01","days":1,"agents":1}"#)
        #expect(code == 403 && body.contains(#""code":"simulations_disabled""#), "\(body)")
    }
}

/// Clients that do not read: calls that never left the server are given back when their stream closes, a dialer
/// that sends without reading is held back by flow control, and a dialer body sent at once is answered in full.
@Suite struct StalledReaderLiveTests {
    @Test func undeliveredCallsAreGivenBackAndInputIsHeldBack() throws {
        let server = try ServerProcess(extraArguments: ["--clock-start", "2026-12-01T15:00:00Z"])
        defer { server.stop() }
        let r = try runCommand(
            ["python3", clientScript("stalled_reader_test.py"), "127.0.0.1", String(server.port),
             String(server.process.processIdentifier)],
            timeout: 180)
        #expect(r.status == 0 && r.stdout.contains("1 passed, 0 failed"),
                "\(r.stdout)\(r.stderr)\n--- server log ---\n\(server.log().suffix(3000))")
    }
}
