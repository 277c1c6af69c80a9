import DequeModule
import Foundation
import GRDB
import GRDBSQLite
import Synchronization
import TagihCore

/// An event ready for the log: encoded by the caller's task, so the single writer only binds and inserts.
struct EncodedEvent: Sendable {
    var kind: Int64
    var key: String
    var debtor: String
    var body: [UInt8]

    init(kind: Int64, key: String, debtor: String, body: [UInt8]) {
        self.kind = kind
        self.key = key
        self.debtor = debtor
        self.body = body
    }

    init(_ event: StoredEvent) {
        kind = Int64(event.kind)
        key = event.key
        debtor = event.debtor
        body = RecordCoding.encode(event)
    }
}

/// One caller's writes.
enum WriteRequest: Sendable {
    /// Events; `relaxed`: the caller accepts a commit that survives a process crash but is fsynced only with
    /// the next fully synchronous commit (see ``StoreConfiguration/Durability/normal``).
    case events([EncodedEvent], relaxed: Bool)
    /// One `lease` call's grants (a kind 10 batch, see ``GrantBatchEncoder``); `relaxed` as for `events`. When a
    /// transaction carries several, they are written as one row of kind 11 (see `GroupCommitter.commit`).
    case grantBatch(EncodedEvent, relaxed: Bool)
    case debtors([Debtor])

    var count: Int {
        switch self {
        case .events(let e, _): e.count
        case .grantBatch: 1
        case .debtors(let d): d.count
        }
    }

    /// Whether the caller accepts a commit without its own fsync.
    var relaxed: Bool {
        switch self {
        case .events(_, let relaxed), .grantBatch(_, let relaxed): relaxed
        case .debtors: false
        }
    }
}

/// Where the time of the committed transactions went, summed over them.
public struct CommitTimings: Sendable {
    /// From the writer loop taking the batch until the commit returned.
    public var total = Duration.zero
    /// Until the writer connection's queue ran the batch.
    public var toWriter = Duration.zero
    /// Binding and inserting the rows.
    public var inserting = Duration.zero
    /// SQLite's COMMIT: writing the WAL frames and, when synchronous, the fsync.
    public var committing = Duration.zero
}

/// What one caller gets back after the commit.
enum WriteResponse: Sendable {
    case events([AppendResult])
    case debtors([Int64])
}

/// The single writer: batches concurrent requests into one transaction (group commit).
///
/// Callers queue their requests and wait; one writer loop, on a dispatch queue of its own (never on the
/// cooperative thread pool), takes every request queued (up to `maxRows` rows), commits them in one transaction,
/// resumes their callers with the results and goes straight on with the requests that arrived meanwhile; it stops
/// when the queue is empty, and the next request starts it again. Nothing on the commit path waits for a task to
/// be scheduled: in the earlier actor version (the first waiting caller led the next commit) the leader's
/// resumption after each commit queued behind the callers' own work on the cooperative threads, which cost more
/// than the commit itself when the cores were busy (0.6 ms of 1.0 ms per grant transaction in the lease
/// benchmark).
final class GroupCommitter: Sendable {
    private struct Waiter: Sendable {
        var request: WriteRequest
        var continuation: CheckedContinuation<WriteResponse, any Error>
        /// The caller accepts that its commit is held back briefly for more requests (see `submit(_:mayWait:)`).
        var mayWait = false
    }

    private struct State: Sendable {
        var pending: Deque<Waiter> = []
        var writing = false
        var closed = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        var currentLSN: Int64
        var transactions = 0
        var requests = 0
        var timings = CommitTimings()
        /// The writer is holding a commit back until `pending` holds `waitTarget` requests (`submit` then wakes it).
        var waiting = false
        var waitTarget = 0
        /// Set by a failed transaction, cleared by the next one that commits (see ``StoreWriteFailure``).
        var failure: StoreWriteFailure?
    }

    /// A change of the store's ability to write, reported to `healthChanged` on the writer's queue.
    enum HealthEvent: Sendable {
        /// A write transaction failed; `first` when the one before it had committed.
        case failed(StoreWriteFailure, first: Bool)
        /// A transaction committed after `after`.
        case recovered(after: StoreWriteFailure)
    }

    /// A committed transaction's results and instants.
    private struct Committed: Sendable {
        var responses: [WriteResponse]
        var lsn: Int64
        var entered, inserted, committed: ContinuousClock.Instant
    }

    private let pool: DatabasePool
    private let maxRows: Int
    /// Whether the writer runs with `synchronous = FULL` (relaxed batches then switch to NORMAL for their commit).
    private let fullySynchronous: Bool
    /// Whether fully synchronous commits coalesce their WAL writes (`WALWriteCoalescing`; the pool's connections
    /// then use its VFS).
    private let coalescesWALWrites: Bool
    private let state: Mutex<State>
    private let queue = DispatchQueue(label: "tagih.store.group-commit")
    /// Resumes the callers of a committed transaction while the writer goes on with the next one: each resumption
    /// schedules a task (and may wake a thread), 5–10 µs apiece, which the writer loop no longer spends between
    /// two commits.
    private let resumer = DispatchQueue(label: "tagih.store.group-commit.resume")
    /// Wakes the writer when the requests it holds a commit back for have arrived.
    private let arrivals = DispatchSemaphore(value: 0)
    private let healthChanged: @Sendable (HealthEvent) -> Void
    /// The longest a commit is held back for more requests.
    static let maxWait = Duration.milliseconds(1)
    /// Commits shorter than this are not held back (see `submit(_:mayWait:)`).
    static let holdAfter = Duration.microseconds(500)

    /// The log position of the last committed row.
    var currentLSN: Int64 { state.withLock { $0.currentLSN } }
    /// Transactions committed since open.
    var transactions: Int { state.withLock { $0.transactions } }
    /// Write requests acknowledged since open.
    var requests: Int { state.withLock { $0.requests } }
    /// Where the time of the committed transactions since open went (for benchmarks).
    var timings: CommitTimings { state.withLock { $0.timings } }
    /// Why writes fail at the moment, or nil when the last write transaction committed.
    var writeFailure: StoreWriteFailure? { state.withLock { $0.failure } }

    init(
        pool: DatabasePool, lsn: Int64, maxRows: Int, fullySynchronous: Bool, coalescesWALWrites: Bool = false,
        healthChanged: @escaping @Sendable (HealthEvent) -> Void = { _ in }
    ) {
        self.pool = pool
        self.healthChanged = healthChanged
        self.fullySynchronous = fullySynchronous
        self.coalescesWALWrites = coalescesWALWrites && fullySynchronous
        self.maxRows = maxRows
        self.state = Mutex(State(currentLSN: lsn))
    }

    /// Queues `request` and returns its results once its transaction committed.
    ///
    /// `mayWait`: the caller accepts that the writer holds its commit back a little (at most half the previous
    /// commit's duration, at most `maxWait`) while only such requests are queued, until as many requests are queued
    /// as the previous transaction carried on top of those already waiting. For the engine's lease grants: with
    /// eight dialers, the calls that the last commit resumed arrive a few hundred microseconds later, while the
    /// others wait; committing without them halves every transaction, and with slow fsyncs (1–2 ms when another
    /// job writes) the commits, not the dialers, bound the throughput. Only after a commit of at least `holdAfter`
    /// (0.5 ms, a slow disk): when commits are quick, holding them made every dialer join the same commit and then
    /// compute its next leases at the same time as all the others (the writer idle meanwhile), instead of half of
    /// them computing while the other half's grants commit. Outcome batches never wait (their acknowledgement
    /// latency is a target of its own), nor does any batch that holds one.
    func submit(_ request: WriteRequest, mayWait: Bool = false) async throws -> WriteResponse {
        try await withCheckedThrowingContinuation { continuation in
            var wake = false
            let start: Bool? = state.withLock { s in
                if s.closed { return nil }
                s.pending.append(Waiter(request: request, continuation: continuation, mayWait: mayWait))
                if s.waiting && (s.pending.count >= s.waitTarget || !mayWait) {
                    s.waiting = false
                    wake = true
                }
                if s.writing { return false }
                s.writing = true
                return true
            }
            if wake { arrivals.signal() }
            switch start {
            case .none: continuation.resume(throwing: StoreError(code: .closed, message: "the store is closed"))
            case .some(true): queue.async { self.drain() }
            case .some(false): break
            }
        }
    }

    /// Before taking the next batch: when only requests that may wait are queued and the previous transaction
    /// carried some too, waits (see `submit(_:mayWait:)`) until the callers it resumed are back or the time is up.
    private func waitForMore(lastBatch: Int, lastCommit: Duration) {
        let limit = min(Self.maxWait, lastCommit / 2)
        guard lastBatch > 0, lastCommit >= Self.holdAfter, limit > .microseconds(20) else { return }
        let hold = state.withLock { s -> Bool in
            guard !s.closed, !s.pending.isEmpty, s.pending.allSatisfy(\.mayWait) else { return false }
            s.waitTarget = s.pending.count + lastBatch
            s.waiting = true
            return true
        }
        guard hold else { return }
        let nanoseconds = limit.components.attoseconds / 1_000_000_000 + limit.components.seconds * 1_000_000_000
        if arrivals.wait(timeout: .now() + .nanoseconds(Int(nanoseconds))) == .timedOut {
            let signalled = state.withLock { s -> Bool in
                if s.waiting {
                    s.waiting = false  // nobody will signal now
                    return false
                }
                return true  // a caller cleared the flag as the time ran out: take its signal
            }
            if signalled { arrivals.wait() }
        }
    }

    /// Waits until no write is in flight, then refuses new writes.
    func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { s -> Bool in
                s.closed = true
                if s.writing {
                    s.idleWaiters.append(continuation)
                    return false
                }
                return true
            }
            if idle { continuation.resume() }
        }
    }

    /// The writer loop: commits batches until nothing is queued.
    private func drain() {
        var lastBatch = 0  // requests that may wait in the previous transaction
        var lastCommit = Duration.zero
        while true {
            waitForMore(lastBatch: lastBatch, lastCommit: lastCommit)
            let next: (batch: [Waiter], start: Int64)?
            var idle: [CheckedContinuation<Void, Never>] = []
            next = state.withLock { s in
                guard let first = s.pending.popFirst() else {
                    s.writing = false
                    idle = s.idleWaiters
                    s.idleWaiters = []
                    return nil
                }
                var batch = [first]
                var rows = first.request.count
                while let waiter = s.pending.first, rows + waiter.request.count <= maxRows {
                    rows += waiter.request.count
                    batch.append(s.pending.removeFirst())
                }
                return (batch, s.currentLSN)
            }
            guard let (batch, start) = next else {
                for waiter in idle { waiter.resume() }
                return
            }
            let requests = batch.map(\.request)
            let relaxed = fullySynchronous
                && requests.allSatisfy(\.relaxed)
            let began = ContinuousClock.now
            let outcome: Result<Committed, any Error>
            do {
                outcome = .success(try pool.writeWithoutTransaction { db in
                    let entered = ContinuousClock.now
                    var result: ([WriteResponse], Int64)?
                    var inserted = entered
                    if relaxed {
                        // Only writes whose callers accept process-crash durability: commit without the WAL fsync,
                        // then restore FULL (the next FULL commit fsyncs these frames too).
                        try db.cachedStatement(sql: "PRAGMA synchronous = NORMAL").execute()
                    }
                    defer {
                        if relaxed { try? db.cachedStatement(sql: "PRAGMA synchronous = FULL").execute() }
                    }
                    func transaction() throws {
                        try db.inTransaction(.immediate) {
                            result = try Self.commit(requests, startingAfter: start, in: db)
                            inserted = ContinuousClock.now
                            return .commit
                        }
                    }
                    // Only a commit with `synchronous = FULL` may coalesce its WAL writes: its `xSync` writes the
                    // buffer out before the commit becomes visible to readers (see `WALWriteCoalescing`).
                    if coalescesWALWrites && !relaxed {
                        try WALWriteCoalescing.coalescing(transaction)
                    } else {
                        try transaction()
                    }
                    return Committed(responses: result!.0, lsn: result!.1, entered: entered, inserted: inserted,
                                     committed: ContinuousClock.now)
                })
            } catch {
                outcome = .failure(
                    StoreError(code: .writeFailed, message: "the write transaction failed; retry", cause: error))
            }
            switch outcome {
            case .success(let c):
                let now = ContinuousClock.now
                lastBatch = batch.count { $0.mayWait }
                lastCommit = now - began
                let recovered = state.withLock { s in
                    let recovered = s.failure
                    s.failure = nil
                    s.currentLSN = c.lsn
                    s.transactions += 1
                    s.requests += batch.count
                    s.timings.total += now - began
                    s.timings.toWriter += c.entered - began
                    s.timings.inserting += c.inserted - c.entered
                    s.timings.committing += c.committed - c.inserted
                    return recovered
                }
                if let recovered { healthChanged(.recovered(after: recovered)) }
                let done = Array(zip(batch, c.responses))
                resumer.async {
                    for (waiter, response) in done { waiter.continuation.resume(returning: response) }
                }
            case .failure(let error):
                lastBatch = 0
                recordWrite(failure: error)
                for waiter in batch { waiter.continuation.resume(throwing: error) }
            }
        }
    }

    /// Records the result of a write transaction that is not a commit of queued requests (the store's probe):
    /// `failure` nil when it committed.
    func recordWrite(failure error: (any Error)?) {
        let event = state.withLock { s -> HealthEvent? in
            guard let error else {
                defer { s.failure = nil }
                return s.failure.map { .recovered(after: $0) }
            }
            let reason = StoreError.underlyingReason(of: error)
            if var failure = s.failure {
                failure.failedTransactions += 1
                failure.reason = reason
                s.failure = failure
                return .failed(failure, first: false)
            }
            let failure = StoreWriteFailure(since: Date(), failedTransactions: 1, reason: reason)
            s.failure = failure
            return .failed(failure, first: true)
        }
        if let event { healthChanged(event) }
    }

    /// Runs inside one write transaction on GRDB's writer queue.
    ///
    /// Grant batches (`.grantBatch`): when the transaction carries two or more, they are inserted as one row of
    /// kind 11 (``GrantBatchEncoder/mergedKind``: the kind 10 bodies one after the other) at the position of the
    /// first, keyed by the first batch's id, and every one of them is acknowledged with that row's position. One
    /// row of 20–30 KB instead of 4–8 rows of 3 KB: one insert instead of several, and about 8 instead of 13 WAL
    /// pages per commit (a 3 KB row filled a table page of its own; the long row fills overflow pages).
    private static func commit(_ batch: [WriteRequest], startingAfter start: Int64, in db: Database) throws
        -> ([WriteResponse], Int64)
    {
        var lsn = start
        var responses: [WriteResponse] = []
        responses.reserveCapacity(batch.count)
        var insertEvent: Statement?
        var upsertDebtor: Statement?
        var wroteDebtors = false
        let grantBatches = batch.count { if case .grantBatch = $0 { true } else { false } }
        var mergedGrants: AppendResult?  // the kind 11 row's result, once inserted
        func insert(_ event: EncodedEvent) throws -> AppendResult {
            if insertEvent == nil {
                insertEvent = try db.cachedStatement(
                    sql: "INSERT OR IGNORE INTO event (lsn, kind, key, debtor, body) VALUES (?, ?, ?, ?, ?)")
            }
            let statement = insertEvent!.sqliteStatement
            let connection = db.sqliteConnection
            let candidate = lsn + 1
            // Raw binds and step (this is the single writer's hot path): the key, debtor and body bytes stay
            // valid for the step (SQLITE_STATIC), nothing is copied.
            var key = event.key
            var debtor = event.debtor
            let code = key.withUTF8 { k in
                debtor.withUTF8 { d in
                    event.body.withUnsafeBytes { b -> Int32 in
                        sqlite3_bind_int64(statement, 1, candidate)
                        sqlite3_bind_int64(statement, 2, event.kind)
                        sqlite3_bind_text(statement, 3, k.baseAddress, Int32(k.count), nil)
                        sqlite3_bind_text(statement, 4, d.baseAddress, Int32(d.count), nil)
                        sqlite3_bind_blob(statement, 5, b.baseAddress, Int32(b.count), nil)
                        let code = sqlite3_step(statement)
                        sqlite3_reset(statement)
                        return code
                    }
                }
            }
            sqlite3_clear_bindings(statement)
            guard code == SQLITE_DONE else {
                let message = String(cString: sqlite3_errmsg(connection))
                throw StoreError(code: .writeFailed, message: "appending to the log failed: \(message)")
            }
            if sqlite3_changes(connection) == 1 {
                lsn = candidate
                return .applied(lsn: candidate)
            }
            return .duplicate
        }
        for request in batch {
            switch request {
            case .events(let events, _):
                var results: [AppendResult] = []
                results.reserveCapacity(events.count)
                for event in events { results.append(try insert(event)) }
                responses.append(.events(results))
            case .grantBatch(let event, _):
                if grantBatches == 1 {
                    responses.append(.events([try insert(event)]))
                    continue
                }
                if mergedGrants == nil {
                    var bodies: [[UInt8]] = []
                    bodies.reserveCapacity(grantBatches)
                    for case .grantBatch(let e, _) in batch { bodies.append(e.body) }
                    mergedGrants = try insert(EncodedEvent(
                        kind: Int64(GrantBatchEncoder.mergedKind), key: event.key, debtor: event.debtor,
                        body: GrantBatchEncoder.merge(bodies)))
                }
                responses.append(.events([mergedGrants!]))
            case .debtors(let debtors):
                if upsertDebtor == nil {
                    upsertDebtor = try db.cachedStatement(
                        sql: """
                            INSERT INTO debtor (id, lsn, body) VALUES (?, ?, ?)
                            ON CONFLICT (id) DO UPDATE SET lsn = excluded.lsn, body = excluded.body
                            """)
                }
                var lsns: [Int64] = []
                lsns.reserveCapacity(debtors.count)
                for debtor in debtors {
                    lsn += 1
                    try upsertDebtor!.execute(arguments: [debtor.id, lsn, Data(RecordCoding.encode(debtor))])
                    lsns.append(lsn)
                }
                responses.append(.debtors(lsns))
                wroteDebtors = true
            }
        }
        // The log position is kept in `meta` only for transactions that upsert debtors (their positions are not
        // in the event table); for events alone it is the event table's largest `lsn`, which `Store.open` reads
        // too. Not rewriting the `meta` page saves one WAL page per transaction (per grant commit: about 1 in 8).
        if lsn != start && wroteDebtors {
            try db.execute(sql: "UPDATE meta SET value = ? WHERE key = 'lsn'", arguments: [lsn])
        }
        return (responses, lsn)
    }
}
