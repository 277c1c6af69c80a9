import GRDB
import Logging

/// Copies the WAL into the database file from a connection of its own, so that no group commit ever waits for
/// a checkpoint.
///
/// SQLite's default is an automatic checkpoint inside the commit that crosses 1,000 WAL pages: that commit (and
/// every acknowledgement batched behind it) then waits for the database file to be written and fsynced, which is
/// the tail of the outcome-ack latency. The writer turns automatic checkpoints off (`wal_autocheckpoint = 0`) and
/// this task runs a `PASSIVE` checkpoint every `interval` instead: it never blocks the writer or readers.
/// Under a steady stream of commits the WAL never stands fully copied when the writer looks, so it would grow
/// without end; once it holds more than `restartPages` pages, a `RESTART` checkpoint (which waits for the
/// writer's lock between two commits and then copies only the few pages the passive runs left) lets the next
/// commit start the WAL from its beginning again.
///
/// Every checkpoint of the store runs on this one connection, one at a time (SQLite refuses a second concurrent
/// checkpointer with `SQLITE_BUSY`), including the explicit ``checkpoint(_:)`` of a clean shutdown or an import.
final class Checkpointer: Sendable {
    private let queue: DatabaseQueue
    private let task: Task<Void, Never>

    /// Opens a second connection to `path` and starts checkpointing every `interval`.
    init(path: String, interval: Duration, restartPages: Int = 8192, logger: Logger) throws {
        var config = Configuration()
        config.label = "tagih.store.checkpointer"
        // A RESTART checkpoint holds new commits back while it waits for readers: wait at most 100 ms, then give
        // up and try again at the next interval (readers in this service are short).
        config.busyMode = .timeout(0.1)
        let queue = try DatabaseQueue(path: path, configuration: config)
        self.queue = queue
        task = Task.detached(priority: .utility) {
            var failures = 0
            while true {
                do {
                    try await Task.sleep(for: interval)
                } catch {
                    return  // cancelled: the store is closing
                }
                do {
                    try await queue.writeWithoutTransaction { db in
                        let (walPages, _) = try db.checkpoint(.passive)
                        if walPages > restartPages { _ = try db.checkpoint(.restart) }
                    }
                    failures = 0
                } catch {
                    if Task.isCancelled { return }
                    failures += 1
                    // SQLITE_BUSY is expected now and then: the RESTART step waited 100 ms for a busy writer (a
                    // bulk load) and gave up until the next interval. Only a run of them is worth a warning.
                    let busy = (error as? DatabaseError)?.resultCode == .SQLITE_BUSY
                    if busy ? failures % 100 == 0 : (failures == 1 || failures % 100 == 0) {
                        logger.warning(
                            "WAL checkpoint failed; will retry", metadata: ["error": "\(error)", "failures": "\(failures)"])
                    } else {
                        logger.debug(
                            "WAL checkpoint deferred; will retry", metadata: ["error": "\(error)", "failures": "\(failures)"])
                    }
                }
            }
        }
    }

    /// Runs one checkpoint of `kind` now, after any periodic one in progress. `SQLITE_BUSY` (another connection
    /// checkpoints, or a reader holds the WAL past the 100 ms busy timeout) is retried for a few seconds.
    func checkpoint(_ kind: Database.CheckpointMode) async throws {
        var attempt = 0
        while true {
            do {
                try await queue.writeWithoutTransaction { db in _ = try db.checkpoint(kind) }
                return
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY && attempt < 40 {
                attempt += 1
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    /// Stops checkpointing and closes the connection.
    func stop() async {
        task.cancel()
        await task.value
        try? queue.close()
    }
}
