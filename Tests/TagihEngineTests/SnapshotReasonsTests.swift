import Foundation
import Testing
import TagihCore
@testable import TagihEngine
@testable import TagihStore

/// Snapshot rows keep the reasons of ready decisions (a hash naming a row of the store's `reason_list`), so a
/// restart leases restored debtors without deciding them again; older rows, and rows naming a list the store
/// lacks, are re-decided before they are leased.
@Suite struct SnapshotReasonsTests {
    /// 30 debtors in one shard: all ready at t0 (10:00 in New York).
    static let debtors = (0..<30).map { makeDebtor($0, debts: 1 + $0 % 2) }

    /// Writes the debtors and a snapshot (at close); returns their decisions before the restart.
    static func prepare(_ dir: String, clock: VirtualClock) async throws -> [String: Decision] {
        let engine = try await openEngine(dir, clock: clock, shards: 1)
        _ = try await engine.upsert(debtors)
        var before: [String: Decision] = [:]
        for d in debtors { before[d.id] = await engine.currentDecision(id: d.id) }
        try await engine.close()
        return before
    }

    static func redecidedAtTake(_ engine: Engine) async -> Int {
        var total = 0
        for shard in engine.shards { total += await shard.redecidedAtTake() }
        return total
    }

    /// Changes the store as the test's case needs (SQL run in one transaction).
    static func alter(_ dir: String, _ sql: String) async throws {
        let store = try await Store.open(configuration: .init(directory: dir))
        try await store.execute(sql: sql)
        try await store.close()
    }

    @Test func reasonsSurviveARestartAndRestoredDebtorsAreLeasedWithoutADecision() async throws {
        let clock = VirtualClock(start: t0)
        let dir = temporaryDirectory()
        let before = try await Self.prepare(dir, clock: clock)
        #expect(before.values.allSatisfy { !$0.reasons.isEmpty })
        let store = try await Store.open(configuration: .init(directory: dir))
        let lists = try await store.reasonLists()
        try await store.close()
        #expect(!lists.isEmpty)
        #expect(lists.allSatisfy { ReasonList.hash($0.value) == $0.key })

        let engine = try await openEngine(dir, clock: clock, shards: 1)
        #expect(engine.restoredFromSnapshot == 30)
        #expect(engine.restoredWithoutReasons == 0)
        for d in Self.debtors { #expect(await engine.currentDecision(id: d.id)?.reasons == before[d.id]?.reasons) }
        let leases = await engine.lease(30, holder: "a")
        #expect(leases.count == 30)
        #expect(await Self.redecidedAtTake(engine) == 0, "restored with reasons: leased as restored")
        for lease in leases { #expect(lease.reasons == before[lease.debtor]?.reasons && !lease.reasons.isEmpty) }
        try await engine.close()
    }

    @Test func rowsWithoutReasonsOfAStoreOfAnOlderVersionAreReDecidedBeforeLeasing() async throws {
        let clock = VirtualClock(start: t0)
        let dir = temporaryDirectory()
        let before = try await Self.prepare(dir, clock: clock)
        // As a store of the previous version left it: migration v1 only, rows without the trailing hash.
        try await Self.alter(dir, """
            UPDATE snapshot_state SET state = substr(state, 1, length(state) - 8);
            DROP TABLE reason_list;
            DELETE FROM grdb_migrations WHERE identifier = 'v2';
            """)
        let engine = try await openEngine(dir, clock: clock, shards: 1)
        #expect(try await engine.store.appliedMigrations() == ["v1", "v2", "v3"])
        #expect(engine.restoredFromSnapshot == 30)
        #expect(engine.restoredWithoutReasons == 30)
        let leases = await engine.lease(10, holder: "a")
        #expect(leases.count == 10)
        let redecided = await Self.redecidedAtTake(engine)
        #expect(redecided >= 10, "each leased debtor re-decided first")
        for lease in leases { #expect(lease.reasons == before[lease.debtor]?.reasons && !lease.reasons.isEmpty) }
        // The rest at once; the next snapshot saves every re-decided debtor with its reasons.
        #expect(await engine.redecideRestoredWithoutReasons() + redecided == 30)
        try await engine.close()

        let again = try await openEngine(dir, clock: clock, shards: 1)
        #expect(again.restoredWithoutReasons == 0)
        #expect(await again.lease(30, holder: "b").count == 20)  // 10 are still leased to "a"
        #expect(await Self.redecidedAtTake(again) == 0)
        try await again.close()
    }

    @Test func aRowNamingAListTheStoreLacksIsReDecidedBeforeLeasing() async throws {
        let clock = VirtualClock(start: t0)
        let dir = temporaryDirectory()
        let before = try await Self.prepare(dir, clock: clock)
        try await Self.alter(dir, "DELETE FROM reason_list")
        let engine = try await openEngine(dir, clock: clock, shards: 1)
        #expect(engine.restoredFromSnapshot == 30)
        #expect(engine.restoredWithoutReasons == 30)
        let leases = await engine.lease(30, holder: "a")
        #expect(leases.count == 30)
        #expect(await Self.redecidedAtTake(engine) == 30)
        for lease in leases { #expect(lease.reasons == before[lease.debtor]?.reasons && !lease.reasons.isEmpty) }
        try await engine.close()
    }

    /// A restart in another hour files the ready decisions still in their window as they are (not decided at
    /// start); the re-score pass or `take` re-decides each before it is leased, whatever reasons it kept
    /// (RestartHourTests compares the leases with a start that decides everything afresh).
    @Test func aRestartInAnotherHourFilesDecisionsAndReDecidesThemBeforeLeasing() async throws {
        let clock = VirtualClock(start: t0)
        let dir = temporaryDirectory()
        _ = try await Self.prepare(dir, clock: clock)
        clock.advance(by: 3_600)
        let engine = try await openEngine(dir, clock: clock, shards: 1)
        #expect(engine.restoredFromSnapshot == 30)
        let leases = await engine.lease(5, holder: "a")
        #expect(leases.count == 5 && leases.allSatisfy { !$0.reasons.isEmpty })
        try await engine.close()
    }
}
