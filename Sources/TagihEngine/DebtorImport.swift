import Foundation
import TagihCore
import TagihStore

/// What an import found on one line: why it was not applied (``ImportSummary/rejections``), or a warning on a line
/// that was (``ImportSummary/warnings``: an unknown field, a jurisdiction without a rule pack).
public struct LineFinding: Sendable, Hashable {
    /// 1-based line number in the file.
    public var line: Int
    /// Stable code, for example `missing_field`, `invalid_json` (rejections), `unknown_field`, `no_rule_pack`
    /// (warnings).
    public var code: String
    /// The JSON field path, empty when the line as a whole is bad.
    public var field: String
    /// What is wrong (and, for a rejection, how to fix it).
    public var message: String
}

/// One line of an import that was not applied.
public typealias LineRejection = LineFinding
/// A warning on an imported line (the line was applied).
public typealias LineWarning = LineFinding

/// How an import went.
public struct ImportSummary: Sendable {
    /// Non-blank lines read.
    public var lines = 0
    /// Blank lines skipped (line numbers in rejections and warnings count them: they are the file's).
    public var blankLines = 0
    /// Debtors written (new or replaced).
    public var accepted = 0
    /// Lines rejected.
    public var rejectedCount = 0
    /// The first ``DebtorImport/maxListedRejections`` rejections, in line order.
    public var rejections: [LineRejection] = []
    /// Warnings on accepted lines (all are counted).
    public var warningCount = 0
    /// Accepted lines whose debtor id an earlier accepted line of the file has: each replaces the earlier one
    /// (also listed as `repeated_id` warnings). ``accepted`` minus this is the number of distinct debtors written.
    public var repeatedIDs = 0
    /// The first ``DebtorImport/maxListedWarnings`` warnings, in line order.
    public var warnings: [LineWarning] = []
    /// Wall time, seconds.
    public var elapsedSeconds = 0.0
}

/// Progress of a running import, for a progress bar.
public struct ImportProgress: Sendable {
    /// Bytes of the file read so far.
    public var bytesRead: Int
    /// The size of the file.
    public var totalBytes: Int
    /// Non-blank lines read so far.
    public var lines: Int
    /// Debtors written so far.
    public var accepted: Int
    /// Lines rejected so far.
    public var rejected: Int
}

/// Bulk import of debtor NDJSON into the store, in batches of one transaction each.
///
/// It writes the store only (no shards are built), so it needs little memory; the next `serve` recovers the
/// debtors. Good lines are applied even when others are rejected; a later line with the same id replaces an
/// earlier one, with a `repeated_id` warning naming the earlier line (a file exported twice into one, or two
/// customers given one id, would otherwise pass as that many debtors).
public enum DebtorImport {
    /// How many rejections the summary lists (all are counted).
    public static let maxListedRejections = 10_000
    /// How many warnings the summary lists (all are counted).
    public static let maxListedWarnings = 1_000

    /// Throws what `run` would throw for a file that cannot be read (`io_error`: missing, a directory, not
    /// readable), without opening anything: `tagih import` checks its input before it creates or opens a store.
    public static func checkReadable(_ path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw EngineError(code: .ioError, message: "cannot open \(path): no such file; check the path")
        }
        guard !isDirectory.boolValue else {
            throw EngineError(code: .ioError, message: "cannot import \(path): it is a directory, not an NDJSON file")
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw EngineError(code: .ioError, message: "cannot open \(path) for reading; check its permissions")
        }
    }

    /// Imports `path` into `store`.
    /// - Parameters:
    ///   - batchSize: debtors per transaction (default 10,000).
    ///   - progress: called after each batch.
    /// - Throws: ``EngineError`` when the file cannot be read (`io_error`) or the store cannot write a batch
    ///   (`store_failed`, its message naming the last line imported and what to do; batches committed before
    ///   stay committed).
    public static func run(
        file path: String, into store: Store, batchSize: Int = 10_000, maxLineLength: Int = 1 << 20,
        progress: (@Sendable (ImportProgress) -> Void)? = nil
    ) async throws -> ImportSummary {
        let started = ContinuousClock.now
        try checkReadable(path)
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw EngineError(code: .ioError, message: "cannot open \(path) for reading; check its permissions")
        }
        defer { try? handle.close() }
        let total = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        var summary = ImportSummary()
        var lineNumber = 0
        var bytesRead = 0
        var pending = Data()
        var batch: [Debtor] = []
        batch.reserveCapacity(batchSize)
        /// The line number of the first line of `batch` (and of the lines after the last committed batch).
        var batchFirstLine = 1
        /// The line of each debtor id accepted so far, by the id's 64-bit stable hash (12 bytes a debtor instead of
        /// the id; two ids of a 10M file share a hash with a chance of about 3 in a million).
        var lineOfID: [UInt64: Int32] = [:]

        func reject(_ line: Int, _ error: RecordError) {
            summary.rejectedCount += 1
            if summary.rejections.count < maxListedRejections {
                summary.rejections.append(LineRejection(line: line, code: error.code, field: error.field,
                                                        message: error.message))
            }
        }
        func handleLine(_ bytes: Data) {
            lineNumber += 1
            var line = bytes
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            // A byte-order mark at the start of the file (some editors write one) is not part of the first line.
            if lineNumber == 1, line.starts(with: [0xEF, 0xBB, 0xBF]) { line = line.dropFirst(3) }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
                summary.blankLines += 1
                return
            }
            summary.lines += 1
            do {
                let decoded = try LineDecoder.debtor(from: line)
                if let problem = Engine.validate(decoded.value) {
                    reject(lineNumber, RecordError(code: "invalid_record", field: "", message: problem))
                } else {
                    batch.append(decoded.value)
                    var warnings = decoded.warnings
                    let id = decoded.value.id
                    let line32 = Int32(truncatingIfNeeded: lineNumber)
                    if let earlier = lineOfID.updateValue(line32, forKey: stableHash(id)) {
                        summary.repeatedIDs += 1
                        warnings.append(RecordWarning(
                            code: "repeated_id", field: "id",
                            message: "debtor '\(id)' is also on line \(earlier); this later line replaces it "
                                + "(debtors are upserted by id)"))
                    }
                    for w in warnings {
                        summary.warningCount += 1
                        if summary.warnings.count < maxListedWarnings {
                            summary.warnings.append(
                                LineWarning(line: lineNumber, code: w.code, field: w.field, message: w.message))
                        }
                    }
                }
            } catch {
                reject(lineNumber, error)
            }
        }
        func flush() async throws {
            if batch.isEmpty { return }
            do {
                _ = try await store.upsert(batch)
            } catch {
                let reason = StoreError.underlyingReason(of: error)
                let done = batchFirstLine > 1
                    ? "lines 1–\(batchFirstLine - 1) are done (\(summary.accepted) debtor"
                        + "\(summary.accepted == 1 ? "" : "s") imported), the lines from \(batchFirstLine) on are not"
                    : "nothing was imported"
                throw EngineError(
                    code: .storeFailed,
                    message: "the store could not write the batch of lines \(batchFirstLine)–\(lineNumber) (\(reason)); "
                        + "\(done); fix the cause (free disk space) and run the same import again: debtors are "
                        + "upserted by id, so lines imported already are only written again",
                    cause: error)
            }
            summary.accepted += batch.count
            batchFirstLine = lineNumber + 1
            batch.removeAll(keepingCapacity: true)
            progress?(ImportProgress(bytesRead: bytesRead, totalBytes: total, lines: summary.lines,
                                     accepted: summary.accepted, rejected: summary.rejectedCount))
        }

        // A line longer than `maxLineLength` is rejected as `line_too_long` (the line protocol's limit, as
        // `PUT /v1/debtors` applies it) and its bytes are dropped as they come, not buffered: a file that lost its
        // newlines is refused line by line at the speed of reading.
        func rejectTooLong() {
            lineNumber += 1
            summary.lines += 1
            reject(lineNumber, RecordError(
                code: "line_too_long", field: "",
                message: "the line is longer than \(maxLineLength) bytes (--max-line); a debtor line is far shorter: "
                    + "check that the file is NDJSON, one debtor per line"))
        }
        var tooLong = false  // the current line passed the limit: dropped up to its newline
        var scanned = 0  // bytes at the start of `pending` known to hold no newline
        while true {
            let chunk = try handle.read(upToCount: 1 << 22) ?? Data()
            if chunk.isEmpty { break }
            bytesRead += chunk.count
            pending.append(chunk)
            var start = pending.startIndex
            var from = start + scanned
            while let newline = pending[from...].firstIndex(of: 0x0A) {
                if tooLong || newline - start > maxLineLength {
                    rejectTooLong()
                    tooLong = false
                } else {
                    handleLine(pending[start..<newline])
                }
                start = newline + 1
                from = start
                if batch.count >= batchSize { try await flush() }
            }
            if pending.endIndex - start > maxLineLength {
                tooLong = true
                pending = Data()
                scanned = 0
            } else {
                pending = Data(pending[start...])
                scanned = pending.count
            }
        }
        if tooLong {
            rejectTooLong()
        } else if !pending.isEmpty {
            handleLine(pending)
        }
        try await flush()
        progress?(ImportProgress(bytesRead: bytesRead, totalBytes: total, lines: summary.lines,
                                 accepted: summary.accepted, rejected: summary.rejectedCount))
        try await store.checkpoint()
        let elapsed = ContinuousClock.now - started
        summary.elapsedSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return summary
    }
}
