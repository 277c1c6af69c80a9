import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The exclusive lock a ``Store`` holds on its directory while it is open: an `flock` on `DIR/tagih.lock`, which
/// holds the owner's process id for the message a second opener gets.
///
/// Two processes serving one store would each lease the same debtors (each engine keeps its leases in memory), write
/// their own snapshots and history floors, and a `tagih import` into a served store would not be seen by the server
/// until its restart. So a store opens only when no other process holds the lock. The kernel releases it when the
/// process ends, however it ends (a kill -9 leaves no stale lock behind; the file itself stays, with the last
/// owner's pid, and is reused). Within one process the stores of one directory share the lock (counted): the
/// engine's tests open a store again without closing the first to stand for a crash, and a process cannot race
/// itself the way two servers do.
final class StoreLock: Sendable {
    /// The lock file's path.
    let path: String
    /// The registry key (the lock file's canonical path); nil once released.
    private let key: Mutex<String?>

    /// The process's held locks: canonical lock file path → descriptor and number of open stores using it.
    private static let held = Mutex<[String: (descriptor: Int32, users: Int)]>([:])

    /// The name of the lock file in a store's directory.
    static let fileName = "tagih.lock"
    /// How long an open waits for a lock another process holds before it gives up.
    static let patience: Duration = .seconds(2)

    /// Takes the lock on `directory`, waiting at most ``patience`` for another process to let it go.
    /// - Throws: ``StoreError`` with code `in_use` when another process holds it (the message names that process's
    ///   id when the file holds one), or `cannot_open` when the file cannot be created or locked.
    init(directory: String) throws {
        let path = (directory as NSString).appendingPathComponent(Self.fileName)
        let canonical = URL(fileURLWithPath: directory).standardizedFileURL.resolvingSymlinksInPath()
            .appendingPathComponent(Self.fileName).path
        self.path = path
        self.key = Mutex(canonical)
        try Self.held.withLock { held in
            if let entry = held[canonical] {
                held[canonical] = (entry.descriptor, entry.users + 1)
                return
            }
            held[canonical] = (try Self.acquire(path: path, directory: directory), 1)
        }
    }

    /// Opens and locks the file, writes this process's id into it; returns the descriptor.
    private static func acquire(path: String, directory: String) throws -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw StoreError(
                code: .cannotOpen,
                message: "cannot create the lock file \(path) (\(String(cString: strerror(errno)))); check the "
                    + "directory is writable")
        }
        // A lock held for a moment only is waited for (up to `patience`): a process that is ending (a restart that
        // overlaps the old server's exit), or a child process being spawned, which holds a copy of every
        // descriptor until its `exec` closes them.
        var failure: Int32 = 0
        let deadline = ContinuousClock.now + patience
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            failure = errno
            guard failure == EWOULDBLOCK || failure == EINTR, ContinuousClock.now < deadline else { break }
            usleep(10_000)
            failure = 0
        }
        guard failure == 0 else {
            let owner = Self.readOwner(fd)
            close(fd)
            if failure == EWOULDBLOCK {
                let who = owner.map { "process \($0)" } ?? "another process"
                throw StoreError(
                    code: .inUse,
                    message: "the store in \(directory) is already open in \(who); stop that server or import "
                        + "first (a running server takes new debtors through PUT /v1/debtors)")
            }
            throw StoreError(
                code: .cannotOpen,
                message: "cannot lock \(path) (\(String(cString: strerror(failure))))")
        }
        let pid = Array("\(getpid())\n".utf8)
        if ftruncate(fd, 0) == 0 {
            _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        }
        return fd
    }

    /// Releases this store's share of the lock (idempotent); the last store of the directory in this process
    /// unlocks it. The file stays.
    func release() {
        guard let canonical = key.withLock({ k -> String? in defer { k = nil }; return k }) else { return }
        Self.held.withLock { held in
            guard let entry = held[canonical] else { return }
            if entry.users > 1 {
                held[canonical] = (entry.descriptor, entry.users - 1)
            } else {
                held[canonical] = nil
                close(entry.descriptor)  // releases the flock
            }
        }
    }

    deinit { release() }

    /// The process id the lock file holds, if it holds one.
    private static func readOwner(_ fd: Int32) -> Int32? {
        var bytes = [UInt8](repeating: 0, count: 32)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        let text = String(decoding: bytes[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return Int32(text)
    }
}

/// A store directory's lock taken ahead of opening the store (``StoreReservation/init(directory:)``): a server takes
/// it before it binds its port, so that a second server on the same store stops with `in_use` before it answers a
/// health check. A ``Store`` opened in the same process on the same directory shares it.
public final class StoreReservation: Sendable {
    private let lock: StoreLock

    /// Takes the lock on `directory` (created when missing), waiting at most two seconds for another process.
    /// - Throws: ``StoreError`` with code `in_use` when another process holds it, else `cannot_open`.
    public init(directory: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError(
                code: .cannotOpen,
                message: "cannot create the data folder \(directory) (\(error.localizedDescription)); give a --data "
                    + "folder this user may write")
        }
        lock = try StoreLock(directory: directory)
    }

    /// Lets the reservation go (idempotent); an open store of the directory keeps its own share.
    public func release() { lock.release() }
}
