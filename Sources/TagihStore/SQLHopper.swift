import Foundation
import GRDB
import TagihCore

/// A VICIdial-style SQL "hopper" on the same SQLite data: the comparison baseline of the engine benchmarks.
///
/// VICIdial refills its hopper with a query over the lead table: `status` in the dialable set, the lead's one
/// numeric GMT offset in the set whose local time is inside the calling window, `ORDER BY` a fixed sort order,
/// `LIMIT n`, then an `UPDATE` marks those rows as queued. This type builds such a lead table (`hopper_list`, one
/// row per debtor: status, GMT offset of its zone at a fixed date, rank = balance) from the `debtor` table and runs
/// that refill cycle. It is not used by the engine.
public final class SQLHopper: Sendable {
    let store: Store

    private init(store: Store) { self.store = store }

    /// Fixed offsets (hours) of common zones, as VICIdial keeps them: one number per lead, no DST rules.
    static let offsets: [String: Int] = [
        "America/New_York": -5, "America/Chicago": -6, "America/Denver": -7, "America/Phoenix": -7,
        "America/Los_Angeles": -8, "America/Anchorage": -9, "Pacific/Honolulu": -10, "Europe/London": 0,
        "Asia/Jakarta": 7, "Asia/Makassar": 8, "Asia/Jayapura": 9, "Asia/Kolkata": 5,
    ]

    /// Builds `hopper_list` from the store's debtors unless it already holds as many rows.
    public static func prepare(store: Store) async throws -> SQLHopper {
        let debtors = try await store.debtorCount()
        let existing = try await store.pool.write { db -> Int in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS hopper_list (
                    lead_id INTEGER PRIMARY KEY,
                    debtor TEXT NOT NULL,
                    status TEXT NOT NULL,
                    gmt_offset INTEGER NOT NULL,
                    called_count INTEGER NOT NULL DEFAULT 0,
                    last_called INTEGER NOT NULL DEFAULT 0,
                    rank INTEGER NOT NULL
                );
                CREATE INDEX IF NOT EXISTS hopper_pick ON hopper_list (status, gmt_offset, rank DESC);
                """)
            return try Int.fetchOne(db, sql: "SELECT count(*) FROM hopper_list") ?? 0
        }
        if existing != debtors {
            try await store.pool.write { db in try db.execute(sql: "DELETE FROM hopper_list") }
            var after: String?
            while true {
                let page = try await store.debtors(after: after, limit: 50_000)
                if page.isEmpty { break }
                after = page.last!.debtor.id
                try await store.pool.write { db in
                    let insert = try db.cachedStatement(
                        sql: "INSERT INTO hopper_list (debtor, status, gmt_offset, rank) VALUES (?, 'NEW', ?, ?)")
                    for row in page {
                        let d = row.debtor
                        let zone = d.zone ?? d.phones.first?.zone ?? ""
                        let balance = d.debts.map(\.balance.tenThousandths).max() ?? 0
                        try insert.execute(arguments: [d.id, offsets[zone] ?? 0, balance])
                    }
                }
            }
        }
        return SQLHopper(store: store)
    }

    /// One refill: picks the `n` best dialable leads whose GMT offset is in `offsets` and marks them queued,
    /// in one transaction. Returns the debtor ids.
    public func refill(_ n: Int, offsets: [Int], now: UnixSeconds) async throws -> [String] {
        let list = offsets.map(String.init).joined(separator: ",")
        return try await store.pool.write { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT lead_id, debtor FROM hopper_list
                    WHERE status IN ('NEW', 'NA', 'B') AND gmt_offset IN (\(list))
                    ORDER BY rank DESC LIMIT ?
                    """, arguments: [n])
            let update = try db.cachedStatement(
                sql: "UPDATE hopper_list SET status = 'QUEUE', called_count = called_count + 1, last_called = ? WHERE lead_id = ?")
            var ids: [String] = []
            ids.reserveCapacity(rows.count)
            for row in rows {
                try update.execute(arguments: [now, row[0] as Int64])
                ids.append(row[1])
            }
            return ids
        }
    }

    /// Puts every queued lead back to `NEW`.
    public func reset() async throws {
        try await store.pool.write { db in try db.execute(sql: "UPDATE hopper_list SET status = 'NEW' WHERE status = 'QUEUE'") }
    }

    /// The query plan of the refill query (for the benchmark notes).
    public func plan(offsets: [Int]) async throws -> [String] {
        let list = offsets.map(String.init).joined(separator: ",")
        return try await store.read { db in
            try Row.fetchAll(db, sql: """
                EXPLAIN QUERY PLAN SELECT lead_id, debtor FROM hopper_list
                WHERE status IN ('NEW', 'NA', 'B') AND gmt_offset IN (\(list)) ORDER BY rank DESC LIMIT 1000
                """).map { $0["detail"] as String }
        }
    }
}
