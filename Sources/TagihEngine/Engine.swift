#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import Synchronization
import TagihCore
import TagihStore

/// The scheduling engine: shards the debtors, leases the best ready ones to dialers, and ingests outcomes,
/// payments and debtor records durably (acknowledged only after the group commit is on disk).
///
/// Isolation: `Sendable`; every method may be called concurrently from any task. State lives in the shard actors;
/// the store serialises writes through its group committer.
public final class Engine: Sendable {
    /// The configuration it was opened with.
    public let configuration: EngineConfiguration
    /// The clock it reads.
    public let clock: any EngineClock
    /// The durable store. An engine opened with ``EngineConfiguration/Persistence/ephemeral`` has none, and
    /// reading this property then stops the process: check ``isEphemeral`` first.
    public var store: Store {
        guard case .durable(let store) = log else { preconditionFailure("an ephemeral engine has no store") }
        return store
    }
    /// Whether the engine was opened without a store (``EngineConfiguration/Persistence/ephemeral``).
    public var isEphemeral: Bool {
        if case .ephemeral = log { return true }
        return false
    }
    /// Why the store cannot write at the moment (``Store/writeFailure``), or nil; always nil for an ephemeral
    /// engine. While it is set, writes are refused rather than acknowledged, and ``lease(_:filter:holder:)``
    /// returns nothing (a grant is handed out only once it is logged): a caller that gets no leases can tell an
    /// empty queue from a store that cannot write by reading this.
    public var storeWriteFailure: StoreWriteFailure? {
        if case .durable(let store) = log { return store.writeFailure }
        return nil
    }
    /// Where writes are logged: the store, or nowhere for an ephemeral engine.
    let log: EngineLog
    let shards: [Shard]
    let logger: Logger
    private let restored = Atomic<Int>(0)
    /// The history floor the last start replayed the log from (`run()` counts the log written since from there).
    private let startHistoryFloor = Atomic<Int64>(0)
    private let restoredWithout = Atomic<Int>(0)
    /// Where the next `lease` call starts taking (see there).
    private let takeRotation = Atomic<Int>(0)
    let metrics: EngineMetrics
    let leaseSignals: LeaseSignals
    /// History events between their commit and their application (for the history checkpoint's floor).
    let applying = AppliedEvents()
    /// One snapshot write at a time.
    let snapshotGate = SnapshotGate()

    /// How many debtors the last start filed from the decision snapshot without running the policy.
    public var restoredFromSnapshot: Int { restored.load(ordering: .relaxed) }

    /// How many ready debtors the last start filed from the snapshot without their decision's reasons (rows
    /// written before snapshots kept them, or naming a reason list the store lacks): each is re-decided before it
    /// is leased. ``redecideRestoredWithoutReasons()`` re-decides them at once.
    public var restoredWithoutReasons: Int { restoredWithout.load(ordering: .relaxed) }

    /// Leases whose call may no longer be placed, as the changes that forbid them are applied (see
    /// ``LeaseRevocation``); one consumer. Ends when the engine closes. With
    /// ``EngineConfiguration/revocationBuffer`` 0 nothing is revoked.
    public let revocations: AsyncStream<LeaseRevocation>
    private let revoked: AsyncStream<LeaseRevocation>.Continuation

    private init(configuration: EngineConfiguration, clock: any EngineClock, log: EngineLog, shards: [Shard],
                 leaseSignals: LeaseSignals, logger: Logger, revocations: AsyncStream<LeaseRevocation>,
                 revoked: AsyncStream<LeaseRevocation>.Continuation) {
        self.revocations = revocations
        self.revoked = revoked
        self.configuration = configuration
        self.metrics = EngineMetrics(exported: configuration.exportsMetrics)
        self.leaseSignals = leaseSignals
        self.clock = clock
        self.log = log
        self.shards = shards
        self.logger = logger
    }

    /// Opens the store in `configuration.store.directory` and recovers every debtor and event into the shards.
    /// With ``EngineConfiguration/persistence`` `.ephemeral`, opens no store and starts empty.
    /// - Throws: ``StoreError`` when the store cannot be opened or read.
    public static func open(
        configuration: EngineConfiguration = .init(), clock: any EngineClock = WallClock(),
        policy: ContactPolicy = ContactPolicy(), logger: Logger = Logger(label: "tagih.engine")
    ) async throws -> Engine {
        let log: EngineLog = switch configuration.persistence {
        case .store: .durable(try await Store.open(configuration: configuration.store, logger: logger))
        case .ephemeral: .ephemeral(EphemeralLog())
        }
        let tag: String
        if let fixed = configuration.leaseTag {
            precondition(
                fixed.utf8.count == 6 && fixed.utf8.allSatisfy { (48...57).contains($0) || (97...122).contains($0) },
                "EngineConfiguration.leaseTag is six characters 0-9a-z")
            tag = fixed
        } else {
            var tagValue = UInt64(bitPattern: WallClock().now()) &* 1_000_003 &+ UInt64(await log.lastLSN())
            tagValue ^= UInt64.random(in: 0..<UInt64(UInt32.max))
            // Six base-36 characters (36^6 ≈ 2^31 values), so that lease ids stay short (see `ShardState.leaseID`).
            tag = String(String(tagValue % 2_176_782_336 + 2_176_782_336, radix: 36).dropFirst())
        }
        let signals = LeaseSignals()
        let (revocations, revoked) = AsyncStream.makeStream(
            of: LeaseRevocation.self, bufferingPolicy: .bufferingNewest(configuration.revocationBuffer))
        let sink: (@Sendable (LeaseRevocation) -> Void)?
        if configuration.revocationBuffer > 0 {
            sink = { revocation in revoked.yield(revocation) }
        } else {
            sink = nil
        }
        let shards = (0..<configuration.shardCount).map { (id: Int) -> Shard in
            Shard(shardID: id, policy: policy, leaseTag: tag, rescoreBatch: configuration.rescoreBatch,
                  holdBelowShareOfBest: configuration.holdBelowShareOfBest, holdShare: configuration.holdShare,
                  tracksHistoryChanges: configuration.persistence == .store, signals: signals,
                  revocationSink: sink)
        }
        let engine = Engine(configuration: configuration, clock: clock, log: log, shards: shards,
                            leaseSignals: signals, logger: logger, revocations: revocations, revoked: revoked)
        try await engine.recover()
        return engine
    }

    @inline(__always) func shardIndex(_ debtorID: String) -> Int {
        Int(stableHash(debtorID) % UInt64(shards.count))
    }

    /// The machine's memory in bytes (`sysconf`), or 16 GiB when it cannot be read.
    static let physicalMemory: Int = {
        let pages = sysconf(Int32(_SC_PHYS_PAGES))
        let size = sysconf(Int32(_SC_PAGESIZE))
        return pages > 0 && size > 0 ? pages * size : 16 << 30
    }()

    /// Replays the store: every debtor record (with its snapshot decision and its history checkpoint row), then
    /// the event log after the history floor (and lease events after the lease replay floor) in order, then one
    /// decision per debtor (see ShardState+History.swift).
    private func recover() async throws {
        let started = ContinuousClock.now
        let pageSize = configuration.store.readPageSize
        var total = 0
        var unreadable = 0
        let reasonLists = try await log.reasonLists()
        for shard in shards { await shard.setStoredReasonLists(reasonLists) }
        // Each shard's share of what the last snapshot counted, with room for an uneven spread by hash. Only a
        // hint: unreadable, it is not used; each reservation is at most a fraction of the machine's memory (a
        // damaged value must not make the start ask for more than there is).
        let hints = (try? await log.sizeHints()) ?? SizeHints()
        if hints.debtors > 0 {
            let most = Self.physicalMemory / (8 * shards.count)
            func share(_ n: Int, size: Int) -> Int {
                min((n / shards.count + n / (16 * shards.count) + 1_024), most / size)
            }
            let part = SizeHints(debtors: share(hints.debtors, size: MemoryLayout<Slot>.stride),
                                 recordBytes: share(hints.recordBytes, size: 1),
                                 historyBytes: hints.historyBytes > 0 ? share(hints.historyBytes, size: 1) : 0)
            for shard in shards { await shard.reserveForLoading(part) }
        }
        let reader = try log.openRecordReader()
        defer { try? reader.close() }
        var next = try await reader.recordPage(after: nil, limit: pageSize)
        while next.count > 0 {
            let page = next
            total += page.count
            async let following =
                page.count < pageSize ? RecordPage() : reader.recordPage(after: page.lastID, limit: pageSize)
            var parts = Array(repeating: [Int32](), count: shards.count)
            page.bytes.withUnsafeBytes { raw in
                for (k, entry) in page.entries.enumerated() {
                    let hash = stableHash(UnsafeRawBufferPointer(rebasing: raw[entry.id]))
                    parts[Int(hash % UInt64(shards.count))].append(Int32(k))
                }
            }
            unreadable += await withTaskGroup(of: Int.self) { group in
                for (s, part) in parts.enumerated() where !part.isEmpty {
                    group.addTask { await self.shards[s].load(page, part) }
                }
                return await group.reduce(0, +)
            }
            next = try await following
        }
        await withTaskGroup(of: Void.self) { group in
            for shard in shards { group.addTask { await shard.finishLoading() } }
        }
        if unreadable > 0 {
            logger.error("some stored debtor records could not be read and were skipped",
                         metadata: ["count": "\(unreadable)"])
        }
        var historyFloor = try await log.historyFloor()
        var unreadableHistories = 0
        for shard in shards { unreadableHistories += await shard.unreadableHistoryRows() }
        if unreadableHistories > 0 {
            // The log is complete: replay all of it instead of trusting the checkpoint.
            logger.error("some history checkpoint rows could not be read; replaying the whole log",
                         metadata: ["count": "\(unreadableHistories)"])
            for shard in shards { await shard.discardRestoredHistories() }
            historyFloor = 0
        }
        for shard in shards { await shard.beginHistoryReplay(floor: historyFloor) }
        startHistoryFloor.store(historyFloor, ordering: .relaxed)
        let loaded = ContinuousClock.now
        var eventCount = 0
        let leaseFloor = try await log.leaseReplayFloor()
        // Events at or before the history floor are in the checkpoint; those after the lease floor are still read
        // for what they do to leases (a grant after it may be ended by an outcome before the history floor).
        // The next page is read (and its events decoded, on the store's reader) while the shards apply this one.
        let log = self.log
        var nextEvents = try await log.events(after: max(0, min(historyFloor, leaseFloor - 1)), limit: pageSize,
                                              leaseFloor: leaseFloor)
        while let last = nextEvents.last {
            let page = nextEvents
            async let following =
                page.count < pageSize ? [] : log.events(after: last.lsn, limit: pageSize, leaseFloor: leaseFloor)
            eventCount += page.count
            var parts = Array(repeating: [(StoredEvent, Int64)](), count: shards.count)
            for e in page {
                switch e.event {
                case .leasesGranted(let batch):  // a batch spans shards: each gets its part
                    var perShard = Array(repeating: [LeaseGrant](), count: shards.count)
                    for g in batch.grants { perShard[shardIndex(g.debtor)].append(g) }
                    for (s, part) in perShard.enumerated() where !part.isEmpty {
                        parts[s].append((.leasesGranted(LeaseGrants(id: batch.id, grants: part)), e.lsn))
                    }
                case .leasesReleased(let batch):
                    var perShard = Array(repeating: [LeaseRelease](), count: shards.count)
                    for r in batch.releases { perShard[shardIndex(r.debtor)].append(r) }
                    for (s, part) in perShard.enumerated() where !part.isEmpty {
                        parts[s].append((.leasesReleased(LeaseReleases(id: batch.id, releases: part)), e.lsn))
                    }
                default:
                    parts[shardIndex(e.event.debtor)].append((e.event, e.lsn))
                }
            }
            await withTaskGroup(of: Void.self) { group in
                for (s, part) in parts.enumerated() where !part.isEmpty {
                    group.addTask { await self.shards[s].apply(part, now: nil) }
                }
            }
            nextEvents = try await following
        }
        for shard in shards { await shard.finishHistoryReplay() }
        let replayed = ContinuousClock.now
        let now = clock.now()
        let restoredCount = await withTaskGroup(of: Int.self) { group in
            for shard in shards { group.addTask { await shard.decideAll(now: now) } }
            return await group.reduce(0, +)
        }
        restored.store(restoredCount, ordering: .relaxed)
        var withoutReasons = 0
        for shard in shards { withoutReasons += await shard.restoredWithoutReasons() }
        restoredWithout.store(withoutReasons, ordering: .relaxed)
        let decided = ContinuousClock.now
        // No trimming of spare array capacity: pages never touched are not resident, and copying 10 M slots and
        // their records once more costs a second of CPU and twice the memory while it runs.
        // Leases restored from the log that ran out while the process was down are logged as expired now
        // (counted once: the expiry is keyed by the lease id).
        await tick()
        let elapsed = ContinuousClock.now - started
        logger.info("engine recovered", metadata: [
            "debtors": "\(total)", "events": "\(eventCount)", "historyFloor": "\(historyFloor)",
            "shards": "\(shards.count)", "elapsed": "\(elapsed)",
            "restoredFromSnapshot": "\(restoredCount)", "restoredWithoutReasons": "\(withoutReasons)",
            "loadingRecords": "\(loaded - started)",
            "replayingLog": "\(replayed - loaded)", "deciding": "\(decided - replayed)",
        ])
    }

    // MARK: debtors

    /// Checks a record against the engine's packing limits; returns what is wrong, or nil when it fits. Ids are
    /// at most ``LineDecoder/maxIDBytes`` (255) bytes of UTF-8, the limit the line decoder enforces too (with a
    /// message naming the field); this check is for records that do not come through the decoder.
    public static func validate(_ d: Debtor) -> String? {
        let maxID = LineDecoder.maxIDBytes
        if d.id.isEmpty { return "id is empty" }
        if d.id.utf8.count > maxID { return "id is longer than \(maxID) bytes of UTF-8" }
        if d.jurisdiction.isEmpty { return "jurisdiction is empty" }
        if d.phones.count > 255 || d.debts.count > 255 || d.quiet.count > 255 {
            return "more than 255 phones, debts or quiet times"
        }
        if let p = d.phones.first(where: { $0.number.utf8.count > 255 || $0.number.isEmpty }) {
            return "phone number '\(p.number.prefix(20))' is empty or longer than 255 bytes"
        }
        if let debt = d.debts.first(where: { $0.id.utf8.count > maxID || $0.id.isEmpty }) {
            return "debt id '\(debt.id.prefix(20))' is empty or longer than \(maxID) bytes of UTF-8"
        }
        // Ids travel in logs, NDJSON lines, URLs and terminal output: no control characters (NUL included).
        if Self.hasControlCharacter(d.id) { return "id contains a control character" }
        if let k = d.debts.firstIndex(where: { Self.hasControlCharacter($0.id) }) {
            return "the id of debts[\(k)] contains a control character"
        }
        return nil
    }

    /// Whether `text` holds a C0 control character or DEL.
    static func hasControlCharacter(_ text: String) -> Bool {
        text.utf8.contains { $0 < 0x20 || $0 == 0x7F }
    }

    /// Inserts or replaces debtor records (their histories are kept) and schedules them. Durable before it
    /// returns; one transaction for the whole batch (shared with concurrent writers).
    /// - Throws: ``StoreError`` when the write fails; then none of the batch is applied.
    public func upsert(_ debtors: [Debtor]) async throws -> [UpsertResult] {
        var results = [UpsertResult](repeating: .inserted, count: debtors.count)
        var valid: [Int] = []
        valid.reserveCapacity(debtors.count)
        for (i, d) in debtors.enumerated() {
            if let problem = Self.validate(d) {
                results[i] = .rejected(code: "invalid_record", message: problem)
            } else {
                valid.append(i)
            }
        }
        let lsns = try await log.upsert(valid.map { debtors[$0] })
        var parts = Array(repeating: [(Int, Debtor, Int64)](), count: shards.count)
        for (k, i) in valid.enumerated() { parts[shardIndex(debtors[i].id)].append((i, debtors[i], lsns[k])) }
        let now = clock.now()
        let outcomes = await withTaskGroup(of: [(Int, UpsertResult)].self) { group in
            for (s, part) in parts.enumerated() where !part.isEmpty {
                group.addTask {
                    let r = await self.shards[s].upsert(part.map { ($0.1, $0.2) }, now: now)
                    return zip(part, r).map { ($0.0.0, $0.1) }
                }
            }
            var all: [(Int, UpsertResult)] = []
            for await chunk in group { all += chunk }
            return all
        }
        for (i, r) in outcomes { results[i] = r }
        metrics.debtorsUpserted.increment(by: valid.count)
        return results
    }

    /// The number of debtors.
    public func count() async -> Int {
        var total = 0
        for shard in shards { total += await shard.count }
        return total
    }

    /// Whether the engine holds no debtor (for `serve --demo`: load a demo population only into an empty store).
    public func isEmpty() async -> Bool { await count() == 0 }

    // MARK: events

    /// Re-decides every debtor whose history changed, now (``tick()`` and ``lease(_:filter:holder:)`` do it too).
    public func settle() async {
        let now = clock.now()
        await withTaskGroup(of: Void.self) { group in
            for shard in shards { group.addTask { await shard.settle(now: now) } }
        }
    }

    /// Ingests one outcome: durable before it returns; a repeated attempt id is a ``IngestResult/duplicate``.
    /// An outcome with no lease id, or with the debtor's current lease id, ends that lease.
    public func ingest(_ outcome: OutcomeEvent) async throws -> IngestResult {
        try await ingest(events: [.outcome(outcome)])[0]
    }

    /// Ingests outcomes in one group commit; results are in input order.
    public func ingest(_ outcomes: [OutcomeEvent]) async throws -> [IngestResult] {
        try await ingest(events: outcomes.map { .outcome($0) })
    }

    /// Ingests one payment: durable before it returns; a repeated payment id is a ``IngestResult/duplicate``.
    public func ingest(_ payment: PaymentEvent) async throws -> IngestResult {
        try await ingest(events: [.payment(payment)])[0]
    }

    /// Ingests payments in one group commit; results are in input order.
    public func ingest(_ payments: [PaymentEvent]) async throws -> [IngestResult] {
        try await ingest(events: payments.map { .payment($0) })
    }

    /// Records operator clearances of holds (DOMAIN.md: a `dispute` holds its debt until an operator clears it;
    /// a `cease` outcome stops every call to the debtor until cleared). Each is validated (known debtor; for a
    /// dispute a known debt), durable before this returns (group commit, shared with concurrent writers), logged
    /// in the event log (the audit trail: who, when, why) and replayed at every start. A clearance lifts the holds
    /// recorded before its `at` (use `clock.now()`), not later ones. A repeated clearance id is a
    /// ``IngestResult/duplicate``: acknowledged, not applied again. Results are in input order.
    /// - Throws: ``StoreError`` when the write fails; then none of the batch is applied.
    public func clear(_ clearances: [ClearanceEvent]) async throws -> [IngestResult] {
        try await ingest(events: clearances.map { .clearance($0) })
    }

    /// Records one operator clearance; see ``clear(_:)-([ClearanceEvent])``.
    public func clear(_ clearance: ClearanceEvent) async throws -> IngestResult {
        try await ingest(events: [.clearance(clearance)])[0]
    }

    /// Validates, appends durably (group commit) and applies a batch of events (outcomes, payments, lease
    /// expiries, clearances; lease grants and releases are the engine's own and are rejected here). An applied
    /// event updates its debtor's history at once; the debtor is re-decided before the shard next leases, ticks or
    /// answers a query (so several events for one debtor cost one decision, and the acknowledgement never waits
    /// for the policy).
    public func ingest(events: [StoredEvent]) async throws -> [IngestResult] {
        try await ingestReportingWarnings(events: events).results
    }

    /// ``ingest(events:)``, and for each event accepted (applied or duplicate) what its acknowledgement should warn
    /// about, or nil. An outcome for a phone that is not on the debtor's record is accepted, recorded and counted
    /// toward the debt's caps (DOMAIN.md: a call placed is a fact, whichever number was dialed; for packs that count
    /// personal and other numbers apart it counts as both), with the warning `phone_not_on_record`: the dialer
    /// may have mistyped the number, and phone-level rules (a dead or wrong number, busy retries) cannot apply to
    /// a number the record does not list.
    /// - Throws: ``StoreError`` when the write fails; then none of the batch is applied.
    ///
    /// `reporter` is the holder name of the dialer session the events come from (nil: `POST /v1/outcomes`, an
    /// import, another system). An outcome that names a lease held by someone else and ends it with a cease, a
    /// dispute, a payment or a dead or wrong number tells the holder (a revocation with `leaseEnded`), as an outcome
    /// without a lease id does: the holder may not know, and still has the call line.
    public func ingestReportingWarnings(events: [StoredEvent], reporter: String? = nil) async throws
        -> (results: [IngestResult], warnings: [RecordWarning?])
    {
        if events.isEmpty { return ([], []) }
        var events = events  // a clearance may be re-stamped at validation (`Accepted.clearanceAt`)
        var warnings = [RecordWarning?](repeating: nil, count: events.count)
        var results = [IngestResult](repeating: .applied, count: events.count)
        var parts = Array(repeating: [Int](), count: shards.count)
        let latest = clock.now() + max(0, configuration.futureEventAllowance)
        for (i, e) in events.enumerated() {
            if let problem = Self.timeProblem(e, latest: latest) {
                results[i] = .rejected(code: "invalid_time", message: problem.message, field: problem.field)
                continue
            }
            parts[shardIndex(e.debtor)].append(i)
        }
        // Validate (one lookup per event; the slot found is reused to apply it after the commit).
        var slotOf = [UInt32](repeating: .max, count: events.count)
        // A small batch visits its shards one after the other: starting, scheduling and joining a child task
        // per shard costs more than the few lookups (and, to apply, decisions) each does; the shards' work is the
        // same either way.
        var verdicts: [(Int, [Result<Accepted, Rejection>])] = []
        if events.count < Self.parallelValidationFrom {
            for (s, part) in parts.enumerated() where !part.isEmpty {
                verdicts.append((s, await shards[s].validate(events, part)))
            }
        } else {
            let received = events
            verdicts = await withTaskGroup(of: (Int, [Result<Accepted, Rejection>]).self) { group in
                for (s, part) in parts.enumerated() where !part.isEmpty {
                    group.addTask { (s, await self.shards[s].validate(received, part)) }
                }
                var all: [(Int, [Result<Accepted, Rejection>])] = []
                for await chunk in group { all.append(chunk) }
                return all
            }
        }
        var valid: [Int] = []
        valid.reserveCapacity(events.count)
        for (s, verdict) in verdicts {
            for (i, v) in zip(parts[s], verdict) {
                switch v {
                case .success(let accepted):
                    slotOf[i] = accepted.slot
                    if accepted.phoneNotOnRecord, case .outcome(let o) = events[i] {
                        warnings[i] = Self.phoneNotOnRecord(o)
                    }
                    if case .clearance(var c) = events[i] {
                        if let at = accepted.clearanceAt {
                            c.at = at
                            events[i] = .clearance(c)
                        }
                        if accepted.nothingToClear { warnings[i] = Self.nothingToClear(c) }
                    }
                case .failure(let r): results[i] = .rejected(code: r.code, message: r.message, field: r.field)
                }
            }
        }
        for i in events.indices where slotOf[i] != .max { valid.append(i) }
        if valid.isEmpty {
            metrics.eventsRejected.increment(by: results.count)
            return (results, warnings)
        }
        let applyingToken = await beginApplying()
        defer { endApplying(applyingToken) }
        let appended = try await log.append(valid.count == events.count ? events : valid.map { events[$0] })
        var toApply = Array(repeating: [(index: Int, lsn: Int64, slot: UInt32)](), count: shards.count)
        for (k, i) in valid.enumerated() {
            switch appended[k] {
            case .applied(let lsn):
                toApply[shardIndex(events[i].debtor)].append((i, lsn, slotOf[i]))
            case .duplicate:
                results[i] = .duplicate
                // A repeated clearance found its own first copy's work done: that is no news.
                if case .clearance = events[i] { warnings[i] = nil }
            }
        }
        let now = clock.now()
        if events.count < Self.parallelApplyFrom {
            for (s, part) in toApply.enumerated() where !part.isEmpty {
                await shards[s].apply(events, part, now: now, reporter: reporter)
            }
        } else {
            let logged = events
            await withTaskGroup(of: Void.self) { group in
                for (s, part) in toApply.enumerated() where !part.isEmpty {
                    group.addTask { await self.shards[s].apply(logged, part, now: now, reporter: reporter) }
                }
            }
        }
        var applied = 0
        var duplicates = 0
        for r in results {
            if r == .applied { applied += 1 } else if r == .duplicate { duplicates += 1 }
        }
        metrics.eventsApplied.increment(by: applied)
        metrics.eventsDuplicate.increment(by: duplicates)
        metrics.eventsRejected.increment(by: results.count - applied - duplicates)
        return (results, warnings)
    }

    /// The warning of a clearance that lifts no hold (`ShardState.liftsAHold`).
    static func nothingToClear(_ c: ClearanceEvent) -> RecordWarning {
        let hold = c.kind == .dispute ? "open dispute on debt '\(c.debt ?? "")'" : "open cease request"
        return RecordWarning(
            code: "nothing_to_clear", field: "clears",
            message: "debtor '\(c.debtor)' has no \(hold) (none recorded before this clearance, or each cleared "
                + "already); the clearance is recorded for the audit trail and changes nothing")
    }

    /// The warning of an outcome whose phone the debtor's record does not list.
    static func phoneNotOnRecord(_ o: OutcomeEvent) -> RecordWarning {
        RecordWarning(
            code: "phone_not_on_record", field: "phone",
            message: "'\(o.phone)' is not one of debtor '\(o.debtor)''s phones"
                + (LineDecoder.isE164(o.phone) ? "" : " (nor an E.164 number such as +16175550100: check the field)")
                + "; the call is recorded and counts toward "
                + "debt '\(o.debt)''s caps, but no phone-level rule (dead or wrong number, busy retries) applies to it: "
                + "check the number, or add it with PUT /v1/debtors if it is the debtor's")
    }

    /// What is wrong with an event's times, or nil: an outcome or payment dated after `latest` (the engine's clock
    /// plus ``EngineConfiguration/futureEventAllowance``), or a callback requested for before the call; with the
    /// field at fault.
    static func timeProblem(_ event: StoredEvent, latest: UnixSeconds) -> (field: String, message: String)? {
        let at: UnixSeconds
        switch event {
        case .outcome(let o):
            if let callback = o.callbackAt, callback < o.at {
                return ("callbackAt", "callbackAt \(RFC3339.format(callback, offsetSeconds: 0, zulu: true)) is before "
                    + "the call's at \(RFC3339.format(o.at, offsetSeconds: 0, zulu: true))")
            }
            at = o.at
        case .payment(let p): at = p.at
        default: return nil
        }
        guard at > latest else { return nil }
        return ("at", "at \(RFC3339.format(at, offsetSeconds: 0, zulu: true)) is in the future (the server's clock "
            + "plus the allowed skew is \(RFC3339.format(latest, offsetSeconds: 0, zulu: true))); check the year and "
            + "that times are in seconds")
    }

    /// From this many events on, `ingest(events:)` validates in one child task per shard (a validation is a
    /// look-up, well under a microsecond); below, it calls the shards one after the other.
    static let parallelValidationFrom = 1_024
    /// From this many events on, `ingest(events:)` applies in one child task per shard (applying re-decides a
    /// few debtors per event); below, it calls the shards one after the other.
    static let parallelApplyFrom = 64

    // MARK: leasing

    /// Leases the best `n` ready debtors passing `filter` across all shards (k-way merge by score) to `holder`.
    /// Each is leased exclusively until an outcome arrives or the lease expires (``EngineConfiguration/leaseTTL``).
    /// Returns fewer than `n` when fewer are ready; best first.
    public func lease(_ n: Int, filter: LeaseFilter = .all, holder: String) async -> [Lease] {
        guard n > 0 else { return [] }
        let now = clock.now()
        // Read before any grant of this call exists (see `makeDurable`).
        let signal = leaseSignals.outcomesOnUnconfirmedGrants.load(ordering: .sequentiallyConsistent)
        // Phase 1: every shard's best scores, without taking anything. Each shard is asked for a little more than
        // its share of n (debtors are spread by hash), not for n: that is most of the peeking saved. A shard whose
        // whole shortened list the merge used may hold more of the best n; it is asked for n and the merge redone.
        let k = shards.count
        let share = n / k
        var limits = Array(repeating: k == 1 ? n : min(n, share + 3 * Int(Double(share).squareRoot()) + 4), count: k)
        // Unfiltered, the scores each shard published at its last take are read without a message (see
        // `Shard.published`); otherwise, or when they are stale, one shard after the other is asked: a peek is a
        // few microseconds, less than starting a child task for it.
        var peeks: [[Float]] = []
        peeks.reserveCapacity(k)
        for (s, shard) in shards.enumerated() {
            if filter.jurisdictions == nil, let published = shard.publishedScores(limits[s]) {
                peeks.append(published)
            } else {
                peeks.append(await shard.peekScores(limits[s], filter: filter))
            }
        }
        // Merge: the n best scores overall decide how many each shard hands out.
        var counts = Array(repeating: 0, count: k)
        while true {
            var heads = Array(repeating: 0, count: k)
            for _ in 0..<n {
                var best = -1
                for s in 0..<k where heads[s] < peeks[s].count {
                    if best < 0 || peeks[s][heads[s]] > peeks[best][heads[best]] { best = s }
                }
                if best < 0 { break }
                heads[best] += 1
            }
            counts = heads
            let short = (0..<k).filter {
                heads[$0] == peeks[$0].count && peeks[$0].count == limits[$0] && limits[$0] < n
            }
            if short.isEmpty { break }
            for s in short {
                limits[s] = n
                if filter.jurisdictions == nil, let published = shards[s].publishedScores(n) {
                    peeks[s] = published
                } else {
                    peeks[s] = await shards[s].peekScores(n, filter: filter)
                }
            }
        }
        // Phase 2: take them (each shard leases its current best `count`), one shard after the other like the
        // peeks: a take of a few dozen debtors costs less than starting, scheduling and joining a child task for
        // it, and concurrent dialers keep both cores busy anyway.
        let ttl = configuration.leaseTTL
        var sequences = Array(repeating: [UInt32](), count: k)
        var leases: [Lease] = []
        leases.reserveCapacity(n)
        var runs: [Range<Int>] = []
        runs.reserveCapacity(k)
        // Each call starts at the next shard in turn: the dialers that one commit resumed together then take from
        // different shards at once instead of queueing at the first shard, one after the other, in a convoy.
        let first = k == 1 ? 0 : (takeRotation.add(1, ordering: .relaxed).oldValue & Int.max) % k
        for step in 0..<k {
            let s = first + step < k ? first + step : first + step - k
            guard counts[s] > 0 else { continue }
            let shard = shards[s]
            let start = leases.count
            // The shard then publishes as many scores as this call peeked from it, for the next call.
            sequences[s] = await shard.take(counts[s], filter: filter, holder: holder, now: now, ttl: ttl,
                                            into: &leases, publish: limits[s])
            if leases.count > start { runs.append(start..<leases.count) }
        }
        // Best first, ties by lease id: each shard's leases are in that order already (its runway's), so the runs
        // are merged.
        Self.rankOrder(&leases, runs: runs)
        leases = await makeDurable(leases, sequences: sequences, signal: signal)
        metrics.leasesGranted.increment(by: leases.count)
        metrics.leaseBatch.record(leases.count)
        return leases
    }

    /// Sorts `leases` best first (ties by lease id), given `runs` that cover `leases` and are each in that order
    /// already (one per shard taken from): their positions are merged. Runs out of order (not expected) are sorted.
    static func rankOrder(_ leases: inout [Lease], runs: [Range<Int>]) {
        let n = leases.count
        if n < 2 { return }
        guard runs.count > 1 else {
            if runs.count == 1 && runs[0] == 0..<n && Self.isRanked(leases, 0..<n) { return }
            return rankOrder(&leases)
        }
        var order: [Int] = []
        order.reserveCapacity(n)
        let merged = leases.withUnsafeBufferPointer { l -> Bool in
            guard runs.reduce(0, { $0 + $1.count }) == n, runs.allSatisfy({ Self.isRanked(l, $0) }) else {
                return false
            }
            var heads = runs.map(\.lowerBound)
            for _ in 0..<n {
                var best = -1
                for r in runs.indices where heads[r] < runs[r].upperBound {
                    if best < 0 || Self.ranksBefore(l[heads[r]], l[heads[best]]) { best = r }
                }
                order.append(heads[best])
                heads[best] += 1
            }
            return true
        }
        if !merged { return rankOrder(&leases) }
        Self.permute(&leases, order)
    }

    @inline(__always) static func ranksBefore(_ a: Lease, _ b: Lease) -> Bool {
        a.score != b.score ? a.score > b.score : a.id < b.id
    }

    static func isRanked(_ l: UnsafeBufferPointer<Lease>, _ run: Range<Int>) -> Bool {
        for k in run.dropFirst() where Self.ranksBefore(l[k], l[k - 1]) { return false }
        return true
    }

    static func isRanked(_ leases: [Lease], _ run: Range<Int>) -> Bool {
        leases.withUnsafeBufferPointer { isRanked($0, run) }
    }

    /// Sorts `leases` best first (ties by lease id).
    static func rankOrder(_ leases: inout [Lease]) {
        let n = leases.count
        if n < 2 { return }
        var order = Array(0..<n)
        leases.withUnsafeBufferPointer { l in
            order.sort { a, b in Self.ranksBefore(l[a], l[b]) }
        }
        permute(&leases, order)
    }

    /// Puts the lease at `order[k]` at position k. The positions were sorted, not the `Lease` values (about 200
    /// bytes each, moved many times by a sort): the values are put in place by swaps along the permutation's cycles.
    static func permute(_ leases: inout [Lease], _ order: [Int]) {
        var order = order
        let n = leases.count
        // Position k takes the lease at order[k]: follow each cycle once, swapping along it.
        for start in 0..<n where order[start] != start {
            var k = start
            while order[k] != start {
                let from = order[k]
                leases.swapAt(k, from)
                order[k] = k
                k = from
            }
            order[k] = k
        }
    }

    /// Logs the grants of freshly taken leases (group commit, durable before it returns) and posts them to their
    /// shards, which confirm them (from then on they can expire) at their next message. Returns the leases that
    /// may be handed out: all of them, minus any an outcome without a lease id ended while the grant was
    /// committed; none when the log cannot be written (the debtors are given back).
    ///
    /// Withdrawals are rare, so they are checked only when a shard signalled one: a shard bumps
    /// `leaseSignals.outcomesOnUnconfirmedGrants` (after recording the outcome) whenever such an outcome meets a
    /// lease still unconfirmed. If the value read before the take (`signal`) is unchanged after the posts, any
    /// such outcome still to come is applied after the shard confirms these grants, i.e. it ends the lease as an
    /// outcome arriving after the hand-out would (the log order, grant then outcome, says the same).
    private func makeDurable(_ leases: [Lease], sequences: [[UInt32]], signal: Int) async -> [Lease] {
        if leases.isEmpty { return leases }
        // Every lease of one call has the same holder and times: one compact batch (kind 10), encoded straight
        // from the leases.
        let grants = leases.withUnsafeBufferPointer { l in
            // Fields read in place (iterating the array would copy each whole `Lease`, retaining all its fields).
            var grants = GrantBatchEncoder(id: l[0].id, holder: l[0].holder, leasedAt: l[0].leasedAt,
                                           expires: l[0].expires, count: l.count)
            for k in l.indices {
                precondition(l[k].leasedAt == l[0].leasedAt && l[k].expires == l[0].expires,
                             "the leases of one call share holder and times")
                grants.append(lease: l[k].id, debtor: l[k].debtor, debt: l[k].debt, phone: l[k].phone)
            }
            return grants
        }
        let lsn: Int64
        do {
            let result = try await log.append(grants, durability: configuration.leaseDurability)
            // A duplicate would be a batch id reused across runs (a 1 in 2^32 start tag collision): the grants
            // are then treated as durable at the log's current end.
            lsn = if case .applied(let lsn) = result { lsn } else { await log.lastLSN() }
        } catch {
            // The store logs when its writes start failing and when they work again (not per write).
            logger.debug("could not log lease grants; the debtors stay unleased", metadata: ["error": "\(error)"])
            await withTaskGroup(of: Void.self) { group in
                for (s, part) in sequences.enumerated() where !part.isEmpty {
                    group.addTask { await self.shards[s].cancel(part) }
                }
            }
            return []
        }
        for (s, part) in sequences.enumerated() where !part.isEmpty {
            shards[s].post(GrantConfirmation(sequences: part, lsn: lsn))
        }
        if leaseSignals.outcomesOnUnconfirmedGrants.load(ordering: .sequentiallyConsistent) == signal {
            return leases
        }
        var withdrawn: Set<String> = []
        for (s, part) in sequences.enumerated() where !part.isEmpty {
            let ended = Set(await shards[s].ended(part))
            if ended.isEmpty { continue }
            let prefix = shards[s].leasePrefix
            for sequence in ended { withdrawn.insert(ShardState.leaseID(prefix: prefix, sequence: sequence)) }
        }
        return withdrawn.isEmpty ? leases : leases.filter { !withdrawn.contains($0.id) }
    }

    /// Ends every lease `holder` got from this process without counting a call (for a dialer that disconnects
    /// cleanly): each release is logged (group commit) before the debtor is leasable again. Leases restored at
    /// start are never released this way (their holder was a session of an earlier process); they end by outcome
    /// or expiry. Returns how many leases ended; 0 when the log cannot be written (the leases then expire).
    @discardableResult
    public func releaseLeases(heldBy holder: String) async -> Int {
        let now = clock.now()
        var releases: [LeaseRelease] = []
        for shard in shards { releases += await shard.leasesHeld(by: holder, now: now) }
        if releases.isEmpty { return 0 }
        return await logReleases(releases, now: now) ? releases.count : 0
    }

    /// Gives lease `id` back without counting a call (a dialer that will not place it): logged (group commit)
    /// before the debtor is leasable again. Without `isOpen`, only `holder`'s own leases from this process can
    /// be given back (a lease restored at start ends by outcome or expiry).
    ///
    /// With `isOpen`, a lease whose holder is gone can be given back too: one restored at start (its holder was
    /// a session of an earlier process), or one whose holder `isOpen` says is no longer connected (a dialer
    /// session that dropped, a `GET /v1/calls` stream that ended). Whoever names the lease id got its call line:
    /// a dialer that reconnects after losing its session can give back the calls it will not place. Leases of
    /// holders still connected stay theirs.
    public func releaseLease(
        _ id: String, heldBy holder: String, orphanedUnless isOpen: (@Sendable (String) -> Bool)? = nil
    ) async -> LeaseReturn {
        let now = clock.now()
        guard let release = await heldRelease(id, by: holder, orphanedUnless: isOpen, now: now) else {
            return .notHeld
        }
        return await logReleases([release], now: now) ? .released : .notLogged
    }

    /// The release of lease `id` that `holder` may give back (see ``releaseLease(_:heldBy:orphanedUnless:)``),
    /// asked of the shard its prefix names, or nil.
    private func heldRelease(
        _ id: String, by holder: String, orphanedUnless isOpen: (@Sendable (String) -> Bool)?, now: UnixSeconds
    ) async -> LeaseRelease? {
        if let shard = shards.first(where: { id.hasPrefix($0.leasePrefix) }) {
            return await shard.leaseHeld(id: id, by: holder, orphanedUnless: isOpen, now: now)
        }
        guard isOpen != nil else { return nil }
        // An id of an earlier process: restored into whichever shard holds its debtor now.
        for shard in shards {
            if let release = await shard.leaseHeld(id: id, by: holder, orphanedUnless: isOpen, now: now) {
                return release
            }
        }
        return nil
    }

    /// Gives back the leases `ids` that `holder` got from this process, without counting calls: for calls that
    /// were never delivered (the stream that was to carry them had closed). Logged in one group commit before the
    /// debtors are leasable again. Ids that `holder` does not hold (ended meanwhile, another holder's) and repeats
    /// are skipped. Returns how many ended; 0 when the log cannot be written (the leases then expire).
    @discardableResult
    public func releaseLeases(_ ids: [String], heldBy holder: String) async -> Int {
        let now = clock.now()
        var releases: [LeaseRelease] = []
        var seen = Set<String>()
        for id in ids where seen.insert(id).inserted {
            if let release = await heldRelease(id, by: holder, orphanedUnless: nil, now: now) {
                releases.append(release)
            }
        }
        if releases.isEmpty { return 0 }
        return await logReleases(releases, now: now) ? releases.count : 0
    }

    /// Logs `releases` (one event per 1,000) and applies them to their shards; false when the log cannot be
    /// written (the leases then stay and expire).
    private func logReleases(_ releases: [LeaseRelease], now: UnixSeconds) async -> Bool {
        let batches = stride(from: 0, to: releases.count, by: 1_000).map {
            let chunk = Array(releases[$0..<min(releases.count, $0 + 1_000)])
            return LeaseReleases(id: "R" + chunk[0].lease, releases: chunk)
        }
        let results: [AppendResult]
        do {
            results = try await log.append(batches.map { .leasesReleased($0) },
                                           durability: configuration.leaseDurability)
        } catch {
            logger.error("could not log lease releases; the leases will expire", metadata: ["error": "\(error)"])
            return false
        }
        var parts = Array(repeating: [(StoredEvent, Int64)](), count: shards.count)
        for (batch, result) in zip(batches, results) {
            let lsn: Int64 = if case .applied(let lsn) = result { lsn } else { 0 }
            var perShard = Array(repeating: [LeaseRelease](), count: shards.count)
            for release in batch.releases { perShard[shardIndex(release.debtor)].append(release) }
            for (s, part) in perShard.enumerated() where !part.isEmpty {
                parts[s].append((.leasesReleased(LeaseReleases(id: batch.id, releases: part)), lsn))
            }
        }
        await withTaskGroup(of: Void.self) { group in
            for (s, part) in parts.enumerated() where !part.isEmpty {
                group.addTask {
                    await self.shards[s].apply(part, now: now)
                    await self.shards[s].settle(now: now)  // leasable again at once
                }
            }
        }
        metrics.leasesReleased.increment(by: releases.count)
        return true
    }

    /// Advances every shard to `clock.now()`: due debtors become ready, ready ones are re-scored after the hour
    /// changes, and expired leases are logged durably as counted attempts and return to the queues.
    public func tick() async {
        let now = clock.now()
        await withTaskGroup(of: Void.self) { group in
            for shard in shards {
                group.addTask {
                    let expired = await shard.advance(now: now)
                    if expired.isEmpty { return }
                    self.metrics.leasesExpired.increment(by: expired.count)
                    let applyingToken = await self.beginApplying()
                    defer { self.endApplying(applyingToken) }
                    do {
                        let results = try await self.log.append(expired.map { .leaseExpired($0) })
                        let applied = zip(expired, results).map { e, r -> (StoredEvent, Int64) in
                            if case .applied(let lsn) = r { return (.leaseExpired(e), lsn) }
                            return (.leaseExpired(e), 0)
                        }
                        await shard.apply(applied, now: now)
                    } catch {
                        self.logger.error("could not log lease expiries; retrying at the next tick",
                                          metadata: ["error": "\(error)"])
                        await shard.revertExpiring(expired)
                    }
                }
            }
        }
    }

    /// Calls ``tick()`` every ``EngineConfiguration/tickIntervalMilliseconds`` and writes a snapshot (decisions
    /// and history checkpoint, ``writeSnapshot()``) every ``EngineConfiguration/snapshotIntervalSeconds`` and
    /// whenever ``EngineConfiguration/snapshotAfterEvents`` log positions were written since the last one (counted
    /// from the history floor the start replayed from: a start that replayed that much of the log, such as the
    /// first start after an upgrade, writes one at once), until the task is cancelled.
    public func run() async throws {
        var lastSnapshot = ContinuousClock.now
        var lastSnapshotLSN = startHistoryFloor.load(ordering: .relaxed)
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: .milliseconds(configuration.tickIntervalMilliseconds))
            } catch {
                return
            }
            await tick()
            let logged = await log.lastLSN()
            let byTime = configuration.snapshotIntervalSeconds > 0
                && ContinuousClock.now - lastSnapshot >= .seconds(configuration.snapshotIntervalSeconds)
            let byEvents = configuration.snapshotAfterEvents > 0
                && logged - lastSnapshotLSN >= Int64(configuration.snapshotAfterEvents)
            if !isEphemeral && (byTime || byEvents) {
                lastSnapshot = ContinuousClock.now
                lastSnapshotLSN = logged
                do {
                    try await writeSnapshot()
                } catch {
                    logger.error("could not write the decision snapshot", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// Saves the decisions that changed since the last snapshot to the store (in chunks, interleaved with other
    /// writes), so the next start need not run the policy for debtors that did not change since, and the history
    /// checkpoint: the histories that changed since the last one, then the history floor, so the next start
    /// replays only the log after it (see ShardState+History.swift). The decisions are a cache (a missing or stale
    /// row only costs a decision at start); the history rows are not, but the log they summarise stays complete.
    /// One snapshot is written at a time (a concurrent call waits).
    /// An ephemeral engine keeps no snapshot: this does nothing.
    /// - Throws: ``StoreError`` when a write fails; the floors then stay where they were.
    public func writeSnapshot() async throws {
        if isEphemeral { return }
        await snapshotGate.acquire()
        defer { snapshotGate.release() }
        // Every lease granted before `floor` has ended: the next start need not replay those grants.
        let logged = await log.lastLSN()
        // Every history event logged at or before `historyFloor` has been applied to its shard by now (read after
        // `logged`, see `AppliedEvents`), so it is in a checkpoint row once the rows below are written.
        let historyFloor = applying.appliedThrough(logged: logged)
        var floor: Int64? = logged + 1
        for shard in shards {
            guard let current = floor else { break }
            switch await shard.oldestLeaseGrant() {
            case .none: break
            case .some(.some(let lsn)): floor = min(current, lsn)
            case .some(.none): floor = nil  // a grant is being committed: keep the previous floor
            }
        }
        let started = ContinuousClock.now
        let chunk = max(1, configuration.store.maxRowsPerTransaction)
        var decisionRows = 0
        for shard in shards {
            var start = 0
            while true {
                let (rows, lists, next) = await shard.snapshotRows(from: start, limit: chunk, now: clock.now())
                if !rows.isEmpty || !lists.isEmpty { try await log.writeSnapshot(rows, reasonLists: lists) }
                decisionRows += rows.count
                if rows.count < chunk { break }
                start = next
            }
        }
        let decisionsWritten = ContinuousClock.now
        let historyRows = try await writeHistoryCheckpoint(chunk: chunk)
        if let floor { try await log.setLeaseReplayFloor(floor) }
        try await log.setHistoryFloor(historyFloor)
        var sizes = SizeHints()
        for shard in shards {
            let part = await shard.sizeHints()
            sizes.debtors += part.debtors
            sizes.recordBytes += part.recordBytes
            sizes.historyBytes += part.historyBytes
        }
        do {
            try await log.setSizeHints(sizes)
        } catch {
            // The snapshot itself is written: only the next start's reservation is lost.
            logger.warning("could not record the size hints", metadata: ["error": "\(error)"])
        }
        logger.info("snapshot written", metadata: [
            "decisionRows": "\(decisionRows)", "historyRows": "\(historyRows)", "historyFloor": "\(historyFloor)",
            "writingDecisions": "\(decisionsWritten - started)",
            "writingHistories": "\(ContinuousClock.now - decisionsWritten)",
        ])
    }

    /// Re-decides, now, every ready debtor the last start restored from the snapshot without its reasons (see
    /// ``restoredWithoutReasons``), so that the next snapshot (``writeSnapshot()``, or ``close()``) saves their
    /// decisions with reasons and the next start leases them without deciding them again: for after an upgrade
    /// from a version whose snapshots kept no reasons. Returns how many debtors were re-decided.
    @discardableResult
    public func redecideRestoredWithoutReasons() async -> Int {
        let now = clock.now()
        return await withTaskGroup(of: Int.self) { group in
            for shard in shards { group.addTask { await shard.redecideRestoredWithoutReasons(now: now) } }
            return await group.reduce(0, +)
        }
    }

    // MARK: queries

    /// Everything known about one debtor, with fresh decisions at `clock.now()`; nil when unknown.
    public func debtorState(id: String) async -> DebtorSnapshot? {
        await shards[shardIndex(id)].snapshot(of: id, now: clock.now())
    }

    /// `debtorState(id:)` for many debtors at once, in the order of `ids` (nil for unknown ids): one call per
    /// shard instead of one per debtor, all at the same `clock.now()`.
    public func debtorStates(ids: [String]) async -> [DebtorSnapshot?] {
        if ids.count == 1 { return [await debtorState(id: ids[0])] }
        var positions = [[Int]](repeating: [], count: shards.count)
        for (k, id) in ids.enumerated() { positions[shardIndex(id)].append(k) }
        var result = [DebtorSnapshot?](repeating: nil, count: ids.count)
        let now = clock.now()
        for (shard, mine) in positions.enumerated() where !mine.isEmpty {
            let found = await shards[shard].snapshots(of: mine.map { ids[$0] }, now: now)
            for (k, snapshot) in zip(mine, found) { result[k] = snapshot }
        }
        return result
    }

    /// The decision the engine holds for a debtor right now: the debt, phone and times it would lease
    /// (score as kept in the ready queue, single precision). Nil when unknown or when no debt may be called.
    public func currentDecision(id: String) async -> Decision? {
        await shards[shardIndex(id)].currentDecision(of: id, now: clock.now())
    }

    /// Planned contacts (the engine's current decision per debtor) whose planned time falls in `from ..< to`,
    /// earliest first, at most `limit`.
    ///
    /// Every decision carries its reasons: a waiting debtor's (which its shard does not keep) are decided for the
    /// decisions listed, after the shards' lists are merged and cut to `limit`.
    public func schedule(from: UnixSeconds, to: UnixSeconds, limit: Int) async -> [Decision] {
        let now = clock.now()
        let all = await withTaskGroup(of: [Decision].self) { group in
            for shard in shards { group.addTask { await shard.schedule(from: from, to: to, limit: limit, now: now) } }
            var all: [Decision] = []
            for await chunk in group { all += chunk }
            return all
        }
        func planned(_ d: Decision) -> Int64 { d.best ?? d.earliest ?? .max }
        var listed = Array(
            all.sorted { planned($0) != planned($1) ? planned($0) < planned($1) : $0.debtor < $1.debtor }.prefix(limit))
        var missing = Array(repeating: [Int](), count: shards.count)
        for (k, d) in listed.enumerated() where d.reasons.isEmpty { missing[shardIndex(d.debtor)].append(k) }
        for (s, positions) in missing.enumerated() where !positions.isEmpty {
            let reasons = await shards[s].scheduleReasons(
                of: positions.map { (listed[$0].debtor, listed[$0].debt) }, now: now)
            for (k, r) in zip(positions, reasons) { listed[k].reasons = r }
        }
        return listed
    }

    /// How many debtors are in each queue state.
    public func queueCounts() async -> [DebtorQueueState: Int] {
        var total: [DebtorQueueState: Int] = [:]
        let now = clock.now()
        for shard in shards { total.merge(await shard.stateCounts(now: now), uniquingKeysWith: +) }
        return total
    }

    /// The number of active leases.
    public func activeLeaseCount() async -> Int {
        var total = 0
        for shard in shards { total += await shard.activeLeaseCount() }
        return total
    }

    /// Writes a decision snapshot, checkpoints the WAL and closes the store. Outstanding leases are in the log
    /// already: the next start holds them again until their outcome or expiry.
    ///
    /// The store is closed (and its lock released) even when the snapshot or the checkpoint cannot be written (a
    /// full disk); the first such failure is thrown afterwards as ``EngineError`` `store_failed`, whose message
    /// says what it costs: nothing acknowledged is lost either way (every event is in the log, the WAL is
    /// replayed at the next start), only the next start's speed.
    public func close() async throws {
        defer { revoked.finish() }
        var failure: EngineError?
        let reason = StoreError.underlyingReason
        do {
            try await writeSnapshot()
        } catch {
            failure = EngineError(
                code: .storeFailed,
                message: "the final snapshot could not be written (\(reason(error))); nothing acknowledged is lost: "
                    + "the next start replays the log written since the previous snapshot, which takes longer",
                cause: error)
        }
        do {
            try await log.checkpoint()
        } catch {
            failure = failure ?? EngineError(
                code: .storeFailed,
                message: "the WAL could not be copied into the database file at shutdown (\(reason(error))); nothing "
                    + "acknowledged is lost: the WAL keeps it and the next start completes the copy (free disk space "
                    + "first)",
                cause: error)
        }
        try await log.close()
        if let failure { throw failure }
    }
}
