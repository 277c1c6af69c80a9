import Foundation
import Testing
import TagihCore
import TagihEngine
import TagihStore

/// Every lease event in the log, by kind, for one store directory.
func loggedEvents(_ dir: String) async throws -> [LoggedEvent] {
    let store = try await Store.open(configuration: .init(directory: dir))
    var all: [LoggedEvent] = []
    var after: Int64 = 0
    while true {
        let page = try await store.events(after: after, limit: 10_000)
        if page.isEmpty { break }
        after = page.last!.lsn
        all += page
    }
    try await store.close()
    return all
}

/// Attempts counted toward the caps for one debtor: outcomes that count plus unresolved (expired) leases.
func countedAttempts(_ history: DebtorHistory) -> Int {
    history.outcomes.filter(\.outcome.isCounted).count + history.unresolved.count
}

@Suite struct LeaseDurabilityTests {
    /// A crash (no clean close) right after leasing: the restarted engine holds the same leases for the same
    /// holders until their outcome or expiry, and never hands those debtors to anyone else meanwhile.
    @Test func leasesSurviveACrash() async throws {
        let clock = VirtualClock(start: t0)
        let dir = temporaryDirectory()
        let engine = try await openEngine(dir, clock: clock, ttl: 600)
        let debtors = (0..<10).map { makeDebtor($0) }
        _ = try await engine.upsert(debtors)
        let held = await engine.lease(3, holder: "dialer-1")
        #expect(held.count == 3)
        // No close: as if killed. The grants are in the log already.
        let grants = try await loggedEvents(dir).flatMap { e -> [String] in
            if case .leasesGranted(let b) = e.event { return b.grants.map(\.lease) } else { return [] }
        }
        #expect(Set(grants) == Set(held.map(\.id)))
        #expect(grants.count == 3)

        clock.advance(by: 60)
        let reopened = try await openEngine(dir, clock: clock, shards: 3)
        #expect(await reopened.activeLeaseCount() == 3)
        for lease in held {
            let state = try #require(await reopened.debtorState(id: lease.debtor))
            #expect(state.state == .leased)
            #expect(state.lease?.id == lease.id)
            #expect(state.lease?.holder == "dialer-1")
            #expect(state.lease?.expires == lease.expires)
            #expect(state.lease?.debt == lease.debt && state.lease?.phone == lease.phone)
        }
        let others = await reopened.lease(100, holder: "dialer-2")
        #expect(others.count == 7)
        #expect(Set(others.map(\.debtor)).isDisjoint(with: held.map(\.debtor)))
        // A new session that happens to reuse the old holder name does not release the restored leases.
        #expect(await reopened.releaseLeases(heldBy: "dialer-1") == 0)
        #expect(await reopened.debtorState(id: held[0].debtor)?.state == .leased)
        // The outcome with the restored lease id ends it.
        let d = debtors.first { $0.id == held[0].debtor }!
        #expect(try await reopened.ingest(outcome("o-1", d, .noAnswer, at: clock.now(), lease: held[0].id)) == .applied)
        #expect(await reopened.debtorState(id: d.id)?.lease == nil)
        #expect(await reopened.activeLeaseCount() == 2 + 7)
        try await reopened.close()
    }

    /// A lease that ran out while the process was down is logged as expired at start, exactly once, and counts
    /// as one placed call; later starts neither log it again nor count it twice.
    @Test func leaseThatExpiredDuringTheOutageExpiresOnce() async throws {
        let clock = VirtualClock(start: t0)
        let dir = temporaryDirectory()
        let engine = try await openEngine(dir, clock: clock, ttl: 600)
        let d = makeDebtor(1)
        _ = try await engine.upsert([d])
        let lease = try #require(await engine.lease(1, holder: "a").first)
        clock.advance(by: 900)  // down for 15 minutes
        for round in 0..<3 {
            let reopened = try await openEngine(dir, clock: clock)
            let state = try #require(await reopened.debtorState(id: d.id))
            #expect(state.lease == nil, "round \(round)")
            #expect(state.state != .leased)
            #expect(state.history.unresolved.map(\.lease) == [lease.id], "round \(round)")
            #expect(countedAttempts(state.history) == 1)
            try await reopened.close()
            clock.advance(by: 60)
        }
        let expiries = try await loggedEvents(dir).filter { $0.event.kind == 3 }
        #expect(expiries.count == 1)
        _ = engine
    }

    /// An outcome that arrives after its lease expired replaces the expiry's counted attempt: one call, not two,
    /// now and after a restart.
    @Test func lateOutcomeReplacesTheExpiredLeasesAttempt() async throws {
        let clock = VirtualClock(start: t0)
        let dir = temporaryDirectory()
        let engine = try await openEngine(dir, clock: clock, ttl: 600)
        let d = makeDebtor(2)
        _ = try await engine.upsert([d])
        let lease = try #require(await engine.lease(1, holder: "a").first)
        clock.advance(by: 600)
        await engine.tick()
        #expect(await engine.debtorState(id: d.id)?.history.unresolved.count == 1)
        let late = outcome("late-1", d, .voicemail, at: t0 + 30, lease: lease.id)
        #expect(try await engine.ingest(late) == .applied)
        let state = try #require(await engine.debtorState(id: d.id))
        #expect(state.history.unresolved.isEmpty)
        #expect(state.history.outcomes.map(\.attempt) == ["late-1"])
        #expect(countedAttempts(state.history) == 1)
        // The decision agrees with the policy on the reconciled history.
        let expected = ContactPolicy().decide(for: d, history: state.history, now: clock.now())
        #expect(withoutReasons(await engine.currentDecision(id: d.id))?.earliest == expected.first?.earliest)
        try await engine.close()
        let reopened = try await openEngine(dir, clock: clock)
        let after = try #require(await reopened.debtorState(id: d.id))
        #expect(after.history.unresolved.isEmpty)
        #expect(countedAttempts(after.history) == 1)
        try await reopened.close()
    }

    /// The outcome committed before the expiry (the race: the lease ran out while its outcome was in flight):
    /// the expiry adds nothing, at runtime and when the log is replayed in either order.
    @Test(arguments: [false, true])
    func expiryAfterTheOutcomeAddsNothing(outcomeFirst: Bool) async throws {
        let clock = VirtualClock(start: t0)
        let dir = temporaryDirectory()
        let engine = try await openEngine(dir, clock: clock, ttl: 600)
        let d = makeDebtor(3)
        _ = try await engine.upsert([d])
        let lease = try #require(await engine.lease(1, holder: "a").first)
        let answer = StoredEvent.outcome(outcome("race-1", d, .noAnswer, at: t0 + 10, lease: lease.id))
        let expiry = StoredEvent.leaseExpired(
            LeaseExpiry(lease: lease.id, debtor: d.id, debt: lease.debt, phone: lease.phone, leasedAt: t0,
                        expiredAt: t0 + 600))
        for event in outcomeFirst ? [answer, expiry] : [expiry, answer] {
            #expect(try await engine.ingest(events: [event]) == [.applied])
        }
        let state = try #require(await engine.debtorState(id: d.id))
        #expect(countedAttempts(state.history) == 1)
        #expect(state.history.unresolved.isEmpty)
        #expect(state.lease == nil)
        try await engine.close()
        let reopened = try await openEngine(dir, clock: clock)
        let replayed = try #require(await reopened.debtorState(id: d.id))
        #expect(replayed.history == state.history)
        #expect(replayed.lease == nil)
        try await reopened.close()
    }

    /// A clean release is logged: after a crash the released debtors are not held by anyone.
    @Test func releasesAreDurable() async throws {
        let clock = VirtualClock(start: t0)
        let dir = temporaryDirectory()
        let engine = try await openEngine(dir, clock: clock)
        _ = try await engine.upsert((0..<6).map { makeDebtor($0) })
        #expect(await engine.lease(4, holder: "a").count == 4)
        #expect(await engine.lease(1, holder: "b").count == 1)
        #expect(await engine.releaseLeases(heldBy: "a") == 4)
        let reopened = try await openEngine(dir, clock: clock)
        #expect(await reopened.activeLeaseCount() == 1)
        #expect(await reopened.lease(10, holder: "c").count == 5)
        try await reopened.close()
        _ = engine
    }

    /// One lease given back: only by its holder, only while it is open, durably, and without counting a call;
    /// the debtor is leasable again at once and stays released after a crash.
    @Test func oneLeaseIsGivenBackByItsHolderOnly() async throws {
        let clock = VirtualClock(start: t0)
        let dir = temporaryDirectory()
        let engine = try await openEngine(dir, clock: clock, shards: 3, ttl: 600)
        let debtors = (0..<6).map { makeDebtor($0) }
        _ = try await engine.upsert(debtors)
        let held = await engine.lease(3, holder: "a")
        #expect(held.count == 3)
        let other = await engine.lease(1, holder: "b")
        #expect(other.count == 1)
        let given = held[1]
        #expect(await engine.releaseLease(given.id, heldBy: "b") == .notHeld, "another holder's lease")
        #expect(await engine.releaseLease("L-unknown", heldBy: "a") == .notHeld)
        #expect(await engine.releaseLease(given.id + "0", heldBy: "a") == .notHeld, "an id this shard never gave")
        #expect(await engine.debtorState(id: given.debtor)?.state == .leased)
        #expect(await engine.releaseLease(given.id, heldBy: "a") == .released)
        #expect(await engine.releaseLease(given.id, heldBy: "a") == .notHeld, "already given back")
        #expect(await engine.debtorState(id: given.debtor)?.lease == nil)
        #expect(await engine.activeLeaseCount() == 3)
        // Leasable again at once, to anyone; the other leases of "a" are untouched.
        let again = await engine.lease(10, holder: "c")
        #expect(again.map(\.debtor).contains(given.debtor))
        #expect(Set(again.map(\.debtor)).isDisjoint(with: [held[0].debtor, held[2].debtor, other[0].debtor]))
        // An outcome for the given-back lease no longer ends anything: the debtor is "c"'s now.
        let d = debtors.first { $0.id == given.debtor }!
        #expect(try await engine.ingest(outcome("late-a", d, .noAnswer, at: clock.now(), lease: given.id)) == .applied)
        #expect(await engine.debtorState(id: d.id)?.lease?.holder == "c")

        // Another one given back, then a crash: it is not restored, and it never expires into a counted attempt.
        let last = held[2]
        #expect(await engine.releaseLease(last.id, heldBy: "a") == .released)
        let reopened = try await openEngine(dir, clock: clock, shards: 2)
        #expect(await reopened.debtorState(id: d.id)?.lease?.holder == "c")
        #expect(await reopened.debtorState(id: held[0].debtor)?.lease?.id == held[0].id)
        #expect(await reopened.debtorState(id: last.debtor)?.lease == nil)
        clock.advance(by: 3600)
        await reopened.tick()
        let history = try #require(await reopened.debtorState(id: last.debtor)?.history)
        #expect(history.unresolved.isEmpty, "\(history.unresolved)")
        let expiredHolder = try #require(await reopened.debtorState(id: held[0].debtor)?.history)
        #expect(expiredHolder.unresolved.map(\.lease) == [held[0].id], "an unreported lease still counts")
        try await reopened.close()
        _ = engine
    }

    /// A lease whose holder is gone (its session ended, or it was restored after a restart) can be given back by
    /// another holder when the caller says which holders are still connected; a connected holder's cannot.
    @Test func orphanedLeasesAreGivenBackByAnotherHolder() async throws {
        let clock = VirtualClock(start: t0)
        let dir = temporaryDirectory()
        let engine = try await openEngine(dir, clock: clock, shards: 3, ttl: 600)
        _ = try await engine.upsert((0..<8).map { makeDebtor($0) })
        let gone = await engine.lease(2, holder: "gone")
        let live = await engine.lease(1, holder: "live")
        #expect(gone.count == 2 && live.count == 1)
        let isOpen: @Sendable (String) -> Bool = { $0 == "live" || $0 == "new" }
        #expect(await engine.releaseLease(gone[0].id, heldBy: "new") == .notHeld, "without isOpen: own leases only")
        #expect(await engine.releaseLease(live[0].id, heldBy: "new", orphanedUnless: isOpen) == .notHeld)
        #expect(await engine.releaseLease(gone[0].id, heldBy: "new", orphanedUnless: isOpen) == .released)
        #expect(await engine.debtorState(id: gone[0].debtor)?.lease == nil)
        #expect(await engine.debtorState(id: live[0].debtor)?.lease?.holder == "live")
        // After a restart every lease is restored, and restored leases count as orphaned whatever their holder's
        // name (names start over in each process).
        let reopened = try await openEngine(dir, clock: clock, shards: 2)
        let stillOpen: @Sendable (String) -> Bool = { _ in true }
        #expect(await reopened.releaseLease(live[0].id, heldBy: "live") == .notHeld, "restored: not by name alone")
        #expect(await reopened.releaseLease(live[0].id, heldBy: "x", orphanedUnless: stillOpen) == .released)
        #expect(await reopened.releaseLease(gone[1].id, heldBy: "x", orphanedUnless: stillOpen) == .released)
        #expect(await reopened.activeLeaseCount() == 0)
        clock.advance(by: 3600)
        await reopened.tick()
        for lease in [gone[0], gone[1], live[0]] {
            let history = try #require(await reopened.debtorState(id: lease.debtor)?.history)
            #expect(history.unresolved.isEmpty, "\(history.unresolved)")
        }
        try await reopened.close()
        _ = engine
    }

    /// Leases given back by id in one call (calls never delivered): only the holder's, each once, durably, and
    /// without counting calls.
    @Test func leasesGivenBackByIDInOneCall() async throws {
        let clock = VirtualClock(start: t0)
        let dir = temporaryDirectory()
        let engine = try await openEngine(dir, clock: clock, shards: 3, ttl: 600)
        _ = try await engine.upsert((0..<10).map { makeDebtor($0) })
        let held = await engine.lease(4, holder: "a")
        let other = await engine.lease(2, holder: "b")
        #expect(held.count == 4 && other.count == 2)
        let ids = [held[0].id, held[1].id, held[2].id, other[0].id, "L-unknown", held[0].id]
        #expect(await engine.releaseLeases(ids, heldBy: "a") == 3, "b's lease, an unknown id and a repeat skipped")
        #expect(await engine.releaseLeases([held[0].id], heldBy: "a") == 0, "already given back")
        #expect(await engine.activeLeaseCount() == 3)
        #expect(await engine.debtorState(id: other[0].debtor)?.lease?.holder == "b")
        #expect(await engine.debtorState(id: held[3].debtor)?.lease?.id == held[3].id)
        // Leasable again at once; after a crash the released ones are not restored and never count as calls.
        let reopened = try await openEngine(dir, clock: clock, shards: 2)
        #expect(await reopened.activeLeaseCount() == 3)
        clock.advance(by: 3600)
        await reopened.tick()
        for lease in held.prefix(3) {
            let history = try #require(await reopened.debtorState(id: lease.debtor)?.history)
            #expect(history.unresolved.isEmpty, "\(history.unresolved)")
        }
        try await reopened.close()
        _ = engine
    }

    /// The snapshot records a lease replay floor: grants of leases that had all ended are not read again at
    /// start, while every lease still open (granted before or after the floor) is restored.
    @Test func startSkipsGrantsBelowTheLeaseFloor() async throws {
        let clock = VirtualClock(start: t0)
        let dir = temporaryDirectory()
        let engine = try await openEngine(dir, clock: clock)
        _ = try await engine.upsert((0..<12).map { makeDebtor($0) })
        #expect(await engine.lease(4, holder: "a").count == 4)
        #expect(await engine.releaseLeases(heldBy: "a") == 4)
        let kept = await engine.lease(2, holder: "b")
        #expect(kept.count == 2)
        try await engine.writeSnapshot()
        let later = await engine.lease(3, holder: "c")  // granted after the floor; then a crash
        #expect(later.count == 3)

        let store = try await Store.open(configuration: .init(directory: dir))
        let floor = try await store.leaseReplayFloor()
        let all = try await store.events(after: 0, limit: 1_000)
        let replayed = try await store.events(after: 0, limit: 1_000, leaseFloor: floor)
        try await store.close()
        #expect(floor > 0)
        func grants(_ events: [LoggedEvent]) -> Int {
            events.reduce(0) { n, e in if case .leasesGranted(let b) = e.event { n + b.grants.count } else { n } }
        }
        #expect(grants(all) == 9)
        #expect(all.filter { $0.event.kind == 10 }.count == 3, "one compact event per lease call")
        #expect(grants(replayed) == 5, "the four released grants are skipped")
        #expect(replayed.filter { $0.event.kind == 8 }.isEmpty)

        let reopened = try await openEngine(dir, clock: clock)
        #expect(await reopened.activeLeaseCount() == 5)
        for lease in kept + later { #expect(await reopened.debtorState(id: lease.debtor)?.lease?.id == lease.id) }
        #expect(await reopened.lease(100, holder: "d").count == 7)
        try await reopened.close()
        _ = engine
    }

    /// Lease grants and releases are the engine's own events: `ingest(events:)` refuses them.
    @Test func ingestRefusesLeaseGrants() async throws {
        let engine = try await openEngine(temporaryDirectory(), clock: VirtualClock(start: t0))
        let d = makeDebtor(1)
        _ = try await engine.upsert([d])
        let grant = StoredEvent.leasesGranted(LeaseGrants(id: "L-x", grants: [
            LeaseGrant(lease: "L-x", debtor: d.id, debt: d.debts[0].id, phone: d.phones[0].number, holder: "h",
                       leasedAt: t0, expires: t0 + 600)
        ]))
        let result = try await engine.ingest(events: [grant])
        #expect(result.first.map { if case .rejected("invalid_event", _, _) = $0 { true } else { false } } == true)
        try await engine.close()
    }
}

@Suite struct ClearanceTests {
    /// A dispute holds its debt until an operator clears it; the clearance is durable, idempotent and replayed.
    @Test(arguments: [Outcome.dispute, Outcome.cease])
    func operatorClearsAHold(_ hold: Outcome) async throws {
        let clock = VirtualClock(start: t0)
        let dir = temporaryDirectory()
        let engine = try await openEngine(dir, clock: clock)
        let d = makeDebtor(5)
        _ = try await engine.upsert([d])
        _ = try await engine.ingest(outcome("h-1", d, hold, at: t0))
        #expect(await engine.currentDecision(id: d.id) == nil, "held")
        #expect(await engine.debtorState(id: d.id)?.state == .blocked)
        clock.advance(by: 3_600)
        let kind: HoldClearance.Kind = hold == .dispute ? .dispute : .cease
        let clearance = ClearanceEvent(
            id: "op-1", debtor: d.id, kind: kind, debt: kind == .dispute ? d.debts[0].id : nil, at: clock.now(),
            clearedBy: "alice", note: "resolved")
        #expect(try await engine.clear(clearance) == .applied)
        #expect(try await engine.clear(clearance) == .duplicate)
        let cleared = try #require(await engine.debtorState(id: d.id))
        #expect(cleared.history.clearances == [HoldClearance(kind: kind, debt: clearance.debt, at: clock.now())])
        #expect(cleared.state == .waiting, "schedulable again (after the conversation's 7-day block)")
        #expect(await engine.currentDecision(id: d.id) != nil)
        try await engine.close()
        let reopened = try await openEngine(dir, clock: clock)
        #expect(await reopened.debtorState(id: d.id)?.history.clearances.count == 1)
        #expect(await reopened.currentDecision(id: d.id) != nil)
        // A new hold after the clearance holds again.
        clock.advance(by: 60)
        _ = try await reopened.ingest(outcome("h-2", d, hold, at: clock.now()))
        #expect(await reopened.currentDecision(id: d.id) == nil)
        try await reopened.close()
        let events = try await loggedEvents(dir).filter { $0.event.kind == 6 }
        #expect(events.count == 1)
    }

    @Test func clearanceValidation() async throws {
        let engine = try await openEngine(temporaryDirectory(), clock: VirtualClock(start: t0))
        let d = makeDebtor(6)
        _ = try await engine.upsert([d])
        let results = try await engine.clear([
            ClearanceEvent(id: "v-1", debtor: "nobody", kind: .cease, at: t0),
            ClearanceEvent(id: "v-2", debtor: d.id, kind: .dispute, at: t0),
            ClearanceEvent(id: "v-3", debtor: d.id, kind: .dispute, debt: "A-none", at: t0),
            ClearanceEvent(id: "v-4", debtor: d.id, kind: .dispute, debt: d.debts[0].id, at: t0),
        ])
        let codes = results.map { r -> String in
            switch r {
            case .applied: "applied"
            case .duplicate: "duplicate"
            case .rejected(let code, _, _): code
            }
        }
        #expect(codes == ["unknown_debtor", "missing_field", "unknown_debt", "applied"])
        try await engine.close()
    }
}
