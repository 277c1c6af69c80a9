import Foundation
import Testing
@testable import TagihStore

/// One store, one owner process: a second process cannot open a store that is open (audit of session 11: a second
/// `tagih serve` on the same `--data` leased the same debtors again).
@Suite struct StoreLockTests {
    /// Starts `flock -x FILE sleep 60` (util-linux) as another process holding the store's lock, and waits until it
    /// holds it.
    private func holdLockInAnotherProcess(_ directory: String) throws -> Process {
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        holder.arguments = ["flock", "-x", directory + "/" + StoreLock.fileName, "sleep", "60"]
        try holder.run()
        for _ in 0..<200 where !isLockedByAnotherProcess(directory) { usleep(10_000) }
        #expect(isLockedByAnotherProcess(directory), "flock did not take the lock")
        return holder
    }

    /// Whether `flock -n -x FILE true` (another process) fails to get the lock.
    private func isLockedByAnotherProcess(_ directory: String) -> Bool {
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = ["flock", "-n", "-x", directory + "/" + StoreLock.fileName, "true"]
        guard (try? probe.run()) != nil else { return false }
        probe.waitUntilExit()
        return probe.terminationStatus != 0
    }

    @Test func aStoreOpenInAnotherProcessIsRefusedWithItsOwnCode() async throws {
        let dir = temporaryDirectory()
        let holder = try holdLockInAnotherProcess(dir)
        defer { holder.terminate() }
        await #expect {
            _ = try await Store.open(configuration: StoreConfiguration(directory: dir))
        } throws: { error in
            guard let error = error as? StoreError else { return false }
            return error.code == .inUse && error.message.contains(dir) && error.message.contains("already open")
        }
        holder.terminate()
        holder.waitUntilExit()
        // The lock went with the process that held it (as after a kill -9): the store opens.
        let store = try await Store.open(configuration: StoreConfiguration(directory: dir))
        try await store.close()
    }

    @Test func anOpenStoreLocksItsDirectoryUntilItIsClosed() async throws {
        let dir = temporaryDirectory()
        #expect(!isLockedByAnotherProcess(dir))
        let store = try await Store.open(configuration: StoreConfiguration(directory: dir))
        #expect(isLockedByAnotherProcess(dir))
        let pid = try String(contentsOfFile: dir + "/" + StoreLock.fileName, encoding: .utf8)
        #expect(pid.trimmingCharacters(in: .whitespacesAndNewlines) == String(getpid()))
        // A second store of the same directory in this process shares the lock (the engine's tests stand for a
        // crash that way); the directory stays locked until the last one closes.
        let second = try await Store.open(configuration: StoreConfiguration(directory: dir + "/."))
        try await store.close()
        #expect(isLockedByAnotherProcess(dir))
        try await second.close()
        #expect(!isLockedByAnotherProcess(dir))
    }
}
