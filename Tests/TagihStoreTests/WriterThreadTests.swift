import Dispatch
import Foundation
import GRDB
import Synchronization
import Testing
@testable import TagihStore

/// The group committer's writer thread (`WriterThread`): every job on one thread of its own, in order.
@Suite struct WriterThreadTests {
    /// What the jobs saw: their order and the threads they ran on.
    private final class Seen: Sendable {
        let state = Mutex<(order: [Int], threads: Set<UInt>)>(([], []))
    }

    /// The calling thread's id.
    private static func threadID() -> UInt { UInt(pthread_self()) }

    @Test(arguments: [1, 10, 500])
    func jobsRunInOrderOnOneThreadThatIsNotTheCallers(_ count: Int) async throws {
        let writer = WriterThread(name: "test.writer")
        let seen = Seen()
        let done = DispatchSemaphore(value: 0)
        // Handed out from several tasks at once; each task's jobs must stay in its own order.
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<4 {
                group.addTask {
                    for k in 0..<count {
                        writer.run {
                            seen.state.withLock {
                                $0.order.append(task * 1_000_000 + k)
                                $0.threads.insert(Self.threadID())
                            }
                            if seen.state.withLock({ $0.order.count }) == 4 * count { done.signal() }
                        }
                    }
                }
            }
        }
        await Task.detached { done.wait() }.value
        let (order, threads) = seen.state.withLock { $0 }
        #expect(order.count == 4 * count)
        for task in 0..<4 {
            let mine = order.filter { $0 / 1_000_000 == task }
            #expect(mine == (0..<count).map { task * 1_000_000 + $0 })
        }
        #expect(threads.count == 1)
        #expect(!threads.contains(Self.threadID()))
        writer.stop()
    }

    /// `stop` lets the jobs already handed out run, refuses later ones, and ends the thread.
    @Test func stopRunsWhatWasGivenAndRefusesTheRest() async throws {
        let writer = WriterThread(name: "test.writer")
        let gate = DispatchSemaphore(value: 0)
        let ran = Atomic<Int>(0)
        writer.run { gate.wait() }
        for _ in 0..<3 { writer.run { ran.add(1, ordering: .sequentiallyConsistent) } }
        writer.stop()
        writer.stop()  // idempotent
        writer.run { ran.add(100, ordering: .sequentiallyConsistent) }
        #expect(!writer.hasEnded)
        gate.signal()
        for _ in 0..<200 where !writer.hasEnded { try await Task.sleep(for: .milliseconds(10)) }
        #expect(writer.hasEnded)
        #expect(ran.load(ordering: .sequentiallyConsistent) == 3)
    }

    /// A store's commits run on its writer thread: after `close` the thread has ended, and a committer that is
    /// released without `close` ends its thread too.
    @Test func committerEndsItsThread() async throws {
        let store = try await Store.open(configuration: .init(directory: temporaryDirectory()))
        _ = try await store.append([.outcome(outcome("w-1"))])
        let writer = store.committer.writerThread
        #expect(!writer.hasEnded)
        try await store.close()
        for _ in 0..<200 where !writer.hasEnded { try await Task.sleep(for: .milliseconds(10)) }
        #expect(writer.hasEnded)

        let pool = try DatabasePool(path: temporaryDirectory() + "/unused.sqlite")
        var committer: GroupCommitter? = GroupCommitter(pool: pool, lsn: 0, maxRows: 10, fullySynchronous: true)
        let released = committer!.writerThread
        committer = nil
        for _ in 0..<200 where !released.hasEnded { try await Task.sleep(for: .milliseconds(10)) }
        #expect(released.hasEnded)
    }
}
