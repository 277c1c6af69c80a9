import Foundation
import GRDB
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
        StoredEvent.leasesGranted(LeaseGrants(id: "Lx-1-3", grants: [
            LeaseGrant(lease: "Lx-1-3", debtor: "D-1", debt: "A-1", phone: "+1", holder: "dialer-7", leasedAt: 5,
                       expires: 605),
            LeaseGrant(lease: "Lx-2-1", debtor: "D-2", debt: "A-2", phone: "+2", holder: "dialer-7", leasedAt: 5,
                       expires: 605),
        ])),
        StoredEvent.leasesGranted(LeaseGrants(id: "Lx-1-4", grants: [  // holders differ: every field per grant
            LeaseGrant(lease: "Lx-1-4", debtor: "D-1", debt: "A-1", phone: "+1", holder: "dialer-7", leasedAt: 5,
                       expires: 605),
            LeaseGrant(lease: "Lx-2-2", debtor: "D-2", debt: "A-2", phone: "+2", holder: "dialer-8", leasedAt: 5,
                       expires: 605),
        ])),
        StoredEvent.leasesReleased(LeaseReleases(id: "RLx-1-3", releases: [
            LeaseRelease(lease: "Lx-1-3", debtor: "D-1", at: 9), LeaseRelease(lease: "Lx-2-1", debtor: "D-2", at: 9),
        ])),
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
        #expect(Set([1, 2, 3, 6, 7, 8, 10]).contains(event.kind))
    }

    /// A batch whose grants share holder and times is logged compactly (kind 10: holder and times once, each
    /// string front-coded against the previous grant's); others, and batches logged as kind 7 (every field per
    /// grant) or kind 9 (shared terms, strings whole) by earlier versions, still read back.
    @Test func compactGrantBatchesAndEarlierOnesReadBack() throws {
        let uniform = LeaseGrants(id: "Lq", grants: [
            ("Lfp73sgc6el2", "D-9098178", "A-9098178", "+441612407959"),
            ("Lfp73sgc6el3", "D-9160264", "A-9160264", "+16021824204"),
            ("Lfp73sgc6em0", "D-916", "A-9160264-2", "+16021824204"),  // shorter than its predecessor; equal
            ("Lfp73sgc6em1", "Ď-Ω", "", "+1"),  // multi-byte characters; an empty string
        ].map {
            LeaseGrant(lease: $0.0, debtor: $0.1, debt: $0.2, phone: $0.3, holder: "dialer-1", leasedAt: 5,
                       expires: 605)
        })
        var mixed = uniform
        mixed.grants[2].expires = 606
        #expect(StoredEvent.leasesGranted(uniform).kind == 10)
        #expect(StoredEvent.leasesGranted(mixed).kind == 7)
        let compact = RecordCoding.encode(.leasesGranted(uniform))
        let full = RecordCoding.encode(.leasesGranted(mixed))
        // Holder and times once instead of four times (3 × 25 bytes), and at least 20 bytes of shared prefixes.
        #expect(compact.count < full.count - 3 * 25 - 20)
        let again = try compact.withUnsafeBytes { try RecordCoding.decodeEvent(kind: 10, $0) }
        #expect(again == .leasesGranted(uniform))
        // The same batch as earlier versions logged it: kind 7 (every field per grant) and kind 9.
        var old7 = ByteWriter(capacity: 256)
        var old9 = ByteWriter(capacity: 256)
        old7.write(uniform.id)
        old7.write(UInt32(uniform.grants.count))
        old9.write(uniform.id)
        old9.write("dialer-1")
        old9.write(Int64(5))
        old9.write(Int64(605))
        old9.write(UInt32(uniform.grants.count))
        for g in uniform.grants {
            for s in [g.lease, g.debtor, g.debt, g.phone, g.holder] { old7.write(s) }
            old7.write(g.leasedAt)
            old7.write(g.expires)
            for s in [g.lease, g.debtor, g.debt, g.phone] { old9.write(s) }
        }
        for (kind, bytes) in [(7, old7.bytes), (9, old9.bytes)] {
            let back = try bytes.withUnsafeBytes { try RecordCoding.decodeEvent(kind: kind, $0) }
            #expect(back == .leasesGranted(uniform), "kind \(kind)")
        }
    }

    /// Grants and releases logged one per lease (kinds 4 and 5, before batching) still read back, as batches of one.
    @Test func singleLeaseEventsOfEarlierLogsReadAsBatches() throws {
        var grant = ByteWriter(capacity: 64)
        for s in ["L-1", "D-1", "A-1", "+1", "dialer-1"] { grant.write(s) }
        grant.write(Int64(5))
        grant.write(Int64(605))
        let g = try grant.bytes.withUnsafeBytes { try RecordCoding.decodeEvent(kind: 4, $0) }
        #expect(g == .leasesGranted(LeaseGrants(id: "L-1", grants: [
            LeaseGrant(lease: "L-1", debtor: "D-1", debt: "A-1", phone: "+1", holder: "dialer-1", leasedAt: 5,
                       expires: 605)
        ])))
        var release = ByteWriter(capacity: 32)
        release.write("L-1")
        release.write("D-1")
        release.write(Int64(9))
        let r = try release.bytes.withUnsafeBytes { try RecordCoding.decodeEvent(kind: 5, $0) }
        #expect(r == .leasesReleased(LeaseReleases(id: "L-1", releases: [LeaseRelease(lease: "L-1", debtor: "D-1", at: 9)])))
    }

    @Test func truncatedRecordIsAnError() {
        let bytes = Array(RecordCoding.encode(sampleDebtor).dropLast(3))
        #expect(throws: StoreError.self) { try bytes.withUnsafeBytes { try RecordCoding.decodeDebtor($0) } }
    }

    /// Found by fuzzing (scripts/fuzz.sh): a merged grant row (kind 11) whose part count is damaged made the decoder
    /// reserve room for count × grants (terabytes: the process died) instead of failing with `corrupt_record`.
    @Test func mergedGrantRowWithADamagedPartCountIsAnError() throws {
        var batch = GrantBatchEncoder(id: "Lx1", holder: "dialer-2", leasedAt: 7, expires: 607, count: 2)
        batch.append(lease: "Lx1", debtor: "D-1", debt: "A-1", phone: "+16175550100")
        batch.append(lease: "Lx2", debtor: "D-2", debt: "A-2", phone: "+16175550101")
        let whole = GrantBatchEncoder.merge([batch.body, batch.body])
        let intact = try whole.withUnsafeBytes { try RecordCoding.decodeEvent(kind: GrantBatchEncoder.mergedKind, $0) }
        guard case .leasesGranted(let grants) = intact else { Issue.record("not a grant batch: \(intact)"); return }
        #expect(grants.grants.count == 4)
        for parts: UInt32 in [3, 0x0100_0000, .max] {
            var damaged = whole
            withUnsafeBytes(of: parts.littleEndian) { damaged.replaceSubrange(0..<4, with: $0) }
            let error = #expect(throws: StoreError.self) {
                try damaged.withUnsafeBytes { try RecordCoding.decodeEvent(kind: GrantBatchEncoder.mergedKind, $0) }
            }
            #expect(error?.code == .corruptRecord)
        }
    }
}

@Suite struct StoreTests {
    @Test(arguments: [(StoreConfiguration.Durability.full, 2), (.normal, 1)])
    func opensWithMigrationsAndDurability(_ durability: StoreConfiguration.Durability, _ level: Int) async throws {
        let store = try await Store.open(configuration: .init(directory: temporaryDirectory(), durability: durability))
        #expect(try await store.appliedMigrations() == ["v1", "v2", "v3"])
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

    /// A grant batch the caller encodes (`GrantBatchEncoder`, the engine's path) is the same row as the batch of
    /// `LeaseGrant` values logged through `append(_:)`: same bytes, same kind, key and debtor; it reads back, is
    /// idempotent by its id, and a batch holding fewer grants than announced is refused.
    @Test func encodedGrantBatchesAreTheSameRow() async throws {
        let grants = [("Lx1", "D-17", "A-17", "+16175550100"), ("Lx2", "D-170", "A-170", "+16175550199")].map {
            LeaseGrant(lease: $0.0, debtor: $0.1, debt: $0.2, phone: $0.3, holder: "dialer-2", leasedAt: 7, expires: 607)
        }
        func encoder() -> GrantBatchEncoder {
            var batch = GrantBatchEncoder(id: "Lx1", holder: "dialer-2", leasedAt: 7, expires: 607, count: 2)
            for g in grants { batch.append(lease: g.lease, debtor: g.debtor, debt: g.debt, phone: g.phone) }
            return batch
        }
        let event = StoredEvent.leasesGranted(LeaseGrants(id: "Lx1", grants: grants))
        #expect(encoder().body == RecordCoding.encode(event))
        #expect(GrantBatchEncoder.kind == event.kind)
        #expect(encoder().firstDebtor == event.debtor)
        let store = try await Store.open(configuration: .init(directory: temporaryDirectory()))
        #expect(try await store.append(encoder()) == .applied(lsn: 1))
        #expect(try await store.append(encoder()) == .duplicate)
        #expect(try await store.append([event]) == [.duplicate])
        var short = GrantBatchEncoder(id: "Lx3", holder: "dialer-2", leasedAt: 7, expires: 607, count: 2)
        short.append(lease: "Lx3", debtor: "D-1", debt: "A-1", phone: "+1")
        await #expect(throws: StoreError.self) { try await store.append(short) }
        let events = try await store.events(after: 0, limit: 10)
        #expect(events.map(\.event) == [event])
        try await store.close()
    }

    /// Grant batches may be held back for more callers (`GroupCommitter.submit(_:mayWait:)`), outcomes never: with
    /// dialers appending grants in loops and a writer of outcomes among them, every write is acknowledged once,
    /// nothing hangs, and the grants share transactions. Grant batches committed together share one row (kind 11)
    /// and its position; every grant reads back from the log, with its own batch's holder, once.
    @Test func waitingGrantBatchesAndOutcomesAllCommit() async throws {
        let store = try await Store.open(configuration: .init(directory: temporaryDirectory()))
        let positions = try await withThrowingTaskGroup(of: (grants: [Int64], outcomes: [Int64]).self) { group in
            for dialer in 0..<8 {
                group.addTask {
                    var lsns: [Int64] = []
                    for call in 0..<25 {
                        var batch = GrantBatchEncoder(id: "L\(dialer)-\(call)", holder: "dialer-\(dialer)", leasedAt: 1,
                                                      expires: 601, count: 2)
                        batch.append(lease: "L\(dialer)-\(call)", debtor: "D-\(call)", debt: "A-\(call)", phone: "+1")
                        batch.append(lease: "L\(dialer)-\(call)b", debtor: "D-\(call)b", debt: "A-\(call)", phone: "+2")
                        guard case .applied(let lsn) = try await store.append(batch) else { return ([], []) }
                        lsns.append(lsn)
                    }
                    return (lsns, [])
                }
            }
            group.addTask {
                var lsns: [Int64] = []
                for k in 0..<25 {
                    guard case .applied(let lsn) = try await store.append([.outcome(outcome("o\(k)"))]).first
                    else { return ([], []) }
                    lsns.append(lsn)
                }
                return ([], lsns)
            }
            var all: (grants: [Int64], outcomes: [Int64]) = ([], [])
            for try await part in group {
                all.grants += part.grants
                all.outcomes += part.outcomes
            }
            return all
        }
        #expect(positions.grants.count == 8 * 25)
        #expect(positions.outcomes.count == 25)
        #expect(Set(positions.outcomes).count == 25)
        #expect(Set(positions.outcomes).isDisjoint(with: positions.grants))
        let statistics = await store.commitStatistics()
        #expect(statistics.requests == 9 * 25)
        #expect(statistics.transactions < statistics.requests)
        let logged = try await store.events(after: 0, limit: 1_000)
        var grants: [LeaseGrant] = []
        for entry in logged {
            if case .leasesGranted(let batch) = entry.event { grants += batch.grants }
        }
        #expect(grants.count == 2 * 8 * 25)
        #expect(Set(grants.map(\.lease)).count == grants.count)
        #expect(grants.allSatisfy { $0.holder == "dialer-" + $0.lease.dropFirst().prefix { $0 != "-" } })
        // Every acknowledged grant position is a logged row's, and fewer rows than grant batches were written.
        #expect(Set(positions.grants).isSubset(of: Set(logged.map(\.lsn))))
        #expect(logged.count - 25 < 8 * 25)
        try await store.close()
    }

    /// The encoder writes what `ByteWriter.write(_:sharingPrefixWith:)` writes field by field, for short, empty,
    /// shared and long (over 255 bytes) strings, and it reads back.
    @Test func grantBatchEncoderMatchesTheFrontCoding() throws {
        let long = String(repeating: "x", count: 300)
        let rows = [("L1", "D-1", "A-1", "+1"), ("L2", "D-1", "", "+1"), (long, long + "y", "A", long),
                    (long + "z", "D", long, "")]
        var encoder = GrantBatchEncoder(id: "L1", holder: "h", leasedAt: 3, expires: 4, count: rows.count)
        var reference = ByteWriter()
        reference.write("L1")
        reference.write("h")
        reference.write(Int64(3))
        reference.write(Int64(4))
        reference.write(UInt32(rows.count))
        var previous = ("", "", "", "")
        for row in rows {
            encoder.append(lease: row.0, debtor: row.1, debt: row.2, phone: row.3)
            reference.write(row.0, sharingPrefixWith: previous.0)
            reference.write(row.1, sharingPrefixWith: previous.1)
            reference.write(row.2, sharingPrefixWith: previous.2)
            reference.write(row.3, sharingPrefixWith: previous.3)
            previous = row
        }
        #expect(encoder.body == reference.bytes)
        let event = try encoder.body.withUnsafeBytes { try RecordCoding.decodeEvent(kind: GrantBatchEncoder.kind, $0) }
        guard case .leasesGranted(let batch) = event else {
            Issue.record("not a grant batch: \(event)")
            return
        }
        #expect(batch.grants.map { [$0.lease, $0.debtor, $0.debt, $0.phone] } == rows.map { [$0.0, $0.1, $0.2, $0.3] })
    }

    /// A kind 11 row (grant batches committed together) reads back as one batch of all their grants, each with
    /// its own batch's holder and times, under the first batch's id; a truncated one is refused.
    @Test func mergedGrantBatchesDecode() throws {
        var first = GrantBatchEncoder(id: "La1", holder: "dialer-1", leasedAt: 7, expires: 607, count: 2)
        first.append(lease: "La1", debtor: "D-1", debt: "A-1", phone: "+1555")
        first.append(lease: "La2", debtor: "D-22", debt: "A-22", phone: "+1556")
        var second = GrantBatchEncoder(id: "Lb1", holder: "dialer-2", leasedAt: 8, expires: 608, count: 1)
        second.append(lease: "Lb1", debtor: "D-3", debt: "A-3", phone: "+44")
        let merged = GrantBatchEncoder.merge([first.body, second.body])
        let event = try merged.withUnsafeBytes { try RecordCoding.decodeEvent(kind: GrantBatchEncoder.mergedKind, $0) }
        guard case .leasesGranted(let batch) = event else {
            Issue.record("not a grant batch: \(event)")
            return
        }
        #expect(batch.id == "La1")
        #expect(batch.grants == [
            LeaseGrant(lease: "La1", debtor: "D-1", debt: "A-1", phone: "+1555", holder: "dialer-1", leasedAt: 7,
                       expires: 607),
            LeaseGrant(lease: "La2", debtor: "D-22", debt: "A-22", phone: "+1556", holder: "dialer-1", leasedAt: 7,
                       expires: 607),
            LeaseGrant(lease: "Lb1", debtor: "D-3", debt: "A-3", phone: "+44", holder: "dialer-2", leasedAt: 8,
                       expires: 608),
        ])
        let truncated = Array(merged.dropLast(3))
        #expect(throws: StoreError.self) {
            try truncated.withUnsafeBytes { try RecordCoding.decodeEvent(kind: GrantBatchEncoder.mergedKind, $0) }
        }
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

    /// Transactions of events alone do not rewrite `meta.lsn`: the log position after a reopen comes from the
    /// event table then, and positions are never handed out twice, whichever kind of write came last.
    @Test func logPositionSurvivesReopenAfterEventOnlyCommits() async throws {
        let directory = temporaryDirectory()
        var store = try await Store.open(configuration: .init(directory: directory))
        var a = sampleDebtor
        a.id = "D-a"
        #expect(try await store.upsert([a]) == [1])
        _ = try await store.append([.outcome(outcome("p1")), .outcome(outcome("p2"))])
        #expect(await store.lastLSN() == 3)
        try await store.close()
        store = try await Store.open(configuration: .init(directory: directory))
        #expect(await store.lastLSN() == 3)
        #expect(try await store.append([.outcome(outcome("p3"))]) == [.applied(lsn: 4)])
        var b = sampleDebtor
        b.id = "D-b"
        #expect(try await store.upsert([b]) == [5])
        try await store.close()
        store = try await Store.open(configuration: .init(directory: directory))
        #expect(await store.lastLSN() == 5)
        #expect(try await store.append([.outcome(outcome("p4"))]) == [.applied(lsn: 6)])
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

    /// Pages of encoded records come back in id order with their snapshot rows merged in: rows for every
    /// other debtor, plus orphan rows (no debtor) before, between and after the page's ids, which are ignored.
    @Test(arguments: [1, 7, 50, 1_000])
    func recordPagesMergeSnapshotRows(pageSize: Int) async throws {
        let store = try await Store.open(configuration: .init(directory: temporaryDirectory()))
        var debtors: [Debtor] = []
        for i in 0..<120 {
            var d = sampleDebtor
            d.id = "D-\(String(1000 + i * 3))"
            debtors.append(d)
        }
        let lsns = try await store.upsert(debtors)
        var rows = debtors.enumerated().filter { $0.offset % 2 == 0 }.map { k, d in
            SnapshotRow(debtor: d.id, basis: lsns[k] + 5, state: [UInt8(k % 256), 1, 2])
        }
        rows += ["A", "D-1001", "D-1200", "Z"].map { SnapshotRow(debtor: $0, basis: 1, state: [9]) }
        try await store.writeSnapshot(rows)
        var seen: [String] = []
        var after: String?
        while true {
            let page = try await store.recordPage(after: after, limit: pageSize)
            if page.count == 0 { break }
            #expect(page.count <= pageSize)
            for entry in page.entries {
                let id = String(decoding: page.bytes[entry.id], as: UTF8.self)
                let k = debtors.firstIndex { $0.id == id }!
                let body = try page.bytes[entry.body].withUnsafeBytes { try RecordCoding.decodeDebtor($0) }
                #expect(body == debtors[k])
                #expect(entry.lsn == lsns[k])
                if k % 2 == 0 {
                    #expect(entry.state.map { Array(page.bytes[$0]) } == [UInt8(k % 256), 1, 2], "\(id)")
                    #expect(entry.basis == lsns[k] + 5)
                } else {
                    #expect(entry.state == nil, "\(id)")
                }
                seen.append(id)
            }
            after = page.lastID
        }
        #expect(seen == debtors.map(\.id).sorted())
        try await store.close()
    }

    /// A batch that asks only for process-crash durability commits without the WAL fsync and the writer is back
    /// to FULL afterwards; the rows are there and the key space is shared with fully synchronous appends.
    @Test func relaxedAppendsKeepTheStoreFullySynchronous() async throws {
        let dir = temporaryDirectory()
        let store = try await Store.open(configuration: .init(directory: dir))
        let first = try await store.append([.outcome(outcome("r-1"))], durability: .normal)
        #expect(first.count == 1 && first[0] != .duplicate)
        #expect(try await store.synchronousLevel() == 2)
        #expect(try await store.append([.outcome(outcome("r-1"))]) == [.duplicate])
        let second = try await store.append([.outcome(outcome("r-2"))])
        #expect(second[0] != .duplicate)
        try await store.close()
        let reopened = try await Store.open(configuration: .init(directory: dir))
        #expect(try await reopened.eventCount() == 2)
        try await reopened.close()
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

@Suite struct ReasonListTests {
    @Test func hashIsStableAndSeparatesTheReasons() {
        #expect(ReasonList.hash(["permitted now"]) == ReasonList.hash(["permitted now"]))
        #expect(ReasonList.hash(["ab"]) != ReasonList.hash(["a", "b"]))
        #expect(ReasonList.hash(["a", "b"]) != ReasonList.hash(["b", "a"]))
        #expect(ReasonList.hash([]) != 0)
        // FNV-1a 64 of "a" then 0xFF: a fixed value in every process and on every run.
        var expected: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte: UInt8 in [0x61, 0xFF] { expected = (expected ^ UInt64(byte)) &* 0x100_0000_01b3 }
        #expect(ReasonList.hash(["a"]) == expected)
    }

    @Test func listsAreWrittenWithTheSnapshotOnceAndReadBack() async throws {
        let store = try await Store.open(
            configuration: .init(directory: temporaryDirectory(), maxRowsPerTransaction: 2))
        let a = ReasonList(["permitted now", "bucket \"early\""])
        let b = ReasonList(["calls today: 1 of 3", "ünïcode"])
        let rows = (0..<5).map { SnapshotRow(debtor: "D-\($0)", basis: 1, state: [1, 2, 3]) }
        try await store.writeSnapshot(rows, reasonLists: [a, b])
        try await store.writeSnapshot([], reasonLists: [a])  // lists only; a duplicate is ignored
        #expect(try await store.snapshotCount() == 5)
        #expect(try await store.reasonListCount() == 2)
        #expect(try await store.reasonLists() == [a.hash: a.reasons, b.hash: b.reasons])
        try await store.close()
    }

    /// A binary of the previous version (whose migrator knows only "v1") opens a store migrated to "v2": GRDB
    /// skips applied migrations it does not know, so the older binary works on (and ignores `reason_list`).
    @Test func aMigratorThatKnowsOnlyV1OpensAStoreMigratedToV2() async throws {
        let dir = temporaryDirectory()
        let store = try await Store.open(configuration: .init(directory: dir))
        try await store.writeSnapshot([SnapshotRow(debtor: "D-1", basis: 1, state: [1])],
                                      reasonLists: [ReasonList(["x"])])
        try await store.close()
        let older: DatabaseMigrator = {
            var migrator = DatabaseMigrator()
            migrator.registerMigration("v1") { _ in Issue.record("v1 must not run again") }
            return migrator
        }()
        let pool = try DatabasePool(path: StoreConfiguration(directory: dir).path)
        try older.migrate(pool)
        let completed = try await pool.read { try older.hasCompletedMigrations($0) }
        #expect(completed)
        let rows = try await pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM snapshot_state") }
        #expect(rows == 1)
        try pool.close()
        let reopened = try await Store.open(configuration: .init(directory: dir))
        #expect(try await reopened.appliedMigrations() == ["v1", "v2", "v3"])
        #expect(try await reopened.reasonListCount() == 1)
        try await reopened.close()
    }
}

@Suite struct WALPreallocationTests {
    static func walSize(_ dir: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: StoreConfiguration(directory: dir).path + "-wal"))?[.size]
            as? Int) ?? -1
    }

    /// A reopened store's WAL is extended with zeros (a large enough store only), and the log written over them
    /// reads back, after a clean close and after reopening without one.
    @Test func reopenedStoreExtendsTheWALAndItsLogStaysValid() async throws {
        let dir = temporaryDirectory()
        let store = try await Store.open(configuration: .init(directory: dir))
        #expect(Self.walSize(dir) < 1 << 20, "a small store's WAL is left alone")
        let state = [UInt8](repeating: 7, count: 1_000)
        try await store.writeSnapshot((0..<20_000).map { SnapshotRow(debtor: "D-\($0)", basis: 1, state: state) })
        try await store.checkpoint()
        try await store.close()
        #expect(Self.walSize(dir) == 0)

        let reopened = try await Store.open(configuration: .init(directory: dir))
        #expect(Self.walSize(dir) >= 1 << 20, "a 20 MB store's WAL is extended")
        let results = try await reopened.append((0..<50).map { .outcome(outcome("w-\($0)")) })
        #expect(results.allSatisfy { if case .applied = $0 { true } else { false } })
        // As after a crash: the database and WAL files without the shared-memory index, so the open recovers the
        // log from the WAL (its valid frames, then the zeros).
        let copy = temporaryDirectory()
        let from = StoreConfiguration(directory: dir).path
        let to = StoreConfiguration(directory: copy).path
        try FileManager.default.copyItem(atPath: from, toPath: to)
        try FileManager.default.copyItem(atPath: from + "-wal", toPath: to + "-wal")
        try await reopened.close()
        let again = try await Store.open(configuration: .init(directory: copy))
        #expect(try await again.eventCount() == 50)
        #expect(try await again.events(after: 0, limit: 100).count == 50)
        #expect(try await again.snapshotCount() == 20_000)
        try await again.close()
        try? FileManager.default.removeItem(atPath: copy)
        try? FileManager.default.removeItem(atPath: dir)
    }
}
