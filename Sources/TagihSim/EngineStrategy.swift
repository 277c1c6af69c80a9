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
    private var index: [String: Int32] = [:]
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
        index.reserveCapacity(world.debtors.count)
        for (i, d) in world.debtors.enumerated() { index[d.id] = Int32(i) }
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
        // as `firstIndex` on the record would), not on a copy of its `Debtor`.
        leases.withUnsafeBufferPointer { l in
            for k in l.indices {
                guard let i32 = index[l[k].debtor] else { continue }
                let i = Int(i32)
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
