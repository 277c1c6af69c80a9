import Foundation
import Testing

/// A small tmpfs of its own (root only: `mount`), unmounted by `unmount()`.
struct SmallFileSystem {
    let directory: URL

    init(megabytes: Int) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tagih-small-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let r = try runCommand(["mount", "-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", directory.path])
        guard r.status == 0 else { throw HarnessError("mount -t tmpfs failed: \(r.stderr)") }
    }

    func unmount() {
        _ = try? runCommand(["umount", "-l", directory.path])
        try? FileManager.default.removeItem(at: directory)
    }
}

/// A store that cannot be opened because its disk is full (its write-ahead log has no room preallocated, as after
/// `tagih import`): `serve` says so, with the free space, instead of "check the directory is writable".
@Suite(.serialized) struct OpenOnAFullDiskTests {
    @Test(.enabled(if: geteuid() == 0, "mounts a small tmpfs, which needs root (CI runs as root)"))
    func serveOnAFullDiskSaysTheDiskIsFull() throws {
        let disk = try SmallFileSystem(megabytes: 3)
        defer { disk.unmount() }
        let outside = FileManager.default.temporaryDirectory.appendingPathComponent("tagih-open-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: outside) }
        let file = outside.appendingPathComponent("one.ndjson")
        try #"{"id":"F-1","jurisdiction":"US","zone":"America/New_York","phones":[{"number":"+12125550100"}],"debts":[{"id":"FA-1","balance":"5.00","currency":"USD"}]}"#
            .appending("\n").write(to: file, atomically: true, encoding: .utf8)
        let data = disk.directory.appendingPathComponent("data").path
        let binary = try tagihBinary().path
        var r = try runCommand([binary, "import", "--data", data, file.path])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        r = try runCommand(["dd", "if=/dev/zero", "of=\(disk.directory.path)/fill", "bs=4k"])
        #expect(r.stderr.contains("No space left"), "\(r.stderr)")
        r = try runCommand([binary, "serve", "--port", "0", "--data", data], timeout: 30)
        #expect(r.status == 1 && r.stderr.contains("the disk holding it is full")
                    && r.stderr.contains("free space there and start again"), "\(r.stderr)")
        // Space freed: the same store serves, with its debtor.
        try FileManager.default.removeItem(atPath: "\(disk.directory.path)/fill")
        let server = try ServerProcess(extraArguments: [], dataDirectory: URL(fileURLWithPath: data),
                                       logDirectory: outside)
        defer { server.stop() }
        let (code, body) = try curl("\(server.baseURL)/v1/debtors/F-1")
        #expect(code == 200 && body.contains(#""id":"F-1""#), "\(body)")
        #expect(server.stop() == 0)
    }
}

/// `tagih import` on a file system that fills up: exit 2 naming the last line done, and the same import run again
/// once there is room completes.
@Suite(.serialized) struct ImportDiskFullTests {
    @Test(.enabled(if: geteuid() == 0, "mounts a small tmpfs, which needs root (CI runs as root)"))
    func importOnAFullDiskSaysUpToWhichLineAndARerunCompletes() throws {
        let disk = try SmallFileSystem(megabytes: 3)
        defer { disk.unmount() }
        let outside = FileManager.default.temporaryDirectory.appendingPathComponent("tagih-import-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: outside) }
        let file = outside.appendingPathComponent("debtors.ndjson")
        let lines = (0..<30_000).map { i in
            #"{"id":"I-\#(i)","jurisdiction":"US","zone":"America/New_York","phones":[{"number":"+1212561\#(String(format: "%04d", i % 10_000))"}],"debts":[{"id":"IA-\#(i)","balance":"50.00","currency":"USD"}]}"#
        }
        try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        let data = disk.directory.appendingPathComponent("data").path
        var r = try runCommand([try tagihBinary().path, "import", "--data", data, "--batch", "2000", file.path],
                               timeout: 300)
        #expect(r.status == 2, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("store_failed: the store could not write the batch of lines ")
                    && r.stderr.contains("disk is full") && r.stderr.contains("run the same import again"),
                "\(r.stderr)")
        // The lines it names as done are in the store, and nothing after them.
        let done = try #require(
            r.stderr.firstMatch(of: /lines 1–(\d+) are done \((\d+) debtors imported\)/), "\(r.stderr)")
        #expect(done.1 == done.2)
        let count = { () throws -> String in
            try runCommand(["python3", "-c", """
                import sqlite3, sys
                print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM debtor").fetchone()[0])
                """, data + "/tagih.sqlite"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(try count() == String(done.1), "\(r.stderr)")

        // Room again (the file system grown, as an operator would free space): the same command completes.
        let grow = try runCommand(["mount", "-o", "remount,size=64m", disk.directory.path])
        #expect(grow.status == 0, "\(grow.stderr)")
        r = try runCommand([try tagihBinary().path, "import", "--data", data, "--batch", "2000", file.path],
                           timeout: 300)
        #expect(r.status == 0 && r.stdout.contains("30000 accepted, 0 rejected"), "\(r.stdout)\(r.stderr)")
        #expect(try count() == "30000")
    }
}

/// The real server on a file system that fills up: nothing unacknowledged is stored, clients are told why,
/// and the service recovers by itself when space is freed.
@Suite(.serialized) struct DiskFullLiveTests {
    @Test(.enabled(if: geteuid() == 0, "mounts a small tmpfs, which needs root (CI runs as root)"))
    func aFullDiskRefusesWritesSaysWhyAndRecovers() throws {
        let disk = try SmallFileSystem(megabytes: 24)
        defer { disk.unmount() }
        let data = disk.directory.appendingPathComponent("data")
        // The log, the port file and the client's state live outside the small file system.
        let outside = FileManager.default.temporaryDirectory.appendingPathComponent("tagih-diskfull-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: outside) }
        let arguments = ["--clock-start", "2026-12-01T15:00:00Z", "--heartbeat", "1"]
        let server = try ServerProcess(extraArguments: arguments, dataDirectory: data, logDirectory: outside)
        defer { server.stop() }
        let state = outside.appendingPathComponent("state.json")
        let fill = disk.directory.appendingPathComponent("fill").path
        var r = try runCommand(
            ["python3", clientScript("disk_full_test.py"), "127.0.0.1", String(server.port), "fill", fill, state.path],
            timeout: 180)
        #expect(r.status == 0 && r.stdout.contains("1 passed, 0 failed"),
                "\(r.stdout)\(r.stderr)\n--- server log ---\n\(server.log().suffix(4000))")

        // The operator's log: one line when the writes started failing and one when they worked again, not one
        // per refused line.
        let log = server.log()
        let failing = log.components(separatedBy: "the store cannot write").count - 1
        let resumed = log.components(separatedBy: "the store writes again").count - 1
        // Small commits may still fit into the space SQLite's files hold while large ones fail, so the store may
        // recover and fail again a few times while the disk is full; each episode is two lines.
        #expect(failing >= 1 && resumed == failing && failing <= 10, "\(failing) / \(resumed): \(log.suffix(4000))")
        #expect(!log.contains("store write failed"), "\(log.suffix(4000))")
        #expect(log.contains("disk is full"), "\(log.suffix(2000))")

        // A real kill -9, then a restart on the same files: every acknowledged attempt is there, once.
        let status = server.stop(signal: SIGKILL)
        #expect(status == SIGKILL || status == 9)
        let second = try ServerProcess(
            extraArguments: arguments, dataDirectory: data,
            logDirectory: outside.appendingPathComponent("second"))
        defer { second.stop() }
        r = try runCommand(
            ["python3", clientScript("disk_full_test.py"), "127.0.0.1", String(second.port), "replay", state.path],
            timeout: 120)
        #expect(r.status == 0 && r.stdout.contains("1 passed, 0 failed"),
                "\(r.stdout)\(r.stderr)\n--- server log ---\n\(second.log().suffix(4000))")
        #expect(second.stop() == 0)
        // The database file is sound after all of it.
        r = try runCommand(["python3", "-c", """
            import sqlite3, sys
            print(sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchone()[0])
            """, data.appendingPathComponent("tagih.sqlite").path])
        #expect(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "ok", "\(r.stdout)\(r.stderr)")
    }

    /// SIGTERM on a full disk: the store is closed all the same, the exit status is 1 with what could not be
    /// written and what that costs (nothing acknowledged), and the next start has everything.
    @Test(.enabled(if: geteuid() == 0, "mounts a small tmpfs, which needs root (CI runs as root)"))
    func aStopOnAFullDiskSaysWhatWasNotWrittenAndLosesNothing() throws {
        let disk = try SmallFileSystem(megabytes: 16)
        defer { disk.unmount() }
        let data = disk.directory.appendingPathComponent("data")
        let outside = FileManager.default.temporaryDirectory.appendingPathComponent("tagih-stop-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: outside) }
        let server = try ServerProcess(
            extraArguments: ["--demo", "300", "--clock-start", "2026-12-01T15:00:00Z"], dataDirectory: data,
            logDirectory: outside)
        defer { server.stop() }
        var (code, body) = try curl("\(server.baseURL)/v1/calls?n=1")
        let leased = try #require(body.firstMatch(of: /"debtor":"([^"]+)"/)?.1, "\(body)")
        #expect(code == 200)
        let fill = disk.directory.appendingPathComponent("fill").path
        let r = try runCommand(["dd", "if=/dev/zero", "of=\(fill)", "bs=1M", "count=64"])
        #expect(r.stderr.contains("No space left"), "\(r.stderr)")
        #expect(server.stop(signal: SIGTERM) == 1, "\(server.log().suffix(2000))")
        let log = server.log()
        #expect(log.contains("store_failed") && log.contains("nothing acknowledged is lost"), "\(log.suffix(2000))")

        try FileManager.default.removeItem(atPath: fill)
        let second = try ServerProcess(
            extraArguments: ["--clock-start", "2026-12-01T15:00:00Z"], dataDirectory: data,
            logDirectory: outside.appendingPathComponent("second"))
        defer { second.stop() }
        (code, body) = try curl("\(second.baseURL)/v1/debtors/\(leased)")
        #expect(code == 200 && body.contains(#""leased":true"#), "\(body)")
        #expect(second.stop() == 0, "\(second.log().suffix(2000))")
    }
}
