import Foundation
import GRDB
import GRDBSQLite

/// What ``StoreBackup/run(configuration:to:progress:)`` copied.
public struct StoreBackupSummary: Sendable, Equatable {
    /// The backup file.
    public var path: String
    /// Its size in bytes.
    public var bytes: Int64
    /// Debtor records in it.
    public var debtors: Int
    /// Events in its log, and the position of the last one (every acknowledged write up to it is in the copy).
    public var events: Int
    public var lastEventPosition: Int64
}

/// Copies a store into one self-contained SQLite file, consistently, while a server may be running on it.
///
/// The copy is SQLite's online backup of one read transaction: it holds every write the store had acknowledged
/// when the backup began, and none of the writes that came later, as a whole (never half a group commit). A running
/// server keeps writing meanwhile (WAL readers do not block the writer); its WAL grows until the copy is done. The
/// store's lock (``StoreLock``) is not taken, since nothing is written to the store.
///
/// The file is written beside its destination as `NAME.partial`, synced, checked (`PRAGMA quick_check`), then
/// renamed into place, so a destination that exists is always a whole backup. Restoring is copying it into an
/// empty data folder as `tagih.sqlite`.
public enum StoreBackup {
    /// Progress of a copy: database pages copied and in all.
    public typealias Progress = @Sendable (_ copied: Int, _ total: Int) -> Void

    /// Copies the store of `configuration` into `destination`, which must not exist.
    /// - Throws: ``StoreError``: `cannot_open` when there is no store or the destination cannot be written,
    ///   `corrupt_store` when SQLite finds the store damaged (nothing is left at the destination), `read_failed`.
    public static func run(
        configuration: StoreConfiguration, to destination: String, progress: Progress? = nil
    ) throws -> StoreBackupSummary {
        let source = configuration.path
        guard FileManager.default.fileExists(atPath: source) else {
            throw StoreError(code: .cannotOpen, message: "there is no store at \(source); give the --data folder of a store")
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: destination, isDirectory: &isDirectory) {
            throw StoreError(
                code: .cannotOpen,
                message: isDirectory.boolValue
                    ? "\(destination) is a directory; give the path of a new file in it, such as "
                        + "\((destination as NSString).appendingPathComponent("tagih-backup.sqlite"))"
                    : "\(destination) exists; a backup never overwrites a file: give a new path")
        }
        let folder = (destination as NSString).deletingLastPathComponent
        let parent = folder.isEmpty ? "." : folder
        guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw StoreError(
                code: .cannotOpen, message: "the folder \(parent) of \(destination) does not exist; create it first")
        }
        guard FileManager.default.isWritableFile(atPath: parent) else {
            throw StoreError(code: .cannotOpen, message: "the folder \(parent) of \(destination) is not writable")
        }
        let partial = destination + ".partial"
        try? FileManager.default.removeItem(atPath: partial)
        do {
            var readConfig = Configuration()
            readConfig.readonly = true
            readConfig.label = "tagih.backup.source"
            readConfig.busyMode = .timeout(10)
            let reader = try DatabaseQueue(path: try sourceLocation(source), configuration: readConfig)
            defer { try? reader.close() }
            var writeConfig = Configuration()
            writeConfig.label = "tagih.backup.destination"
            let writer = try DatabaseQueue(path: partial, configuration: writeConfig)
            // A stepped copy inside one read transaction of the source (`read` is one): every step sees the same
            // snapshot, so the server's commits meanwhile neither restart the copy nor tear it.
            try reader.backup(to: writer, pagesPerStep: 1024) { p in
                progress?(p.completedPageCount, p.totalPageCount)
            }
            let summary = try writer.read { db -> (Int, Int, Int64) in
                let check = try String.fetchAll(db, sql: "PRAGMA quick_check")
                guard check == ["ok"] else {
                    let findings = check.flatMap { $0.split(separator: "\n") }.filter { !$0.hasPrefix("***") }
                    throw StoreError(
                        code: .corruptStore,
                        message: "the copy of \(source) fails SQLite's quick_check, so the store itself is damaged "
                            + "(\(findings.count) findings, first: \(findings.prefix(2).joined(separator: "; "))); "
                            + "nothing was written at \(destination). Keep the last good backup")
                }
                let debtors = try Int.fetchOne(db, sql: "SELECT count(*) FROM debtor") ?? 0
                let events = try Int.fetchOne(db, sql: "SELECT count(*) FROM event") ?? 0
                let last = try Int64.fetchOne(db, sql: "SELECT coalesce(max(lsn), 0) FROM event") ?? 0
                return (debtors, events, last)
            }
            try writer.close()
            try sync(path: partial)
            guard rename(partial, destination) == 0 else {
                throw StoreError(
                    code: .cannotOpen,
                    message: "cannot rename \(partial) to \(destination) (\(String(cString: strerror(errno))))")
            }
            try sync(path: (destination as NSString).deletingLastPathComponent.isEmpty
                ? "." : (destination as NSString).deletingLastPathComponent)
            let bytes = (try? FileManager.default.attributesOfItem(atPath: destination)[.size] as? Int64) ?? 0
            return StoreBackupSummary(
                path: destination, bytes: bytes, debtors: summary.0, events: summary.1,
                lastEventPosition: summary.2)
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            if let error = error as? StoreError { throw error }
            if let code = StoreError.sqliteResultCode(of: error),
                let corrupt = StoreError.corrupt(path: source, code: code, cause: error)
            {
                throw corrupt
            }
            throw StoreError(
                code: .cannotOpen, message: "cannot back up \(source) to \(destination)", cause: error)
        }
    }

    /// Where SQLite opens the store to copy it: its path, or, on a read-only file system where the store has no
    /// `-shm` file, an immutable URI. SQLite opens a WAL-mode database read-only only with its `-shm` beside it (it
    /// cannot create one there); a store whose server closed cleanly has none. Without a `-wal` (or with an empty
    /// one) the database file holds every write, and nothing can change it on a read-only mount, so reading it as
    /// immutable is exact. A `-wal` with frames but no `-shm` cannot be read there: that is an error.
    static func sourceLocation(_ source: String) throws -> String {
        let directory = (source as NSString).deletingLastPathComponent
        var fs = statvfs()
        guard statvfs(directory.isEmpty ? "." : directory, &fs) == 0, fs.f_flag & UInt(ST_RDONLY) != 0,
            !FileManager.default.fileExists(atPath: source + "-shm")
        else { return source }
        let walBytes = (try? FileManager.default.attributesOfItem(atPath: source + "-wal")[.size] as? Int64) ?? 0
        guard walBytes == 0 else {
            throw StoreError(
                code: .cannotOpen,
                message: "\(source) is on a read-only file system with a write-ahead log (\(source)-wal, \(walBytes) "
                    + "bytes) but no \(source)-shm, which SQLite needs to read it and cannot create there: copy the "
                    + "data folder to a writable place and back up the copy")
        }
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "?#%")
        let escaped = source.addingPercentEncoding(withAllowedCharacters: allowed) ?? source
        return "file:" + escaped + "?immutable=1"
    }

    /// `fsync`s a file or a directory.
    private static func sync(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw StoreError(code: .cannotOpen, message: "cannot open \(path) to sync it (\(String(cString: strerror(errno))))")
        }
        defer { close(fd) }
        guard fsync(fd) == 0 else {
            throw StoreError(code: .writeFailed, message: "cannot sync \(path) (\(String(cString: strerror(errno))))")
        }
    }
}
