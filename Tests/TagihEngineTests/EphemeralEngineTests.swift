import Foundation
import Testing
import TagihCore
import TagihStore
@testable import TagihEngine

/// `EngineConfiguration.persistence = .ephemeral`: no store, and otherwise the same engine.
@Suite struct EphemeralEngineTests {
    /// A lease id without the per-process start tag ("L" + 6 characters): the shard letter and the sequence.
    static func masked(_ id: String?) -> String? { id.map { String($0.dropFirst(7)) } }

    /// What one step of the script saw, with lease ids masked (their start tag differs between any two engines).
    struct StepRecord: Hashable {
        var leases: [String]
        var ingested: [IngestResult]
    }

    /// What the engine holds for one debtor at the end, lease ids masked.
    struct DebtorRecord: Hashable {
        var decisions: [Decision]
        var state: DebtorQueueState
        var outcomes: [String]
        var unresolved: [String]
        var payments: Int
        var lease: String?
    }

    /// A scripted run with leases, outcomes (some ending their lease, some without a lease id), leases left to
    /// expire, payments, a repeated attempt id, a repeated payment id and events for an unknown debtor.
    static func run(_ persistence: EngineConfiguration.Persistence, directory: String)
        async throws -> (steps: [StepRecord], debtors: [DebtorRecord], counts: [DebtorQueueState: Int], active: Int)
    {
        let clock = VirtualClock(start: t0)
        var configuration = EngineConfiguration(dataDirectory: directory)
        configuration.shardCount = 4
        configuration.leaseTTL = 600
        configuration.persistence = persistence
        configuration.holdBelowShareOfBest = 0.7
        configuration.holdShare = 0.5
        let engine = try await Engine.open(configuration: configuration, clock: clock, logger: quietLogger)
        let debtors = (0..<240).map {
            makeDebtor($0, jurisdiction: $0 % 3 == 0 ? "US-MA" : "US", balance: Int64(($0 * 7919) % 300 + 1) * 10_000,
                       debts: 1 + $0 % 2)
        }
        let upserted = try await engine.upsert(debtors)
        #expect(upserted.allSatisfy { $0 == .inserted })
        let byID = Dictionary(uniqueKeysWithValues: debtors.map { ($0.id, $0) })
        let kinds: [Outcome] = [.noAnswer, .busy, .promiseToPay, .noAnswer, .callbackRequested, .voicemail, .refused]
        var steps: [StepRecord] = []
        var attempt = 0
        for step in 0..<24 {
            clock.set(t0 + Int64(step) * 300)
            await engine.tick()
            let leases = await engine.lease(18, holder: "sim")
            var events: [StoredEvent] = []
            for (k, lease) in leases.enumerated() {
                // Every fifth lease is left to expire; every seventh outcome comes without its lease id.
                if k % 5 == 4 { continue }
                attempt += 1
                let d = byID[lease.debtor]!
                var o = outcome("a-\(attempt)", d, kinds[attempt % kinds.count], at: clock.now() + 30,
                                lease: attempt % 7 == 0 ? nil : lease.id)
                o.debt = lease.debt
                events.append(.outcome(o))
                if attempt % 4 == 0 {
                    events.append(.payment(PaymentEvent(payment: "p-\(attempt)", debtor: d.id, debt: lease.debt,
                                                        amount: Money(decimal: "12.5")!, at: clock.now() + 60)))
                }
            }
            if step == 3, case .outcome(let first)? = events.first {
                events.append(.outcome(first))  // a repeated attempt id: a duplicate
                events.append(.outcome(outcome("a-unknown", makeDebtor(9_999), .noAnswer, at: clock.now())))
            }
            if step == 5, let payment = events.first(where: { if case .payment = $0 { true } else { false } }) {
                events.append(payment)
            }
            clock.set(t0 + Int64(step) * 300 + 120)
            let results = try await engine.ingest(events: events)
            steps.append(StepRecord(leases: leases.map { "\(masked($0.id)!) \($0.debtor) \($0.debt) \($0.phone) "
                                                            + "\($0.score) \($0.leasedAt) \($0.expires)" },
                                    ingested: results))
        }
        clock.set(t0 + 24 * 300 + 900)
        await engine.tick()
        let states = await engine.debtorStates(ids: debtors.map(\.id))
        let records = states.map { s -> DebtorRecord in
            let s = s!
            return DebtorRecord(
                decisions: s.decisions, state: s.state,
                outcomes: s.history.outcomes.map { "\($0.attempt) \($0.outcome) \($0.at) \(masked($0.lease) ?? "-")" },
                unresolved: s.history.unresolved.map { "\($0)".replacingOccurrences(of: #"L[0-9a-z]{6}"#, with: "L",
                                                                                   options: .regularExpression) },
                payments: s.history.payments.count, lease: masked(s.lease?.id))
        }
        let counts = await engine.queueCounts()
        let active = await engine.activeLeaseCount()
        try await engine.close()
        return (steps, records, counts, active)
    }

    @Test func decidesLeasesAndAcknowledgesAsAnEngineWithAStore() async throws {
        let withStore = try await Self.run(.store, directory: temporaryDirectory())
        let directory = temporaryDirectory() + "/never-created"
        let ephemeral = try await Self.run(.ephemeral, directory: directory)
        #expect(!FileManager.default.fileExists(atPath: directory), "an ephemeral engine writes nothing")
        #expect(ephemeral.steps.count == withStore.steps.count)
        for (k, (a, b)) in zip(ephemeral.steps, withStore.steps).enumerated() {
            #expect(a == b, "step \(k)")
        }
        #expect(ephemeral.debtors == withStore.debtors)
        #expect(ephemeral.counts == withStore.counts)
        #expect(ephemeral.active == withStore.active)
        // The script exercised what it means to: leases, duplicates, rejections, expiries, payments.
        let results = withStore.steps.flatMap(\.ingested)
        #expect(results.contains(.duplicate))
        #expect(results.contains { if case .rejected = $0 { true } else { false } })
        #expect(withStore.debtors.contains { !$0.unresolved.isEmpty }, "some leases expired")
        #expect(withStore.debtors.contains { $0.payments > 0 })
        #expect(withStore.steps[0].leases.count == 18)
        #expect(withStore.steps.dropFirst().contains { !$0.leases.isEmpty }, "debtors became leasable again")
    }

    @Test func numbersWritesAndRefusesRepeatedKeysLikeTheStore() throws {
        let log = EphemeralLog()
        let d = makeDebtor(1)
        #expect(log.upsert([d, makeDebtor(2)]) == [1, 2])
        #expect(log.upsert([]) == [])
        let a = StoredEvent.outcome(outcome("x", d, .noAnswer, at: t0))
        let p = StoredEvent.payment(PaymentEvent(payment: "x", debtor: d.id, debt: d.debts[0].id,
                                                 amount: Money(decimal: "1")!, at: t0))
        // Keys are unique per kind: an outcome and a payment may share one.
        #expect(log.append([a, p, a]) == [.applied(lsn: 3), .applied(lsn: 4), .duplicate])
        #expect(log.append([a]) == [.duplicate])
        #expect(log.lastLSN() == 4)
        var grants = GrantBatchEncoder(id: "Lxyz", holder: "h", leasedAt: t0, expires: t0 + 600, count: 1)
        #expect(throws: StoreError.self) { try log.append(grants) }
        grants.append(lease: "Lxyz", debtor: d.id, debt: d.debts[0].id, phone: d.phones[0].number)
        #expect(try log.append(grants) == .applied(lsn: 5))
        #expect(try log.append(grants) == .duplicate)
        #expect(log.lastLSN() == 5)
    }

    @Test func anEphemeralEngineStartsEmptyAndSnapshotsNothing() async throws {
        var configuration = EngineConfiguration(dataDirectory: temporaryDirectory() + "/absent")
        configuration.persistence = .ephemeral
        let clock = VirtualClock(start: t0)
        let engine = try await Engine.open(configuration: configuration, clock: clock, logger: quietLogger)
        #expect(engine.isEphemeral)
        #expect(await engine.isEmpty())
        _ = try await engine.upsert([makeDebtor(1)])
        let o = outcome("a-1", makeDebtor(1), .noAnswer, at: t0)
        #expect(try await engine.ingest(o) == .applied)
        #expect(try await engine.ingest(o) == .duplicate)
        try await engine.writeSnapshot()
        try await engine.close()
        #expect(!FileManager.default.fileExists(atPath: configuration.store.directory))
        // A store-backed engine says it is not ephemeral.
        let durable = try await openEngine(temporaryDirectory(), clock: clock)
        #expect(!durable.isEphemeral)
        try await durable.close()
    }
}
