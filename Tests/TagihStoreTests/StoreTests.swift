import Foundation
import Testing
import TagihCore
@testable import TagihStore

func temporaryDirectory(_ name: String = #function) -> String {
    let dir = NSTemporaryDirectory() + "tagih-store-\(name.filter(\.isLetter))-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

let sampleDebtor = Debtor(
    id: "D-1", jurisdiction: "US-MA", zone: "America/New_York", status: .active, segment: "late",
    phones: [
        Phone(number: "+16175550100", kind: .mobile, zone: "America/New_York", owner: .debtor),
        Phone(number: "+16175550199", kind: .work, zone: nil, owner: .thirdParty, optedOut: true),
    ],
    debts: [
        Debt(id: "A-1", balance: Money(decimal: "1250.00")!, currency: "USD"),
        Debt(id: "A-2", balance: Money(decimal: "0.5")!, currency: "USD"),
    ],
    quiet: [QuietTime(days: [7], fromMinute: 0, toMinute: 1440), QuietTime(days: [], fromMinute: 0, toMinute: 600)])

func outcome(_ attempt: String, debtor: String = "D-1", outcome: Outcome = .noAnswer) -> OutcomeEvent {
    OutcomeEvent(
        attempt: attempt, debtor: debtor, debt: "A-1", phone: "+16175550100", at: 1_790_000_000, outcome: outcome)
}

@Suite struct RecordCodingTests {
    @Test func debtorRoundTrips() throws {
        let bytes = RecordCoding.encode(sampleDebtor)
        let back = try bytes.withUnsafeBytes { try RecordCoding.decodeDebtor($0) }
        #expect(back == sampleDebtor)
    }

    @Test(arguments: [
        StoredEvent.outcome(
            OutcomeEvent(
                attempt: "c0ffee-1", debtor: "D-1", debt: "A-1", phone: "+1", at: 1_790_000_000,
                outcome: .promiseToPay,
                lease: "L-9", promise: PromiseTerms(amount: Money(decimal: "100.00")!, due: "2026-12-05"))),
        StoredEvent.outcome(
            OutcomeEvent(
                attempt: "c0ffee-2", debtor: "D-1", debt: "A-1", phone: "+1", at: 1_790_000_001,
                outcome: .callbackRequested, callbackAt: 1_790_003_600)),
        StoredEvent.payment(
            PaymentEvent(payment: "P-1", debtor: "D-1", debt: "A-1", amount: Money(decimal: "10")!, at: 1_790_000_000)),
        StoredEvent.leaseExpired(
            LeaseExpiry(lease: "Lx-1-2", debtor: "D-1", debt: "A-1", phone: "+1", leasedAt: 5, expiredAt: 605)),
        StoredEvent.leaseGranted(
            LeaseGrant(lease: "Lx-1-3", debtor: "D-1", debt: "A-1", phone: "+1", holder: "dialer-7", leasedAt: 5,
                       expires: 605)),
        StoredEvent.leaseReleased(LeaseRelease(lease: "Lx-1-3", debtor: "D-1", at: 9)),
        StoredEvent.clearance(
            ClearanceEvent(id: "op-1", debtor: "D-1", kind: .dispute, debt: "A-1", at: 77, clearedBy: "alice",
                           note: "documents received")),
        StoredEvent.clearance(ClearanceEvent(id: "op-2", debtor: "D-1", kind: .cease, at: 78)),
    ])
    func eventRoundTrips(_ event: StoredEvent) throws {
        let bytes = RecordCoding.encode(event)
        let back = try bytes.withUnsafeBytes { try RecordCoding.decodeEvent(kind: event.kind, $0) }
        #expect(back == event)
        // Each kind has its own key space: the kind codes are distinct and stable.
        #expect(Set([1, 2, 3, 4, 5, 6]).contains(event.kind))
    }

    @Test func truncatedRecordIsAnError() {
        let bytes = Array(RecordCoding.encode(sampleDebtor).dropLast(3))
        #expect(throws: StoreError.self) { try bytes.withUnsafeBytes { try RecordCoding.decodeDebtor($0) } }
    }
}

@Suite struct StoreTests {
    @Test(arguments: [(StoreConfiguration.Durability.full, 2), (.normal, 1)])
    func opensWithMigrationsAndDurability(_ durability: StoreConfiguration.Durability, _ level: Int) async throws {
        let store = try await Store.open(configuration: .init(directory: temporaryDirectory(), durability: durability))
        #expect(try await store.appliedMigrations() == ["v1"])
        #expect(try await store.synchronousLevel() == level)
        #expect(try await store.isEmpty())
        try await store.close()
    }

    @Test func appendIsIdempotentByKindAndKey() async throws {
        let dir = temporaryDirectory()
        let store = try await Store.open(configuration: .init(directory: dir))
        let first = try await store.append([.outcome(outcome("a1")), .outcome(outcome("a2")), .outcome(outcome("a1"))])
        #expect(first == [.applied(lsn: 1), .applied(lsn: 2), .duplicate])
        // Same key, other kind: a payment "a1" is not an outcome "a1".
        let second = try await store.append([
            .payment(PaymentEvent(payment: "a1", debtor: "D-1", debt: "A-1", amount: Money(tenThousandths: 1), at: 1)),
            .outcome(outcome("a2")),
        ])
        #expect(second == [.applied(lsn: 3), .duplicate])
        #expect(try await store.eventCount() == 3)
        try await store.close()

        let reopened = try await Store.open(configuration: .init(directory: dir))
        #expect(await reopened.lastLSN() == 3)
        let third = try await reopened.append([.outcome(outcome("a1")), .outcome(outcome("a3"))])
        #expect(third == [.duplicate, .applied(lsn: 4)])
        let events = try await reopened.events(after: 0, limit: 100)
        #expect(events.map(\.lsn) == [1, 2, 3, 4])
        #expect(events.map(\.event.key) == ["a1", "a2", "a1", "a3"])
        try await reopened.close()
    }

    @Test func upsertReplacesAndPages() async throws {
        let store = try await Store.open(configuration: .init(directory: temporaryDirectory()))
        let debtors = (0..<25).map { i in
            var d = sampleDebtor
            d.id = "D-" + String(1000 + i)
            return d
        }
        let lsns = try await store.upsert(debtors)
        #expect(lsns == Array(1...25).map(Int64.init))
        var changed = debtors[3]
        changed.status = .cease
        #expect(try await store.upsert([changed]) == [26])
        #expect(try await store.debtorCount() == 25)
        var all: [StoredDebtor] = []
        var after: String?
        while true {
            let page = try await store.debtors(after: after, limit: 10)
            if page.isEmpty { break }
            all += page
            after = page.last!.debtor.id
        }
        #expect(all.map(\.debtor.id) == debtors.map(\.id))
        #expect(all[3].debtor.status == .cease && all[3].lsn == 26)
        try await store.close()
    }

    @Test func concurrentWritersShareTransactions() async throws {
        let store = try await Store.open(configuration: .init(directory: temporaryDirectory()))
        let results = try await withThrowingTaskGroup(of: AppendResult.self) { group in
            for i in 0..<300 { group.addTask { try await store.append([.outcome(outcome("g\(i)"))])[0] } }
            var all: [AppendResult] = []
            for try await r in group { all.append(r) }
            return all
        }
        let lsns = results.compactMap { if case .applied(let l) = $0 { l } else { nil } }
        #expect(Set(lsns).count == 300)
        let stats = await store.commitStatistics()
        #expect(stats.requests == 300)
        #expect(stats.transactions < 300, "group commit should batch concurrent writers")
        try await store.close()
    }

    @Test func snapshotRowsComeBackWithDebtors() async throws {
        let store = try await Store.open(configuration: .init(directory: temporaryDirectory()))
        _ = try await store.upsert([sampleDebtor])
        try await store.writeSnapshot([SnapshotRow(debtor: "D-1", basis: 1, state: [1, 2, 3])])
        let page = try await store.debtors(after: nil, limit: 10)
        #expect(page.first?.snapshot?.state == [1, 2, 3])
        #expect(page.first?.snapshot?.basis == 1)
        try await store.close()
    }

    @Test func closedStoreRefusesWrites() async throws {
        let store = try await Store.open(configuration: .init(directory: temporaryDirectory()))
        try await store.close()
        await #expect(throws: StoreError.self) { try await store.append([.outcome(outcome("x"))]) }
    }
}
