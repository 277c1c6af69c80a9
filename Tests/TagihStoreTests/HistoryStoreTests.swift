import Foundation
import GRDB
import Testing
@testable import TagihCore
@testable import TagihStore

/// A random history of debtor `debtor`: every field takes unusual values now and then (other debtors, empty and
/// long strings, non-ASCII, negative amounts and times, times out of order, missing optionals).
func randomHistory(_ debtor: String, _ random: inout SplitMix64) -> DebtorHistory {
    func text(_ prefix: String) -> String {
        switch Int.random(in: 0..<20, using: &random) {
        case 0: return ""
        case 1: return prefix + String(repeating: "x", count: Int.random(in: 250...600, using: &random))
        case 2: return prefix + "é-ü-日本-\(Int.random(in: 0..<10, using: &random))"
        default: return prefix + "\(Int.random(in: 0..<4, using: &random))"
        }
    }
    func time() -> Int64 {
        Int.random(in: 0..<30, using: &random) == 0
            ? Int64.random(in: Int64.min / 2...Int64.max / 2, using: &random)
            : 1_796_000_000 + Int64.random(in: -100_000...100_000, using: &random)
    }
    func who() -> String { Int.random(in: 0..<15, using: &random) == 0 ? "other-\(debtor)" : debtor }
    var h = DebtorHistory()
    for k in 0..<Int.random(in: 0..<40, using: &random) {
        let kind = Outcome.allCases.randomElement(using: &random)!
        let at = time()
        h.outcomes.append(OutcomeEvent(
            attempt: Bool.random(using: &random) ? "att-\(debtor)-\(k)" : text("a"), debtor: who(), debt: text("A-"),
            phone: text("+1617"), at: at, outcome: kind,
            lease: Bool.random(using: &random) ? "Labc\(k)" : nil,
            promise: Bool.random(using: &random)
                ? PromiseTerms(amount: Money(tenThousandths: Int64.random(in: -1_000_000...1 << 50, using: &random)),
                               due: text("2026-12-")) : nil,
            callbackAt: Bool.random(using: &random) ? time() : nil))
    }
    for k in 0..<Int.random(in: 0..<6, using: &random) {
        h.payments.append(PaymentEvent(payment: "pay-\(k)-\(text(""))", debtor: who(), debt: text("A-"),
                                       amount: Money(tenThousandths: Int64.random(in: -5...1 << 40, using: &random)),
                                       at: time()))
    }
    for k in 0..<Int.random(in: 0..<6, using: &random) {
        h.unresolved.append(UnresolvedAttempt(debtor: who(), debt: text("A-"), phone: text("+44"), at: time(),
                                              lease: Bool.random(using: &random) ? "Lq\(k)" : nil))
    }
    for _ in 0..<Int.random(in: 0..<3, using: &random) {
        h.clearances.append(HoldClearance(kind: Bool.random(using: &random) ? .cease : .dispute,
                                          debt: Bool.random(using: &random) ? text("A-") : nil, at: time()))
    }
    return h
}

@Suite struct HistoryCodingTests {
    static let sample: DebtorHistory = {
        var h = DebtorHistory()
        h.record(OutcomeEvent(attempt: "c-1", debtor: "D-1", debt: "A-1", phone: "+16175550100", at: 1_796_000_000,
                              outcome: .noAnswer, lease: "Labc01"))
        h.record(OutcomeEvent(attempt: "c-2", debtor: "D-1", debt: "A-1", phone: "+16175550100", at: 1_796_003_600,
                              outcome: .promiseToPay,
                              promise: PromiseTerms(amount: Money(decimal: "100.00")!, due: "2026-12-05")))
        h.record(OutcomeEvent(attempt: "c-3", debtor: "D-1", debt: "A-2", phone: "+16175550199", at: 1_796_007_200,
                              outcome: .callbackRequested, callbackAt: 1_796_014_400))
        h.record(PaymentEvent(payment: "P-1", debtor: "D-1", debt: "A-1", amount: Money(decimal: "50")!,
                              at: 1_796_010_000))
        h.recordExpiredLease(debtor: "D-1", debt: "A-2", phone: "+16175550199", at: 1_796_020_000, lease: "Labc02")
        h.record(HoldClearance(kind: .dispute, debt: "A-2", at: 1_796_030_000))
        h.record(HoldClearance(kind: .cease, at: 1_796_040_000))
        return h
    }()

    @Test(arguments: [
        ("empty", DebtorHistory()),
        ("every kind of entry", sample),
        ("outcomes only", DebtorHistory(outcomes: sample.outcomes)),
        ("expired leases only", DebtorHistory(unresolved: sample.unresolved)),
        ("more than 16 distinct strings", DebtorHistory(outcomes: (0..<40).map { k in
            OutcomeEvent(attempt: "c-\(k)", debtor: "D-1", debt: "A-\(k % 7)", phone: "+1617555\(1000 + k)",
                         at: 1_796_000_000 + Int64(k), outcome: Outcome.allCases[k % Outcome.allCases.count])
        })),
    ])
    func roundTrips(_ name: String, _ history: DebtorHistory) throws {
        let bytes = HistoryCoding.encode(history, debtor: "D-1")
        let decoded = try bytes.withUnsafeBytes { try HistoryCoding.decode($0, debtor: "D-1") }
        #expect(decoded == history, "\(name)")
    }

    /// Random histories (other debtors' ids, long and non-ASCII strings, extreme values) decode to equal values.
    @Test(arguments: [UInt64(1), 2, 3])
    func randomHistoriesRoundTrip(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)  // TagihCore's seeded generator: reproducible histories
        for k in 0..<300 {
            let debtor = "D-\(k)"
            let history = randomHistory(debtor, &random)
            let bytes = HistoryCoding.encode(history, debtor: debtor)
            let decoded = try bytes.withUnsafeBytes { try HistoryCoding.decode($0, debtor: debtor) }
            #expect(decoded == history)
        }
    }

    /// Compact: a typical outcome costs well under its log row (about 80 bytes of body).
    @Test func typicalOutcomesAreSmall() {
        var h = DebtorHistory()
        for k in 0..<20 {
            h.record(OutcomeEvent(attempt: "c0ffee-\(1000 + k)", debtor: "D-123456", debt: "A-123456",
                                  phone: "+16175550100", at: 1_796_000_000 + Int64(k) * 86_400,
                                  outcome: k % 3 == 0 ? .busy : .noAnswer, lease: "Labcdefa\(k)"))
        }
        let bytes = HistoryCoding.encode(h, debtor: "D-123456")
        #expect(bytes.count < 20 * 20)
    }

    /// Every truncation of a body, a wrong version and trailing bytes are errors, never a wrong history.
    @Test func corruptBodiesAreErrors() {
        let bytes = HistoryCoding.encode(Self.sample, debtor: "D-1")
        for n in 0..<bytes.count {
            #expect(throws: StoreError.self) {
                try Array(bytes[..<n]).withUnsafeBytes { try HistoryCoding.decode($0, debtor: "D-1") }
            }
        }
        var wrongVersion = bytes
        wrongVersion[0] = 9
        #expect(throws: StoreError.self) {
            try wrongVersion.withUnsafeBytes { try HistoryCoding.decode($0, debtor: "D-1") }
        }
        #expect(throws: StoreError.self) {
            try (bytes + [0]).withUnsafeBytes { try HistoryCoding.decode($0, debtor: "D-1") }
        }
    }

    /// The checksum catches any single flipped bit (a changed time or amount would otherwise decode fine).
    @Test func everyFlippedBitIsCaught() {
        let bytes = HistoryCoding.encode(Self.sample, debtor: "D-1")
        #expect(bytes.withUnsafeBytes { HistoryCoding.isIntact($0) })
        for k in bytes.indices {
            for bit in 0..<8 {
                var damaged = bytes
                damaged[k] ^= 1 << UInt8(bit)
                #expect(!damaged.withUnsafeBytes { HistoryCoding.isIntact($0) })
            }
        }
    }
}

@Suite struct HistoryStoreTests {
    /// Rows come back with their debtors' records in a page (merged by id), and rows of unknown debtors are
    /// ignored; a row replaces the previous one of its debtor.
    @Test func rowsComeBackWithTheirRecords() async throws {
        let store = try await Store.open(configuration: .init(directory: temporaryDirectory()))
        var records: [Debtor] = []
        for i in 0..<5 {
            var d = sampleDebtor
            d.id = "D-\(i)"
            records.append(d)
        }
        _ = try await store.upsert(records)
        let body = HistoryCoding.encode(HistoryCodingTests.sample, debtor: "D-1")
        try await store.writeHistory([
            HistoryRow(debtor: "D-1", lsn: 7, body: HistoryCoding.encode(DebtorHistory(), debtor: "")),
            HistoryRow(debtor: "D-3", lsn: 9, body: HistoryCoding.encode(DebtorHistory(), debtor: "")),
            HistoryRow(debtor: "D-9", lsn: 9, body: HistoryCoding.encode(DebtorHistory(), debtor: "")),
        ])
        try await store.writeHistory([HistoryRow(debtor: "D-1", lsn: 8, body: body)])
        #expect(try await store.historyRowCount() == 3)
        let page = try await store.recordPage(after: nil, limit: 10)
        #expect(page.count == 5)
        let byID = Dictionary(uniqueKeysWithValues: page.entries.map {
            (String(decoding: page.bytes[$0.id], as: UTF8.self), $0)
        })
        #expect(byID["D-0"]?.history == nil)
        #expect(byID["D-3"]?.historyLSN == 9)
        let d1 = try #require(byID["D-1"])
        #expect(d1.historyLSN == 8)
        let range = try #require(d1.history)
        let decoded = try Array(page.bytes[range]).withUnsafeBytes { try HistoryCoding.decode($0, debtor: "D-1") }
        #expect(decoded == HistoryCodingTests.sample)
        // Pages split anywhere still carry their rows.
        let first = try await store.recordPage(after: nil, limit: 2)
        let second = try await store.recordPage(after: first.lastID, limit: 2)
        #expect(first.entries.compactMap(\.history).count + second.entries.compactMap(\.history).count == 2)
        try await store.close()
    }

    /// The floor is 0 until recorded and only rises.
    @Test func floorOnlyRises() async throws {
        let dir = temporaryDirectory()
        let store = try await Store.open(configuration: .init(directory: dir))
        #expect(try await store.historyFloor() == 0)
        try await store.setHistoryFloor(40)
        try await store.setHistoryFloor(30)
        #expect(try await store.historyFloor() == 40)
        try await store.close()
        let reopened = try await Store.open(configuration: .init(directory: dir))
        #expect(try await reopened.historyFloor() == 40)
        try await reopened.close()
    }

    /// A binary of the previous version (whose migrator knows "v1" and "v2") opens a store migrated to "v3": GRDB
    /// skips applied migrations it does not know; the older binary ignores `history_state` and the floor, and
    /// the rows are still there for the next start of a v3 binary.
    @Test func aMigratorThatKnowsOnlyV1AndV2OpensAStoreMigratedToV3() async throws {
        let dir = temporaryDirectory()
        let store = try await Store.open(configuration: .init(directory: dir))
        try await store.writeHistory([HistoryRow(debtor: "D-1", lsn: 1, body: HistoryCoding.encode(DebtorHistory(), debtor: ""))])
        try await store.setHistoryFloor(1)
        try await store.close()
        let older: DatabaseMigrator = {
            var migrator = DatabaseMigrator()
            migrator.registerMigration("v1") { _ in Issue.record("v1 must not run again") }
            migrator.registerMigration("v2") { _ in Issue.record("v2 must not run again") }
            return migrator
        }()
        let pool = try DatabasePool(path: StoreConfiguration(directory: dir).path)
        try older.migrate(pool)
        let completed = try await pool.read { try older.hasCompletedMigrations($0) }
        #expect(completed)
        // What an older binary does with the log: appends to it.
        try await pool.write { db in
            try db.execute(sql: "INSERT INTO event (lsn, kind, key, debtor, body) VALUES (2, 1, 'x', 'D-1', x'00')")
        }
        try pool.close()
        let reopened = try await Store.open(configuration: .init(directory: dir))
        #expect(try await reopened.appliedMigrations() == ["v1", "v2", "v3"])
        #expect(try await reopened.historyRowCount() == 1)
        #expect(try await reopened.historyFloor() == 1)
        #expect(await reopened.lastLSN() == 2)
        try await reopened.close()
    }
}
