import GRDB
import GRDBSQLite

/// An error of the store: a stable code, a message that says what went wrong and how to fix it, and the cause.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The stable machine-readable name.
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The database could not be opened or migrated.
        public static let cannotOpen = Code("cannot_open")
        /// The store is open in another process: one store, one owner process.
        public static let inUse = Code("in_use")
        /// A stored record could not be decoded.
        public static let corruptRecord = Code("corrupt_record")
        /// A write transaction failed; nothing in it was acknowledged.
        public static let writeFailed = Code("write_failed")
        /// A read failed.
        public static let readFailed = Code("read_failed")
        /// The database file is damaged, or is not a SQLite database at all (SQLite's `SQLITE_CORRUPT` or
        /// `SQLITE_NOTADB`): nothing was changed; the folder is to be restored from a backup or moved aside.
        public static let corruptStore = Code("corrupt_store")
        /// The store was closed.
        public static let closed = Code("closed")
        /// The caller passed something the store cannot write (for example a grant batch that holds fewer grants
        /// than its header announced); nothing was written.
        public static let invalidArgument = Code("invalid_argument")
    }

    /// What kind of failure this is.
    public var code: Code
    /// What went wrong and how to fix it.
    public var message: String
    /// The underlying error, if any.
    public var cause: (any Error)?

    /// Creates an error.
    public init(code: Code, message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// What went wrong underneath `error`, without the store's own wrapping: for a ``StoreError`` with a cause,
    /// the cause (`SQLite error 13: database or disk is full - …`, what an operator acts on); else `error` itself.
    public static func underlyingReason(of error: any Error) -> String {
        if let store = error as? StoreError, let cause = store.cause { return "\(cause)" }
        return "\(error)"
    }

    /// SQLite's primary result code under `error` (a GRDB `DatabaseError`, possibly wrapped in a ``StoreError``), or
    /// nil when the failure did not come from SQLite.
    public static func sqliteResultCode(of error: any Error) -> Int32? {
        if let store = error as? StoreError {
            if let code = store.sqliteCode { return code }
            return store.cause.flatMap { sqliteResultCode(of: $0) }
        }
        if let database = error as? DatabaseError { return database.resultCode.primaryResultCode.rawValue }
        return nil
    }

    /// The SQLite result code this error was made from, when it was made from a bare code (no GRDB error).
    var sqliteCode: Int32?

    /// The error for a store file that SQLite finds damaged or not a database: what that means and what to do, with
    /// SQLite's own words. `nil` when `code` is not one of those.
    static func corrupt(path: String, code: Int32, cause: (any Error)?) -> StoreError? {
        let what: String
        switch code {
        case SQLITE_CORRUPT: what = "is damaged (SQLite error 11: database disk image is malformed)"
        case SQLITE_NOTADB: what = "is not a SQLite database (SQLite error 26: file is not a database)"
        default: return nil
        }
        var error = StoreError(
            code: .corruptStore,
            message: "the store file \(path) \(what); nothing was changed. Restore the folder from a backup "
                + "(`tagih backup`), or move it aside to start an empty store",
            cause: cause)
        error.sqliteCode = code
        return error
    }

    /// The error for a failed read: ``Code/corruptStore`` when SQLite found the file damaged, else
    /// ``Code/readFailed``.
    static func readFailure(_ error: any Error, path: String) -> StoreError {
        if let code = sqliteResultCode(of: error), let corrupt = corrupt(path: path, code: code, cause: error) {
            return corrupt
        }
        return StoreError(code: .readFailed, message: "a read of the store failed", cause: error)
    }

    public var description: String {
        if let cause { return "\(code): \(message) (cause: \(cause))" }
        return "\(code): \(message)"
    }
}
