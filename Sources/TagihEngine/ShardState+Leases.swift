import TagihCore
import TagihStore

/// Leases: granted by `take`, made durable by the engine (one `leasesGranted` event per call) and then
/// `confirm`ed (the engine posts the grant's log position to the shard, which confirms at its next message);
/// ended by their outcome, their expiry or a release, each a logged event. Recovery replays the same events in log order (`replayGrant`, `endLease(id:…)`) and installs the leases
/// still open.
extension ShardState {
    mutating func nextSequence() -> UInt32 {
        let sequence = nextLeaseSequence
        nextLeaseSequence &+= 1
        if nextLeaseSequence == 0 { nextLeaseSequence = 1 }
        return sequence
    }

    /// Marks debtor `i` leased to `holder`. The lease does not expire until `confirm` (its grant is durable).
    /// Returns the lease and its sequence number.
    mutating func grant(_ i: UInt32, holder: String, now: UnixSeconds, ttl: Int64) -> (Lease, UInt32) {
        let sequence = nextSequence()
        var slot = slots[Int(i)]
        slot.state = .leased
        slot.lease = sequence
        slot.generation &+= 1
        slots[Int(i)] = slot
        let (debt, phone) = arena.debtAndPhone(at: slot.blob, debt: Int(slot.debtIndex), phone: Int(slot.phoneIndex))
        let lease = ActiveLease(index: i, id: leaseID(sequence), leasedAt: now, expires: now + ttl, holder: holder,
                                debt: debt, phone: phone)
        activeLeases.insert(sequence, lease)
        return (makeLease(i, lease), sequence)
    }

    func makeLease(_ i: UInt32, _ lease: ActiveLease) -> Lease {
        let slot = slots[Int(i)]
        return Lease(id: lease.id, leasedAt: lease.leasedAt, expires: lease.expires, holder: lease.holder,
                     debtor: arena.id(at: slot.blob), debt: lease.debt, phone: lease.phone, score: Double(slot.score),
                     windowEnds: slot.windowEnds == .min ? nil : slot.windowEnds,
                     reasons: reasonTable[Int(slot.reasons)], earliest: slot.earliest,
                     best: slot.best == .max ? nil : slot.best, zone: arena.strings.string(slot.zone),
                     consentedCallback: slot.flags & 1 != 0)
    }

    /// The grants of these leases (by sequence) are durable at log position `lsn`: they may expire from now on.
    /// A lease that an outcome without a lease id, logged after the grant, hit while the grant was being committed
    /// is ended here (replay ends it the same way); the engine withholds it if it has not handed it out yet.
    mutating func confirm(_ sequences: [UInt32], lsn: Int64) {
        shedEndedLeaseEntries()
        for sequence in sequences {
            guard let k = activeLeases.position(of: sequence) else { continue }
            // Fields read in place: a copy of the whole lease would retain and release its four strings.
            guard activeLeases.values[k].grantLSN == 0 else { continue }
            let index = activeLeases.values[k].index
            if activeLeases.values[k].unleasedOutcomeLSN > lsn {
                endLease(index)
                markPending(index)
                continue
            }
            activeLeases[position: k].grantLSN = lsn
            leaseQueue.push(LeaseEntry(expires: activeLeases.values[k].expires, sequence: sequence, index: index))
        }
    }

    /// Drops the expiry entries of leases that have ended (by their outcome, a release or a cancel) once they are
    /// more than half of the expiry queue. Left alone, an ended lease's entry stays until its expiry time (the TTL,
    /// 10 minutes by default) is reached, so the queue held every lease granted within a TTL, and each time it grew
    /// its array was copied into freshly zeroed pages (page faults were a tenth of a durable lease's CPU time once
    /// the leases of one benchmark iteration had been released before the next). Dropping them keeps the array's
    /// capacity, which the next entries reuse. A lease still active keeps its entry.
    mutating func shedEndedLeaseEntries() {
        guard leaseQueue.count > 4_096, leaseQueue.count > 2 * activeLeases.count + 1_024 else { return }
        let active = activeLeases
        leaseQueue.compact { active.position(of: $0.sequence) != nil }
    }

    /// Of these leases (by sequence), the ones that have ended.
    func ended(_ sequences: [UInt32]) -> [UInt32] {
        sequences.filter { activeLeases.position(of: $0) == nil }
    }

    /// Gives back leases whose grant could not be logged (never handed out): the debtors are re-decided.
    mutating func cancel(_ sequences: [UInt32]) {
        for sequence in sequences {
            guard let lease = activeLeases[sequence], slots[Int(lease.index)].lease == sequence else { continue }
            endLease(lease.index)
            markPending(lease.index)
        }
    }

    /// The durable, unexpired leases `holder` got from this process (for `releaseLeases(heldBy:)`).
    func leasesHeld(by holder: String, now: UnixSeconds) -> [LeaseRelease] {
        zip(activeLeases.keys, activeLeases.values).compactMap { sequence, lease in
            guard lease.holder == holder, !lease.restored, lease.grantLSN != 0,
                slots[Int(lease.index)].lease == sequence, slots[Int(lease.index)].state == .leased
            else { return nil }
            return LeaseRelease(lease: lease.id, debtor: arena.id(at: slots[Int(lease.index)].blob), at: now)
        }
    }

    /// Lease `id`, when `holder` holds it from this process, durably (for `Engine.releaseLease(_:heldBy:)`): the
    /// release to log. Nil for an id of another shard or process, an ended lease, another holder's, a lease
    /// restored at start, or one whose grant is still being committed. With `isOpen`, another holder's lease and
    /// a restored one count too when their holder is gone: restored (its holder was a session of an earlier
    /// process), or `isOpen(holder)` false.
    func leaseHeld(
        id: String, by holder: String, orphanedUnless isOpen: (@Sendable (String) -> Bool)? = nil, now: UnixSeconds
    ) -> LeaseRelease? {
        let found: UInt32?
        if id.hasPrefix(leasePrefix), let sequence = UInt32(id.dropFirst(leasePrefix.count), radix: 36),
            activeLeases[sequence]?.id == id
        {
            found = sequence
        } else if isOpen != nil {
            // An id of an earlier process (restored at start: its prefix is not this process's): a scan, for a
            // rare request.
            found = zip(activeLeases.keys, activeLeases.values).first { $0.1.restored && $0.1.id == id }?.0
        } else {
            found = nil
        }
        guard let sequence = found, let lease = activeLeases[sequence],
            lease.grantLSN != 0, slots[Int(lease.index)].lease == sequence, slots[Int(lease.index)].state == .leased
        else { return nil }
        let own = lease.holder == holder && !lease.restored
        let orphaned = isOpen.map { lease.restored || !$0(lease.holder) } ?? false
        guard own || orphaned else { return nil }
        return LeaseRelease(lease: id, debtor: arena.id(at: slots[Int(lease.index)].blob), at: now)
    }

    /// Ends lease `id` of debtor `i` if it is the debtor's current one (an outcome, expiry or release for it).
    mutating func endLease(id: String, slot i: UInt32, now: UnixSeconds?) {
        if now == nil {
            if replayLeases[i]?.id == id { replayLeases[i] = nil }
            return
        }
        let slot = slots[Int(i)]
        guard slot.state == .leased || slot.state == .expiring, activeLeases[slot.lease]?.id == id else { return }
        endLease(i)
        markPending(i)
    }

    /// Outcomes after which a leased call may no longer be placed at all (see `forbiddenReason`).
    static func mayForbid(_ o: Outcome) -> Bool {
        switch o {
        case .cease, .dispute, .paid, .wrongNumber, .notInService: true
        default: false
        }
    }

    /// An outcome naming lease `id` of debtor `i`, reported by `reporter` (nil: not a dialer session), is about to end
    /// it: when the lease is the debtor's current one and someone else holds it, the holder is told at the
    /// re-decision if the call may no longer be placed (`revokeIfForbidden`), as for an outcome without a lease id.
    mutating func noteEndedByAnotherReporter(_ id: String, slot i: UInt32, reporter: String?) {
        let slot = slots[Int(i)]
        guard slot.state == .leased || slot.state == .expiring, let lease = activeLeases[slot.lease], lease.id == id,
            lease.holder != reporter, !lease.restored, !revokedLeases.contains(slot.lease)
        else { return }
        leasesEndedUnreported[i] = lease
    }

    /// An outcome without a lease id (logged at `lsn`) ends the debtor's current lease when that lease was
    /// granted before it in the log. While the grant is still being committed, the outcome's position is kept
    /// and `confirm` decides.
    mutating func endLeaseForUnleasedOutcome(slot i: UInt32, lsn: Int64, now: UnixSeconds?) {
        if now == nil {
            if let lease = replayLeases[i], lease.grantLSN < lsn { replayLeases[i] = nil }
            return
        }
        let slot = slots[Int(i)]
        guard slot.state == .leased || slot.state == .expiring, var lease = activeLeases[slot.lease] else { return }
        if lease.grantLSN == 0 {
            lease.unleasedOutcomeLSN = max(lease.unleasedOutcomeLSN, lsn)
            activeLeases[slot.lease] = lease
            outcomesOnUnconfirmedGrants += 1
        } else if lease.grantLSN < lsn {
            // Taken as the leased call's outcome; when it came from elsewhere (an inbound call, another system),
            // the holder still has the call line: if the debtor may no longer be called, it is told (the check
            // runs at the re-decision, `revokeIfForbidden`).
            if revocationSink != nil, !lease.restored, !revokedLeases.contains(slot.lease) {
                leasesEndedUnreported[i] = lease
            }
            endLease(i)
            markPending(i)
        }
    }

    /// Recovery: a grant read from the log. A later grant for the same debtor replaces an earlier one (the
    /// earlier lease must have ended for the later one to be granted).
    mutating func replayGrant(_ grant: LeaseGrant, slot i: UInt32, lsn: Int64) {
        replayLeases[i] = ActiveLease(
            index: i, id: grant.lease, leasedAt: grant.leasedAt, expires: grant.expires, holder: grant.holder,
            debt: grant.debt, phone: grant.phone, grantLSN: lsn, restored: true)
    }

    /// Recovery: the leases still open at the end of the log are held again, until their outcome or expiry
    /// (an expired one is logged as expired at the engine's first tick, once: the expiry is keyed by lease id).
    mutating func installReplayedLeases() {
        runwayLive = 0
        for (i, lease) in replayLeases {
            let sequence = nextSequence()
            activeLeases[sequence] = lease
            slots[Int(i)].state = .leased
            slots[Int(i)].lease = sequence
            slots[Int(i)].generation &+= 1
            leaseQueue.push(LeaseEntry(expires: lease.expires, sequence: sequence, index: i))
        }
        replayLeases = [:]
    }
}
