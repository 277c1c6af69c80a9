import TagihCore
import TagihStore
import Testing

@testable import TagihEngine

/// A leased debtor that changes so that its call may no longer be placed is revoked, once, to its holder; other
/// changes revoke nothing, and the lease itself stays until its outcome, release or expiry.
@Suite(.timeLimit(.minutes(1))) struct RevocationTests {
    @Test func aLeasedDebtorThatMayNoLongerBeCalledIsRevokedOnce() async throws {
        let clock = VirtualClock(start: t0)
        let engine = try await openEngine(temporaryDirectory(), clock: clock, shards: 2)
        let debtors = (0..<3).map { makeDebtor($0) }
        _ = try await engine.upsert(debtors)
        let leases = await engine.lease(3, holder: "dialer-7")
        #expect(leases.count == 3)
        var revocations = engine.revocations.makeAsyncIterator()
        func debtor(_ lease: Lease) -> Debtor { debtors.first { $0.id == lease.debtor }! }

        // Changes that leave the call permitted revoke nothing: a new segment, a partial payment.
        var renamed = debtor(leases[0])
        renamed.segment = "early"
        _ = try await engine.upsert([renamed])
        _ = try await engine.ingest(PaymentEvent(
            payment: "P-1", debtor: leases[0].debtor, debt: leases[0].debt, amount: Money(decimal: "1.00")!,
            at: clock.now()))

        // The status turns to cease: revoked, with the reason, to the holder.
        var ceased = debtor(leases[1])
        ceased.status = .cease
        _ = try await engine.upsert([ceased])
        let first = try #require(await revocations.next())
        #expect(first.lease == leases[1].id && first.holder == "dialer-7" && first.debtor == leases[1].debtor)
        #expect(first.debt == leases[1].debt && first.phone == leases[1].phone)
        #expect(first.reason.contains("cease"), "\(first.reason)")
        #expect(first.at == clock.now())
        #expect(!first.leaseEnded)
        // The lease stays (the dialer may have dialed): an outcome or a release ends it.
        #expect(await engine.debtorState(id: leases[1].debtor)?.lease?.id == leases[1].id)
        // Changed again: not revoked a second time. The number opted out on another debtor: revoked.
        ceased.segment = "legal"
        _ = try await engine.upsert([ceased])
        var optedOut = debtor(leases[2])
        optedOut.phones[0].optedOut = true
        _ = try await engine.upsert([optedOut])
        let second = try #require(await revocations.next())
        #expect(second.lease == leases[2].id, "the first change after cease was not revoked again")
        #expect(second.reason == "phone \(leases[2].phone) opted out", "\(second.reason)")
        #expect(await engine.releaseLease(leases[2].id, heldBy: "dialer-7") == .released)
        try await engine.close()
        #expect(await revocations.next() == nil, "the stream ends with the engine")
    }

    /// An outcome reported without a lease id ends the debtor's lease; when it forbids further calls the holder is
    /// told, with `leaseEnded`, and when it does not, nothing is revoked.
    @Test func anUnleasedOutcomeThatForbidsCallsTellsTheHolder() async throws {
        let clock = VirtualClock(start: t0)
        let engine = try await openEngine(temporaryDirectory(), clock: clock, shards: 2)
        let debtors = (0..<2).map { makeDebtor($0) }
        _ = try await engine.upsert(debtors)
        let leases = await engine.lease(2, holder: "dialer-2")
        #expect(leases.count == 2)
        var revocations = engine.revocations.makeAsyncIterator()
        func debtor(_ lease: Lease) -> Debtor { debtors.first { $0.id == lease.debtor }! }
        // No answer, reported without the lease id: the lease ends, nothing is revoked.
        #expect(try await engine.ingest(outcome("in-1", debtor(leases[0]), .noAnswer, at: clock.now())) == .applied)
        #expect(await engine.debtorState(id: leases[0].debtor)?.lease == nil)
        // A dispute, reported without the lease id (an inbound call): the lease ends and its holder is told.
        #expect(try await engine.ingest(outcome("in-2", debtor(leases[1]), .dispute, at: clock.now())) == .applied)
        #expect(await engine.debtorState(id: leases[1].debtor)?.lease == nil)
        let revocation = try #require(await revocations.next())
        #expect(revocation.lease == leases[1].id && revocation.holder == "dialer-2", "\(revocation)")
        #expect(revocation.leaseEnded)
        #expect(revocation.reason.contains("dispute"), "\(revocation.reason)")
        try await engine.close()
        #expect(await revocations.next() == nil, "nothing for the no-answer")
    }

    /// An outcome that names the lease but comes from someone other than its holder (`POST /v1/outcomes`, a CRM,
    /// another dialer session) and forbids further calls tells the holder, with `leaseEnded`; the holder's own
    /// outcome, or one that forbids nothing, revokes nothing.
    @Test func aForbiddingOutcomeOnTheLeaseFromAnotherReporterTellsTheHolder() async throws {
        let clock = VirtualClock(start: t0)
        let engine = try await openEngine(temporaryDirectory(), clock: clock, shards: 2)
        let debtors = (0..<4).map { makeDebtor($0) }
        _ = try await engine.upsert(debtors)
        let leases = await engine.lease(4, holder: "dialer-3")
        #expect(leases.count == 4)
        var revocations = engine.revocations.makeAsyncIterator()
        func debtor(_ lease: Lease) -> Debtor { debtors.first { $0.id == lease.debtor }! }
        func report(_ k: Int, _ kind: Outcome, by reporter: String?) async throws {
            let o = outcome("o-\(k)", debtor(leases[k]), kind, at: clock.now(), lease: leases[k].id)
            let r = try await engine.ingestReportingWarnings(events: [.outcome(o)], reporter: reporter)
            #expect(r.results == [.applied])
            #expect(await engine.debtorState(id: leases[k].debtor)?.lease == nil)
        }
        // The holder's own cease: nothing to tell. Another reporter's no-answer: nothing forbids the call.
        try await report(0, .cease, by: "dialer-3")
        try await report(1, .noAnswer, by: nil)
        // A cease on the lease from POST /v1/outcomes, and a dispute from another session: the holder is told.
        try await report(2, .cease, by: nil)
        let first = try #require(await revocations.next())
        #expect(first.lease == leases[2].id && first.holder == "dialer-3" && first.leaseEnded, "\(first)")
        #expect(first.reason.contains("cease"), "\(first.reason)")
        try await report(3, .dispute, by: "dialer-9")
        let second = try #require(await revocations.next())
        #expect(second.lease == leases[3].id && second.leaseEnded && second.reason.contains("dispute"), "\(second)")
        try await engine.close()
        #expect(await revocations.next() == nil, "nothing for the holder's own cease nor for the no-answer")
    }

    /// Another call finds the leased number wrong (the debtor has a second number, so the debt itself may still be
    /// called): the lease is revoked all the same, naming the number.
    @Test func aLeasedNumberReportedWrongByAnotherCallIsRevoked() async throws {
        let clock = VirtualClock(start: t0)
        let engine = try await openEngine(temporaryDirectory(), clock: clock, shards: 2)
        var d = makeDebtor(0)
        d.phones.append(Phone(number: "+16175559999", kind: .home, zone: "America/New_York"))
        _ = try await engine.upsert([d])
        let lease = try #require(await engine.lease(1, holder: "dialer-4").first)
        var revocations = engine.revocations.makeAsyncIterator()
        // Reported under another lease id (another system's call on the same number): this lease stays.
        let other = OutcomeEvent(attempt: "other-1", debtor: d.id, debt: lease.debt, phone: lease.phone, at: clock.now(),
                                 outcome: .wrongNumber, lease: "L-elsewhere")
        #expect(try await engine.ingest(other) == .applied)
        #expect(await engine.debtorState(id: d.id)?.lease?.id == lease.id)
        let revocation = try #require(await revocations.next())
        #expect(revocation.lease == lease.id && !revocation.leaseEnded)
        #expect(revocation.reason == "phone \(lease.phone) reported wrong_number", "\(revocation.reason)")
        #expect(await engine.currentDecision(id: d.id)?.earliest != nil, "the debt may still be called on the other number")
        try await engine.close()
    }

    /// Leases restored at start belong to sessions of the earlier process, whose holder names a new session may
    /// reuse: they are never revoked.
    @Test func aRestoredLeaseIsNotRevoked() async throws {
        let clock = VirtualClock(start: t0)
        let dir = temporaryDirectory()
        let engine = try await openEngine(dir, clock: clock, shards: 2)
        let debtors = (0..<2).map { makeDebtor($0) }
        _ = try await engine.upsert(debtors)
        let old = await engine.lease(1, holder: "dialer-1")
        #expect(old.count == 1)
        // A crash (no close); the new process's first session is named "dialer-1" too.
        let reopened = try await openEngine(dir, clock: clock, shards: 2)
        var revocations = reopened.revocations.makeAsyncIterator()
        let fresh = await reopened.lease(1, holder: "dialer-1")
        #expect(fresh.count == 1 && fresh[0].debtor != old[0].debtor)
        for lease in [old[0], fresh[0]] {
            var ceased = debtors.first { $0.id == lease.debtor }!
            ceased.status = .cease
            _ = try await reopened.upsert([ceased])
        }
        let first = try #require(await revocations.next())
        #expect(first.lease == fresh[0].id, "the restored lease \(old[0].id) was revoked first")
        try await reopened.close()
        #expect(await revocations.next() == nil)
        _ = engine
    }
}
