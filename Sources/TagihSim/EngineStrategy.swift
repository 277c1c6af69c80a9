import Foundation
import Logging
import TagihCore
import TagihEngine
import TagihStore

/// `tagih` on the real `Engine`: debtors are upserted into an ephemeral engine (no store: a simulation needs no
/// durability; `EngineConfiguration.Persistence.ephemeral`) with a `VirtualClock`; each dialer step advances the
/// clock, ingests the outcomes and payments of the step in one `ingest` call each, ticks the engine once per
/// simulated minute, and leases the best ready debtors.
final class EngineStrategy: DialStrategy {
    let engine: Engine
    let clock: VirtualClock
    let world: World
    /// The world's debtors by id (`DebtorIndex`).
    private let index: DebtorIndex
    private var pendingOutcomes: [OutcomeEvent] = []
    private var pendingPayments: [PaymentEvent] = []
    private var lastTick: UnixSeconds
    /// Events the engine refused (its validation is the permission check on ingest).
    var blockedCalls = 0
    var decisions: Int { 0 }
    static let holder = "tagih-sim"

    private init(engine: Engine, clock: VirtualClock, world: World, start: UnixSeconds) {
        self.engine = engine
        self.clock = clock
        self.world = world
        lastTick = start
        index = DebtorIndex(world.debtorID)
    }

    /// Opens an ephemeral engine and loads the world's debtors into it.
    static func open(
        world: World, start: UnixSeconds, policy: ContactPolicy, holdBelowShareOfBest: Double?,
        holdShare: Double
    ) async throws -> EngineStrategy {
        let clock = VirtualClock(start: start)
        var configuration = EngineConfiguration()
        configuration.persistence = .ephemeral
        configuration.snapshotIntervalSeconds = 0
        configuration.holdBelowShareOfBest = holdBelowShareOfBest
        configuration.holdShare = holdShare
        configuration.revocationBuffer = 0  // the floor reports every call it places: nobody listens
        configuration.exportsMetrics = false  // a simulation's leases are not the service's
        configuration.leaseTag = "000000"  // the same run, the same lease ids in the attempt log
        var logger = Logger(label: "tagih.sim.engine")
        logger.logLevel = .warning
        let engine = try await Engine.open(configuration: configuration, clock: clock, policy: policy, logger: logger)
        let batch = 20_000
        var k = 0
        while k < world.debtors.count {
            let part = Array(world.debtors[k..<min(k + batch, world.debtors.count)])
            _ = try await engine.upsert(part)
            k += batch
        }
        return EngineStrategy(engine: engine, clock: clock, world: world, start: start)
    }

    func advance(now: UnixSeconds) async {
        clock.set(now)
        await flush()
        if now - lastTick >= 60 {
            await engine.tick()
            lastTick = now
        }
    }

    private func flush() async {
        if !pendingOutcomes.isEmpty {
            let batch = pendingOutcomes
            pendingOutcomes.removeAll(keepingCapacity: true)
            if let results = try? await engine.ingest(batch) {
                for r in results { if case .rejected = r { blockedCalls += 1 } }
            }
        }
        if !pendingPayments.isEmpty {
            let batch = pendingPayments
            pendingPayments.removeAll(keepingCapacity: true)
            _ = try? await engine.ingest(batch)
        }
    }

    func next(_ count: Int, now: UnixSeconds, into leads: inout [Lead]) async {
        await advance(now: now)
        let leases = await engine.lease(count, holder: Self.holder)
        // The leases are read in place (iterating the array would copy each `Lease`, retaining every field), and
        // the debt and phone are found among the debtor's entries of the world's flat id arrays (in record order,
        // as `firstIndex` on the record would), not on a copy of its `Debtor`. The leased debtors are random: their
        // index entries are asked for first, then, one and two leases ahead, what the look-up and the search read
        // (hints only).
        var hashes: [UInt64] = []
        hashes.reserveCapacity(leases.count)
        leases.withUnsafeBufferPointer { l in
            for k in l.indices {
                let hash = stableHash(l[k].debtor)
                index.prefetch(hash: hash)
                hashes.append(hash)
            }
            for k in l.indices {
                if k + 2 < l.count, let c = index.candidate(hash: hashes[k + 2]) {
                    world.debtorID.withUnsafeBufferPointer { Prefetch.read($0.baseAddress! + c) }
                    world.debtStart.withUnsafeBufferPointer { Prefetch.read($0.baseAddress! + c) }
                    world.phoneStart.withUnsafeBufferPointer { Prefetch.read($0.baseAddress! + c) }
                }
                if k + 1 < l.count, let c = index.candidate(hash: hashes[k + 1]) {
                    let debt = Int(world.debtStart[c]), phone = Int(world.phoneStart[c])
                    world.debtID.withUnsafeBufferPointer { Prefetch.read($0.baseAddress! + debt) }
                    world.phoneNumber.withUnsafeBufferPointer { Prefetch.read($0.baseAddress! + phone) }
                }
                guard let i = index.find(l[k].debtor, hash: hashes[k], ids: world.debtorID) else { continue }
                let i32 = Int32(i)
                // `debtStart` and `phoneStart` end with a sentinel (the total count).
                let debtFrom = Int(world.debtStart[i]), debtTo = Int(world.debtStart[i + 1])
                let phoneFrom = Int(world.phoneStart[i]), phoneTo = Int(world.phoneStart[i + 1])
                guard let debt = (debtFrom..<debtTo).first(where: { world.debtID[$0] == l[k].debt }),
                    let phone = (phoneFrom..<phoneTo).first(where: { world.phoneNumber[$0] == l[k].phone })
                else { continue }
                leads.append(Lead(debtor: i32, debt: Int32(debt), phone: Int32(phone), lease: l[k].id))
            }
        }
    }

    var needsOutcomeEvents: Bool { true }

    func record(_ attempt: AttemptOutcome, event: OutcomeEvent?, now: UnixSeconds) async {
        guard let event else { preconditionFailure("the engine strategy needs outcome events") }
        pendingOutcomes.append(event)
    }

    func record(_ payment: PaymentEvent, debtor: Int, now: UnixSeconds) async {
        pendingPayments.append(payment)
    }

    /// Closes the engine.
    func close() async {
        await flush()
        try? await engine.close()
    }
}

/// The world's debtors by id: an open-addressing table of `(stableHash(id) >> 32) << 32 | (index + 1)` words
/// (0 = empty; linear probing, at most half full), each hit checked against the id itself. Cheaper than a
/// `Dictionary<String, Int32>` (FNV-1a `stableHash` of the id's bytes instead of SipHash, an 8-byte entry), and
/// its entries can be prefetched.
struct DebtorIndex {
    private var table: [UInt64]
    private let mask: Int

    init(_ ids: [String]) {
        var capacity = 1024
        while capacity < 2 * ids.count { capacity *= 2 }
        table = Array(repeating: 0, count: capacity)
        mask = capacity - 1
        for (i, id) in ids.enumerated() {
            let hash = stableHash(id)
            var b = Self.bucket(hash, mask)
            // A repeated id maps to its last debtor (as a dictionary filled in order would).
            while table[b] != 0 && !(table[b] >> 32 == hash >> 32 && ids[Int(table[b] & 0xFFFF_FFFF) - 1] == id) {
                b = (b + 1) & mask
            }
            table[b] = (hash >> 32) << 32 | UInt64(i + 1)
        }
    }

    @inline(__always) private static func bucket(_ hash: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: hash) & mask
    }

    /// The index of the debtor whose id is `id` (`hash` = `stableHash(id)`), nil when none.
    @inline(__always) func find(_ id: String, hash: UInt64, ids: [String]) -> Int? {
        var b = Self.bucket(hash, mask)
        let tag = hash >> 32
        while true {
            let e = table[b]
            if e == 0 { return nil }
            if e >> 32 == tag {
                let i = Int(e & 0xFFFF_FFFF) - 1
                if ids[i] == id { return i }
            }
            b = (b + 1) & mask
        }
    }

    /// The first index `find` would check for `hash` (for prefetching), nil when its bucket is empty.
    @inline(__always) func candidate(hash: UInt64) -> Int? {
        let e = table[Self.bucket(hash, mask)]
        return e == 0 ? nil : Int(e & 0xFFFF_FFFF) - 1
    }

    /// Asks for `hash`'s bucket (a hint).
    @inline(__always) func prefetch(hash: UInt64) {
        table.withUnsafeBufferPointer { Prefetch.read(UnsafeRawPointer($0.baseAddress! + Self.bucket(hash, mask))) }
    }
}
