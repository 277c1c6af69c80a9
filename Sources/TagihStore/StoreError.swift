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

    public var description: String {
        if let cause { return "\(code): \(message) (cause: \(cause))" }
        return "\(code): \(message)"
    }
}
