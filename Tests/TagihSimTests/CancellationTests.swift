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
        let (started, startedSink) = AsyncStream.makeStream(of: Void.self)
        let run = Task {
            try await SimulationRunner.run(
                population: population, configuration: configuration, strategies: [.tagih, .baseline],
                progress: { p in
                    days.seen.withLock { $0.append(p.day) }
                    startedSink.yield()
                })
        }
        for await _ in started { break }
        run.cancel()
        do {
            _ = try await run.value
            Issue.record("a cancelled 60-day run returned a report")
        } catch let error as SimulationError {
            #expect(error.code == "cancelled", "\(error)")
            #expect(error.message.contains("strategy tagih"), "\(error)")
        }
        // It stopped long before the end of the first strategy's 60 days (a day takes milliseconds here, so a
        // few more may pass between the cancel and the next step; the second strategy never started).
        let seen = days.seen.withLock { $0 }
        #expect(!seen.isEmpty && seen.count < 30, "\(seen)")
    }
}
