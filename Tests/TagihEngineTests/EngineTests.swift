import Foundation
import Testing
import TagihCore
import TagihStore
@testable import TagihEngine

@Suite struct ShardingTests {
    @Test func stableHashIsFNV1a() {
        // Reference values of 64-bit FNV-1a.
        #expect(stableHash("") == 0xcbf2_9ce4_8422_2325)
        #expect(stableHash("a") == 0xaf63_dc4c_8601_ec8c)
        #expect(stableHash("foobar") == 0x85944171f73967e8)
    }

    @Test func idIndexFindsEveryDebtorAfterGrowth() {
        var state = ShardState(shardID: 0, policy: ContactPolicy(), leaseTag: "t", rescoreBatch: 10)
        for i in 0..<5_000 { _ = state.upsert(makeDebtor(i), lsn: Int64(i + 1), now: nil) }
        for i in 0..<5_000 { #expect(state.find("D-\(i)") == UInt32(i)) }
        #expect(state.find("D-5000") == nil)
        #expect(state.debtor(42) == makeDebtor(42))
    }

    @Test func arenaRoundTripsEveryField() throws {
        var arena = DebtorArena()
        let d = Debtor(
            id: "D-ü", jurisdiction: "ID", zone: nil, status: .bankruptcy, segment: nil,
            phones: [
                Phone(number: "0811", kind: .home, zone: "Asia/Jayapura", owner: .emergency, optedOut: true),
                Phone(number: "0812", kind: .other, zone: nil, owner: .debtor),
            ],
            debts: [Debt(id: "X", balance: Money(tenThousandths: -5), currency: "IDR")],
            quiet: [QuietTime(days: [1, 7], fromMinute: 0, toMinute: 600)])
        let (offset, length) = try! arena.append(d)
        #expect(arena.debtor(at: offset, jurisdiction: "ID") == d)
        #expect(arena.recordLength(at: offset) == Int(length))
        // Packing straight from the store's encoding gives the same record.
        let stored = RecordCoding.encode(d)
        let (offset2, idRange, jurisdictionRange) = try stored.withUnsafeBytes { try arena.appendStored($0) }
        #expect(arena.debtor(at: offset2, jurisdiction: "ID") == d)
        #expect(Array(arena.bytes[Int(offset)..<Int(offset) + Int(length)]) == Array(arena.bytes[Int(offset2)...]))
        #expect(String(decoding: stored[idRange], as: UTF8.self) == "D-ü")
        #expect(String(decoding: stored[jurisdictionRange], as: UTF8.self) == "ID")
        #expect(arena.id(at: offset) == "D-ü")
        #expect(arena.debtAndPhone(at: offset, debt: 0, phone: 1) == ("X", "0812"))
    }

    @Test(arguments: [
        (["US"], "US-MA", true), (["US"], "US", true), (["US"], "USA", false), (["US-MA"], "US", false),
        (["ID", "GB"], "GB", true), (["US-NY"], "US-NY-NYC", true),
    ])
    func filterMatchesSubRegions(_ filter: [String], _ jurisdiction: String, _ expected: Bool) {
        #expect(LeaseFilter(jurisdictions: filter).matches(jurisdiction) == expected)
        #expect(LeaseFilter.all.matches(jurisdiction))
    }
}

@Suite struct EngineTests {
    @Test func leasesTheBestAcrossShardsInScoreOrder() async throws {
        let clock = VirtualClock(start: t0)
        let engine = try await openEngine(temporaryDirectory(), clock: clock, shards: 5)
        let debtors = (0..<200).map { makeDebtor($0, balance: Int64(($0 * 7919) % 200 + 1) * 10_000) }
        let results = try await engine.upsert(debtors)
        #expect(results.allSatisfy { $0 == .inserted })
        #expect(await engine.count() == 200)
        let leases = await engine.lease(25, holder: "dialer-1")
        #expect(leases.count == 25)
        let policy = ContactPolicy()
        let scores = debtors.map {
            Float(policy.score(for: $0, history: DebtorHistory(), debt: $0.debts[0].id, at: t0))
        }
        let expected = Array(scores.sorted(by: >).prefix(25))
        #expect(leases.map { Float($0.score) } == expected)
        #expect(expected.first! > expected.last!, "the test data should spread the scores")
        #expect(leases.allSatisfy { $0.expires == t0 + 600 && $0.holder == "dialer-1" && !$0.phone.isEmpty })
        #expect(zip(leases, leases.dropFirst()).allSatisfy { $0.score >= $1.score })
        // Leased debtors are invisible: the next 200 leases return the rest, never the same debtor twice.
        let rest = await engine.lease(500, holder: "dialer-2")
        #expect(rest.count == 175)
        #expect(Set(rest.map(\.debtor)).isDisjoint(with: leases.map(\.debtor)))
        #expect(await engine.lease(1, holder: "dialer-3").isEmpty)
        #expect(await engine.activeLeaseCount() == 200)
        try await engine.close()
    }

    /// Each shard is first asked for a little more than its share of n scores; when the best debtors sit in one
    /// shard the merge must ask that shard again (here every one of the best 60 is in shard 0).
    @Test(arguments: [60, 100])
    func leasesTheBestWhenTheyAllSitInOneShard(n: Int) async throws {
        let clock = VirtualClock(start: t0)
        let engine = try await openEngine(temporaryDirectory(), clock: clock, shards: 4)
        let inShard0 = { (i: Int) in stableHash("D-\(i)") % 4 == 0 }
        let debtors = (0..<400).map { i in
            makeDebtor(i, balance: (inShard0(i) ? 1_000_000 : 10_000) + Int64(i) * 100)
        }
        _ = try await engine.upsert(debtors)
        let policy = ContactPolicy()
        let expected = debtors.map {
            Float(policy.score(for: $0, history: DebtorHistory(), debt: $0.debts[0].id, at: t0))
        }.sorted(by: >).prefix(n)
        #expect(debtors.filter { inShard0(Int($0.id.dropFirst(2))!) }.count >= 60)
        let leases = await engine.lease(n, holder: "dialer")
        #expect(leases.map { Float($0.score) } == Array(expected))
        try await engine.close()
    }

    @Test func filterByJurisdiction() async throws {
        let clock = VirtualClock(start: t0)
        let engine = try await openEngine(temporaryDirectory(), clock: clock)
        let jurisdictions = ["US-MA", "US-WA", "ID", "GB", "US"]
        _ = try await engine.upsert((0..<50).map { makeDebtor($0, jurisdiction: jurisdictions[$0 % 5]) })
        let us = await engine.lease(100, filter: LeaseFilter(jurisdictions: ["US"]), holder: "us")
        #expect(us.count == 30)
        let id = await engine.lease(100, filter: LeaseFilter(jurisdictions: ["ID"]), holder: "id")
        #expect(id.count == 10)
        #expect(Set(id.map(\.debtor)) == Set((0..<50).filter { $0 % 5 == 2 }.map { "D-\($0)" }))
        #expect(await engine.lease(100, holder: "any").count == 10)
        try await engine.close()
    }

    @Test func leaseExclusivityUnderManyConcurrentLeasers() async throws {
        let clock = VirtualClock(start: t0)
        let engine = try await openEngine(temporaryDirectory(), clock: clock, shards: 6)
        let debtors = (0..<600).map { makeDebtor($0) }
        _ = try await engine.upsert(debtors)
        let byID = Dictionary(uniqueKeysWithValues: debtors.map { ($0.id, $0) })
        let held = HeldSet()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for dialer in 0..<32 {
                group.addTask {
                    for round in 0..<25 {
                        clock.advance(by: 10)
                        await engine.tick()
                        let leases = await engine.lease(Int.random(in: 1...9), holder: "dialer-\(dialer)")
                        await held.acquire(leases.map(\.debtor))
                        // Report an outcome for some, keep the others until the end of the test.
                        for lease in leases where Int.random(in: 0..<3) > 0 {
                            await held.release(lease.debtor)
                            let d = byID[lease.debtor]!
                            let r = try await engine.ingest(
                                outcome("\(lease.id)-\(round)", d, .busy, at: t0, lease: lease.id))
                            #expect(r == .applied)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(await held.conflicts == [])
        #expect(await held.grants > 600, "debtors should be re-leased after their outcome")
        try await engine.close()
    }

    @Test func leaseExpiryReturnsTheDebtorAndCountsAnAttempt() async throws {
        let clock = VirtualClock(start: t0)
        let dir = temporaryDirectory()
        let engine = try await openEngine(dir, clock: clock, ttl: 600)
        let d = makeDebtor(1)
        _ = try await engine.upsert([d])
        let first = await engine.lease(1, holder: "a")
        #expect(first.count == 1)
        clock.advance(by: 599)
        await engine.tick()
        #expect(await engine.lease(1, holder: "b").isEmpty, "still leased one second before expiry")
        #expect(await engine.debtorState(id: d.id)?.state == .leased)
        clock.advance(by: 1)
        await engine.tick()
        let state = try #require(await engine.debtorState(id: d.id))
        #expect(state.state != .leased)
        #expect(state.lease == nil)
        #expect(state.history.unresolved == [
            UnresolvedAttempt(debtor: d.id, debt: first[0].debt, phone: first[0].phone, at: t0, lease: first[0].id)
        ])
        // It is leasable again once the policy permits (the expired lease counted as a call).
        let next = try #require(await engine.currentDecision(id: d.id)?.earliest)
        clock.set(next)
        await engine.tick()
        let second = await engine.lease(1, holder: "b")
        #expect(second.map(\.debtor) == [d.id])
        #expect(second.first?.id != first[0].id)
        // The expiry is durable: it survives a restart.
        try await engine.close()
        let reopened = try await openEngine(dir, clock: clock)
        #expect(await reopened.debtorState(id: d.id)?.history.unresolved.count == 1)
        try await reopened.close()
    }

    @Test func outcomeWithAnotherLeaseIdDoesNotEndTheLease() async throws {
        let clock = VirtualClock(start: t0)
        let engine = try await openEngine(temporaryDirectory(), clock: clock)
        let d = makeDebtor(7)
        _ = try await engine.upsert([d])
        let lease = try #require(await engine.lease(1, holder: "a").first)
        _ = try await engine.ingest(outcome("x1", d, .noAnswer, at: t0, lease: "L-stale"))
        #expect(await engine.debtorState(id: d.id)?.state == .leased)
        _ = try await engine.ingest(outcome("x2", d, .noAnswer, at: t0, lease: lease.id))
        #expect(await engine.debtorState(id: d.id)?.state == .waiting, "no_answer: the lease ends, retry later")
        #expect(await engine.activeLeaseCount() == 0)
        try await engine.close()
    }

    @Test func ingestIsIdempotentAndRejectsUnknownDebtors() async throws {
        let clock = VirtualClock(start: t0)
        let engine = try await openEngine(temporaryDirectory(), clock: clock)
        let d = makeDebtor(1)
        _ = try await engine.upsert([d])
        let o = outcome("att-1", d, .noAnswer, at: t0)
        #expect(try await engine.ingest(o) == .applied)
        #expect(try await engine.ingest(o) == .duplicate)
        let batch = try await engine.ingest([
            outcome("att-2", d, .voicemail, at: t0 + 1), outcome("att-2", d, .voicemail, at: t0 + 1),
            outcome("att-3", makeDebtor(99), .busy, at: t0),
        ])
        #expect(batch[0] == .applied)
        #expect(batch[1] == .duplicate)
        guard case .rejected(let code, _, let field) = batch[2] else {
            Issue.record("unknown debtor accepted")
            return
        }
        #expect(code == "unknown_debtor" && field == "debtor")
        var wrongDebt = o
        wrongDebt.attempt = "att-4"
        wrongDebt.debt = "nope"
        guard case .rejected(let code2, _, let field2) = try await engine.ingest(wrongDebt) else {
            Issue.record("unknown debt accepted")
            return
        }
        #expect(code2 == "unknown_debt" && field2 == "debt")
        let payment = PaymentEvent(payment: "P-1", debtor: d.id, debt: d.debts[0].id, amount: Money(decimal: "5")!, at: t0)
        #expect(try await engine.ingest(payment) == .applied)
        #expect(try await engine.ingest(payment) == .duplicate)
        let state = try #require(await engine.debtorState(id: d.id))
        #expect(state.history.outcomes.map(\.attempt) == ["att-1", "att-2"])
        #expect(state.history.payments.map(\.payment) == ["P-1"])
        try await engine.close()
    }

    @Test func upsertValidatesAndReplacesKeepingHistory() async throws {
        let clock = VirtualClock(start: t0)
        let engine = try await openEngine(temporaryDirectory(), clock: clock)
        var d = makeDebtor(3)
        var bad = makeDebtor(4)
        bad.id = ""
        let results = try await engine.upsert([d, bad])
        #expect(results[0] == .inserted)
        guard case .rejected = results[1] else {
            Issue.record("empty id accepted")
            return
        }
        _ = try await engine.ingest(outcome("h1", d, .noAnswer, at: t0))
        d.status = .cease
        #expect(try await engine.upsert([d]) == [.updated])
        let state = try #require(await engine.debtorState(id: d.id))
        #expect(state.debtor.status == .cease)
        #expect(state.history.outcomes.count == 1)
        #expect(state.state == .blocked)
        #expect(await engine.lease(5, holder: "x").isEmpty)
        #expect(await engine.count() == 1)
        try await engine.close()
    }

    @Test func recoveryRestoresDebtorsHistoriesAndDecisions() async throws {
        let clock = VirtualClock(start: t0)
        let dir = temporaryDirectory()
        let engine = try await openEngine(dir, clock: clock, shards: 3)
        let debtors = (0..<120).map { makeDebtor($0, debts: 1 + $0 % 3) }
        _ = try await engine.upsert(debtors)
        for (k, d) in debtors.enumerated() where k % 4 == 0 {
            _ = try await engine.ingest(outcome("r-\(k)", d, Outcome.allCases[k % Outcome.allCases.count], at: t0))
        }
        var before: [String: (Decision?, Int)] = [:]
        for d in debtors {
            before[d.id] = (await engine.currentDecision(id: d.id), await engine.debtorState(id: d.id)!.history.outcomes.count)
        }
        try await engine.close()
        // A different shard count on restart is fine: the store is the truth.
        let reopened = try await openEngine(dir, clock: clock, shards: 5)
        #expect(await reopened.count() == 120)
        for d in debtors {
            let state = try #require(await reopened.debtorState(id: d.id))
            #expect(state.debtor == d)
            #expect(state.history.outcomes.count == before[d.id]!.1)
            #expect(withoutReasons(await reopened.currentDecision(id: d.id)) == withoutReasons(before[d.id]!.0))
        }
        try await reopened.close()
    }

    /// After each outcome kind, the engine's queued decision is what `ContactPolicy.decide` says for the same
    /// debtor and history at the same instant.
    @Test(arguments: Outcome.allCases)
    func reschedulingAfterAnOutcomeAgreesWithThePolicy(_ kind: Outcome) async throws {
        let clock = VirtualClock(start: t0)
        let policy = ContactPolicy()
        let engine = try await openEngine(temporaryDirectory(), clock: clock, policy: policy)
        let d = makeDebtor(11, debts: 2)
        _ = try await engine.upsert([d])
        let lease = try #require(await engine.lease(1, holder: "a").first)
        clock.advance(by: 120)
        let o = outcome("k-\(kind.rawValue)", d, kind, at: t0 + 60, lease: lease.id)
        #expect(try await engine.ingest(o) == .applied)
        var history = DebtorHistory()
        history.record(o)
        let now = clock.now()
        let expected = policy.decide(for: d, history: history, now: now)
        let state = try #require(await engine.debtorState(id: d.id))
        #expect(state.decisions == expected)
        #expect(state.history == history)
        let permitted = expected.filter { $0.earliest != nil && $0.phone != nil }
        let engineView = await engine.currentDecision(id: d.id)
        if let chosen = permitted.min(by: {
            let (a, b) = (max($0.earliest!, now), max($1.earliest!, now))
            return a != b ? a < b : $0.score > $1.score
        }) {
            let view = try #require(engineView)
            #expect(view.debt == chosen.debt)
            #expect(view.phone == chosen.phone)
            #expect(view.earliest == chosen.earliest)
            #expect(view.best == chosen.best)
            #expect(view.windowEnds == chosen.windowEnds)
            let rank = chosen.earliest! <= now
                ? policy.score(for: d, history: history, debt: chosen.debt, at: now) : chosen.score
            #expect(Float(view.score) == Float(rank))
            // Reasons are kept for debtors that may be called now (waiting ones are re-decided when due).
            #expect(view.reasons == (chosen.earliest! <= now ? chosen.reasons : []))
            let expectedState: DebtorQueueState = chosen.earliest! <= now ? .ready : .waiting
            #expect(state.state == expectedState)
        } else {
            #expect(engineView == nil)
            #expect(state.state == .blocked)
        }
    }

    @Test func waitingDebtorsBecomeReadyWhenTheirTimeComes() async throws {
        // A policy stand-in is not possible (ContactPolicy is a struct), so drive time through the queue directly.
        var state = ShardState(shardID: 0, policy: ContactPolicy(), leaseTag: "t", rescoreBatch: 100)
        _ = state.upsert(makeDebtor(1), lsn: 1, now: t0)
        #expect(state.state(of: 0) == .ready)
        // Force the slot to wait until t0 + 100 and check `advance` re-decides it then, not before.
        state.slots[0].state = .waiting
        state.slots[0].generation &+= 1
        state.timeQueue.push(TimeEntry(time: t0 + 100, index: 0, generation: state.slots[0].generation))
        _ = state.advance(now: t0 + 99)
        #expect(state.state(of: 0) == .waiting)
        _ = state.advance(now: t0 + 100)
        #expect(state.state(of: 0) == .ready)
        #expect(state.slots[0].decidedAt == t0 + 100)
    }

    @Test func scheduleListsPlannedContactsInTimeOrder() async throws {
        let clock = VirtualClock(start: t0)
        let engine = try await openEngine(temporaryDirectory(), clock: clock)
        _ = try await engine.upsert((0..<30).map { makeDebtor($0) })
        let planned = await engine.schedule(from: t0 - 10, to: t0 + 86_400, limit: 10)
        #expect(planned.count == 10)
        #expect(zip(planned, planned.dropFirst()).allSatisfy { ($0.best ?? 0) <= ($1.best ?? 0) })
        #expect(await engine.schedule(from: t0 + 86_400, to: t0 + 2 * 86_400, limit: 10).count <= 30)
        try await engine.close()
    }

    @Test func releaseLeasesHeldByADialer() async throws {
        let clock = VirtualClock(start: t0)
        let engine = try await openEngine(temporaryDirectory(), clock: clock)
        _ = try await engine.upsert((0..<10).map { makeDebtor($0) })
        #expect(await engine.lease(4, holder: "a").count == 4)
        #expect(await engine.lease(3, holder: "b").count == 3)
        #expect(await engine.releaseLeases(heldBy: "a") == 4)
        #expect(await engine.activeLeaseCount() == 3)
        #expect(await engine.lease(100, holder: "c").count == 7)
        try await engine.close()
    }
}

@Suite struct SnapshotTests {
    @Test func restartFilesUnchangedDebtorsFromTheSnapshot() async throws {
        let clock = VirtualClock(start: t0)
        let dir = temporaryDirectory()
        let engine = try await openEngine(dir, clock: clock, shards: 3)
        let debtors = (0..<60).map { makeDebtor($0, debts: 1 + $0 % 2) }
        _ = try await engine.upsert(debtors)
        for k in stride(from: 0, to: 60, by: 6) {
            _ = try await engine.ingest(outcome("s-\(k)", debtors[k], k % 12 == 0 ? .noAnswer : .refused, at: t0))
        }
        var before: [String: Decision] = [:]
        for d in debtors { before[d.id] = await engine.currentDecision(id: d.id) }
        try await engine.close()  // writes the snapshot

        // An event logged after the snapshot (as if the process died before the next one).
        let store = try await Store.open(configuration: .init(directory: dir))
        _ = try await store.append([.outcome(outcome("late", debtors[1], .noAnswer, at: t0))])
        try await store.close()

        let reopened = try await openEngine(dir, clock: clock, shards: 2)
        #expect(reopened.restoredFromSnapshot == 59, "every debtor but the one with a later event")
        for d in debtors where d.id != debtors[1].id {
            let now = await reopened.currentDecision(id: d.id)
            let then = before[d.id]
            #expect(now?.debt == then?.debt && now?.phone == then?.phone && now?.earliest == then?.earliest)
            #expect(now?.best == then?.best && now?.windowEnds == then?.windowEnds && now?.score == then?.score)
            #expect(now?.zone == then?.zone)
        }
        #expect(await reopened.debtorState(id: debtors[1].id)?.history.outcomes.map(\.attempt) == ["late"])
        // Restored decisions keep their reasons (see SnapshotReasonsTests).
        let leases = await reopened.lease(5, holder: "a")
        #expect(!leases.isEmpty)
        #expect(leases.allSatisfy { !$0.reasons.isEmpty })
        try await reopened.close()

        // A later start in another hour files the old decisions still in their window as they are (leases and the
        // hourly re-score re-decide them: RestartTests), and re-decides those whose window closed.
        clock.advance(by: 3_600)
        let later = try await openEngine(dir, clock: clock)
        #expect(later.restoredFromSnapshot >= 50, "every debtor without an event is ready in its window: filed")
        try await later.close()
        clock.advance(by: 12 * 3_600)  // 03:00 in New York: every ready decision's window closed
        let outside = try await openEngine(dir, clock: clock)
        #expect(outside.restoredFromSnapshot < 60)
        try await outside.close()
    }
}
