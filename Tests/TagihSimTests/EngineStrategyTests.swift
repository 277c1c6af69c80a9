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

@Suite struct DebtorIndexTests {
    @Test(arguments: [0, 1, 5, 3_000])
    func findsEveryIdAndNoOther(_ count: Int) {
        let ids = (0..<count).map { "D-\($0)" }
        let index = DebtorIndex(ids)
        for (i, id) in ids.enumerated() {
            #expect(index.find(id, hash: stableHash(id), ids: ids) == i)
            // The first candidate of an id's bucket is some debtor (an id of the table), for prefetching only.
            #expect(index.candidate(hash: stableHash(id)).map { $0 >= 0 && $0 < count } == true)
        }
        for unknown in ["D-\(count)", "", "d-0", "D-00"] {
            #expect(index.find(unknown, hash: stableHash(unknown), ids: ids) == nil)
        }
    }

    @Test func aRepeatedIdMapsToItsLastDebtorAsADictionaryWould() {
        let ids = ["A", "B", "A", "C", "B", "A"]
        let index = DebtorIndex(ids)
        var dictionary: [String: Int] = [:]
        for (i, id) in ids.enumerated() { dictionary[id] = i }
        for id in Set(ids) { #expect(index.find(id, hash: stableHash(id), ids: ids) == dictionary[id]) }
    }
}
