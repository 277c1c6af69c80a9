import NIOCore

/// One line of an NDJSON body, without its terminating `\n` (and without a trailing `\r`).
public struct NDJSONLine: Sendable, Hashable {
    /// The 1-based line number in the body (blank lines are counted but not delivered).
    public var number: Int
    /// The line's bytes (a view into the received buffer; no copy).
    public var bytes: ByteBuffer

    /// Creates a line.
    public init(number: Int, bytes: ByteBuffer) {
        self.number = number
        self.bytes = bytes
    }

    /// The line as a `String` (UTF-8 decoded, invalid sequences repaired).
    public var string: String { String(buffer: bytes) }
}

/// A per-line error: the line was rejected but the body goes on with the next line.
public struct NDJSONLineError: Error, Sendable, Hashable, CustomStringConvertible {
    /// `line_too_long` for a line longer than the maximum.
    public var code: String
    /// The 1-based number of the rejected line.
    public var lineNumber: Int
    /// What went wrong and how to fix it.
    public var message: String

    /// A line longer than `maxLength` bytes.
    public static func tooLong(lineNumber: Int, maxLength: Int) -> NDJSONLineError {
        NDJSONLineError(
            code: "line_too_long",
            lineNumber: lineNumber,
            message: "line \(lineNumber) is longer than the maximum of \(maxLength) bytes; it was skipped, "
                + "split the record or raise the limit (tagih serve --max-line)"
        )
    }

    public var description: String { message }
}

/// Splits a byte stream into NDJSON lines with a maximum line length.
///
/// Feed chunks with `append(_:)` and take results with `next()` until it returns nil; call
/// `finish()` at the end of the body to get a last line that has no trailing newline.
/// A line longer than `maxLength` is discarded as it arrives (memory stays bounded by
/// `maxLength` plus one chunk) and reported once as `.failure(.tooLong)`; the next line is read normally.
public struct NDJSONLineSplitter: Sendable {
    /// The maximum line length in bytes, excluding the newline.
    public let maxLength: Int
    private var pending: ByteBuffer?
    /// How far into `pending` no newline exists.
    private var scanned = 0
    private var lineNumber = 0
    /// Dropping the rest of an over-long line until its newline.
    private var skipping = false
    private var finished = false

    /// Creates a splitter; `maxLength` defaults to 1 MiB.
    public init(maxLength: Int = 1 << 20) {
        self.maxLength = max(1, maxLength)
    }

    /// Adds the next chunk of the body.
    public mutating func append(_ chunk: ByteBuffer) {
        guard chunk.readableBytes > 0 else { return }
        if var buffer = pending, buffer.readableBytes > 0 {
            pending = nil  // keep the storage uniquely referenced so the append does not copy it
            buffer.writeImmutableBuffer(chunk)
            pending = buffer
        } else {
            pending = chunk
            scanned = 0
        }
    }

    /// Marks the end of the body; a final unterminated line becomes available from `next()`.
    public mutating func finish() {
        finished = true
    }

    /// The next complete line or per-line error, or nil when more input is needed.
    public mutating func next() -> Result<NDJSONLine, NDJSONLineError>? {
        while var buffer = pending, buffer.readableBytes > 0 {
            let view = buffer.readableBytesView
            let searchStart = view.startIndex + scanned
            if let newline = view[searchStart...].firstIndex(of: UInt8(ascii: "\n")) {
                let length = newline - view.startIndex
                lineNumber += 1
                if skipping {
                    skipping = false
                    buffer.moveReaderIndex(forwardBy: length + 1)
                    pending = buffer
                    scanned = 0
                    return .failure(.tooLong(lineNumber: lineNumber, maxLength: maxLength))
                }
                var line = buffer.readSlice(length: length)!
                buffer.moveReaderIndex(forwardBy: 1)
                pending = buffer
                scanned = 0
                if line.readableBytes > 0, line.getInteger(at: line.writerIndex - 1, as: UInt8.self) == UInt8(ascii: "\r") {
                    line.moveWriterIndex(to: line.writerIndex - 1)
                }
                if line.readableBytes > maxLength {
                    return .failure(.tooLong(lineNumber: lineNumber, maxLength: maxLength))
                }
                if line.readableBytes == 0 { continue }
                return .success(NDJSONLine(number: lineNumber, bytes: line))
            }
            // No newline yet.
            if skipping || buffer.readableBytes > maxLength + 1 {
                skipping = true
                pending = nil
                scanned = 0
                return nil
            }
            scanned = buffer.readableBytes
            break
        }
        if finished {
            defer {
                pending = nil
                scanned = 0
                skipping = false
            }
            if skipping {
                lineNumber += 1
                return .failure(.tooLong(lineNumber: lineNumber, maxLength: maxLength))
            }
            if var last = pending, last.readableBytes > 0 {
                lineNumber += 1
                if last.getInteger(at: last.writerIndex - 1, as: UInt8.self) == UInt8(ascii: "\r") {
                    last.moveWriterIndex(to: last.writerIndex - 1)
                }
                if last.readableBytes > maxLength {
                    return .failure(.tooLong(lineNumber: lineNumber, maxLength: maxLength))
                }
                if last.readableBytes == 0 { return nil }
                return .success(NDJSONLine(number: lineNumber, bytes: last))
            }
        }
        return nil
    }
}

/// NDJSON lines of an `AsyncSequence` of byte chunks.
///
/// Each element is either a line or a per-line error (`NDJSONLineError`, e.g. a line over the
/// maximum length); a per-line error does not end the sequence. The sequence throws only when the
/// underlying body throws (stream reset, connection closed).
public struct NDJSONLineSequence<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable
where Base.Element == ByteBuffer {
    public typealias Element = Result<NDJSONLine, NDJSONLineError>

    let base: Base
    let maxLength: Int
    let onTooLong: (@Sendable () -> Void)?

    init(base: Base, maxLength: Int, onTooLong: (@Sendable () -> Void)? = nil) {
        self.base = base
        self.maxLength = maxLength
        self.onTooLong = onTooLong
    }

    /// Iterates the lines.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        var splitter: NDJSONLineSplitter
        var done = false
        let onTooLong: (@Sendable () -> Void)?

        /// The next line or per-line error, or nil at the end of the body.
        public mutating func next() async throws -> Result<NDJSONLine, NDJSONLineError>? {
            while true {
                if let result = splitter.next() {
                    if case .failure = result { onTooLong?() }
                    return result
                }
                if done { return nil }
                if let chunk = try await base.next() {
                    splitter.append(chunk)
                } else {
                    done = true
                    splitter.finish()
                }
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), splitter: NDJSONLineSplitter(maxLength: maxLength), onTooLong: onTooLong)
    }
}

@available(*, unavailable)
extension NDJSONLineSequence.AsyncIterator: Sendable {}
