import Foundation
import Testing
import TagihCore
@testable import TagihEngine
import TagihStore

@Suite struct RecoveryPagingTests {
    func open(_ dir: String, pageSize: Int, at now: UnixSeconds) async throws -> Engine {
        var configuration = EngineConfiguration(dataDirectory: dir)
        configuration.shardCount = 3
        configuration.leaseTTL = 600
        configuration.store.readPageSize = pageSize
        return try await Engine.open(configuration: configuration, clock: VirtualClock(start: now), logger: quietLogger)
    }

    /// A start reads the records and the log after the history floor a page at a time, reading the next page
    /// while the shards apply the current one: with pages of 1, 7 and 64 events (a tail of 500 events after a
    /// checkpoint, over many pages), every debtor recovers the history it had before the crash, each event once,
    /// and the same state as a start that reads everything in one page.
    @Test(arguments: [1, 7, 64])
    func smallPagesRecoverEveryEventOnce(pageSize: Int) async throws {
        let dir = temporaryDirectory("smallPages\(pageSize)")
        let clock = VirtualClock(start: t0)
        let engine = try await openEngine(dir, clock: clock, shards: 3)
        let debtors = (0..<30).map { makeDebtor($0, jurisdiction: $0 % 2 == 0 ? "US" : "US-MA") }
        _ = try await engine.upsert(debtors)
        _ = try await engine.ingest(debtors.map { outcome("before-\($0.id)", $0, .noAnswer, at: t0 - 86_400) })
        try await engine.writeSnapshot()  // the checkpoint: the tail below comes after its floor
        var tail: [StoredEvent] = []
        for k in 0..<500 {
            let d = debtors[(k * 7) % debtors.count]
            if k % 9 == 4 {
                tail.append(.payment(PaymentEvent(payment: "p\(k)", debtor: d.id, debt: d.debts[0].id,
                                                  amount: Money(tenThousandths: 10_000), at: t0 - 3_600 + Int64(k))))
            } else {
                let kinds: [Outcome] = [.noAnswer, .busy, .voicemail, .promiseToPay, .callbackRequested]
                tail.append(.outcome(outcome("t\(k)", d, kinds[k % kinds.count], at: t0 - 7_200 + Int64(k))))
            }
        }
        for start in stride(from: 0, to: tail.count, by: 50) {
            _ = try await engine.ingest(events: Array(tail[start..<min(tail.count, start + 50)]))
        }
        let ids = debtors.map(\.id)
        let live = await engine.debtorStates(ids: ids)
        try await engine.store.close()  // a crash: no snapshot after the tail

        let copy = dir + "-copy"
        try FileManager.default.copyItem(atPath: dir, toPath: copy)
        let paged = try await open(dir, pageSize: pageSize, at: clock.now())
        let whole = try await open(copy, pageSize: 100_000, at: clock.now())
        let recovered = await paged.debtorStates(ids: ids)
        var events = 0
        for (k, state) in recovered.enumerated() {
            #expect(state?.history == live[k]?.history, "\(ids[k])")
            events += (state?.history.outcomes.count ?? 0) + (state?.history.payments.count ?? 0)
        }
        #expect(events == debtors.count + tail.count)
        await expectSameState(paged, whole, ids: ids, live: live)
        try await paged.close()
        try await whole.close()
    }
}

@Suite struct RestartHourTests {
    /// A start in a later hour than the snapshot files the ready decisions still in their window as they are
    /// (no policy run for them at start), yet every lease is decided in the current hour (`take` re-decides a
    /// stale one first) and the re-score pass re-decides the rest from the first tick on: the engine then holds
    /// the decisions a start that decides everything afresh holds.
    @Test func laterHourStartFilesStaleReadyDecisionsAndRescoresThem() async throws {
        let dir = temporaryDirectory("laterHour")
        let engine = try await openEngine(dir, clock: VirtualClock(start: t0), shards: 3)
        let debtors = (0..<40).map { makeDebtor($0, jurisdiction: $0 % 2 == 0 ? "US" : "US-MA", debts: 1 + $0 % 2) }
        _ = try await engine.upsert(debtors)
        // A conversation two weeks ago at 13:00 in New York: this hour of the week now scores higher than 10:00.
        _ = try await engine.ingest(debtors.map { outcome("rpc-\($0.id)", $0, .rightParty, at: t0 - 14 * 86_400 + 3 * 3_600) })
        var before: [String: Decision] = [:]
        for d in debtors { before[d.id] = await engine.currentDecision(id: d.id) }
        try await engine.close()  // the snapshot: every debtor ready, decided at 10:00 in New York

        let later = t0 + 3 * 3_600  // 13:00 in New York: every window still open
        let fresh = dir + "-fresh"
        try FileManager.default.copyItem(atPath: dir, toPath: fresh)
        try await executeSQL(fresh, "DELETE FROM snapshot_state")
        let reference = try await openEngine(fresh, clock: VirtualClock(start: later), shards: 3)
        #expect(reference.restoredFromSnapshot == 0)
        var expected: [String: Decision] = [:]
        for d in debtors { expected[d.id] = await reference.currentDecision(id: d.id) }
        #expect(debtors.contains { expected[$0.id]?.score != before[$0.id]?.score },
                "the hour changes some score (else this test shows nothing)")

        // Filed as they were, not decided at start.
        let restarted = try await openEngine(dir, clock: VirtualClock(start: later), shards: 3)
        #expect(restarted.restoredFromSnapshot == debtors.count)
        #expect(restarted.restoredWithoutReasons == 0)
        // Leases are decided now: the same scores and reasons as the fresh start's.
        let leases = await restarted.lease(10, holder: "a")
        #expect(leases.count == 10)
        for l in leases {
            #expect(Float(l.score) == Float(expected[l.debtor]?.score ?? -1), "\(l.debtor)")
            #expect(l.reasons == expected[l.debtor]?.reasons, "\(l.debtor)")
        }
        // The first tick re-scores the rest (rescoreBatch covers 40 slots in one pass).
        await restarted.tick()
        let leased = Set(leases.map(\.debtor))
        for d in debtors where !leased.contains(d.id) {
            let held = await restarted.currentDecision(id: d.id)
            #expect(held?.score == expected[d.id]?.score && held?.reasons == expected[d.id]?.reasons, "\(d.id)")
            #expect(held?.best == expected[d.id]?.best && held?.windowEnds == expected[d.id]?.windowEnds, "\(d.id)")
        }
        try await restarted.close()
        try await reference.close()
    }
}

@Suite struct SizeHintTests {
    /// A snapshot records the engine's size in the store (`Store.sizeHints()`): its records, their packed bytes and
    /// its history rows' bytes. A start reserves memory from them; right, too small, too large, absurd or missing,
    /// the start recovers the same state (the hints only save the arrays' growth).
    @Test func snapshotRecordsSizesAndAnyHintsRecoverTheSameState() async throws {
        let dir = temporaryDirectory("sizeHints")
        let clock = VirtualClock(start: t0)
        let engine = try await openEngine(dir, clock: clock, shards: 3)
        let debtors = (0..<60).map { makeDebtor($0, jurisdiction: $0 % 3 == 0 ? "US-MA" : "US", debts: 1 + $0 % 2) }
        _ = try await engine.upsert(debtors)
        _ = try await engine.ingest(debtors.prefix(40).map { outcome("o-\($0.id)", $0, .noAnswer, at: t0 - 86_400) })
        #expect(try await engine.store.sizeHints() == SizeHints())
        try await engine.writeSnapshot()
        let hints = try await engine.store.sizeHints()
        #expect(hints.debtors == debtors.count)
        #expect(hints.recordBytes > debtors.count * 10)
        #expect(hints.historyBytes > 0)  // 40 histories, started since the last start
        let ids = debtors.map(\.id)
        let live = await engine.debtorStates(ids: ids)
        try await engine.close()

        let variants: [(String, SizeHints?)] = [
            ("recorded", nil), ("none", SizeHints()), ("tiny", SizeHints(debtors: 1, recordBytes: 1, historyBytes: 1)),
            ("huge", SizeHints(debtors: 1 << 20, recordBytes: 1 << 26, historyBytes: 1 << 26)),
            // A damaged value: the reservation stays within a fraction of the machine's memory.
            ("absurd", SizeHints(debtors: 1 << 60, recordBytes: 1 << 60, historyBytes: 1 << 60)),
        ]
        var engines: [Engine] = []
        for (name, variant) in variants {
            let copy = dir + "-" + name
            try FileManager.default.copyItem(atPath: dir, toPath: copy)
            if let variant {
                let store = try await Store.open(configuration: StoreConfiguration(directory: copy))
                try await store.setSizeHints(variant)
                #expect(try await store.sizeHints() == variant)
                try await store.close()
            }
            engines.append(try await openEngine(copy, clock: VirtualClock(start: clock.now()), shards: 3))
        }
        for other in engines.dropFirst() { await expectSameState(engines[0], other, ids: ids, live: live) }
        // The start that had the recorded hints reserved for them: its second snapshot records the same sizes.
        try await engines[0].writeSnapshot()
        #expect(try await engines[0].store.sizeHints().debtors == debtors.count)
        for e in engines { try await e.close() }
    }
}
