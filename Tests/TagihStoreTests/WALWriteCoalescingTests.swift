import Foundation
import GRDB
import Synchronization
import Testing
import TagihCore
@testable import TagihStore

#if canImport(Glibc)
import Glibc
#endif

/// The `tagih-wal` VFS (`WALWriteCoalescing`): fully synchronous commits write their WAL frames with one call,
/// every committed row reads back with its bytes while it is written and after a reopen, and a failed write of
/// the buffer fails the commit.
@Suite struct WALWriteCoalescingTests {
    /// The event the writers append as number `i`: an outcome whose phone field is long enough (1–3 KB) that
    /// rows cross page boundaries and every transaction writes several frames.
    static func event(_ i: Int) -> StoredEvent {
        let digits = String(repeating: String(i % 10), count: 1_000 + (i * 37) % 2_000)
        return .outcome(OutcomeEvent(
            attempt: "w\(i)", debtor: "D-\(i)", debt: "A-1", phone: "+\(i)-\(digits)", at: 1_790_000_000 + Int64(i),
            outcome: .noAnswer))
    }

    /// The number in an event key written by `event(_:)`.
    static func number(_ key: String) -> Int? { Int(key.dropFirst()) }

    /// A read-only connection of its own on the store's file, through the default VFS.
    static func reader(_ path: String) throws -> DatabaseQueue {
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(10)
        return try DatabaseQueue(path: path, configuration: config)
    }

    /// Every row with a position in `lsns`, checked against `expected`; returns the number checked.
    static func check(_ queue: DatabaseQueue, _ lsns: [Int64], _ expected: [Int64: Int]) throws -> Int {
        guard let low = lsns.min(), let high = lsns.max() else { return 0 }
        let rows = try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT lsn, key, body FROM event WHERE lsn BETWEEN ? AND ?", arguments: [low, high])
        }
        var seen = Set<Int64>()
        for row in rows {
            let lsn: Int64 = row["lsn"]
            let key: String = row["key"]
            let body: Data = row["body"]
            guard let i = number(key) else { throw StoreError(code: .corruptRecord, message: "key \(key)") }
            if let want = expected[lsn] { #expect(want == i, "row \(lsn) holds event \(i), not \(want)") }
            #expect(Array(body) == RecordCoding.encode(event(i)), "row \(lsn) (event \(i)) has other bytes")
            seen.insert(lsn)
        }
        for lsn in lsns { #expect(seen.contains(lsn), "acknowledged row \(lsn) is missing") }
        return rows.count
    }

    enum Pattern: String, CaseIterable, Sendable {
        /// Every commit fully synchronous (coalesced).
        case full
        /// Every commit relaxed (`synchronous = NORMAL` for the commit: not coalesced).
        case normal
        /// One writer full, the other relaxed, as grants and outcomes mix.
        case alternating
        /// A store opened with durability `normal` (the VFS is not used).
        case normalStore
    }

    /// Two writers commit 120 transactions each (1–4 events apiece) while a reader on a connection of its own
    /// scans the log over and over: each scan sees positions 1…n without a gap, every row with its exact bytes; each
    /// acknowledged batch reads back at once from that other connection; after a close and reopen, and again after
    /// a checkpoint and reopen, all rows are there.
    @Test(arguments: Pattern.allCases)
    func committedRowsReadBackWhileWrittenAndAfterReopen(pattern: Pattern) async throws {
        let directory = temporaryDirectory("walcoalescing\(pattern.rawValue)")
        let configuration = StoreConfiguration(
            directory: directory, durability: pattern == .normalStore ? .normal : .full)
        let store = try await Store.open(configuration: configuration)
        #expect((try await store.walWriteCounts() != nil) == (pattern != .normalStore))
        let reader = try Self.reader(configuration.path)
        let expected = try await withThrowingTaskGroup(of: [Int64: Int].self) { group in
            let done = ManagedAtomicFlag()
            group.addTask {
                // The scanning reader.
                var last: Int64 = 0
                var scans = 0
                while !done.isSet || scans < 3 {
                    let rows = try reader.read { db in
                        try Row.fetchAll(db, sql: "SELECT lsn, key, body FROM event WHERE lsn > ? ORDER BY lsn",
                                         arguments: [last])
                    }
                    for row in rows {
                        let lsn: Int64 = row["lsn"]
                        let key: String = row["key"]
                        let body: Data = row["body"]
                        #expect(lsn == last + 1, "the scan jumped from \(last) to \(lsn)")
                        let i = Self.number(key) ?? -1
                        #expect(Array(body) == RecordCoding.encode(Self.event(i)), "row \(lsn) has other bytes")
                        last = lsn
                    }
                    scans += 1
                    try await Task.sleep(for: .microseconds(200))
                }
                return [:]
            }
            for writer in 0..<2 {
                group.addTask {
                    var positions: [Int64: Int] = [:]
                    for t in 0..<120 {
                        let numbers = (0..<(1 + t % 4)).map { writer * 100_000 + t * 10 + $0 }
                        let relaxed = switch pattern {
                        case .full, .normalStore: false
                        case .normal: true
                        case .alternating: writer == 1
                        }
                        let results = try await store.append(numbers.map(Self.event), durability: relaxed ? .normal : nil)
                        var lsns: [Int64] = []
                        for (n, result) in zip(numbers, results) {
                            guard case .applied(let lsn) = result else {
                                Issue.record("event \(n) was not applied")
                                continue
                            }
                            positions[lsn] = n
                            lsns.append(lsn)
                        }
                        #expect(try Self.check(reader, lsns, positions) == lsns.count)
                    }
                    return positions
                }
            }
            var all: [Int64: Int] = [:]
            var writers = 0
            for try await positions in group where !positions.isEmpty {
                all.merge(positions) { a, _ in a }
                writers += 1
                if writers == 2 { done.set() }
            }
            return all
        }
        let eventsWritten = 2 * 120 * 10 / 4  // 1+2+3+4 events per 4 transactions
        #expect(expected.count == eventsWritten)
        if pattern == .full {
            let counts = try #require(try await store.walWriteCounts())
            #expect(counts.failedFlushes == 0)
            #expect(counts.issued < counts.received / 2, "\(counts)")
        }
        try reader.close()
        try await store.close()

        for step in ["reopen", "checkpoint"] {
            let again = try await Store.open(configuration: configuration)
            let events = try await again.events(after: 0, limit: 10_000)
            #expect(events.count == expected.count, "after \(step)")
            for logged in events {
                #expect(expected[logged.lsn].map(Self.event) == logged.event, "row \(logged.lsn) after \(step)")
            }
            if step == "reopen" { try await again.checkpoint() }
            try await again.close()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A fully synchronous grant commit writes the WAL once: SQLite's two calls per frame (header, page) reach the
    /// file as one `pwrite`. A relaxed commit's writes pass straight through, one by one; a commit larger than the
    /// 4 MiB buffer writes several buffers. With the switch off the store does not use the VFS.
    @Test func aFullCommitWritesTheWALOnce() async throws {
        let directory = temporaryDirectory("walcoalescingcount")
        let store = try await Store.open(configuration: .init(directory: directory, maxRowsPerTransaction: 40_000))
        func grants(_ id: String, _ n: Int) -> GrantBatchEncoder {
            var batch = GrantBatchEncoder(id: id, holder: "dialer-1", leasedAt: 1, expires: 601, count: n)
            for k in 0..<n { batch.append(lease: "\(id)-\(k)", debtor: "D-\(k)", debt: "A-\(k)", phone: "+1617555\(k)") }
            return batch
        }
        var before = try #require(try await store.walWriteCounts())
        for (k, size) in [1, 100, 400].enumerated() {
            _ = try await store.append(grants("L\(k)", size))
            let after = try #require(try await store.walWriteCounts())
            let received = after.received - before.received
            // When the checkpointer has copied the whole WAL, the commit starts it over: SQLite then writes the
            // 32-byte WAL header first and syncs it (one more write, and one more flush) before the frames.
            let restarted = received % 2
            #expect(received - restarted >= 2, "\(size) grants: \(received) writes received")
            #expect(after.issued - before.issued == 1 + restarted, "\(size) grants: \(after.issued - before.issued) issued")
            #expect(after.flushes - before.flushes == 1 + restarted)
            // Frames of 24 + 4,096 bytes (and the 32-byte header after a restart): nothing else was written.
            #expect((after.receivedBytes - before.receivedBytes - Int64(32 * restarted)) % 4_120 == 0)
            if size == 400 { #expect(received >= 6) }  // several frames
            before = after
        }
        _ = try await store.append(grants("Lr", 100), durability: .normal)
        var after = try #require(try await store.walWriteCounts())
        #expect(after.received - before.received >= 4)
        #expect(after.issued - before.issued == after.received - before.received)
        #expect(after.flushes == before.flushes)
        before = after

        // About 6 MiB of debtors in one transaction: more than one buffer.
        let debtors = (0..<30_000).map { i in
            var d = sampleDebtor
            d.id = "D-big-\(i)"
            d.segment = String(repeating: "s", count: 100)
            return d
        }
        _ = try await store.upsert(debtors)
        after = try #require(try await store.walWriteCounts())
        let bytes = after.receivedBytes - before.receivedBytes
        #expect(bytes > Int64(WALWriteCoalescing.capacity))
        #expect(after.flushes - before.flushes >= 2)
        // Written in pieces of at most `maxWrite` (124 KiB: 30 frames, where SQLite makes 60 calls).
        #expect((after.issued - before.issued) * 50 < after.received - before.received, "\(before) → \(after)")
        #expect(Int64(after.issued - before.issued) >= bytes / Int64(WALWriteCoalescing.maxWrite))
        #expect(try await store.debtorCount() == 30_000)
        try await store.close()

        let off = try await Store.open(configuration: .init(directory: directory, coalescesWALWrites: false))
        #expect(try await off.walWriteCounts() == nil)
        _ = try await off.append(grants("Loff", 10))
        #expect(try await off.eventCount() == 5)
        try await off.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Why the group committer opens a scope only around fully synchronous commits: inside a scope, a FULL
    /// commit's frames are in the file by the time COMMIT returns (its `xSync` wrote the buffer out), so another
    /// connection reads the new row, with its bytes, before the scope ends; a NORMAL commit has no `xSync`, and
    /// its frames would still be in the buffer when readers already see the commit.
    @Test func aFullCommitIsInTheFileWhenItReturns() throws {
        #expect(WALWriteCoalescing.register())
        let directory = temporaryDirectory("walcoalescingvisible")
        let path = directory + "/visible.sqlite"
        let queue = try DatabaseQueue(path: WALWriteCoalescing.uri(forPath: path))
        try queue.writeWithoutTransaction { db in
            _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        }
        let reader = try Self.reader(path)
        for (id, synchronous) in [(1, "FULL"), (2, "NORMAL")] {
            let body = Data((0..<9_000).map { UInt8(truncatingIfNeeded: $0 * id) })
            try queue.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
                let before = try #require(WALWriteCoalescing.counts(connection: db.sqliteConnection))
                try WALWriteCoalescing.coalescing {
                    try db.inTransaction {
                        try db.execute(sql: "INSERT INTO t (id, body) VALUES (?, ?)", arguments: [id, body])
                        return .commit
                    }
                    let after = try #require(WALWriteCoalescing.counts(connection: db.sqliteConnection))
                    if synchronous == "FULL" {
                        #expect(after.flushes == before.flushes + 1)
                        let read = try reader.read { try Data.fetchOne($0, sql: "SELECT body FROM t WHERE id = ?",
                                                                       arguments: [id]) }
                        #expect(read == body)
                    } else {
                        #expect(after.flushes == before.flushes, "a NORMAL commit left its frames in the buffer")
                    }
                }
            }
            #expect(try reader.read { try Data.fetchOne($0, sql: "SELECT body FROM t WHERE id = ?", arguments: [id]) }
                == body)
        }
        try reader.close()
        try queue.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Without "powersafe overwrite" (`psow=0`) SQLite syncs a FULL commit in the middle of its last, padded
    /// frame and writes the rest after the sync: such a WAL file is never buffered; every write passes through.
    @Test func aWALWithoutPowersafeOverwriteIsNotBuffered() throws {
        #expect(WALWriteCoalescing.register())
        let directory = temporaryDirectory("walcoalescingpsow")
        let queue = try DatabaseQueue(path: WALWriteCoalescing.uri(forPath: directory + "/psow.sqlite") + "&psow=0")
        try queue.writeWithoutTransaction { db in
            _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
            try WALWriteCoalescing.coalescing {
                try db.inTransaction {
                    try db.execute(sql: "INSERT INTO t (id, body) VALUES (1, zeroblob(9000))")
                    return .commit
                }
            }
            let counts = try #require(WALWriteCoalescing.counts(connection: db.sqliteConnection))
            #expect(counts.flushes == 0 && counts.issued == counts.received && counts.received > 4, "\(counts)")
        }
        try queue.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    #if os(Linux)
    /// A real failure of the coalesced write: the WAL's file descriptor is replaced (dup2) by a read-only one on the
    /// same file, so the flush's `pwrite` fails with EBADF. The commit fails (SQLITE_IOERR_WRITE), its row is not
    /// in the database, and once the descriptor is writable again the connection commits and reads normally.
    /// (A full disk cannot be made here without mounting a file system; this is the same error path.)
    @Test func aFailedFlushFailsTheCommit() throws {
        #expect(WALWriteCoalescing.register())
        let directory = temporaryDirectory("walcoalescingfailure")
        let path = directory + "/failure.sqlite"
        do {
            let setup = try DatabaseQueue(path: path)
            try setup.writeWithoutTransaction { db in
                _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
                try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
            }
            try setup.close()
        }
        let queue = try DatabaseQueue(path: WALWriteCoalescing.uri(forPath: path))
        let body = Data(repeating: 7, count: 10_000)  // three frames and more
        func insert(_ id: Int) throws {
            try queue.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
                try WALWriteCoalescing.coalescing {
                    try db.inTransaction {
                        try db.execute(sql: "INSERT INTO t (id, body) VALUES (?, ?)", arguments: [id, body])
                        return .commit
                    }
                }
            }
        }
        try insert(1)
        let firstCounts = queue.inDatabase { WALWriteCoalescing.counts(connection: $0.sqliteConnection) }
        let first = try #require(firstCounts)
        #expect(first.flushes >= 1 && first.failedFlushes == 0)

        // The WAL's descriptor: the one link in /proc/self/fd to this file.
        let walPath = (try #require(realpath(path, nil).map { p in defer { free(p) }; return String(cString: p) }))
            + "-wal"
        let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").compactMap(Int32.init)
            .filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")) == walPath }
        #expect(fds.count == 1)
        let wal = try #require(fds.first)
        let saved = dup(wal)
        let readOnly = open(walPath, O_RDONLY)
        #expect(saved >= 0 && readOnly >= 0)
        #expect(dup2(readOnly, wal) == wal)
        close(readOnly)
        var failure: (any Error)?
        do { try insert(2) } catch { failure = error }
        #expect(dup2(saved, wal) == wal)
        close(saved)
        let error = try #require(failure as? DatabaseError, "the commit succeeded: \(String(describing: failure))")
        #expect(error.resultCode == .SQLITE_IOERR, "\(error)")
        let afterCounts = queue.inDatabase { WALWriteCoalescing.counts(connection: $0.sqliteConnection) }
        let after = try #require(afterCounts)
        #expect(after.failedFlushes == 1, "\(after)")
        #expect(after.issued == first.issued + 1, "only the failed flush was issued: \(after)")

        try insert(3)
        #expect(try queue.read { try Int.fetchAll($0, sql: "SELECT id FROM t ORDER BY id") } == [1, 3])
        try queue.close()
        let plain = try DatabaseQueue(path: path)
        #expect(try plain.read { try Int.fetchAll($0, sql: "SELECT id FROM t ORDER BY id") } == [1, 3])
        #expect(try plain.read { try Data.fetchOne($0, sql: "SELECT body FROM t WHERE id = 3") } == body)
        try plain.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
    #endif
}

/// A flag set once, read from other tasks.
final class ManagedAtomicFlag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}
