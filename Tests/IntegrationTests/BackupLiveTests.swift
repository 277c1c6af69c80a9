import Foundation
import Testing

/// `tagih backup` of a live server under write load, and a server started on the restored copy.
@Suite(.serialized) struct BackupLiveTests {
    @Test func aBackupUnderLoadHoldsEveryAcknowledgedWriteAndRestores() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("tagih-backup-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let arguments = ["--clock-start", "2026-12-01T15:00:00Z"]
        let data = scratch.appendingPathComponent("data")
        let server = try ServerProcess(extraArguments: arguments + ["--demo", "2000"], dataDirectory: data)
        defer { server.stop() }
        let backup = scratch.appendingPathComponent("copy.sqlite")
        let state = scratch.appendingPathComponent("state.json")
        var r = try runCommand(
            ["python3", clientScript("backup_test.py"), "127.0.0.1", String(server.port), "load",
             try tagihBinary().path, data.path, backup.path, state.path],
            timeout: 240)
        #expect(r.status == 0 && r.stdout.contains("1 passed, 0 failed"),
                "\(r.stdout)\(r.stderr)\n--- server log ---\n\(server.log().suffix(3000))")
        #expect(!FileManager.default.fileExists(atPath: backup.path + ".partial"))

        // A backup never overwrites a file.
        r = try runCommand([try tagihBinary().path, "backup", "--data", data.path, backup.path])
        #expect(r.status == 2 && r.stderr.contains("exists; a backup never overwrites a file"), "\(r.stderr)")
        // A directory, or a file in a folder that does not exist: the error says which.
        r = try runCommand([try tagihBinary().path, "backup", "--data", data.path, scratch.path])
        #expect(r.status == 2 && r.stderr.contains("is a directory; give the path of a new file in it"), "\(r.stderr)")
        let nowhere = scratch.appendingPathComponent("no-such-folder/copy.sqlite")
        r = try runCommand([try tagihBinary().path, "backup", "--data", data.path, nowhere.path])
        #expect(r.status == 2 && r.stderr.contains("no-such-folder of") && r.stderr.contains("does not exist"),
                "\(r.stderr)")
        #expect(server.stop() == 0)

        // Restored into an empty folder, the copy serves: what it holds is known, what came later is new.
        let restored = scratch.appendingPathComponent("restored")
        try FileManager.default.createDirectory(at: restored, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: backup, to: restored.appendingPathComponent("tagih.sqlite"))
        let second = try ServerProcess(extraArguments: arguments, dataDirectory: restored)
        defer { second.stop() }
        r = try runCommand(
            ["python3", clientScript("backup_test.py"), "127.0.0.1", String(second.port), "restored", state.path],
            timeout: 120)
        #expect(r.status == 0 && r.stdout.contains("1 passed, 0 failed"),
                "\(r.stdout)\(r.stderr)\n--- server log ---\n\(second.log().suffix(3000))")
        let (code, body) = try curl("\(second.baseURL)/v1/debtors/K-7")
        #expect(code == 200 && body.contains(#""id":"K-7""#), "\(body)")
        #expect(second.stop() == 0)
    }

    /// A store on a read-only mount (a file-system snapshot, a read-only volume) is backed up: with its `-shm`
    /// beside it as any store, without one (a store closed cleanly) read as immutable; a `-wal` without `-shm`
    /// there cannot be read, and the error says what to do. Needs `mount` (root): skipped where it is refused.
    @Test func aStoreOnAReadOnlyMountIsBackedUp() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("tagih-robackup-\(UUID().uuidString)")
        let data = scratch.appendingPathComponent("data")
        let mountPoint = scratch.appendingPathComponent("ro")
        try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let server = try ServerProcess(extraArguments: ["--demo", "700"], dataDirectory: data)
        #expect(server.stop() == 0)
        let binary = try tagihBinary().path
        func backUp(_ name: String) throws -> (status: Int32, stdout: String, stderr: String) {
            let r = try runCommand(["mount", "--bind", data.path, mountPoint.path])
            guard r.status == 0 else { return (-1, "", r.stderr) }
            defer { _ = try? runCommand(["umount", mountPoint.path]) }
            let ro = try runCommand(["mount", "-o", "remount,bind,ro", mountPoint.path])
            guard ro.status == 0 else { return (-1, "", ro.stderr) }
            let b = try runCommand([binary, "backup", "--data", mountPoint.path, scratch.appendingPathComponent(name).path])
            return (b.status, b.stdout, b.stderr)
        }
        let store = data.appendingPathComponent("tagih.sqlite").path
        var r = try backUp("with-shm.sqlite")
        if r.status == -1 {
            print("aStoreOnAReadOnlyMountIsBackedUp skipped: mount refused (\(r.stderr))")
            return
        }
        #expect(FileManager.default.fileExists(atPath: store + "-shm"))
        #expect(r.status == 0 && r.stdout.contains("700 debtors"), "\(r.stdout)\(r.stderr)")
        // Closed cleanly: no -shm, no -wal. SQLite cannot create a -shm on the mount; the file holds everything.
        try? FileManager.default.removeItem(atPath: store + "-shm")
        try? FileManager.default.removeItem(atPath: store + "-wal")
        r = try backUp("without-shm.sqlite")
        #expect(r.status == 0 && r.stdout.contains("700 debtors"), "\(r.stdout)\(r.stderr)")
        // A write-ahead log without its -shm: refused, nothing written.
        try Data(repeating: 1, count: 4096).write(to: URL(fileURLWithPath: store + "-wal"))
        r = try backUp("wal-without-shm.sqlite")
        #expect(r.status == 2 && r.stderr.contains("read-only file system with a write-ahead log")
                    && r.stderr.contains("copy the data folder to a writable place"), "\(r.stdout)\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.appendingPathComponent("wal-without-shm.sqlite").path))
    }

    /// A damaged store file: `serve`, `import` and `backup` all stop with `corrupt_store`, say what to do, and
    /// change nothing.
    @Test func aDamagedStoreIsNamedAsSuch() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("tagih-damaged-\(UUID().uuidString)")
        let data = scratch.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        // Not a database at all.
        let file = data.appendingPathComponent("tagih.sqlite")
        try Data((0..<65_536).map { UInt8(truncatingIfNeeded: $0 &* 7919 &+ 13) }).write(to: file)
        let before = try Data(contentsOf: file)
        let binary = try tagihBinary().path
        var r = try runCommand([binary, "serve", "--port", "0", "--data", data.path], timeout: 60)
        #expect(r.status == 1 && r.stderr.contains("corrupt_store") && r.stderr.contains("is not a SQLite database")
                    && r.stderr.contains("Restore the folder from a backup"), "\(r.stderr)")
        let debtors = scratch.appendingPathComponent("d.ndjson")
        try #"{"id":"X-1","jurisdiction":"US","zone":"America/New_York","phones":[{"number":"+12125550100"}],"debts":[{"id":"XA-1","balance":"5.00","currency":"USD"}]}"#
            .write(to: debtors, atomically: true, encoding: .utf8)
        r = try runCommand([binary, "import", "--data", data.path, debtors.path])
        #expect(r.status == 2 && r.stderr.contains("corrupt_store"), "\(r.stdout)\(r.stderr)")
        r = try runCommand([binary, "backup", "--data", data.path, scratch.appendingPathComponent("b.sqlite").path])
        #expect(r.status == 2 && r.stderr.contains("corrupt_store"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.appendingPathComponent("b.sqlite.partial").path))
        #expect(try Data(contentsOf: file) == before)

        // A real store with pages overwritten in the middle: found when the records are read.
        try FileManager.default.removeItem(at: data)
        let server = try ServerProcess(extraArguments: ["--demo", "20000"], dataDirectory: data)
        #expect(server.stop() == 0)
        let handle = try FileHandle(forUpdating: file)
        let size = try handle.seekToEnd()
        for at in [size / 3, size / 2, 2 * size / 3] {
            try handle.seek(toOffset: at)
            handle.write(Data(repeating: 0xA5, count: 8192))
        }
        try handle.close()
        r = try runCommand([binary, "serve", "--port", "0", "--data", data.path], timeout: 60)
        #expect(r.status == 1 && r.stderr.contains("corrupt_store") && r.stderr.contains("is damaged"), "\(r.stderr)")
        r = try runCommand([binary, "backup", "--data", data.path, scratch.appendingPathComponent("c.sqlite").path])
        #expect(r.status == 2 && r.stderr.contains("corrupt_store") && r.stderr.contains("quick_check"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.appendingPathComponent("c.sqlite").path))
    }
}
