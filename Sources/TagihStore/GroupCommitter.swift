import DequeModule
import Foundation
import GRDB
import GRDBSQLite
import TagihCore

/// An event ready for the log: encoded by the caller's task, so the single writer only binds and inserts.
struct EncodedEvent: Sendable {
    var kind: Int64
    var key: String
    var debtor: String
    var body: [UInt8]

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
    case debtors([Debtor])

    var count: Int {
        switch self {
        case .events(let e, _): e.count
        case .debtors(let d): d.count
        }
    }
}

/// What one caller gets back after the commit.
enum WriteResponse: Sendable {
    case events([AppendResult])
    case debtors([Int64])
}

/// The single writer: batches concurrent requests into one transaction (group commit).
///
/// Leader/follower: the first caller that finds no write in flight becomes the leader; it takes every request
/// queued meanwhile (up to `maxRows`), commits them in one transaction, resumes the followers with their results,
/// and hands leadership to the next queued caller, if any. Callers that arrive during a commit wait and are part
/// of the next batch. No background task: the work runs on the callers' own tasks.
actor GroupCommitter {
    private enum Signal: Sendable {
        case done(WriteResponse)
        case lead
    }

    private struct Waiter {
        var request: WriteRequest
        var continuation: CheckedContinuation<Signal, any Error>
    }

    private let pool: DatabasePool
    private let maxRows: Int
    private var pending: Deque<Waiter> = []
    private var writing = false
    private var closed = false
    private var idleWaiters: [CheckedContinuation<Void, Never>] = []
    /// The log position of the last committed row.
    private(set) var currentLSN: Int64
    /// Transactions committed since open.
    private(set) var transactions = 0
    /// Write requests acknowledged since open.
    private(set) var requests = 0

    /// Whether the writer runs with `synchronous = FULL` (relaxed batches then switch to NORMAL for their commit).
    private let fullySynchronous: Bool

    init(pool: DatabasePool, lsn: Int64, maxRows: Int, fullySynchronous: Bool) {
        self.pool = pool
        self.fullySynchronous = fullySynchronous
        self.currentLSN = lsn
        self.maxRows = maxRows
    }

    func submit(_ request: WriteRequest) async throws -> WriteResponse {
        if closed { throw StoreError(code: .closed, message: "the store is closed") }
        if writing {
            let signal = try await withCheckedThrowingContinuation { continuation in
                pending.append(Waiter(request: request, continuation: continuation))
            }
            if case .done(let response) = signal { return response }
        } else {
            writing = true
        }
        return try await lead(with: request)
    }

    /// Waits until no write is in flight, then refuses new writes.
    func close() async {
        closed = true
        if writing { await withCheckedContinuation { idleWaiters.append($0) } }
    }

    private func lead(with first: WriteRequest) async throws -> WriteResponse {
        var batch = [first]
        var followers: [Waiter] = []
        var rows = first.count
        while let next = pending.first, rows + next.request.count <= maxRows {
            rows += next.request.count
            followers.append(pending.removeFirst())
            batch.append(next.request)
        }
        let start = currentLSN
        let snapshot = batch
        let outcome: Result<([WriteResponse], Int64), any Error>
        do {
            let relaxed = fullySynchronous
                && snapshot.allSatisfy { if case .events(_, true) = $0 { true } else { false } }
            if relaxed {
                // Only writes whose callers accept process-crash durability: commit without the WAL fsync, then
                // restore FULL (the next FULL commit fsyncs these frames too).
                outcome = .success(try await pool.writeWithoutTransaction { db in
                    try db.execute(sql: "PRAGMA synchronous = NORMAL")
                    defer { try? db.execute(sql: "PRAGMA synchronous = FULL") }
                    var result: ([WriteResponse], Int64)?
                    try db.inTransaction {
                        result = try Self.commit(snapshot, startingAfter: start, in: db)
                        return .commit
                    }
                    return result!
                })
            } else {
                outcome = .success(
                    try await pool.write { db in try Self.commit(snapshot, startingAfter: start, in: db) })
            }
        } catch {
            outcome = .failure(StoreError(code: .writeFailed, message: "the write transaction failed; retry", cause: error))
        }
        if case .success(let (_, last)) = outcome {
            currentLSN = last
            transactions += 1
            self.requests += batch.count
        }
        // Hand over before resuming anyone, so the queue never stalls.
        if let next = pending.popFirst() {
            next.continuation.resume(returning: .lead)
        } else {
            writing = false
            for waiter in idleWaiters { waiter.resume() }
            idleWaiters = []
        }
        switch outcome {
        case .success(let (responses, _)):
            for (i, follower) in followers.enumerated() { follower.continuation.resume(returning: .done(responses[i + 1])) }
            return responses[0]
        case .failure(let error):
            for follower in followers { follower.continuation.resume(throwing: error) }
            throw error
        }
    }

    /// Runs inside one write transaction on GRDB's writer queue.
    private static func commit(_ batch: [WriteRequest], startingAfter start: Int64, in db: Database) throws
        -> ([WriteResponse], Int64)
    {
        var lsn = start
        var responses: [WriteResponse] = []
        responses.reserveCapacity(batch.count)
        var insertEvent: Statement?
        var upsertDebtor: Statement?
        for request in batch {
            switch request {
            case .events(let events, _):
                if insertEvent == nil {
                    insertEvent = try db.cachedStatement(
                        sql: "INSERT OR IGNORE INTO event (lsn, kind, key, debtor, body) VALUES (?, ?, ?, ?, ?)")
                }
                let statement = insertEvent!.sqliteStatement
                let connection = db.sqliteConnection
                var results: [AppendResult] = []
                results.reserveCapacity(events.count)
                for event in events {
                    let candidate = lsn + 1
                    // Raw binds and step (this loop is the single writer's hot path): the key, debtor and body
                    // bytes stay valid for the step (SQLITE_STATIC), nothing is copied.
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
                        results.append(.applied(lsn: candidate))
                    } else {
                        results.append(.duplicate)
                    }
                }
                responses.append(.events(results))
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
            }
        }
        if lsn != start {
            try db.execute(sql: "UPDATE meta SET value = ? WHERE key = 'lsn'", arguments: [lsn])
        }
        return (responses, lsn)
    }
}
