import Foundation
import Testing
import TagihCore
import TagihStore
@testable import TagihEngine

/// The per-decision and per-event shortcuts of the shards (session 8): each must give what the plain path gives.
@Suite struct HotPathTests {
    /// Debtors of different shapes (more and fewer phones, debts and quiet times than the one decoded before).
    static let shapes: [Debtor] = [
        Debtor(
            id: "D-wide", jurisdiction: "ID", zone: "Asia/Jakarta", status: .active, segment: "late",
            phones: [
                Phone(number: "0811", kind: .home, zone: "Asia/Jayapura", owner: .emergency, optedOut: true),
                Phone(number: "0812", kind: .mobile, zone: nil, owner: .debtor),
                Phone(number: "0813", kind: .work, zone: "Asia/Makassar", owner: .debtor),
            ],
            debts: [
                Debt(id: "X", balance: Money(tenThousandths: 5), currency: "IDR"),
                Debt(id: "Y", balance: Money(tenThousandths: 70_000), currency: "IDR"),
            ],
            quiet: [QuietTime(days: [1, 7], fromMinute: 0, toMinute: 600), QuietTime(days: [], fromMinute: 5, toMinute: 9)]),
        makeDebtor(7),
        Debtor(id: "D-ü-no-zone", jurisdiction: "ID", zone: nil, status: .bankruptcy, segment: nil,
               phones: [], debts: [Debt(id: "Z", balance: Money(tenThousandths: -5), currency: "")]),
        makeDebtor(8, debts: 3),
    ]

    @Test func decodingIntoAReusedValueGivesEveryFieldOfEachRecord() throws {
        var arena = DebtorArena()
        var offsets: [UInt32] = []
        for d in Self.shapes { offsets.append(try arena.append(d).offset) }
        var scratch = Debtor(id: "stale", jurisdiction: "stale", zone: "stale", status: .deceased, segment: "stale",
                             phones: [], debts: [], quiet: [])
        // Twice around, so that every shape is decoded over a larger and over a smaller one.
        for round in 0..<2 {
            for (k, d) in Self.shapes.enumerated() {
                arena.decode(at: offsets[k], jurisdiction: d.jurisdiction, into: &scratch)
                #expect(scratch == d, "round \(round), debtor \(d.id)")
                #expect(arena.debtor(at: offsets[k], jurisdiction: d.jurisdiction) == d)
            }
        }
    }

    static let historyCases: [(String, UnixSeconds)] = [
        ("none", t0), ("no answer", t0 + 3600), ("promise", t0 + 26 * 3600), ("cease", t0 + 2 * 3600),
        ("three calls", t0 + 5 * 86_400 + 1800),
    ]

    static func history(_ name: String, _ d: Debtor) -> DebtorHistory {
        var h = DebtorHistory()
        switch name {
        case "no answer": h.record(outcome("a1", d, .noAnswer, at: t0 - 600))
        case "promise": h.record(outcome("a1", d, .promiseToPay, at: t0 - 600))
        case "cease": h.record(outcome("a1", d, .cease, at: t0 - 600))
        case "three calls":
            for (k, o) in [Outcome.noAnswer, .voicemail, .rightParty].enumerated() {
                h.record(outcome("a\(k)", d, o, at: t0 + Int64(k) * 86_400))
            }
        default: break
        }
        return h
    }

    @Test(arguments: historyCases)
    func decisionsThenValueEqualDecideAndScore(_ name: String, _ now: UnixSeconds) {
        let policy = ContactPolicy()
        var debtors = [makeDebtor(1), makeDebtor(2, debts: 3), Self.shapes[0]]
        var inactive = makeDebtor(3)
        inactive.status = .bankruptcy
        debtors.append(inactive)
        for d in debtors {
            let h = Self.history(name, d)
            var seen: [Decision] = []
            // Every debt, then none: the value is score(...) for the debt picked, 0 for none.
            for pick in d.debts.map({ Optional($0.id) }) + [nil] {
                seen = []
                let value = policy.forEachDecision(for: d, history: h, now: now, { seen.append($0) }, thenValue: { pick })
                #expect(seen == policy.decide(for: d, history: h, now: now), "\(d.id) \(name)")
                let expected = pick.map { policy.score(for: d, history: h, debt: $0, at: now) } ?? 0
                #expect(value == expected, "\(d.id) \(name) \(pick ?? "none")")
            }
        }
    }

    @Test func batchValidationGivesWhatEachEventsValidationGives() {
        var state = ShardState(shardID: 0, policy: ContactPolicy(), leaseTag: "t", rescoreBatch: 10)
        for i in 0..<200 { _ = state.upsert(makeDebtor(i, debts: 2), lsn: Int64(i + 1), now: t0) }
        var events: [StoredEvent] = []
        for i in stride(from: 0, to: 260, by: 3) {
            var o = outcome("a\(i)", makeDebtor(i, debts: 2), .noAnswer, at: t0)
            if i % 7 == 0 { o.debt = "A-\(i)-9" }  // unknown debt
            events.append(.outcome(o))  // debtors 200 and up are unknown
            events.append(.payment(PaymentEvent(payment: "p\(i)", debtor: "D-\(i)", debt: "A-\(i)-1",
                                                amount: Money(tenThousandths: 10), at: t0)))
        }
        events.append(.leasesReleased(LeaseReleases(id: "R1", releases: [])))
        let indices = Array(events.indices.reversed())
        let batch = state.validate(events, indices)
        #expect(batch.count == indices.count)
        var rejected = 0
        for (k, i) in indices.enumerated() {
            switch (batch[k], state.validate(events[i])) {
            case (.success(let a), .success(let b)): #expect(a == b)
            case (.failure(let a), .failure(let b)):
                #expect(a.code == b.code && a.message == b.message)
                rejected += 1
            default: Issue.record("event \(i): the batch and the single validation disagree")
            }
        }
        #expect(rejected > 20)
    }

    @Test func prefetchingAnyIndexIsOnlyAHint() {
        var state = ShardState(shardID: 0, policy: ContactPolicy(), leaseTag: "t", rescoreBatch: 10)
        // Empty state, then one debtor with and one without a history: no index may fault.
        for i: UInt32 in [0, 1, 5, .max] { state.prefetchAhead(-1, 4) { _ in i } }
        _ = state.upsert(makeDebtor(1), lsn: 1, now: t0)
        _ = state.upsert(makeDebtor(2), lsn: 2, now: t0)
        state.apply(.outcome(outcome("a", makeDebtor(1), .noAnswer, at: t0)), lsn: 3, now: t0)
        for i: UInt32 in [0, 1, 2, .max] {
            state.prefetchSlot(i)
            state.prefetchRecord(i)
            state.prefetchOutcomes(i)
        }
        #expect(state.history(0).outcomes.count == 1)
        #expect(state.index.firstCandidate(hash: stableHash("D-1")) == 0)
        #expect(state.index.firstCandidate(hash: stableHash("D-2")) == 1)
    }

    @Test func outcomesOffsetPointsAtTheOutcomesArray() {
        // The prefetch reads the outcomes array's storage reference at this offset of a history entry.
        var h = DebtorHistory()
        h.record(outcome("a", makeDebtor(1), .noAnswer, at: t0))
        let storage = withUnsafeBytes(of: &h) { $0.load(fromByteOffset: ShardState.outcomesOffset, as: UInt.self) }
        let expected = h.outcomes.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        // The elements follow the storage object's header.
        #expect(storage != 0 && expected > storage && expected - storage <= 64)
    }
}
