import Synchronization
import TagihCore
import TagihStore

/// The writes of history events (outcomes, payments, lease expiries, clearances) between their commit and their
/// application to the shards, so that a history checkpoint knows through which log position every event is in
/// the shards' histories (`appliedThrough(logged:)`).
///
/// A writer registers (`begin`) before it appends, with the log's last position read before registering: its
/// events come after that position. It unregisters (`end`) once the shards applied them. An event at or before the
/// last position read *before* the registry is then either applied or belongs to a writer still registered, whose
/// bound is below it.
final class AppliedEvents: Sendable {
    private struct State {
        var next = 0
        var open: [Int: Int64] = [:]
    }

    private let state = Mutex(State())

    /// Registers a writer whose events will be logged after position `after`; returns its token.
    func begin(after: Int64) -> Int {
        state.withLock { s in
            s.next += 1
            s.open[s.next] = after
            return s.next
        }
    }

    /// The writer of `token` applied its events (or gave up).
    func end(_ token: Int) {
        _ = state.withLock { $0.open.removeValue(forKey: token) }
    }

    /// A position through which every history event is applied: `logged` (the log's last position, read before
    /// this call), or lower while a writer that registered before it still applies its events.
    func appliedThrough(logged: Int64) -> Int64 {
        state.withLock { s in min(logged, s.open.values.min() ?? .max) }
    }

    /// The number of writers registered (for tests).
    var openCount: Int { state.withLock { $0.open.count } }
}

/// Lets one snapshot (decisions and history checkpoint) be written at a time: a second `writeSnapshot` call waits
/// for the first. Two at once could record the later one's history floor while rows the earlier one took were
/// still being written.
final class SnapshotGate: Sendable {
    private struct State: ~Copyable {
        var busy = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let run = state.withLock { s -> Bool in
                if !s.busy {
                    s.busy = true
                    return true
                }
                s.waiters.append(continuation)
                return false
            }
            if run { continuation.resume() }
        }
    }

    func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.waiters.isEmpty {
                s.busy = false
                return nil
            }
            return s.waiters.removeFirst()
        }
        next?.resume()
    }
}

extension Engine {
    /// Registers a writer of history events about to append (see ``AppliedEvents``); nil for an ephemeral engine,
    /// which keeps no checkpoint.
    func beginApplying() async -> Int? {
        if isEphemeral { return nil }
        return applying.begin(after: await log.lastLSN())
    }

    func endApplying(_ token: Int?) {
        if let token { applying.end(token) }
    }

    /// Writes the history checkpoint rows of every debtor whose history changed since its last row, shard by
    /// shard, in transactions of at most `chunk` rows (about 4 MiB); each shard is asked for as many rows as it had
    /// changed histories when its turn came (histories changed meanwhile are taken by the next checkpoint).
    /// Returns how many rows were written.
    /// - Throws: ``StoreError`` when a write fails; the rows not written are taken again next time.
    func writeHistoryCheckpoint(chunk: Int) async throws -> Int {
        var written = 0
        for shard in shards {
            var left = await shard.pendingHistoryCount()
            while left > 0 {
                let (rows, slots) = await shard.historyRows(limit: min(left, chunk), maxBytes: 4 << 20)
                if slots.isEmpty { break }
                left -= slots.count
                do {
                    try await log.writeHistory(rows)
                } catch {
                    await shard.giveBackHistoryRows(slots)
                    throw error
                }
                written += rows.count
            }
        }
        return written
    }
}
