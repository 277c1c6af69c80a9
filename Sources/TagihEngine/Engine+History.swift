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

    /// Rows a history checkpoint gathers from the shards, sorts by debtor id and writes per round (about 50 MB).
    static let historyRoundRows = 262_144
    /// Rows a shard encodes per message while a history checkpoint is written.
    static let historyTurnRows = 4_096

    /// Writes the history checkpoint rows of every debtor whose history changed since its last row: as many as
    /// each shard had changed histories when the checkpoint began (histories changed meanwhile are taken by the
    /// next checkpoint). Each round takes up to ``historyRoundRows`` rows from the shards (in proportion to what
    /// each has left), sorts them by debtor id (the table's order: consecutive rows then share B-tree pages, so a
    /// round rewrites each page once instead of once per transaction) and writes them in transactions of at most
    /// `chunk` rows (about 4 MiB). Returns how many rows were written.
    /// - Throws: ``StoreError`` when a write fails; the round's rows are taken again next time.
    func writeHistoryCheckpoint(chunk: Int) async throws -> Int {
        var left: [Int] = []
        for shard in shards { left.append(await shard.pendingHistoryCount()) }
        let budget = max(chunk, Self.historyRoundRows)
        var written = 0
        while case let total = left.reduce(0, +), total > 0 {
            var rows: [HistoryRow] = []
            var taken: [(shard: Int, slots: [UInt32])] = []
            for (s, shard) in shards.enumerated() where left[s] > 0 {
                var share = min(left[s], max(1, Int((Double(left[s]) / Double(total) * Double(budget)).rounded(.up))))
                var bytes = (64 << 20) / shards.count
                // In turns of at most `historyTurnRows` rows (a few milliseconds of encoding), so that the shard's
                // leases and outcomes wait at most that long.
                while share > 0 && bytes > 0 {
                    let (part, slots) = await shard.historyRows(limit: min(share, Self.historyTurnRows), maxBytes: bytes)
                    if slots.isEmpty {
                        left[s] = 0
                        break
                    }
                    left[s] = max(0, left[s] - slots.count)
                    share -= slots.count
                    bytes -= part.reduce(0) { $0 + $1.body.count + $1.debtor.utf8.count }
                    rows += part
                    taken.append((s, slots))
                }
            }
            if rows.isEmpty { break }
            rows.sort { a, b in a.debtor.utf8.lexicographicallyPrecedes(b.debtor.utf8) }
            do {
                try await log.writeHistory(rows)
            } catch {
                for (s, slots) in taken { await shards[s].giveBackHistoryRows(slots) }
                throw error
            }
            written += rows.count
        }
        return written
    }
}
