import Foundation
import Testing
@testable import TagihCore
@testable import TagihEngine
@testable import TagihStore

/// The store's history floor (0 when none is recorded).
func historyFloor(_ dir: String) async throws -> Int64 {
    let store = try await Store.open(configuration: .init(directory: dir))
    defer { Task { try? await store.close() } }
    let floor = try await store.historyFloor()
    try await store.close()
    return floor
}

/// Runs SQL on the store in `dir` (to make stores as a crash or an older binary leaves them).
func executeSQL(_ dir: String, _ sql: String) async throws {
    let store = try await Store.open(configuration: .init(directory: dir))
    try await store.execute(sql: sql)
    try await store.close()
}

/// A copy of the store in `dir` without its history checkpoint: what a binary before migration v3 left, whose
/// start replays the whole log.
func copyWithoutCheckpoint(_ dir: String) async throws -> String {
    let copy = dir + "-full"
    try FileManager.default.copyItem(atPath: dir, toPath: copy)
    try await executeSQL(copy, "DELETE FROM history_state; DELETE FROM meta WHERE key = 'history_floor'")
    return copy
}

/// Drives an engine through a random mix of everything that changes histories and leases: outcomes (with
/// promises, callbacks, holds; answering leases, before and after they expire; without a lease id on a leased
/// debtor), payments, clearances, leases, expiries, releases, record upserts that change phones and debts, repeated
/// attempt ids, and snapshots (history checkpoints) at random points.
struct RandomWorkload {
    var random: SplitMix64  // TagihCore's seeded generator: a failing sequence can be replayed
    let engine: Engine
    let clock: VirtualClock
    var records: [Debtor]
    var leases: [Lease] = []
    var attempts: [String] = []
    var step = 0
    var checkpoints = 0

    init(seed: UInt64, engine: Engine, clock: VirtualClock, debtors: Int) {
        random = SplitMix64(seed: seed)
        self.engine = engine
        self.clock = clock
        records = (0..<debtors).map { makeDebtor($0, jurisdiction: $0 % 3 == 0 ? "US" : "US-MA", debts: 1 + $0 % 2) }
    }

    var ids: [String] { records.map(\.id) }

    mutating func start() async throws {
        _ = try await engine.upsert(records)
    }

    mutating func randomOutcome(_ d: Debtor, lease: Lease? = nil) -> OutcomeEvent {
        step += 1
        let kind = lease != nil
            ? [Outcome.noAnswer, .busy, .voicemail, .promiseToPay, .rightParty].randomElement(using: &random)!
            : Outcome.allCases.randomElement(using: &random)!
        let at = clock.now() - Int64.random(in: 0..<3_600, using: &random)
        let debt = lease?.debt ?? d.debts.randomElement(using: &random)!.id
        let phone = lease?.phone ?? d.phones.randomElement(using: &random)!.number
        let attempt = "a\(step)"
        attempts.append(attempt)
        return OutcomeEvent(
            attempt: attempt, debtor: d.id, debt: debt, phone: phone, at: at, outcome: kind, lease: lease?.id,
            promise: kind == .promiseToPay
                ? PromiseTerms(amount: Money(tenThousandths: Int64.random(in: 1...5_000_000, using: &random)),
                               due: "2026-12-0\(Int.random(in: 2...9, using: &random))") : nil,
            callbackAt: kind == .callbackRequested ? at + Int64.random(in: 600...90_000, using: &random) : nil)
    }

    mutating func run(steps: Int, checkpointChance: Int = 6) async throws {
        for _ in 0..<steps {
            let r = Int.random(in: 0..<100, using: &random)
            let d = records.randomElement(using: &random)!
            switch r {
            case 0..<28:
                var batch: [StoredEvent] = []
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    batch.append(.outcome(randomOutcome(records.randomElement(using: &random)!)))
                }
                if Int.random(in: 0..<8, using: &random) == 0, let old = attempts.randomElement(using: &random),
                    let e = try await loggedOutcome(old)
                {
                    batch.append(.outcome(e))  // a repeat: acknowledged as a duplicate, never applied twice
                }
                _ = try await engine.ingest(events: batch)
            case 28..<36:
                step += 1
                let payment = PaymentEvent(
                    payment: "p\(step)", debtor: d.id, debt: d.debts.randomElement(using: &random)!.id,
                    amount: Money(tenThousandths: Int64.random(in: 10_000...9_000_000, using: &random)),
                    at: clock.now() - Int64.random(in: 0..<600, using: &random))
                _ = try await engine.ingest(payment)
            case 36..<41:
                step += 1
                let dispute = Bool.random(using: &random)
                let clearance = ClearanceEvent(
                    id: "c\(step)", debtor: d.id, kind: dispute ? .dispute : .cease,
                    debt: dispute ? d.debts.randomElement(using: &random)!.id : nil, at: clock.now())
                _ = try await engine.clear(clearance)
            case 41..<55:
                leases += await engine.lease(Int.random(in: 1...3, using: &random),
                                             holder: "h\(Int.random(in: 0..<3, using: &random))")
            case 55..<66:
                guard !leases.isEmpty else { continue }
                let lease = leases.remove(at: Int.random(in: 0..<leases.count, using: &random))
                guard let record = records.first(where: { $0.id == lease.debtor }) else { continue }
                _ = try await engine.ingest(randomOutcome(record, lease: lease))
            case 66..<70:
                // An outcome without a lease id for a leased debtor ends the lease.
                guard let lease = leases.randomElement(using: &random),
                    let record = records.first(where: { $0.id == lease.debtor })
                else { continue }
                _ = try await engine.ingest(randomOutcome(record))
            case 70..<80:
                clock.advance(by: Int64.random(in: 60...900, using: &random))
                await engine.tick()
            case 80..<86:
                // A new phone, or a debt added or dropped: the history keeps the old strings.
                var changed = d
                if Bool.random(using: &random) {
                    changed.phones = [Phone(number: "+1617555\(Int.random(in: 1000...9999, using: &random))",
                                            kind: .mobile, zone: "America/New_York")]
                } else if changed.debts.count > 1 {
                    changed.debts.removeLast()
                } else {
                    changed.debts.append(Debt(id: "X-\(step)", balance: Money(tenThousandths: 4_000_000),
                                              currency: "USD"))
                }
                _ = try await engine.upsert([changed])
                records[records.firstIndex { $0.id == d.id }!] = changed
            case 86..<89:
                await engine.releaseLeases(heldBy: "h\(Int.random(in: 0..<3, using: &random))")
            case 89..<(89 + checkpointChance):
                try await engine.writeSnapshot()
                checkpoints += 1
            default:
                // Several events for one debtor in one batch.
                let batch = (0..<3).map { _ in StoredEvent.outcome(randomOutcome(d)) }
                _ = try await engine.ingest(events: batch)
            }
        }
        await engine.tick()
    }

    /// The outcome logged with this attempt id, if any.
    func loggedOutcome(_ attempt: String) async throws -> OutcomeEvent? {
        guard let lsn = try await engine.store.eventLSN(kind: 1, key: attempt) else { return nil }
        let page = try await engine.store.events(after: lsn - 1, limit: 1)
        guard case .outcome(let o) = page.first?.event else { return nil }
        return o
    }
}

/// Expects two recovered engines to hold the same thing for every debtor, and (when given) the histories and
/// leases of the engine that ran before the crash.
/// `inAnyOrder`: compare histories as sets of entries. Concurrent commits for one debtor reach its shard in any
/// order, and the live engine's history (which the checkpoint keeps) holds them in that order, while a replay of
/// the whole log holds them in log order.
func expectSameState(_ a: Engine, _ b: Engine, ids: [String], live: [DebtorSnapshot?]? = nil,
                     inAnyOrder: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) async {
    func same(_ x: DebtorHistory, _ y: DebtorHistory) -> Bool {
        guard inAnyOrder else { return x == y }
        return x.outcomes.sorted { $0.attempt < $1.attempt } == y.outcomes.sorted { $0.attempt < $1.attempt }
            && x.payments.sorted { $0.payment < $1.payment } == y.payments.sorted { $0.payment < $1.payment }
            && Set(x.unresolved) == Set(y.unresolved) && Set(x.clearances) == Set(y.clearances)
    }
    let left = await a.debtorStates(ids: ids)
    let right = await b.debtorStates(ids: ids)
    var differing: [String] = []
    for (k, id) in ids.enumerated() {
        guard let l = left[k], let r = right[k] else {
            differing.append(id)
            continue
        }
        var what: [String] = []
        if !same(l.history, r.history) { what.append("history (\(l.history.outcomes.count) vs \(r.history.outcomes.count))") }
        if l.decisions != r.decisions { what.append("decisions") }
        if l.state != r.state { what.append("state \(l.state) vs \(r.state)") }
        if l.lease?.id != r.lease?.id || l.debtor != r.debtor { what.append("lease or record") }
        let (x, y) = (await a.currentDecision(id: id), await b.currentDecision(id: id))
        if x != y { what.append("current decision") }
        if let live, let truth = live[k] {
            if !same(truth.history, l.history) { what.append("history differs from before the crash") }
            if truth.lease?.id != l.lease?.id { what.append("lease differs from before the crash") }
        }
        if !what.isEmpty { differing.append("\(id): \(what.joined(separator: ", "))") }
    }
    #expect(differing.isEmpty, "debtors recovered differently: \(differing.prefix(8))", sourceLocation: sourceLocation)
}

@Suite struct HistoryCheckpointTests {
    /// A durable engine lists the debtors whose history changed (for its next checkpoint); an ephemeral one writes
    /// no checkpoint and lists none, so its list cannot grow for the life of a simulation.
    @Test(arguments: [EngineConfiguration.Persistence.store, .ephemeral])
    func onlyADurableEngineListsChangedHistories(persistence: EngineConfiguration.Persistence) async throws {
        var configuration = EngineConfiguration(dataDirectory: temporaryDirectory("changedHistories"))
        configuration.persistence = persistence
        configuration.shardCount = 2
        let engine = try await Engine.open(configuration: configuration, clock: VirtualClock(start: t0),
                                           logger: quietLogger)
        let debtors = (0..<10).map { makeDebtor($0) }
        _ = try await engine.upsert(debtors)
        _ = try await engine.ingest(debtors.map { outcome("o-\($0.id)", $0, .noAnswer, at: t0 - 600) })
        var listed = 0
        for shard in engine.shards { listed += await shard.pendingHistoryCount() }
        #expect(listed == (persistence == .store ? debtors.count : 0))
        if persistence == .store { try await engine.close() }
    }

    /// Random workloads with checkpoints at random points, then a crash (the store closed without a snapshot):
    /// recovering from the checkpoint and the log after its floor gives, for every debtor, the same history,
    /// decisions, queue state and lease as recovering from the whole log, and the histories and leases the
    /// engine held before the crash.
    @Test(arguments: [UInt64(1), 2, 3, 4])
    func checkpointPlusTailEqualsTheWholeLog(seed: UInt64) async throws {
        let dir = temporaryDirectory("checkpointPlusTail\(seed)")
        let clock = VirtualClock(start: t0)
        let engine = try await openEngine(dir, clock: clock, shards: 3)
        var workload = RandomWorkload(seed: seed, engine: engine, clock: clock, debtors: 40)
        try await workload.start()
        try await workload.run(steps: 350)
        #expect(workload.checkpoints > 0)
        let ids = workload.ids
        let live = await engine.debtorStates(ids: ids)
        try await engine.store.close()  // a crash: nothing is written after the last acknowledged event

        #expect(try await historyFloor(dir) > 0)
        let full = try await copyWithoutCheckpoint(dir)
        let fromCheckpoint = try await openEngine(dir, clock: VirtualClock(start: clock.now()), shards: 3)
        let fromLog = try await openEngine(full, clock: VirtualClock(start: clock.now()), shards: 3)
        await expectSameState(fromCheckpoint, fromLog, ids: ids, live: live)
        try await fromCheckpoint.close()
        try await fromLog.close()

        // The engine that replayed the whole log wrote every history at close: its next start uses them.
        #expect(try await historyFloor(full) > 0)
        let again = try await openEngine(full, clock: VirtualClock(start: clock.now()), shards: 2)
        let reference = try await openEngine(dir, clock: VirtualClock(start: clock.now()), shards: 3)
        await expectSameState(again, reference, ids: ids, live: live)
        try await again.close()
        try await reference.close()
    }

    /// A crash in the middle of a checkpoint: the new rows of some debtors (or all) are written, the floor is not
    /// (it stays at the previous checkpoint's). Events after the old floor that the new rows hold are not applied
    /// twice, and the others are applied.
    @Test(arguments: ["every row written, floor not", "half of the rows written, floor not"])
    func interruptedCheckpointRecoversExactlyOnce(_ how: String) async throws {
        let dir = temporaryDirectory("interrupted\(how.count)")
        let clock = VirtualClock(start: t0)
        let engine = try await openEngine(dir, clock: clock, shards: 2)
        var workload = RandomWorkload(seed: 11 + UInt64(how.count), engine: engine, clock: clock, debtors: 30)
        try await workload.start()
        try await workload.run(steps: 120, checkpointChance: 0)
        try await engine.writeSnapshot()
        let firstFloor = try await engine.store.historyFloor()
        let firstRows = try await engine.store.historyRows()
        try await workload.run(steps: 120, checkpointChance: 0)
        try await engine.writeSnapshot()
        let secondRows = try await engine.store.historyRows()
        #expect(try await engine.store.historyFloor() > firstFloor)
        try await workload.run(steps: 40, checkpointChance: 0)  // the tail after the second checkpoint
        let ids = workload.ids
        let live = await engine.debtorStates(ids: ids)
        try await engine.store.close()

        // Undo the floor (and, in the second case, every other debtor's new row) as a crash would have left them.
        var sql = "UPDATE meta SET value = \(firstFloor) WHERE key = 'history_floor';"
        if how.hasPrefix("half") {
            let before = Dictionary(uniqueKeysWithValues: firstRows.map { ($0.debtor, $0) })
            for (k, row) in secondRows.enumerated() where k % 2 == 0 {
                sql += "DELETE FROM history_state WHERE debtor = '\(row.debtor)';"
                if let old = before[row.debtor] {
                    let hex = old.body.map { String(format: "%02X", $0) }.joined()
                    sql += "INSERT INTO history_state (debtor, lsn, body) VALUES ('\(old.debtor)', \(old.lsn), X'\(hex)');"
                }
            }
        }
        try await executeSQL(dir, sql)
        #expect(try await historyFloor(dir) == firstFloor)

        let full = try await copyWithoutCheckpoint(dir)
        let fromCheckpoint = try await openEngine(dir, clock: VirtualClock(start: clock.now()), shards: 2)
        let fromLog = try await openEngine(full, clock: VirtualClock(start: clock.now()), shards: 2)
        await expectSameState(fromCheckpoint, fromLog, ids: ids, live: live)
        try await fromCheckpoint.close()
        try await fromLog.close()
    }

    /// After a clean close, a start reads no event at or before the history floor: with those events deleted from
    /// the log (no lease was open, so none of them is needed for leases), every history is still complete. (The
    /// event at the floor stays, so that the store's next log position stays where it was.)
    @Test func startReadsOnlyTheLogAfterTheFloor() async throws {
        let dir = temporaryDirectory()
        let clock = VirtualClock(start: t0)
        let engine = try await openEngine(dir, clock: clock, shards: 3)
        let debtors = (0..<20).map { makeDebtor($0) }
        _ = try await engine.upsert(debtors)
        var events: [StoredEvent] = []
        for (k, d) in debtors.enumerated() {
            events.append(.outcome(outcome("o\(k)", d, .promiseToPay, at: t0 - 7_200)))
            events.append(.payment(PaymentEvent(payment: "p\(k)", debtor: d.id, debt: d.debts[0].id,
                                                amount: Money(tenThousandths: 10_000), at: t0 - 3_600)))
        }
        _ = try await engine.ingest(events: events)
        let before = await engine.debtorStates(ids: debtors.map(\.id))
        try await engine.close()
        let floor = try await historyFloor(dir)
        #expect(floor > 0)
        try await executeSQL(dir, "DELETE FROM event WHERE lsn < \(floor)")

        let reopened = try await openEngine(dir, clock: VirtualClock(start: t0), shards: 3)
        let after = await reopened.debtorStates(ids: debtors.map(\.id))
        for (b, a) in zip(before, after) {
            #expect(b?.history == a?.history)
            #expect(a?.history.outcomes.count == 1 && a?.history.payments.count == 1)
        }
        // A new event after the floor is replayed on top of the checkpoint at the next start.
        _ = try await reopened.ingest(outcome("late", debtors[0], .noAnswer, at: t0))
        try await reopened.store.close()  // crash: no snapshot
        let third = try await openEngine(dir, clock: VirtualClock(start: t0), shards: 3)
        #expect(await third.debtorState(id: debtors[0].id)?.history.outcomes.map(\.attempt) == ["o0", "late"])
        try await third.close()
    }

    /// A history row that cannot be decoded makes the start replay the whole log instead (the log is complete).
    @Test func unreadableRowFallsBackToTheWholeLog() async throws {
        let dir = temporaryDirectory()
        let clock = VirtualClock(start: t0)
        let engine = try await openEngine(dir, clock: clock, shards: 2)
        let debtors = (0..<6).map { makeDebtor($0) }
        _ = try await engine.upsert(debtors)
        _ = try await engine.ingest(debtors.map { outcome("o-\($0.id)", $0, .noAnswer, at: t0 - 600) })
        let before = await engine.debtorStates(ids: debtors.map(\.id))
        try await engine.close()
        try await executeSQL(dir, "UPDATE history_state SET body = X'07FF' WHERE debtor = 'D-3'")
        let reopened = try await openEngine(dir, clock: VirtualClock(start: t0), shards: 2)
        let after = await reopened.debtorStates(ids: debtors.map(\.id))
        #expect(before.map { $0?.history } == after.map { $0?.history })
        try await reopened.close()
    }

    /// Two events of one debtor applied out of log order (two concurrent commits reach the shard in the other
    /// order), with a checkpoint row taken between them: the row's position covers the later event only. Recovery
    /// from the row, with the floor below both, applies the missing one and not the other again.
    @Test func eventsAppliedOutOfOrderAroundACheckpointAreReplayedOnce() throws {
        let debtor = makeDebtor(1)
        let early = outcome("early", debtor, .noAnswer, at: t0 - 100)
        let late = outcome("late", debtor, .busy, at: t0 - 50)

        var live = ShardState(shardID: 0, policy: ContactPolicy(), leaseTag: "tag000", rescoreBatch: 100)
        _ = live.upsert(debtor, lsn: 1, now: t0)
        live.apply(.outcome(late), lsn: 6, now: t0)  // lsn 5 is committed but not applied yet
        let (rows, _) = live.historyRows(limit: 10, maxBytes: 1 << 20)
        try #require(rows.count == 1)
        #expect(rows[0].lsn == 6)
        live.apply(.outcome(early), lsn: 5, now: t0)
        #expect(live.historyCheckpoint.pendingCount == 1)  // dirty again: the next checkpoint rewrites it

        var recovered = ShardState(shardID: 0, policy: ContactPolicy(), leaseTag: "tag001", rescoreBatch: 100)
        _ = recovered.upsert(debtor, lsn: 1, now: nil)
        rows[0].body.withUnsafeBytes { recovered.loadHistory(0, body: $0, lsn: rows[0].lsn) }
        recovered.beginHistoryReplay(floor: 4)
        recovered.apply(.outcome(early), lsn: 5, now: nil)
        recovered.apply(.outcome(late), lsn: 6, now: nil)
        recovered.finishHistoryReplay()
        #expect(recovered.history(0).outcomes.map(\.attempt).sorted() == ["early", "late"])
        #expect(recovered.history(0).outcomes.count == 2)
    }

    /// `run()` writes a snapshot, with the history checkpoint, once `snapshotAfterEvents` log positions were written
    /// since the last one, even when the interval is off.
    @Test func runCheckpointsAfterEnoughEvents() async throws {
        var configuration = EngineConfiguration(dataDirectory: temporaryDirectory())
        configuration.shardCount = 2
        configuration.tickIntervalMilliseconds = 10
        configuration.snapshotIntervalSeconds = 0
        configuration.snapshotAfterEvents = 20
        let engine = try await Engine.open(configuration: configuration, clock: VirtualClock(start: t0),
                                           logger: quietLogger)
        let debtors = (0..<5).map { makeDebtor($0) }
        _ = try await engine.upsert(debtors)
        let runner = Task { try await engine.run() }
        _ = try await engine.ingest((0..<10).map { outcome("r\($0)", debtors[$0 % 5], .noAnswer, at: t0 - 600) })
        try await Task.sleep(for: .milliseconds(100))
        #expect(try await engine.store.historyFloor() == 0)  // 10 positions: not yet
        _ = try await engine.ingest((10..<30).map { outcome("r\($0)", debtors[$0 % 5], .noAnswer, at: t0 - 600) })
        var floor: Int64 = 0
        for _ in 0..<500 where floor == 0 {
            try await Task.sleep(for: .milliseconds(10))
            floor = try await engine.store.historyFloor()
        }
        runner.cancel()
        _ = try? await runner.value
        #expect(floor > 0)
        #expect(try await engine.store.historyRowCount() == 5)
        try await engine.close()
    }

    /// A start that replayed more than `snapshotAfterEvents` of the log (here: a store without a checkpoint, as an
    /// older version left it) writes a checkpoint as soon as `run()` runs, without waiting for new events.
    @Test func runCheckpointsAtOnceAfterALongReplay() async throws {
        let dir = temporaryDirectory()
        let clock = VirtualClock(start: t0)
        let first = try await openEngine(dir, clock: clock, shards: 2)
        let debtors = (0..<5).map { makeDebtor($0) }
        _ = try await first.upsert(debtors)
        _ = try await first.ingest((0..<30).map { outcome("s\($0)", debtors[$0 % 5], .noAnswer, at: t0 - 600) })
        try await first.close()
        try await executeSQL(dir, "DELETE FROM history_state; DELETE FROM meta WHERE key = 'history_floor'")
        var configuration = EngineConfiguration(dataDirectory: dir)
        configuration.shardCount = 2
        configuration.tickIntervalMilliseconds = 10
        configuration.snapshotIntervalSeconds = 0
        configuration.snapshotAfterEvents = 20
        let engine = try await Engine.open(configuration: configuration, clock: clock, logger: quietLogger)
        #expect(try await engine.store.historyFloor() == 0)
        let runner = Task { try await engine.run() }
        var floor: Int64 = 0
        for _ in 0..<500 where floor == 0 {
            try await Task.sleep(for: .milliseconds(10))
            floor = try await engine.store.historyFloor()
        }
        runner.cancel()
        _ = try? await runner.value
        #expect(floor > 0)
        #expect(try await engine.store.historyRowCount() == 5)
        try await engine.store.close()
    }

    /// The floor a checkpoint may record: below the bound of every writer still between its commit and its
    /// application to the shards.
    @Test func appliedThroughStaysBelowWritersInFlight() {
        let applying = AppliedEvents()
        #expect(applying.appliedThrough(logged: 20) == 20)
        let a = applying.begin(after: 10)
        let b = applying.begin(after: 15)
        #expect(applying.appliedThrough(logged: 20) == 10)
        applying.end(a)
        #expect(applying.appliedThrough(logged: 20) == 15)
        #expect(applying.appliedThrough(logged: 12) == 12)
        applying.end(b)
        #expect(applying.appliedThrough(logged: 20) == 20)
        #expect(applying.openCount == 0)
    }

    /// While an ingest is between its commit and its application, a checkpoint does not move the floor past it.
    @Test func concurrentIngestAndCheckpointsLoseNothing() async throws {
        let dir = temporaryDirectory()
        let clock = VirtualClock(start: t0)
        let engine = try await openEngine(dir, clock: clock, shards: 4)
        let debtors = (0..<50).map { makeDebtor($0) }
        _ = try await engine.upsert(debtors)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<4 {
                group.addTask {
                    for k in 0..<60 {
                        let batch = (0..<5).map { j in
                            outcome("w\(w)-\(k)-\(j)", debtors[(w * 13 + k * 7 + j) % debtors.count], .noAnswer,
                                    at: t0 - 3_600 + Int64(k))
                        }
                        _ = try await engine.ingest(batch)
                    }
                }
            }
            group.addTask {
                for _ in 0..<25 { try await engine.writeSnapshot() }
            }
            try await group.waitForAll()
        }
        #expect(engine.applying.openCount == 0)
        let live = await engine.debtorStates(ids: debtors.map(\.id))
        try await engine.store.close()
        let full = try await copyWithoutCheckpoint(dir)
        let a = try await openEngine(dir, clock: VirtualClock(start: t0), shards: 4)
        let b = try await openEngine(full, clock: VirtualClock(start: t0), shards: 4)
        await expectSameState(a, b, ids: debtors.map(\.id), live: live, inAnyOrder: true)
        let recovered = await a.debtorStates(ids: debtors.map(\.id))
        let count = recovered.reduce(0) { $0 + ($1?.history.outcomes.count ?? 0) }
        #expect(count == 4 * 60 * 5)
        #expect(zip(live, recovered).allSatisfy {
            Set($0.0?.history.outcomes.map(\.attempt) ?? []) == Set($0.1?.history.outcomes.map(\.attempt) ?? [])
        })
        try await a.close()
        try await b.close()
    }
}
