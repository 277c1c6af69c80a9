import Foundation
import Testing
import TagihCore
import TagihEngine
@testable import TagihSim

@Suite struct EngineStrategyTests {
    @Test func runsAnEphemeralEngineAndMapsLeasesToWorldIndices() async throws {
        let population = SyntheticPopulation.generate(count: 400, seed: 21)
        let configuration = smallConfiguration(days: 1, agents: 2, seed: 21, backend: .engine)
        let world = World(debtors: population, configuration: configuration)
        // 13:00 UTC on the first day: 08:00 in New York, within the calling windows of most jurisdictions.
        let now = testStart + 8 * 3600
        let strategy = try await EngineStrategy.open(
            world: world, start: now, policy: ContactPolicy(), holdBelowShareOfBest: nil, holdShare: 1)
        #expect(strategy.engine.isEphemeral)
        var leads: [Lead] = []
        await strategy.next(40, now: now, into: &leads)
        #expect(!leads.isEmpty)
        for lead in leads {
            let i = Int(lead.debtor)
            #expect(world.debtDebtor[Int(lead.debt)] == lead.debtor)
            #expect(Int(world.phoneStart[i])..<Int(world.phoneStart[i + 1]) ~= Int(lead.phone))
            let lease = try #require(await strategy.engine.debtorState(id: world.debtorID[i])?.lease)
            #expect(lease.id == lead.lease)
            #expect(lease.debt == world.debtID[Int(lead.debt)])
            #expect(lease.phone == world.phoneNumber[Int(lead.phone)])
        }
        await strategy.close()
        // The store-backed version made a scratch directory "tagih-sim-<pid>-…" per run.
        let scratch = try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())
            .filter { $0.hasPrefix("tagih-sim-\(getpid())-") }
        #expect(scratch.isEmpty, "no scratch store is created")
    }
}
