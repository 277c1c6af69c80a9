import Foundation
import Testing

@testable import TagihSim

#if os(Linux)
import Glibc

@Suite("Background threads run below the event loop")
struct PriorityTests {
    private static func nice() -> Int32 { getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0) }

    @Test func aBackgroundThreadGetsNiceFiveAndTheCallerKeepsItsOwn() async throws {
        let before = Self.nice()
        let seen = await withCheckedContinuation { (done: CheckedContinuation<(Int32, Int32, Int32), Never>) in
            Thread.detachNewThread {
                let own = Self.nice()
                Parallel.runAtBackgroundPriority()
                let after = Self.nice()
                Parallel.runAtBackgroundPriority()  // idempotent: never lowers it further
                done.resume(returning: (own, after, Self.nice()))
            }
        }
        #expect(seen.1 == max(5, seen.0))
        #expect(seen.2 == seen.1)
        #expect(Self.nice() == before, "only the calling thread is lowered")
    }
}
#endif
