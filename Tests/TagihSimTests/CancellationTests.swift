import Foundation
import Synchronization
import Testing
import TagihCore
@testable import TagihSim

/// A cancelled run stops at its next step (5 simulated seconds) with `cancelled`, on both backends.
@Suite struct CancellationTests {
    final class Days: Sendable {
        let seen = Mutex<[Int]>([])
    }

    @Test(.timeLimit(.minutes(2)), arguments: [SimulationBackend.engine, .policy])
    func aCancelledRunStopsOnTheDayItWasCancelled(backend: SimulationBackend) async throws {
        let population = SyntheticPopulation.generate(count: 2_000, seed: 9)
        let configuration = smallConfiguration(days: 60, agents: 4, backend: backend)
        let days = Days()
        let run = Task {
            try await SimulationRunner.run(
                population: population, configuration: configuration, strategies: [.tagih, .baseline],
                progress: { p in
                    days.seen.withLock { $0.append(p.day) }
                    // Cancelled from inside, after day 2: deterministic, however busy the machine (a cancel from
                    // another task may come days later when every thread is taken).
                    if p.day == 2 { withUnsafeCurrentTask { $0?.cancel() } }
                })
        }
        do {
            _ = try await run.value
            Issue.record("a cancelled 60-day run returned a report")
        } catch let error as SimulationError {
            #expect(error.code == "cancelled", "\(error)")
            #expect(error.message == "the simulation was cancelled on day 3 of 60 of strategy tagih", "\(error)")
        }
        // It stopped at the first step of day 3; the second strategy never started.
        #expect(days.seen.withLock { $0 } == [1, 2])
    }
}
