import Foundation
import GRDB
import GRDBSQLite
import Logging
import Metrics
import Synchronization
import TagihCore

/// The result of appending one event to the log.
public enum AppendResult: Sendable, Hashable {
    /// Newly written and durable; `lsn` is its position in the log.
    case applied(lsn: Int64)
    /// An event with the same kind and key was already in the log; nothing was written.
    case duplicate
}

/// A debtor as read back from the store.
public struct StoredDebtor: Sendable {
    /// The debtor record.
    public var debtor: Debtor
    /// The log position of the write that stored this version of the record.
    public var lsn: Int64
    /// The engine's cached scheduling state for this debtor, if a snapshot holds one.
    public var snapshot: SnapshotRow?
}

/// A debtor as read back for recovery: its record still encoded, so the engine can pack it without
/// materialising a `Debtor`.
public struct StoredRecord: Sendable {
    /// The debtor id.
    public var id: String
    /// The log position of the write that stored this version of the record.
    public var lsn: Int64
    /// The record in the store's encoding (``RecordCoding``).
    public var body: [UInt8]
    /// The engine's cached scheduling state for this debtor, if a snapshot holds one.
    public var snapshot: SnapshotRow?
}

/// One page of encoded debtor records read back for recovery, in id order: every record's id, body (in the
/// store's encoding, ``RecordCoding``) and snapshot state in one contiguous byte array, so a page of 20,000
/// records costs a handful of allocations instead of three per record.
public struct RecordPage: Sendable {
    /// Where one record's bytes are in ``bytes``.
    public struct Entry: Sendable {
        /// The id's UTF-8 bytes.
        public var id: Range<Int>
        /// The record body.
        public var body: Range<Int>
        /// The snapshot state; nil when the snapshot holds no row for the debtor.
        public var state: Range<Int>?
        /// The log position of the write that stored this version of the record.
        public var lsn: Int64
        /// The snapshot row's basis (meaningful when `state` is not nil).
        public var basis: Int64
        /// The history checkpoint row's body (``HistoryCoding``); nil when the checkpoint holds no row for the
        /// debtor.
        public var history: Range<Int>? = nil
        /// The history checkpoint row's log position (``HistoryRow/lsn``; meaningful when `history` is not nil).
        public var historyLSN: Int64 = 0
    }

    /// The bytes of every entry, back to back.
    public var bytes: [UInt8] = []
    /// The records, in id order.
    public var entries: [Entry] = []
    /// The id of the last record (where the next page starts); nil for an empty page.
    public var lastID: String?

    /// An empty page.
    public init() {}

    /// The number of records.
    public var count: Int { entries.count }
}

/// One row of a decision snapshot: opaque engine state valid for a debtor whose last change is `basis`.
public struct SnapshotRow: Sendable {
    /// The debtor id.
    public var debtor: String
    /// The log position of the last change (record or event) reflected in `state`.
    public var basis: Int64
    /// Engine-defined bytes.
    public var state: [UInt8]
    /// Creates a row.
    public init(debtor: String, basis: Int64, state: [UInt8]) {
        self.debtor = debtor
        self.basis = basis
        self.state = state
    }
}

/// The reasons of a decision, as a snapshot row names them: by a stable 64-bit hash of the list (``hash(_:)``).
public struct ReasonList: Sendable, Hashable {
    /// ``hash(_:)`` of `reasons`.
    public var hash: UInt64
    /// The reasons, in order.
    public var reasons: [String]

    /// Creates a list with its hash.
    public init(_ reasons: [String]) {
        self.hash = Self.hash(reasons)
        self.reasons = reasons
    }

    /// FNV-1a (64 bit) over each reason's UTF-8 followed by a 0xFF byte (never part of UTF-8): the same value in
    /// every process. Never 0 (0 stands for "no reasons" in a snapshot row).
    public static func hash(_ reasons: [String]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for reason in reasons {
            for byte in reason.utf8 {
                hash ^= UInt64(byte)
                hash = hash &* 0x100_0000_01b3
            }
            hash ^= 0xFF
            hash = hash &* 0x100_0000_01b3
        }
        return hash == 0 ? 1 : hash
    }

    /// The list as stored: a JSON array of strings.
    static func encode(_ reasons: [String]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: reasons, options: [])) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// A stored list, or nil when it is not a JSON array of strings.
    static func decode(_ text: String) -> [String]? {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String]
    }
}

/// An event as read back from the log.
public struct LoggedEvent: Sendable {
    /// Its position in the log.
    public var lsn: Int64
    /// The event.
    public var event: StoredEvent
}

/// The durable store: SQLite (system libsqlite3) through GRDB, in WAL mode.
///
/// Tables: `debtor` (the current record of each debtor, WITHOUT ROWID keyed by id), `event` (the append-only log
/// of outcomes, payments, lease grants, releases and expiries and operator clearances, unique by kind +
/// idempotency key), `snapshot_state` (the engine's cached decisions, so a restart need not re-decide every
/// debtor), `reason_list` (the reason lists snapshot rows name by hash; migration v2), `history_state` (the history
/// checkpoint: each debtor's history as the engine keeps it, so a restart replays only the log after
/// `meta.history_floor`; migration v3) and `meta`.
///
/// Every write goes through one group committer: concurrent callers are batched into one transaction, which is
/// committed (and, with ``StoreConfiguration/Durability/full``, fsynced) before any of them returns.
///
/// Isolation: `Sendable`; all methods may be called from any task. SQLite work runs on GRDB's dispatch queues,
/// never on the cooperative thread pool.
public final class Store: Sendable {
    /// The configuration it was opened with.
    public let configuration: StoreConfiguration
    let pool: DatabasePool
    let committer: GroupCommitter
    let checkpointer: Checkpointer
    let logger: Logger
    /// The store's directory lock, held from open to close (see ``StoreLock``).
    let lock: StoreLock
    /// Probes a failing store once a second until it can write again (see ``writeFailure``).
    private let prober: Task<Void, Never>

    private init(
        configuration: StoreConfiguration, pool: DatabasePool, checkpointer: Checkpointer, lsn: Int64, logger: Logger,
        lock: StoreLock
    ) {
        self.configuration = configuration
        self.lock = lock
        self.pool = pool
        self.checkpointer = checkpointer
        self.logger = logger
        let writable = Gauge(label: "tagih_store_writable")
        let failures = Counter(label: "tagih_store_write_failures_total")
        writable.record(1)
        let committer = GroupCommitter(
            pool: pool, lsn: lsn, maxRows: max(1, configuration.maxRowsPerTransaction),
            fullySynchronous: configuration.durability == .full,
            coalescesWALWrites: configuration.coalescesWALWrites && configuration.durability == .full,
            healthChanged: { event in
                // Logged once when writes start failing and once when they work again, never per write.
                switch event {
                case .failed(let failure, let first):
                    failures.increment()
                    guard first else { return }
                    writable.record(0)
                    logger.error(
                        "the store cannot write: nothing is acknowledged until it can (retried once a second)",
                        metadata: ["reason": "\(failure.reason)", "path": "\(configuration.path)"])
                case .recovered(let failure):
                    writable.record(1)
                    logger.notice(
                        "the store writes again",
                        metadata: ["failedTransactions": "\(failure.failedTransactions)",
                                   "seconds": "\(Int(Date().timeIntervalSince(failure.since).rounded()))",
                                   "lastReason": "\(failure.reason)"])
                }
            })
        self.committer = committer
        prober = Task.detached(priority: .utility) {
            while true {
                do { try await Task.sleep(for: Self.probeInterval) } catch { return }
                guard committer.writeFailure != nil else { continue }
                do {
                    try await pool.write { db in
                        try db.execute(
                            sql: """
                                INSERT INTO meta (key, value) VALUES ('write_probe', ?)
                                ON CONFLICT (key) DO UPDATE SET value = excluded.value
                                """,
                            arguments: [Int64(Date().timeIntervalSince1970)])
                    }
                    committer.recordWrite(failure: nil)
                } catch {
                    if Task.isCancelled { return }
                    committer.recordWrite(failure: error)
                }
            }
        }
    }

    /// How often a store whose writes fail tries a small durable write of its own (see ``writeFailure``).
    public static let probeInterval = Duration.seconds(1)

    /// Why the store cannot write at the moment, or nil when its last write transaction committed.
    ///
    /// Set when a group commit fails (every write of that transaction was refused, nothing acknowledged) and
    /// cleared by the next transaction that commits. While it is set, the store tries a small durable write of
    /// its own once a second (a row of `meta`), so that it clears once the cause is gone (space freed on a full
    /// disk) even when no client writes. Also exported as the gauge `tagih_store_writable` (1 or 0) and the
    /// counter `tagih_store_write_failures_total`. Cheap (a lock), callable from any thread.
    public var writeFailure: StoreWriteFailure? { committer.writeFailure }

    /// Opens (creating and migrating when needed) the store in `configuration.directory`, and locks it: while it is
    /// open, no other process can open the same directory (see ``StoreLock``).
    /// - Throws: ``StoreError`` with code `in_use` when the store is open elsewhere, else `cannot_open`.
    public static func open(configuration: StoreConfiguration = .init(), logger: Logger = Logger(label: "tagih.store"))
        async throws -> Store
    {
        do {
            try FileManager.default.createDirectory(atPath: configuration.directory, withIntermediateDirectories: true)
            let lock = try StoreLock(directory: configuration.directory)
            var config = Configuration()
            config.label = "tagih.store"
            config.busyMode = .timeout(10)
            // The pool's connections (writer and readers) open the file through the `tagih-wal` VFS when it is on
            // (see `WALWriteCoalescing`); the checkpointer's and the record reader's never write WAL frames.
            let coalesce = configuration.coalescesWALWrites && configuration.durability == .full
                && WALWriteCoalescing.register()
            let pool = try DatabasePool(
                path: coalesce ? WALWriteCoalescing.uri(forPath: configuration.path) : configuration.path,
                configuration: config)
            let sync = configuration.durability == .full ? "FULL" : "NORMAL"
            try await pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = \(sync)")
                try db.execute(sql: "PRAGMA cache_size = -65536")
                // Checkpoints run on a connection of their own (Checkpointer), never inside a commit.
                try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
            }
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                migrator.asyncMigrate(pool) { result in continuation.resume(with: result.map { _ in () }) }
            }
            try await preallocateWAL(pool, path: configuration.path)
            let lsn = try await pool.read { db in
                // `meta.lsn` is written by transactions that upsert debtors; events carry their own position.
                try Int64.fetchOne(db, sql: """
                    SELECT max((SELECT value FROM meta WHERE key = 'lsn'), (SELECT coalesce(max(lsn), 0) FROM event))
                    """) ?? 0
            }
            logger.debug("store opened", metadata: ["path": "\(configuration.path)", "lsn": "\(lsn)", "synchronous": "\(sync)"])
            let checkpointer = try Checkpointer(path: configuration.path, interval: .milliseconds(200), logger: logger)
            Self.keepFreedHeapMemory()
            return Store(
                configuration: configuration, pool: pool, checkpointer: checkpointer, lsn: lsn, logger: logger, lock: lock)
        } catch let error as StoreError {
            throw error
        } catch {
            if let code = StoreError.sqliteResultCode(of: error),
                let corrupt = StoreError.corrupt(path: configuration.path, code: code, cause: error)
            {
                throw corrupt
            }
            if StoreError.sqliteResultCode(of: error) == SQLITE_FULL {
                throw StoreError(
                    code: .cannotOpen,
                    message: "cannot open the store at \(configuration.path): the disk holding it is full ("
                        + "\(Self.freeSpace(of: configuration.directory).map { "\($0) bytes free" } ?? "no room") "
                        + "to write its log); free space there and start again. Nothing was changed",
                    cause: error)
            }
            throw StoreError(
                code: .cannotOpen,
                message: "cannot open the store at \(configuration.path); check the directory exists and is writable",
                cause: error)
        }
    }

    /// The bytes free for this process on the file system holding `directory`, or nil when that cannot be read.
    static func freeSpace(of directory: String) -> Int64? {
        var fs = statvfs()
        guard statvfs(directory, &fs) == 0 else { return nil }
        return Int64(fs.f_bavail) * Int64(fs.f_frsize)
    }

    /// The WAL pages the checkpointer lets the WAL reach before it starts it over (`Checkpointer.restartPages`),
    /// plus what one checkpoint interval of busy commits adds: how far the WAL file grows in steady operation.
    static let steadyWALPages = 8_192 + 4_096

    /// Extends the WAL file with zeros to the size it reaches in steady operation (`steadyWALPages`, at most a
    /// sixteenth of the database file; nothing for a store under 1 MiB), once per open.
    ///
    /// A clean close truncates the WAL (`checkpoint()`, TRUNCATE), so after a restart every commit appended to it
    /// until it reached the size at which the checkpointer starts it over: each of those commits' `fdatasync` also
    /// wrote the file's new size and block allocation, and took about 1.5 times as long as one that overwrites
    /// blocks already written (0.19–0.22 against 0.12–0.15 ms for 32 KiB on this machine's disk). The grant commits
    /// of the first few hundred thousand leases after a start paid that (COMMIT 0.5 ms against 0.3 ms later).
    ///
    /// Safe for SQLite: done while holding the WAL write lock (BEGIN IMMEDIATE, nothing written), only beyond the
    /// file's current end; a frame of zeros never passes SQLite's checksum, so the log still ends at its last valid
    /// frame, and the next commit overwrites the zeros as it would overwrite stale frames after a restart.
    static func preallocateWAL(_ pool: DatabasePool, path: String) async throws {
        #if canImport(Glibc)
        try await pool.writeWithoutTransaction { db in
            try db.inTransaction(.immediate) {
                let pageSize = try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
                var info = stat()
                guard stat(path, &info) == 0 else { return .rollback }
                let target = min(Int64(steadyWALPages) * Int64(pageSize + 24) + 32, Int64(info.st_size) / 16)
                guard target >= 1 << 20 else { return .rollback }
                let fd = Glibc.open(path + "-wal", O_WRONLY)
                guard fd >= 0 else { return .rollback }
                defer { Glibc.close(fd) }
                var wal = stat()
                guard fstat(fd, &wal) == 0, Int64(wal.st_size) < target else { return .rollback }
                let zeros = [UInt8](repeating: 0, count: 1 << 20)
                var offset = Int64(wal.st_size)
                while offset < target {
                    let count = Int(min(Int64(zeros.count), target - offset))
                    let written = zeros.withUnsafeBytes { pwrite(fd, $0.baseAddress, count, off_t(offset)) }
                    guard written > 0 else { return .rollback }
                    offset += Int64(written)
                }
                fdatasync(fd)
                return .rollback
            }
        }
        #endif
    }

    /// Tells the C allocator (glibc) to keep up to 64 MiB of freed memory at the top of each of its heaps instead
    /// of returning it to the kernel at every `free` past its trim threshold: every lease call and group commit
    /// allocates and frees buffers of tens of kilobytes on several threads, and each trimmed heap was faulted in
    /// again page by page by the next call (3–6 % of the CPU time of a durable lease). Blocks of 32 MiB and more
    /// are still mapped and unmapped on their own. (These are the largest values glibc's own adaptive thresholds
    /// reach; setting one threshold turns the adaptation off, so both are set: with the mapping threshold left at
    /// its 128 KiB start, every page of records read at start was mapped afresh, which slowed recovery down.)
    /// Process-wide, once.
    static func keepFreedHeapMemory() {
        #if canImport(Glibc)
        _ = heapThresholdsSet
        #endif
    }

    #if canImport(Glibc)
    /// `mallopt(M_MMAP_THRESHOLD, 32 MiB)` and `mallopt(M_TRIM_THRESHOLD, 64 MiB)`, looked up at run time
    /// (`malloc.h` is not part of the Glibc module).
    private static let heapThresholdsSet: Bool = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return false }
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let mTrimThreshold: Int32 = -1, mMmapThreshold: Int32 = -3  // from malloc.h
        return mallopt(mMmapThreshold, 32 << 20) == 1 && mallopt(mTrimThreshold, 64 << 20) == 1
    }()
    #endif

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID;
                INSERT INTO meta (key, value) VALUES ('lsn', 0);
                CREATE TABLE debtor (
                    id TEXT PRIMARY KEY NOT NULL,
                    lsn INTEGER NOT NULL,
                    body BLOB NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE event (
                    lsn INTEGER PRIMARY KEY NOT NULL,
                    kind INTEGER NOT NULL,
                    key TEXT NOT NULL,
                    debtor TEXT NOT NULL,
                    body BLOB NOT NULL
                );
                CREATE UNIQUE INDEX event_key ON event (kind, key);
                CREATE TABLE snapshot_state (
                    debtor TEXT PRIMARY KEY NOT NULL,
                    basis INTEGER NOT NULL,
                    state BLOB NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        // v2: the reason lists that snapshot rows name by hash (see `writeSnapshot(_:reasonLists:)`). A binary that
        // knows only v1 still opens a store migrated to v2 (GRDB ignores applied migrations it does not know) and
        // never touches the table.
        migrator.registerMigration("v2") { db in
            try db.execute(sql: "CREATE TABLE reason_list (hash INTEGER PRIMARY KEY NOT NULL, reasons TEXT NOT NULL)")
        }
        // v3: the history checkpoint (see `writeHistory(_:)`): each debtor's history as the engine keeps it, so that
        // a start replays only the log after `meta.history_floor`. A binary that knows only v1 and v2 opens a v3
        // store, never touches the table or the floor, and replays the whole log as before; the events it appends
        // come after every checkpoint row, so a later start of a v3 binary replays them.
        migrator.registerMigration("v3") { db in
            try db.execute(sql: """
                CREATE TABLE history_state (
                    debtor TEXT PRIMARY KEY NOT NULL,
                    lsn INTEGER NOT NULL,
                    body BLOB NOT NULL
                ) WITHOUT ROWID
                """)
        }
        return migrator
    }

    /// The applied migrations, in order (for diagnostics and tests).
    public func appliedMigrations() async throws -> [String] {
        try await pool.read { db in try Array(Self.migrator.appliedIdentifiers(db)).sorted() }
    }

    /// The write calls the writer connection's WAL file received and issued since it was opened, or nil when the
    /// store does not use the `tagih-wal` VFS (for tests and benchmarks).
    func walWriteCounts() async throws -> WALWriteCounts? {
        try await pool.writeWithoutTransaction { db in WALWriteCoalescing.counts(connection: db.sqliteConnection) }
    }

    /// The current `PRAGMA synchronous` of the writer connection (2 = FULL, 1 = NORMAL).
    public func synchronousLevel() async throws -> Int {
        try await pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// Appends events to the log, group-committed with every concurrent writer. Returns after the commit is
    /// durable at `durability` (default: the store's ``StoreConfiguration/durability``; asking for
    /// ``StoreConfiguration/Durability/normal`` in a `full` store lets a transaction made only of such writes
    /// skip the WAL fsync: it survives a crash of the process, and is fsynced with the next full commit).
    /// A repeated (kind, key) is reported as ``AppendResult/duplicate`` and not written again.
    /// - Throws: ``StoreError`` with code `write_failed`; then nothing of the batch was acknowledged.
    public func append(_ events: [StoredEvent], durability: StoreConfiguration.Durability? = nil) async throws
        -> [AppendResult]
    {
        if events.isEmpty { return [] }
        let encoded = events.map(EncodedEvent.init)  // on the caller's task, not the single writer's
        let relaxed = (durability ?? configuration.durability) == .normal
        guard case .events(let results) = try await committer.submit(.events(encoded, relaxed: relaxed)) else {
            preconditionFailure()
        }
        return results
    }

    /// Appends one batch of lease grants encoded by the caller (``GrantBatchEncoder``): the same row as
    /// `append([.leasesGranted(…)])` of those grants writes, without building the ``LeaseGrant`` values; when
    /// other grant batches share its transaction, all of them are one row of kind 11
    /// (``GrantBatchEncoder/mergedKind``, read back as one batch of all their grants) and share its position.
    /// Durable as ``append(_:durability:)`` says. While only such batches are queued and the previous commit took
    /// 0.5 ms or more, the single writer may hold their commit back for the callers that commit resumed (at most
    /// half its duration, at most 1 ms): fewer, larger transactions when the disk is slow. Outcomes and other
    /// events never wait.
    /// - Throws: ``StoreError`` with code `write_failed`, or `invalid_argument` when the batch holds fewer or more
    ///   grants than its header announced.
    public func append(_ grants: GrantBatchEncoder, durability: StoreConfiguration.Durability? = nil) async throws
        -> AppendResult
    {
        guard grants.appended == grants.count, grants.count > 0 else {
            throw StoreError(code: .invalidArgument,
                             message: "a grant batch announced \(grants.count) grants and holds \(grants.appended)")
        }
        let event = EncodedEvent(kind: Int64(GrantBatchEncoder.kind), key: grants.id, debtor: grants.firstDebtor,
                                 body: grants.body)
        let relaxed = (durability ?? configuration.durability) == .normal
        // A lease call's grants may wait a little for the other dialers' (see `GroupCommitter.submit`).
        guard case .events(let results) = try await committer.submit(.grantBatch(event, relaxed: relaxed), mayWait: true)
        else {
            preconditionFailure()
        }
        return results[0]
    }

    /// Inserts or replaces debtor records, group-committed. Returns each record's log position after the commit.
    /// - Throws: ``StoreError`` with code `write_failed`.
    public func upsert(_ debtors: [Debtor]) async throws -> [Int64] {
        if debtors.isEmpty { return [] }
        guard case .debtors(let lsns) = try await committer.submit(.debtors(debtors)) else { preconditionFailure() }
        return lsns
    }

    /// The number of debtor records.
    public func debtorCount() async throws -> Int {
        try await read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM debtor") ?? 0 }
    }

    /// The number of events in the log.
    public func eventCount() async throws -> Int {
        try await read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM event") ?? 0 }
    }

    /// Runs SQL statements in one transaction (tests use it to make stores as older versions left them).
    func execute(sql: String) async throws {
        try await pool.write { db in try db.execute(sql: sql) }
    }

    /// The number of decision snapshot rows.
    public func snapshotCount() async throws -> Int {
        try await read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM snapshot_state") ?? 0 }
    }

    /// Whether the store holds no debtor.
    public func isEmpty() async throws -> Bool {
        try await read { db in try Int.fetchOne(db, sql: "SELECT 1 FROM debtor LIMIT 1") == nil }
    }

    /// Group-commit statistics since open: transactions committed and write requests they carried.
    public func commitStatistics() async -> (transactions: Int, requests: Int) {
        (committer.transactions, committer.requests)
    }

    /// Where the time of the committed transactions since open went (for benchmarks).
    public func commitTimings() async -> CommitTimings { committer.timings }

    /// The log position of the last committed write.
    public func lastLSN() async -> Int64 { committer.currentLSN }

    /// Reads one page of debtors with ids greater than `after`, in id order, with their snapshot rows.
    public func debtors(after: String?, limit: Int) async throws -> [StoredDebtor] {
        try await read { db in
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT d.lsn, d.body, s.basis, s.state FROM debtor d
                    LEFT JOIN snapshot_state s ON s.debtor = d.id
                    WHERE d.id > ? ORDER BY d.id LIMIT ?
                    """,
                arguments: [after ?? "", limit])
            var page: [StoredDebtor] = []
            page.reserveCapacity(limit)
            while let row = try rows.next() {
                let lsn: Int64 = row[0]
                let debtor = try row.withUnsafeData(atIndex: 1) { data -> Debtor in
                    guard let data else { throw StoreError(code: .corruptRecord, message: "debtor body is NULL") }
                    return try data.withUnsafeBytes { raw in try RecordCoding.decodeDebtor(raw) }
                }
                var snapshot: SnapshotRow?
                if let basis: Int64 = row[2] {
                    let state: Data = row[3]
                    snapshot = SnapshotRow(debtor: debtor.id, basis: basis, state: [UInt8](state))
                }
                page.append(StoredDebtor(debtor: debtor, lsn: lsn, snapshot: snapshot))
            }
            return page
        }
    }

    /// Reads one page of encoded debtor records with ids greater than `after`, in id order, with snapshot rows.
    public func records(after: String?, limit: Int) async throws -> [StoredRecord] {
        try await read { db in
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT d.id, d.lsn, d.body, s.basis, s.state FROM debtor d
                    LEFT JOIN snapshot_state s ON s.debtor = d.id
                    WHERE d.id > ? ORDER BY d.id LIMIT ?
                    """,
                arguments: [after ?? "", limit])
            var page: [StoredRecord] = []
            page.reserveCapacity(limit)
            while let row = try rows.next() {
                let id: String = row[0]
                let lsn: Int64 = row[1]
                let body = try row.withUnsafeData(atIndex: 2) { data -> [UInt8] in
                    guard let data else { throw StoreError(code: .corruptRecord, message: "debtor body is NULL") }
                    return [UInt8](data)
                }
                var snapshot: SnapshotRow?
                if let basis: Int64 = row[3] {
                    let state = try row.withUnsafeData(atIndex: 4) { data in [UInt8](data ?? Data()) }
                    snapshot = SnapshotRow(debtor: id, basis: basis, state: state)
                }
                page.append(StoredRecord(id: id, lsn: lsn, body: body, snapshot: snapshot))
            }
            return page
        }
    }

    /// Reads one page of encoded debtor records with ids greater than `after`, in id order, each with its
    /// snapshot row and history checkpoint row, into one contiguous ``RecordPage``. The snapshot and history rows
    /// are read by sequential scans over the same id range and merged (the tables are ordered by id), not looked
    /// up one by one.
    public func recordPage(after: String?, limit: Int) async throws -> RecordPage {
        try await read { db in try Self.recordPage(db, after: after, limit: limit, byteCapacity: limit * 128) }
    }

    /// Opens a read-only connection of its own for reading every record at start: it maps the database file
    /// into memory (no copy of each page through read(2)), and closing it unmaps the file again, so the
    /// mapping does not stay in the process's resident memory. Close it when done.
    /// - Throws: ``StoreError`` with code `cannot_open`.
    public func openRecordReader() throws -> RecordReader {
        var config = Configuration()
        config.readonly = true
        config.label = "tagih.store.recovery"
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA mmap_size = 2147418112") }
        do {
            return RecordReader(queue: try DatabaseQueue(path: configuration.path, configuration: config))
        } catch {
            throw StoreError(code: .cannotOpen, message: "cannot open a reader on \(configuration.path)", cause: error)
        }
    }

    /// `byteCapacity`: the bytes to reserve for the page (records, snapshot and history rows back to back); too
    /// few costs copies of the page as it grows.
    static func recordPage(_ db: Database, after: String?, limit: Int, byteCapacity: Int) throws -> RecordPage {
        do {
            var page = RecordPage()
            page.entries.reserveCapacity(limit)
            page.bytes.reserveCapacity(byteCapacity)
            // Raw column access: no `Row`/`Data` per value (this loop runs once per debtor at every start).
            let records = try db.makeStatement(sql: "SELECT id, lsn, body FROM debtor WHERE id > ? ORDER BY id LIMIT ?")
            try records.setArguments([after ?? "", limit])
            let r = records.sqliteStatement
            defer { sqlite3_reset(r) }
            while try Self.step(r) {
                let id = Self.append(r, 0, to: &page.bytes)
                let body = Self.append(r, 2, to: &page.bytes)
                page.entries.append(
                    RecordPage.Entry(id: id, body: body, state: nil, lsn: sqlite3_column_int64(r, 1), basis: 0))
            }
            guard let last = page.entries.last else { return page }
            page.lastID = String(decoding: page.bytes[last.id], as: UTF8.self)
            // The snapshot rows and the history checkpoint rows of the page's debtors, merged by id.
            let snapshots = "SELECT debtor, basis, state FROM snapshot_state"
            try mergeRows(db, snapshots, after: after, into: &page) { q, k, page in
                page.entries[k].basis = sqlite3_column_int64(q, 1)
                page.entries[k].state = Self.append(q, 2, to: &page.bytes)
            }
            let histories = "SELECT debtor, lsn, body FROM history_state"
            try mergeRows(db, histories, after: after, into: &page) { q, k, page in
                page.entries[k].historyLSN = sqlite3_column_int64(q, 1)
                page.entries[k].history = Self.append(q, 2, to: &page.bytes)
            }
            return page
        }
    }

    /// Reads the rows of `select` (its first column a debtor id) for the debtors of `page` (ids after `after` up to
    /// its last), in id order, and merges them into the page's entries, which are in id order too: `apply` gets each
    /// row whose debtor has an entry, with that entry's index. Rows of debtors without a record are ignored.
    private static func mergeRows(
        _ db: Database, _ select: String, after: String?, into page: inout RecordPage,
        _ apply: (OpaquePointer, Int, inout RecordPage) -> Void
    ) throws {
        let statement = try db.makeStatement(sql: select + " WHERE debtor > ? AND debtor <= ? ORDER BY debtor")
        try statement.setArguments([after ?? "", page.lastID ?? ""])
        let q = statement.sqliteStatement
        defer { sqlite3_reset(q) }
        var k = 0
        while try Self.step(q) {
            // Advance the record cursor to the first id ≥ the row's debtor.
            var order = 1
            while k < page.entries.count {
                order = Self.compare(q, 0, with: page.bytes, page.entries[k].id)
                if order <= 0 { break }
                k += 1
            }
            if k == page.entries.count { break }
            guard order == 0 else { continue }  // a row of a debtor not in the table: ignore
            apply(q, k, &page)
            k += 1
        }
    }

    /// A read-only connection for reading every record at start (``Store/openRecordReader()``).
    public final class RecordReader: Sendable {
        let queue: DatabaseQueue
        /// Bytes per entry of the last page read: the next page is reserved at that size plus an eighth (a record
        /// with its snapshot and history rows takes several times the 128 bytes reserved at first, and a page
        /// that grows by doubling is copied on the way).
        private let bytesPerEntry = Atomic<Int>(128)
        init(queue: DatabaseQueue) { self.queue = queue }

        /// Reads one page; see ``Store/recordPage(after:limit:)``.
        public func recordPage(after: String?, limit: Int) async throws -> RecordPage {
            do {
                let perEntry = bytesPerEntry.load(ordering: .relaxed)
                let page = try await queue.read { db in
                    try Store.recordPage(db, after: after, limit: limit,
                                         byteCapacity: limit * (perEntry + perEntry / 8))
                }
                if page.count > 0 { bytesPerEntry.store(max(64, page.bytes.count / page.count), ordering: .relaxed) }
                return page
            } catch let error as StoreError {
                throw error
            } catch {
                throw StoreError.readFailure(error, path: queue.path)
            }
        }

        /// Closes the connection (and unmaps the file).
        public func close() throws { try queue.close() }
    }

    /// Steps a raw statement: true for a row, false at the end.
    private static func step(_ statement: OpaquePointer) throws -> Bool {
        switch sqlite3_step(statement) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let code:
            let message = sqlite3_errstr(code).map { String(cString: $0) } ?? "SQLite result \(code)"
            if let path = sqlite3_db_filename(sqlite3_db_handle(statement), "main").map({ String(cString: $0) }),
                let corrupt = StoreError.corrupt(path: path, code: code & 0xff, cause: nil)
            {
                throw corrupt
            }
            var error = StoreError(code: .readFailed, message: "reading the store failed (SQLite error \(code): \(message))")
            error.sqliteCode = code & 0xff
            throw error
        }
    }

    /// Appends a BLOB or TEXT column's bytes; returns where they are.
    private static func append(_ statement: OpaquePointer, _ column: Int32, to bytes: inout [UInt8]) -> Range<Int> {
        let start = bytes.count
        if let pointer = sqlite3_column_blob(statement, column) {
            let count = Int(sqlite3_column_bytes(statement, column))
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: pointer, count: count))
        }
        return start..<bytes.count
    }

    /// Compares a TEXT column's bytes with `bytes[range]` (memcmp order, as SQLite's BINARY collation).
    private static func compare(_ statement: OpaquePointer, _ column: Int32, with bytes: [UInt8], _ range: Range<Int>)
        -> Int
    {
        let pointer = sqlite3_column_blob(statement, column)
        let count = Int(sqlite3_column_bytes(statement, column))
        return bytes.withUnsafeBytes { all in
            let n = min(count, range.count)
            let c = n == 0 ? 0 : Int(memcmp(pointer!, all.baseAddress! + range.lowerBound, n))
            return c != 0 ? c : count - range.count
        }
    }

    /// Reads one page of the log after position `after`, in log order (a range of the table's primary key from
    /// `after`: a start reads from its history floor, ``historyFloor()``, not from the beginning). Lease grants and
    /// releases (kinds 7, 9, 10 and 11, and 8, and 4 and 5 as written before they were batched) logged before
    /// `leaseFloor` are left out (see ``leaseReplayFloor()``); every other event is read.
    public func events(after: Int64, limit: Int, leaseFloor: Int64 = 0) async throws -> [LoggedEvent] {
        try await read { db in
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT lsn, kind, body FROM event WHERE lsn > ? AND (lsn >= ? OR kind NOT IN (4, 5, 7, 8, 9, 10, 11))
                    ORDER BY lsn LIMIT ?
                    """,
                arguments: [after, leaseFloor, limit])
            var page: [LoggedEvent] = []
            page.reserveCapacity(limit)
            while let row = try rows.next() {
                let lsn: Int64 = row[0]
                let kind: Int = row[1]
                let event = try row.withUnsafeData(atIndex: 2) { data -> StoredEvent in
                    guard let data else { throw StoreError(code: .corruptRecord, message: "event body is NULL") }
                    return try data.withUnsafeBytes { raw in try RecordCoding.decodeEvent(kind: kind, raw) }
                }
                page.append(LoggedEvent(lsn: lsn, event: event))
            }
            return page
        }
    }

    /// The log position from which lease grants and releases must be replayed at start: every lease granted
    /// before it had ended when it was recorded (``setLeaseReplayFloor(_:)``). 0 when never recorded.
    public func leaseReplayFloor() async throws -> Int64 { try await metaValue("lease_floor") }

    /// Records the lease replay floor (the engine does it with each decision snapshot).
    /// - Throws: ``StoreError`` with code `write_failed`.
    public func setLeaseReplayFloor(_ lsn: Int64) async throws {
        try await setMetaValue("lease_floor", lsn, onlyRaising: false, what: "the lease replay floor")
    }

    /// The history floor: every event logged at or before it is in the history checkpoint row of its debtor
    /// (``writeHistory(_:)``), so a start replays the log after it only (lease grants and releases after the lease
    /// replay floor too). 0 when never recorded (a store written by a binary before migration v3).
    public func historyFloor() async throws -> Int64 { try await metaValue("history_floor") }

    /// Records the history floor, after the checkpoint rows it vouches for are committed. It only ever rises: a
    /// lower value leaves the recorded one.
    /// - Throws: ``StoreError`` with code `write_failed`.
    public func setHistoryFloor(_ lsn: Int64) async throws {
        try await setMetaValue("history_floor", lsn, onlyRaising: true, what: "the history floor")
    }

    /// What the engine's last snapshot recorded of its size, so that the next start can reserve its memory at once
    /// instead of growing it by doubling (``SizeHints``); all zeros when never recorded.
    /// - Throws: ``StoreError`` with code `read_failed`.
    public func sizeHints() async throws -> SizeHints {
        try await read { db in
            var hints = SizeHints()
            for row in try Row.fetchAll(db, sql: "SELECT key, value FROM meta WHERE key LIKE 'size_%'") {
                let value: Int = row["value"]
                switch row["key"] as String {
                case "size_debtors": hints.debtors = value
                case "size_record_bytes": hints.recordBytes = value
                case "size_history_bytes": hints.historyBytes = value
                default: break
                }
            }
            return hints
        }
    }

    /// Records the engine's size (see ``sizeHints()``), replacing what was recorded.
    /// - Throws: ``StoreError`` with code `write_failed`.
    public func setSizeHints(_ hints: SizeHints) async throws {
        do {
            try await pool.write { db in
                for (key, value) in [("size_debtors", hints.debtors), ("size_record_bytes", hints.recordBytes),
                                     ("size_history_bytes", hints.historyBytes)] {
                    try db.execute(
                        sql: """
                            INSERT INTO meta (key, value) VALUES (?, ?)
                            ON CONFLICT (key) DO UPDATE SET value = excluded.value
                            """,
                        arguments: [key, max(0, value)])
                }
            }
        } catch {
            throw StoreError(code: .writeFailed, message: "could not record the size hints", cause: error)
        }
    }

    /// The value of `key` in the `meta` table; 0 when it was never recorded.
    private func metaValue(_ key: String) async throws -> Int64 {
        try await read { db in try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) ?? 0 }
    }

    /// Records `value` for `key` in the `meta` table (with `onlyRaising`, a lower value leaves the recorded one).
    /// - Throws: ``StoreError`` with code `write_failed`, naming `what`.
    private func setMetaValue(_ key: String, _ value: Int64, onlyRaising: Bool, what: String) async throws {
        let update = onlyRaising ? "max(value, excluded.value)" : "excluded.value"
        do {
            try await pool.write { db in
                try db.execute(
                    sql: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = \(update)",
                    arguments: [key, value])
            }
        } catch {
            throw StoreError(code: .writeFailed, message: "could not record \(what)", cause: error)
        }
    }

    /// Writes history checkpoint rows (insert or replace), in transactions of at most
    /// ``StoreConfiguration/maxRowsPerTransaction`` rows and about 4 MiB, so that group commits wait at most for
    /// one of them. Unlike snapshot rows they are not a cache once the history floor vouches for them: the engine
    /// records the floor (``setHistoryFloor(_:)``) only after every row of a checkpoint is written.
    /// - Throws: ``StoreError`` with code `write_failed`; rows of earlier transactions of the call stay written.
    public func writeHistory(_ rows: [HistoryRow]) async throws {
        let most = max(1, configuration.maxRowsPerTransaction)
        var start = 0
        while start < rows.count {
            var end = start
            var bytes = 0
            while end < rows.count && end - start < most && bytes < 4 << 20 {
                bytes += rows[end].body.count + rows[end].debtor.utf8.count
                end += 1
            }
            let slice = rows[start..<end]
            start = end
            do {
                try await pool.write { db in
                    let statement = try db.cachedStatement(
                        sql: "INSERT OR REPLACE INTO history_state (debtor, lsn, body) VALUES (?, ?, ?)")
                    for row in slice {
                        try statement.execute(arguments: [row.debtor, row.lsn, Data(row.body)])
                    }
                }
            } catch {
                throw StoreError(code: .writeFailed, message: "could not write the history checkpoint", cause: error)
            }
        }
    }

    /// The number of history checkpoint rows.
    public func historyRowCount() async throws -> Int {
        try await read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM history_state") ?? 0 }
    }

    /// Every history checkpoint row, in debtor id order (for tests and diagnostics; recovery reads them with the
    /// records, ``recordPage(after:limit:)``).
    public func historyRows() async throws -> [HistoryRow] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT debtor, lsn, body FROM history_state ORDER BY debtor").map { row in
                let body: Data = row[2]
                return HistoryRow(debtor: row[0], lsn: row[1], body: [UInt8](body))
            }
        }
    }

    /// Looks up the log position of an event by kind code and key (see ``StoredEvent/kind``).
    public func eventLSN(kind: Int, key: String) async throws -> Int64? {
        try await read { db in
            try Int64.fetchOne(db, sql: "SELECT lsn FROM event WHERE kind = ? AND key = ?", arguments: [kind, key])
        }
    }

    /// Writes snapshot rows (insert or replace), in transactions of at most
    /// ``StoreConfiguration/maxRowsPerTransaction``, and `reasonLists` (insert or ignore: a list is keyed by a
    /// stable hash of its contents) in the first of them, so a row is never committed before a list it names.
    /// Snapshot rows are a cache: losing them costs only re-deciding at start.
    public func writeSnapshot(_ rows: [SnapshotRow], reasonLists: [ReasonList] = []) async throws {
        let chunk = max(1, configuration.maxRowsPerTransaction)
        var start = 0
        var lists = reasonLists
        while start < rows.count || !lists.isEmpty {
            let slice = Array(rows[start..<min(rows.count, start + chunk)])
            let listSlice = lists
            lists = []
            start += chunk
            do {
                try await pool.write { db in
                    if !listSlice.isEmpty {
                        let insert = try db.cachedStatement(
                            sql: "INSERT OR IGNORE INTO reason_list (hash, reasons) VALUES (?, ?)")
                        for list in listSlice {
                            let text = ReasonList.encode(list.reasons)
                            try insert.execute(arguments: [Int64(bitPattern: list.hash), text])
                        }
                    }
                    let statement = try db.cachedStatement(
                        sql: "INSERT OR REPLACE INTO snapshot_state (debtor, basis, state) VALUES (?, ?, ?)")
                    for row in slice {
                        try statement.execute(arguments: [row.debtor, row.basis, Data(row.state)])
                    }
                }
            } catch {
                throw StoreError(code: .writeFailed, message: "could not write the decision snapshot", cause: error)
            }
        }
    }

    /// Every reason list snapshot rows may name (see ``writeSnapshot(_:reasonLists:)``), by hash. A list that cannot
    /// be decoded is left out (the rows naming it are then re-decided at start).
    public func reasonLists() async throws -> [UInt64: [String]] {
        try await read { db in
            var lists: [UInt64: [String]] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT hash, reasons FROM reason_list")
            while let row = try rows.next() {
                let hash: Int64 = row[0]
                let text: String = row[1]
                if let reasons = ReasonList.decode(text) { lists[UInt64(bitPattern: hash)] = reasons }
            }
            return lists
        }
    }

    /// The number of stored reason lists.
    public func reasonListCount() async throws -> Int {
        try await read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM reason_list") ?? 0 }
    }

    /// Checkpoints the WAL into the database file (TRUNCATE mode), for a clean shutdown or after a bulk import.
    public func checkpoint() async throws {
        try await checkpointer.checkpoint(.truncate)
    }

    /// Closes the database. Pending group commits finish first.
    public func close() async throws {
        prober.cancel()
        await prober.value
        await checkpointer.stop()
        await committer.close()
        try pool.close()
        lock.release()
    }

    func read<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do {
            return try await pool.read(body)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError.readFailure(error, path: configuration.path)
        }
    }
}

/// The engine's size at its last snapshot (``Store/sizeHints()``): only hints for reserving memory at the next start,
/// which may be stale or missing (zeros) without harm.
public struct SizeHints: Sendable, Equatable {
    /// Debtor records.
    public var debtors = 0
    /// Bytes of the records as the engine packs them.
    public var recordBytes = 0
    /// Bytes of the history checkpoint rows the next start will load (an estimate).
    public var historyBytes = 0

    /// Hints of zero (nothing known).
    public init() {}

    /// Hints of the given sizes.
    public init(debtors: Int, recordBytes: Int, historyBytes: Int) {
        self.debtors = debtors
        self.recordBytes = recordBytes
        self.historyBytes = historyBytes
    }
}
