import Testing
import TagihCore
import TagihEngine

@Suite("Engine.debtorStates: many lookups, one call per shard")
struct DebtorStatesTests {
    @Test func answersEachIdInOrderLikeDebtorState() async throws {
        let clock = VirtualClock(start: t0)
        let engine = try await openEngine(temporaryDirectory(), clock: clock, shards: 3)
        let debtors = (0..<30).map { makeDebtor($0, debts: 1 + $0 % 3) }
        _ = try await engine.upsert(debtors)
        let leased = await engine.lease(4, holder: "dialer")
        #expect(leased.count == 4)
        clock.advance(by: 60)
        // Known ids from every shard, unknown ids, and a repeated id, in a scrambled order.
        let ids = (0..<30).map { "D-\(($0 * 7) % 30)" } + ["nobody", "D-3", "D-999"]
        let batch = await engine.debtorStates(ids: ids)
        #expect(batch.count == ids.count)
        for (id, snapshot) in zip(ids, batch) {
            let single = await engine.debtorState(id: id)
            #expect((snapshot == nil) == (single == nil), "\(id)")
            guard let snapshot, let single else { continue }
            #expect(snapshot.debtor.id == id)
            #expect(snapshot.debtor == single.debtor)
            #expect(snapshot.decisions == single.decisions)
            #expect(snapshot.state == single.state)
            #expect(snapshot.lease == single.lease)
        }
        #expect(batch.filter { $0?.lease != nil }.count == 4 + 1 * (leased.contains { $0.debtor == "D-3" } ? 1 : 0))
        #expect(await engine.debtorStates(ids: []).isEmpty)
        #expect(await engine.debtorStates(ids: ["D-5"]).first??.debtor.id == "D-5")
        try await engine.close()
    }
}
