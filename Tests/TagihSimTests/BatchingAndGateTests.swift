import Foundation
import Logging
import Testing
import TagihCore
import TagihEngine
@testable import TagihSim

@Suite struct BatchingAndGateTests {
    /// Re-decisions after outcomes are batched (and decided on both cores); each uses the history and instant an
    /// immediate one would, so a run is the same either way.
    @Test(arguments: [StrategyKind.tagih, .baseline, .earliest])
    func batchedDecisionsChangeNoResult(kind: StrategyKind) async throws {
        let population = SyntheticPopulation.generate(count: 6000, seed: 4)
        let config = smallConfiguration(days: 3, agents: 20, seed: 4)
        let batched = try Simulation(population: population, configuration: config)
        let immediate = try Simulation(population: population, configuration: config)
        immediate.deferDecisions = false
        let a = try await batched.resultOfRun(kind)
        let b = try await immediate.resultOfRun(kind)
        #expect(a.dials > 5000)
        #expect(a == b)
    }

    /// Several minute batches are decided in the background at once, and the event loop decides what the workers
    /// have not claimed when it needs a batch. Which thread decides a debtor, and when, must not change a result:
    /// with workers slowed down at random (real sleeps of random length) and 1, 3 or 64 batches in flight, every
    /// run equals the immediate reference (each re-decision on the event loop at once, no batches).
    @Test(arguments: [StrategyKind.baseline, .earliest, .tagih])
    func threadTimingChangesNoResult(kind: StrategyKind) async throws {
        let population = SyntheticPopulation.generate(count: 6000, seed: 9)
        let config = smallConfiguration(days: 3, agents: 20, seed: 9)
        let immediate = try Simulation(population: population, configuration: config)
        immediate.deferDecisions = false
        let reference = try await immediate.resultOfRun(kind)
        #expect(reference.dials > 5000)
        #expect(immediate.lastBatchStatistics?.batches == 0)
        for inFlight in [1, 3, 64] {
            let simulation = try Simulation(population: population, configuration: config)
            simulation.batchesInFlight = inFlight
            simulation.workerDelay = { debtor in
                // About one decision in 40 sleeps 0.1-2 ms, at random (not a function of the debtor).
                if UInt32.random(in: 0..<40) == 0 { usleep(UInt32.random(in: 100...2000)) }
                _ = debtor
            }
            let report = try await simulation.resultOfRun(kind)
            #expect(report == reference, "\(kind) with \(inFlight) batches in flight")
            let statistics = try #require(simulation.lastBatchStatistics)
            #expect(statistics.batches > 100)
            #expect(statistics.maxInFlight == min(inFlight, statistics.maxInFlight))
            if inFlight > 1 { #expect(statistics.maxInFlight > 1) }
            // The slow workers leave chunks for the event loop to decide when it joins.
            #expect(statistics.decidedByJoin > 0)
            // The baseline's list walk reads debtors of batches in flight (joining just those).
            if kind == .baseline && inFlight > 1 { #expect(statistics.debtorJoins > 0) }
        }
    }

    /// The decision cache itself, with many batches in flight and the event loop reading debtors of any of them (the
    /// young ones too, which joins every older batch first): every permission check, lead and, at the end, every cached
    /// decision equals those of a book deciding at once on the calling thread, whatever the worker timing.
    @Test(arguments: [2, 5, 64])
    func readingDebtorsOfInFlightBatchesMatchesImmediateDecisions(inFlight: Int) throws {
        let population = SyntheticPopulation.generate(count: 3000, seed: 12)
        let config = smallConfiguration(days: 2, agents: 10, seed: 12)
        let world = World(debtors: population, configuration: config)
        let start = config.start + 10 * 3600
        let batched = PolicyBook(world: world, policy: Simulation.policy, now: start, needsBestTime: true,
                                 maxInFlight: inFlight)
        batched.workerDelay = { _ in
            if UInt32.random(in: 0..<25) == 0 { usleep(UInt32.random(in: 50...1500)) }
        }
        let immediate = PolicyBook(world: world, policy: Simulation.policy, now: start, needsBestTime: true,
                                   deferred: false)
        var rng = SeededRandom(seed: 99)
        let outcomes: [Outcome] = [.noAnswer, .voicemail, .busy, .rightParty, .refused, .thirdParty, .promiseToPay,
                                   .callbackRequested, .wrongNumber, .abandoned]
        var checks = 0, recorded = 0
        for minute in 0..<240 {
            let now = start + Int64(minute) * 60
            for _ in 0..<40 {
                let i = rng.below(population.count)
                let allowed = batched.permitted(i, now: now)
                #expect(allowed == immediate.permitted(i, now: now), "debtor \(i) at minute \(minute)")
                checks += 1
                guard allowed else { continue }
                let lead = batched.lead(i)
                #expect(lead.debt == immediate.lead(i).debt && lead.phone == immediate.lead(i).phone)
                let outcome = outcomes[rng.below(outcomes.count)]
                let attempt = AttemptOutcome(
                    debtor: i, debt: Int(lead.debt), phone: Int(lead.phone), at: now, outcome: outcome,
                    promise: nil, callbackAt: outcome == .callbackRequested && rng.chance(0.5) ? now + 86_400 : nil)
                batched.record(attempt, now: now)
                immediate.record(attempt, now: now)
                recorded += 1
            }
            batched.flushInBackground()
        }
        batched.flush()
        for i in 0..<population.count {
            let a = batched.slots[i], b = immediate.slots[i]
            #expect(a.earliest == b.earliest && a.windowEnds == b.windowEnds && a.best == b.best && a.score == b.score
                    && a.debt == b.debt && a.phone == b.phone, "debtor \(i)")
        }
        #expect(recorded > 1000)
        #expect(batched.statistics.maxInFlight >= min(inFlight, 5))
        #expect(batched.statistics.debtorJoins > 20)
        #expect(batched.decisions == immediate.decisions)
        _ = checks
    }

    /// The baseline's list walk skips blocks of 64 debtors that all wait for their retry or have no permitted
    /// time; it visits the same candidates in the same order as checking them one by one.
    @Test func skippingWaitingBlocksChangesNoResult() async throws {
        let population = SyntheticPopulation.generate(count: 6000, seed: 5)
        let config = smallConfiguration(days: 4, agents: 8, seed: 5)
        let skipping = try Simulation(population: population, configuration: config)
        let walking = try Simulation(population: population, configuration: config)
        walking.skipWaitingBlocks = false
        let a = try await skipping.resultOfRun(.baseline)
        let b = try await walking.resultOfRun(.baseline)
        #expect(a.dials > 5000)
        #expect(a.blockedCalls > 0)
        #expect(a == b)
    }

    /// Large populations are generated on all cores; every debtor has its own generator stream, so the records
    /// are those of a sequential generation (a small population is generated on the calling thread).
    @Test func parallelPopulationGenerationMatchesSequentialChunks() {
        let whole = SyntheticPopulation.generate(count: 9000, seed: 6)
        var chunks: [Debtor] = []
        for start in stride(from: 1, through: 9000, by: 1500) {
            chunks += SyntheticPopulation.generate(count: 1500, seed: 6, startingAt: start)
        }
        #expect(whole.count == 9000)
        #expect(whole == chunks)
        #expect(whole.last?.id == "D-9000")
    }

    static func engine(gate: Double?, clock: VirtualClock) async throws -> (Engine, URL) {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("tagih-gate-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var configuration = EngineConfiguration(dataDirectory: directory.path)
        configuration.store.durability = .normal
        configuration.snapshotIntervalSeconds = 0
        configuration.holdBelowShareOfBest = gate
        var logger = Logger(label: "tagih.test.gate")
        logger.logLevel = .warning
        let engine = try await Engine.open(configuration: configuration, clock: clock, policy: Simulation.policy,
                                           logger: logger)
        return (engine, directory)
    }

    /// The best-time gate: at 09:00 on a weekday the prior rates the same evening ×1.4 against ×0.8 now, so with
    /// θ = 0.8 a debtor called before (one unanswered call, on Monday at noon) is held until its best hour and
    /// leased then; without the gate it is leased at once. A debtor never called is not held: its best time is the
    /// prior alone, and a first call now may reach it and teaches the model its hours.
    @Test(.enabled(if: coreIsReal, "needs the real TagihCore decision function"),
          arguments: [(nil, true), (0.8, true), (0.8, false)] as [(Double?, Bool)])
    func bestTimeGateHoldsUntilTheBestHour(gate: Double?, calledBefore: Bool) async throws {
        let debtor = Debtor(
            id: "D-1", jurisdiction: "US-NY", zone: "America/New_York", status: .active, segment: "late",
            phones: [Phone(number: "+15185550100", kind: .mobile, zone: "America/New_York", owner: .debtor)],
            debts: [Debt(id: "A-1", balance: Money(tenThousandths: 8_000_000), currency: "USD")])
        let nineAM = testStart + 9 * 3600  // Tuesday 2026-12-01 09:00 New York
        let clock = VirtualClock(start: nineAM)
        let (engine, directory) = try await Self.engine(gate: gate, clock: clock)
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try await engine.upsert([debtor])
        if calledBefore {
            let noon = testStart - 12 * 3600  // Monday 2026-11-30 12:00 New York
            let call = OutcomeEvent(attempt: "a-1", debtor: "D-1", debt: "A-1", phone: "+15185550100", at: noon,
                                    outcome: .noAnswer)
            #expect(try await engine.ingest(call) == .applied)
        }
        let morning = await engine.lease(1, holder: "t")
        if gate == nil || !calledBefore {
            #expect(morning.count == 1)
        } else {
            #expect(morning.isEmpty)
            let decision = try #require(await engine.currentDecision(id: "D-1"))
            let best = try #require(decision.best)
            #expect(best > nineAM)
            clock.set(best)
            await engine.tick()
            let evening = await engine.lease(1, holder: "t")
            #expect(evening.count == 1)
        }
        try await engine.close()
    }
}
