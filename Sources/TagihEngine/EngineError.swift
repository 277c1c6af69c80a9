/// An error of the engine: a stable code, a message that says what went wrong and how to fix it, and the cause.
public struct EngineError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The stable machine-readable name.
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The event names a debtor the engine does not know.
        public static let unknownDebtor = Code("unknown_debtor")
        /// The event names a debt the debtor does not have.
        public static let unknownDebt = Code("unknown_debt")
        /// A record is invalid (for example an empty id).
        public static let invalidRecord = Code("invalid_record")
        /// A file could not be read (missing, a directory, no permission).
        public static let ioError = Code("io_error")
        /// The store failed; see the cause.
        public static let storeFailed = Code("store_failed")
        /// The engine was closed.
        public static let closed = Code("closed")
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

    public var description: String {
        if let cause { return "\(code): \(message) (cause: \(cause))" }
        return "\(code): \(message)"
    }
}
