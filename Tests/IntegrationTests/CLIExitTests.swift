import Foundation
import Testing

/// `tagih import`, `tagih serve` and `tagih simulate` as a script sees them: exit status and message (audit of
/// session 11: a second server on one store leased the same debtors again; import exited 1, the code of rejected
/// lines, for a file it never read; `--start 2026-13-01` became 2027-01-01).
@Suite(.serialized) struct CLIExitTests {
    private func tagih(_ arguments: [String], timeout: TimeInterval = 60) throws -> CommandResult {
        try runCommand([try tagihBinary().path] + arguments, timeout: timeout)
    }

    private func scratch() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tagih-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func importExitsTwoWhenTheFileCannotBeReadOneForRejectedLinesZeroOtherwise() throws {
        let dir = try scratch()
        let data = dir.appendingPathComponent("data").path
        var r = try tagih(["import", "--data", data, dir.appendingPathComponent("missing.ndjson").path])
        #expect(r.status == 2 && r.stderr.contains("io_error") && r.stderr.contains("no such file"), "\(r.stderr)")
        r = try tagih(["import", "--data", data, dir.path])
        #expect(r.status == 2 && r.stderr.contains("is a directory"), "\(r.stderr)")
        #expect(!r.stderr.contains("NSCocoaErrorDomain"), "\(r.stderr)")
        // The input is checked first: a mistyped path leaves no new, empty store behind.
        #expect(!FileManager.default.fileExists(atPath: data), "a store was created for a file that cannot be read")

        let good = #"{"id":"I-1","jurisdiction":"US","zone":"America/Chicago","phones":[{"number":"+13125550100"}],"debts":[{"id":"IA-1","balance":"10.00","currency":"USD"}]}"#
        let file = dir.appendingPathComponent("debtors.ndjson")
        try (good + "\r\n\r\n" + #"{"id":"I-2"}"# + "\r\n").write(to: file, atomically: true, encoding: .utf8)
        r = try tagih(["import", "--data", data, file.path])
        // Line numbers are the file's (the blank line 2 counts), and the summary says a blank line was skipped.
        #expect(r.status == 1 && r.stdout.contains("2 lines (and 1 blank, skipped), 1 accepted, 1 rejected")
                    && r.stdout.contains("line 3:"),
                "\(r.stdout)\(r.stderr)")
        try (good + "\n").write(to: file, atomically: true, encoding: .utf8)
        r = try tagih(["import", "--data", data, file.path])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        // '-' reads standard input.
        let piped = good.replacingOccurrences(of: "I-1", with: "I-3") + "\n" + #"{"id":"I-4"}"# + "\n"
        r = try runCommand([try tagihBinary().path, "import", "--data", data, "-"], input: piped)
        #expect(r.status == 1 && r.stdout.contains("imported 1 debtor from standard input"), "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("line 2:"), "\(r.stdout)")
        // An id repeated within the file: the later line wins, and the summary says so (it counted both lines as
        // debtors), in text and in --json.
        let again = good.replacingOccurrences(of: "10.00", with: "12.00")
        try [good, good.replacingOccurrences(of: "I-1", with: "I-5"), again].joined(separator: "\n")
            .write(to: file, atomically: true, encoding: .utf8)
        r = try tagih(["import", "--data", data, file.path])
        #expect(r.status == 0 && r.stdout.contains("imported 2 debtors") && r.stdout.contains("3 accepted, 1 of them")
                    && r.stdout.contains("line 3: warning repeated_id: id: debtor 'I-1' is also on line 1"),
                "\(r.stdout)\(r.stderr)")
        r = try tagih(["import", "--data", data, "--json", file.path])
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(summary["debtors"] as? Int == 2 && summary["repeatedIDs"] as? Int == 1
                    && summary["accepted"] as? Int == 3, "\(r.stdout)")
    }

    /// `--demo` on a store that holds debtors seeds nothing and says so (it used to be silent, also after a seed that
    /// was interrupted).
    @Test func demoOnAStoreThatIsNotEmptyIsIgnoredAndSaysSo() throws {
        let first = try ServerProcess(extraArguments: ["--demo", "20"] + ServiceLiveTests.clockArguments)
        #expect(first.stop() == 0)
        #expect(!first.log().contains("--demo ignored"), "\(first.log())")
        let second = try ServerProcess(
            extraArguments: ["--demo", "30"] + ServiceLiveTests.clockArguments, dataDirectory: first.dataDirectory)
        defer { second.stop() }
        let (code, body) = try curl("\(second.baseURL)/readyz")
        #expect(code == 200, "\(body)")
        #expect(second.stop() == 0)
        let log = second.log()
        #expect(log.contains("--demo ignored: the store is not empty") && log.contains("debtors=20"), "\(log)")
    }

    @Test func aSecondProcessCannotOpenAServedStore() throws {
        let server = try ServerProcess(extraArguments: ["--demo", "20"] + ServiceLiveTests.clockArguments)
        defer { server.stop() }
        let data = server.dataDirectory.path
        // A second server on the same --data stops with in_use and the first server's pid.
        let second = try tagih(["serve", "--host", "127.0.0.1", "--port", "0", "--data", data], timeout: 30)
        let text = second.stdout + second.stderr
        #expect(second.status != 0, "\(text)")
        #expect(text.contains("in_use") && text.contains("process \(server.process.processIdentifier)"), "\(text)")
        // It never listened: it took the store's lock before binding (it used to answer /healthz meanwhile).
        #expect(!text.contains("listening"), "\(text)")
        // So does an import into it.
        let file = server.dataDirectory.appendingPathComponent("more.ndjson")
        try (#"{"id":"I-9","jurisdiction":"US","phones":[{"number":"+13125550109"}],"debts":[{"id":"IA-9","balance":"1","currency":"USD"}]}"# + "\n")
            .write(to: file, atomically: true, encoding: .utf8)
        let imported = try tagih(["import", "--data", data, file.path])
        #expect(imported.status == 2 && imported.stderr.contains("in_use"), "\(imported.stdout)\(imported.stderr)")
        // The first server is unharmed and still serves its debtors.
        let (code, body) = try curl("\(server.baseURL)/v1/calls?n=1")
        #expect(code == 200 && body.contains(#""type":"call""#), "\(body)")
        // Once it stopped, the store opens: the import goes through.
        server.stop()
        let after = try tagih(["import", "--data", data, file.path])
        #expect(after.status == 0, "\(after.stdout)\(after.stderr)")
    }

    @Test(arguments: ["2026-13-01", "2026-02-30", "2026-12-99", "2026-1-01"])
    func simulateRejectsDatesThatDoNotExist(start: String) throws {
        let r = try tagih(["simulate", "--debtors", "10", "--agents", "1", "--days", "1", "--seed", "1",
                           "--start", start])
        #expect(r.status == 64, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("--start must be a real date"), "\(r.stderr)")
        // Pointed at this command's help, not the root command's usage.
        #expect(r.stderr.contains("See 'tagih simulate --help'") && !r.stderr.contains("<subcommand>"), "\(r.stderr)")
    }

    /// Out-of-range `serve` options are usage errors (exit 64) that name the option, before anything is opened. Each
    /// of these used to start a server anyway (`--port 70000` bound port 4464, `--log-level loud` logged at info,
    /// `--max-line 0` refused every line) or fail late (`--shards=-2` trapped, `--data FILE` printed a Foundation
    /// error).
    @Test func serveRefusesOutOfRangeOptions() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("a-file")
        try "x".write(to: file, atomically: true, encoding: .utf8)
        let cases: [([String], String)] = [
            (["--port", "70000"], "--port must be 0...65535"),
            (["--port=-1"], "--port must be 0...65535"),
            (["--demo=-3"], "--demo must be"),
            (["--shards", "0"], "--shards must be 1...1024"),
            (["--shards=-2"], "--shards must be 1...1024"),
            (["--max-line", "0"], "--max-line must be"),
            (["--log-level", "loud"], "--log-level must be one of trace, debug, info"),
            (["--heartbeat", "inf"], "--heartbeat must be"),
            (["--body-timeout", "1e300"], "--body-timeout must be"),
            (["--data", file.path], "is a file"),
            (["--clock-start", "1970-01-01T00:00:00Z"], "--clock-start must be from 2000-01-01 to 9899-12-31"),
            (["--clock-start", "9999-12-31T23:59:58Z"], "--clock-start must be from 2000-01-01 to 9899-12-31"),
            (["--tokens", file.path + ".missing"], "--tokens \(file.path).missing: cannot read the token file: no such file"),
        ]
        // TLS files that are missing: refused before anything is created (exit 64); files that exist but cannot be
        // loaded as TLS: an error and exit 1 at once (it used to hang, deaf to SIGTERM).
        let missing = try tagih(["serve", "--data", dir.appendingPathComponent("tls").path, "--port", "0",
                                 "--tls-cert", file.path + ".missing", "--tls-key", file.path + ".missing"], timeout: 30)
        #expect(missing.status == 64 && missing.stderr.contains("is not a readable file"),
                "\(missing.status) \(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("tls").path))
        let tls = try tagih(["serve", "--data", dir.appendingPathComponent("tls").path, "--port", "0",
                             "--tls-cert", file.path, "--tls-key", file.path], timeout: 30)
        #expect(tls.status == 1, "\(tls.status) \(tls.stderr)")
        #expect(tls.stderr.contains("tls_configuration"), "\(tls.stderr)")
        for (arguments, message) in cases {
            let r = try tagih(["serve", "--data", dir.appendingPathComponent("data").path] + arguments, timeout: 20)
            #expect(r.status == 64, "\(arguments): \(r.status) \(r.stdout)\(r.stderr)")
            #expect(r.stderr.contains(message), "\(arguments): \(r.stderr)")
        }
        // None of them created the store.
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("data").path))
    }

    /// Nothing to simulate, or an unusable archetype mix, is a usage error saying so (was: a report of zeros).
    @Test func simulateRefusesAnEmptyPopulationOrABadMix() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("empty-\(UUID().uuidString).ndjson")
        try "\n".write(to: empty, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: empty) }
        let common = ["--agents", "1", "--days", "1", "--seed", "1", "--start", "2026-12-01"]
        let cases: [([String], String)] = [
            (["--population", empty.path], "holds no debtor lines"),
            (["--debtors", "0"], "--debtors must be at least 1"),
            (["--debtors", "10", "--mix", "never=inf,shift=1"], "invalid_mix"),
            (["--debtors", "10", "--mix", "never=1,never=2"], "given twice"),
            (["--debtors", "10", "--population", empty.path], "give --population FILE or --debtors N, not both"),
            (["--debtors", "10", "--days", "400"], "--days must be 1...366, not 400"),
            (["--debtors", "10", "--days", "0"], "--days must be 1...366, not 0"),
        ]
        for (arguments, message) in cases {
            // The case's own options last: a repeated option takes its last value.
            let r = try tagih(["simulate"] + common + arguments)
            #expect(r.status != 0, "\(arguments): \(r.stdout)")
            if arguments.contains("--days") || arguments.contains("--mix")
                || arguments.contains("--population") && arguments.contains("--debtors")
            {
                #expect(r.status == 64, "\(arguments): \(r.status)")
            }
            #expect(r.stderr.contains(message), "\(arguments): \(r.stderr)")
        }
    }

    /// `import` applies the line protocol's line limit (`--max-line`, 1 MiB): a longer line is rejected as
    /// `line_too_long` without being buffered whole, the lines around it are imported; a file holding only a
    /// byte-order mark is empty; `--batch 0` is a usage error.
    @Test func importRejectsOverlongLinesAndKeepsTheOthers() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("import-long-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func debtor(_ id: String, pad: Int = 0) -> String {
            let padding = pad > 0 ? ",\"pad\":\"" + String(repeating: "x", count: pad) + "\"" : ""
            return #"{"id":"\#(id)","jurisdiction":"US","zone":"America/New_York","phones":[{"number":"+12125550100"}],"debts":[{"id":"A-\#(id)","balance":"5.00","currency":"USD"}]\#(padding)}"#
        }
        let file = dir.appendingPathComponent("long.ndjson")
        // The long line spans several 4 MiB reads; the last line has no newline.
        try [debtor("L-1"), debtor("L-2", pad: 9 << 20), debtor("L-3"), debtor("L-4", pad: 2 << 20), debtor("L-5")]
            .joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        let data = dir.appendingPathComponent("data").path
        var r = try tagih(["import", "--data", data, file.path], timeout: 120)
        #expect(r.status == 1 && r.stdout.contains("5 lines, 3 accepted, 2 rejected"), "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("line 2: line_too_long") && r.stdout.contains("line 4: line_too_long"), "\(r.stdout)")
        // A larger limit takes line 4 (2 MiB) but not line 2.
        r = try tagih(["import", "--data", data, "--max-line", String(3 << 20), file.path], timeout: 120)
        #expect(r.status == 1 && r.stdout.contains("4 accepted, 1 rejected") && r.stdout.contains("line 2: line_too_long"),
                "\(r.stdout)\(r.stderr)")
        let bom = dir.appendingPathComponent("bom.ndjson")
        try Data([0xEF, 0xBB, 0xBF, 0x0A]).write(to: bom)
        r = try tagih(["import", "--data", data, bom.path])
        #expect(r.status == 0 && r.stdout.contains("0 lines (and 1 blank, skipped), 0 accepted, 0 rejected"),
                "\(r.stdout)\(r.stderr)")
        r = try tagih(["import", "--data", data, "--batch", "0", bom.path])
        #expect(r.status == 64 && r.stderr.contains("--batch must be at least 1"), "\(r.stderr)")
    }

    /// `simulate` never overwrites a file (an attempt log, a report, the population itself), checks its outputs
    /// before the run, and refuses a population that lists a debtor twice or options out of range.
    @Test func simulateChecksItsOutputsFirstAndOverwritesNothing() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sim-out-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let line = #"{"id":"S-1","jurisdiction":"US","zone":"America/New_York","phones":[{"number":"+12125550100"}],"debts":[{"id":"SA-1","balance":"50.00","currency":"USD"}]}"#
        let population = dir.appendingPathComponent("pop.ndjson")
        try (line + "\n").write(to: population, atomically: true, encoding: .utf8)
        let twice = dir.appendingPathComponent("twice.ndjson")
        try (line + "\n" + line + "\n").write(to: twice, atomically: true, encoding: .utf8)
        let oldReport = dir.appendingPathComponent("old")
        try FileManager.default.createDirectory(at: oldReport, withIntermediateDirectories: true)
        try "old".write(to: oldReport.appendingPathComponent("report.json"), atomically: true, encoding: .utf8)
        let common = ["simulate", "--agents", "1", "--days", "1", "--seed", "1", "--start", "2026-12-01"]
        let cases: [([String], Int32, String)] = [
            (["--population", population.path, "--attempt-log", population.path], 64, "exists; a simulation never overwrites a file"),
            (["--debtors", "10", "--report", oldReport.path], 64, "holds a report already"),
            (["--debtors", "10", "--report", population.path], 64, "is a file"),
            (["--debtors", "10", "--agents", "1,1"], 64, "--agents lists 1 twice"),
            (["--debtors", "10", "--tagih-threshold", "5"], 64, "--tagih-threshold takes a share in 0...1"),
            (["--population", twice.path], 1, "line 2: id: debtor 'S-1' is already on line 1"),
        ]
        for (arguments, status, message) in cases {
            let r = try tagih(common + arguments)
            #expect(r.status == status && r.stderr.contains(message), "\(arguments): \(r.status) \(r.stderr)")
        }
        // Negative numbers reach the checks (ArgumentParser alone says "Missing value"), and a population that
        // cannot fit in memory is refused before it is generated (100M crashed on allocation).
        let numbers: [([String], String)] = [
            (["--days", "-1", "--debtors", "10"], "--days must be 1...366, not -1"),
            (["--debtors", "-5"], "--debtors must be at least 1, not -5"),
            (["--agents", "-3", "--debtors", "10"], "--agents takes positive integers"),
            (["--seed", "-1", "--debtors", "10"], "'-1' is invalid for '--seed"),
            (["--debtors", "100000000000"], "--debtors 100000000000 needs at least"),
            (["--debtors", "9223372036854775807"], "needs more memory than any machine has"),
            // A floor's shifts follow its place's daylight saving time: a fixed offset is refused, as for debtors.
            (["--debtors", "10", "--floor-zone", "EST"], "--floor-zone 'EST' is a fixed offset, not a place"),
            (["--debtors", "10", "--floor-zone", "Etc/GMT+5"], "is a fixed offset, not a place"),
            (["--debtors", "10", "--floor-zone", "Mars/Base"], "--floor-zone 'Mars/Base' is not an IANA zone"),
        ]
        for (arguments, message) in numbers {
            let r = try tagih(["simulate", "--start", "2026-12-01"] + arguments)
            #expect(r.status == 64 && r.stderr.contains(message), "\(arguments): \(r.status) \(r.stderr)")
            #expect(!r.stderr.contains("Missing value"), "\(arguments): \(r.stderr)")
        }
        #expect(try String(contentsOf: population, encoding: .utf8) == line + "\n")
        // Lines accepted with a warning (as import and PUT /v1/debtors warn): on stderr, with the line number.
        let odd = dir.appendingPathComponent("odd.ndjson")
        try (line.replacingOccurrences(of: #""jurisdiction":"US""#, with: #""jurisdiction":"XX-YY","foo":1"#) + "\n")
            .write(to: odd, atomically: true, encoding: .utf8)
        let warned = try tagih(common + ["--population", odd.path])
        #expect(warned.status == 0 && warned.stderr.contains("--population line 1: unknown_field foo")
                    && warned.stderr.contains("--population line 1: no_rule_pack jurisdiction"), "\(warned.stderr)")
        #expect(try String(contentsOf: oldReport.appendingPathComponent("report.json"), encoding: .utf8) == "old")
        // A new folder and a new log are written.
        let log = dir.appendingPathComponent("attempts.ndjson")
        let fresh = dir.appendingPathComponent("new")
        let r = try tagih(common + ["--population", population.path, "--attempt-log", log.path, "--report", fresh.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: fresh.appendingPathComponent("report.json").path))
        #expect(FileManager.default.fileExists(atPath: log.path))
    }

    /// A run stopped half-way (Ctrl-C) leaves its attempt log as FILE.partial, never as FILE (which passed for a
    /// whole run's log); the next run on the same path is refused until that partial log is removed.
    @Test func anInterruptedSimulationLeavesItsAttemptLogMarkedPartial() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("attempts.ndjson").path
        let partial = log + ".partial"
        let process = Process()
        process.executableURL = try tagihBinary()
        process.arguments = ["simulate", "--debtors", "100000", "--agents", "50", "--days", "120", "--seed", "1",
                             "--start", "2026-12-01", "--strategy", "baseline", "--attempt-log", log, "--json"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        func size(_ path: String) -> Int {
            ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
        }
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning, size(partial) == 0, Date() < deadline { usleep(20_000) }
        #expect(process.isRunning, "the run ended before it was interrupted")
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        #expect(!FileManager.default.fileExists(atPath: log))
        #expect(size(partial) > 0)
        let small = ["simulate", "--debtors", "20", "--agents", "1", "--days", "1", "--start", "2026-12-01",
                     "--attempt-log", log]
        let refused = try tagih(small)
        #expect(refused.status == 64 && refused.stderr.contains("\(partial) exists"), "\(refused.stderr)")
        try FileManager.default.removeItem(atPath: partial)
        let whole = try tagih(small)
        #expect(whole.status == 0, "\(whole.stderr)")
        #expect(size(log) > 0 && !FileManager.default.fileExists(atPath: partial))
    }
}
