import Foundation
import Testing

/// `tagih dial` against a real `tagih serve`: the response must reach stdout while stdin is still open (what
/// `curl -T -` cannot do), outcomes typed on stdin are acked on stdout, and failures end with their exit status.
@Suite(.serialized) struct DialCommandTests {
    /// A `tagih dial` child whose stdin stays open and whose stdout is read as it comes.
    final class DialProcess: @unchecked Sendable {
        let process = Process()
        private let input = Pipe()
        private let lock = NSLock()
        private var output = Data()
        private var errors = Data()

        init(_ arguments: [String], environment: [String: String] = [:]) throws {
            process.executableURL = try tagihBinary()
            process.arguments = ["dial"] + arguments
            var env = ProcessInfo.processInfo.environment
            env["TAGIH_TOKEN"] = nil
            for (k, v) in environment { env[k] = v }
            process.environment = env
            let out = Pipe()
            let err = Pipe()
            process.standardInput = input
            process.standardOutput = out
            process.standardError = err
            out.fileHandleForReading.readabilityHandler = { [weak self] handle in
                let data = handle.availableData
                guard let self else { return }
                self.lock.withLock { self.output.append(data) }
            }
            err.fileHandleForReading.readabilityHandler = { [weak self] handle in
                let data = handle.availableData
                guard let self else { return }
                self.lock.withLock { self.errors.append(data) }
            }
            try process.run()
        }

        func send(_ line: String) { input.fileHandleForWriting.write(Data((line + "\n").utf8)) }
        func closeInput() { try? input.fileHandleForWriting.close() }

        /// The complete stdout lines so far, parsed.
        func lines() -> [[String: Any]] {
            let text = lock.withLock { String(decoding: output, as: UTF8.self) }
            return text.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }

        var stderr: String { lock.withLock { String(decoding: errors, as: UTF8.self) } }

        /// Waits until a stdout line satisfies `predicate`; nil after `timeout` seconds.
        func waitForLine(timeout: TimeInterval = 15, _ predicate: ([String: Any]) -> Bool) -> [String: Any]? {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if let line = lines().first(where: predicate) { return line }
                Thread.sleep(forTimeInterval: 0.02)
            }
            return nil
        }

        /// Waits for the exit; nil if still running after `timeout` seconds (then it is killed).
        func waitForExit(timeout: TimeInterval = 20) -> Int32? {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
            if process.isRunning {
                process.terminate()
                return nil
            }
            return process.terminationStatus
        }

        deinit { if process.isRunning { process.terminate() } }
    }

    static let clock = ["--clock-start", "2026-12-01T15:00:00Z"]

    @Test func aCallArrivesWhileStdinIsOpenAndItsOutcomeIsAcked() throws {
        let server = try ServerProcess(extraArguments: ["--demo", "300"] + Self.clock)
        defer { server.stop() }
        let dial = try DialProcess(["--url", "\(server.baseURL)/v1/dialer?jurisdiction=US", "--ready", "1"])
        // stdin is still open: the call must be on stdout already.
        let call = try #require(dial.waitForLine { $0["type"] as? String == "call" }, "no call line: \(dial.stderr)")
        #expect(dial.process.isRunning)
        let lease = try #require(call["lease"] as? String)
        let outcome: [String: Any] = [
            "type": "outcome", "attempt": "dial-\(lease)", "lease": lease, "debtor": call["debtor"]!,
            "debt": call["debt"]!, "phone": call["phone"]!, "at": "2026-12-01T15:00:01Z", "outcome": "no_answer",
        ]
        let line = String(decoding: try JSONSerialization.data(withJSONObject: outcome), as: UTF8.self)
        dial.send(line)
        dial.send(line)
        let acks = { dial.lines().filter { $0["type"] as? String == "ack" } }
        _ = dial.waitForLine { $0["type"] as? String == "ack" && $0["line"] as? Int == 3 }
        #expect(acks().count == 2)
        #expect(acks().first?["ok"] as? Bool == true)
        #expect(acks().first?["duplicate"] as? Bool == false)
        #expect(acks().first?["line"] as? Int == 2, "the --ready line is line 1")
        #expect(acks().last?["duplicate"] as? Bool == true)
        #expect(dial.process.isRunning, "the session stays open while stdin does")
        dial.closeInput()
        #expect(dial.waitForExit() == 0, "\(dial.stderr)")
        // The outcome is on the server, applied once.
        let (status, body) = try curl("\(server.baseURL)/v1/debtors/\(call["debtor"]!)")
        #expect(status == 200)
        #expect(body.contains(#""attempts":1"#), "\(body)")
    }

    @Test func aRefusedStreamExitsOneWithTheServersErrorAndATokenFromTheEnvironmentIsSent() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tagih-dial-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let tokens = dir.appendingPathComponent("tokens")
        try "dial-test-token-0123456789 dialer,reader robot\n".write(to: tokens, atomically: true, encoding: .utf8)
        let server = try ServerProcess(extraArguments: ["--tokens", tokens.path] + Self.clock)
        defer { server.stop() }

        let anonymous = try DialProcess(["--url", "\(server.baseURL)/v1/dialer", "--ready", "1"])
        anonymous.closeInput()
        #expect(anonymous.waitForExit() == 1)
        #expect(anonymous.stderr.contains("401"), "\(anonymous.stderr)")
        #expect(anonymous.stderr.contains("unauthenticated"), "\(anonymous.stderr)")
        #expect(anonymous.stderr.contains("TAGIH_TOKEN"), "\(anonymous.stderr)")
        #expect(anonymous.lines().isEmpty)

        let robot = try DialProcess(
            ["--url", "\(server.baseURL)/v1/dialer"], environment: ["TAGIH_TOKEN": "dial-test-token-0123456789"])
        robot.send(#"{"type":"ready","n":"x"}"#)
        let error = robot.waitForLine { $0["type"] as? String == "error" }
        #expect(error?["field"] as? String == "n", "\(robot.stderr)")
        robot.closeInput()
        #expect(robot.waitForExit() == 0, "\(robot.stderr)")

        // loadgen takes the token from the same variable.
        for token in [nil, "dial-test-token-0123456789"] {
            let env = token.map { ["TAGIH_TOKEN=\($0)"] } ?? ["-u", "TAGIH_TOKEN"]
            let r = try runCommand(
                env + [try tagihBinary().path, "loadgen", "--url", "\(server.baseURL)/v1/schedule?limit=1",
                       "--duration", "0.3", "--streams", "1", "--json"], timeout: 60)
            #expect(r.status == 0, "\(r.stderr)")
            let report = try #require(
                try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)")
            let requests = try #require(report["requests"] as? Int)
            #expect(requests > 0)
            #expect(report["errors"] as? Int == (token == nil ? requests : 0), "\(report)")
        }
    }

    @Test func anUnreachableServerExitsTwoAndBadOptionsSixtyFour() throws {
        // Port 1: nothing listens there (tcpmux is not served on these machines).
        let unreachable = try runCommand(
            [try tagihBinary().path, "dial", "--url", "http://127.0.0.1:1/v1/dialer"], timeout: 30)
        #expect(unreachable.status == 2, "\(unreachable.stderr)")
        #expect(unreachable.stderr.contains("cannot reach 127.0.0.1:1"), "\(unreachable.stderr)")
        for bad in [["--url", "ftp://x/v1/dialer"], ["--method", "GET"], ["--ready", "10001"], ["--ready", "-1"]] {
            let r = try runCommand([try tagihBinary().path, "dial"] + bad, timeout: 30)
            #expect(r.status == 64, "\(bad): \(r.stderr)")
        }
    }
}
