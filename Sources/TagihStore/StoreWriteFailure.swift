import Foundation
import TagihCore

/// Why the store cannot write at the moment: its last write transaction failed (a full disk, a read-only file
/// system, an I/O error) and none has committed since.
///
/// While a failure stands, nothing is acknowledged: each write fails with ``StoreError/Code/writeFailed`` and the
/// caller is told to retry. The store probes once a second with a small durable write of its own (see
/// ``Store/writeFailure``), so the failure clears by itself once the cause is gone, even when no client writes.
public struct StoreWriteFailure: Sendable, Equatable {
    /// When the first failed transaction of this run of failures ended.
    public var since: Date
    /// Failed write transactions (commits and probes) since `since`.
    public var failedTransactions: Int
    /// What SQLite said about the latest one (for example `SQLite error 13: database or disk is full`).
    public var reason: String

    /// Creates a failure record.
    public init(since: Date, failedTransactions: Int, reason: String) {
        self.since = since
        self.failedTransactions = failedTransactions
        self.reason = reason
    }

    /// One line for an operator or a client: `the store cannot write since 2026-12-01T05:17:50Z (3 failed
    /// transactions): SQLite error 13: database or disk is full - …`.
    public var summary: String {
        let seconds = Int64(since.timeIntervalSince1970.rounded(.down))
        let count = failedTransactions == 1 ? "1 failed transaction" : "\(failedTransactions) failed transactions"
        return "the store cannot write since \(RFC3339.formatUTC(seconds)) (\(count)): \(reason)"
    }
}
