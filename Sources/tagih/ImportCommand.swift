import ArgumentParser
import Foundation
import Logging
import TagihEngine
import TagihStore

/// `tagih import [--data DIR] FILE.ndjson`: bulk-loads debtor lines into the store.
///
/// Exit status: 0 when every line was accepted; 1 when any line was rejected (the good lines are applied all the
/// same, so a re-run after fixing the bad lines is safe: debtors are upserted by id); 2 or more for usage errors
/// or a failure to read the file or write the store.
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import debtors from an NDJSON file into the store.",
        discussion: """
            Each line is one debtor (line protocol v1). Good lines are applied in batches, one transaction each; \
            a later line with the same id replaces an earlier one. Bad lines are listed with their line number, \
            field and reason. Exit status 1 when any line was rejected.
            """)

    @Option(name: .long, help: "Data directory holding the SQLite store.")
    var data: String = "./data"

    @Option(name: .long, help: "Debtors per transaction.")
    var batch: Int = 10_000

    @Option(
        name: .long,
        help: "Longest line in bytes, as `tagih serve --max-line`; a longer one is rejected (line_too_long).")
    var maxLine: Int = 1 << 20

    @Flag(name: .long, help: "Print the summary as one JSON object.")
    var json = false

    @Argument(help: "The NDJSON file of debtors ('-' reads standard input).")
    var file: String

    func validate() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1, not \(batch)") }
        guard maxLine >= 1 else { throw ValidationError("--max-line must be at least 1, not \(maxLine)") }
    }

    func run() async throws {
        var logger = Logger(label: "tagih.import")
        logger.logLevel = .warning
        // The input first: a mistyped path must not leave a new, empty store behind.
        if file != "-" {
            do {
                try DebtorImport.checkReadable(file)
            } catch let error as EngineError {
                Self.fail("\(error.code): \(error.message)")
            }
        }
        let store: Store
        do {
            store = try await Store.open(configuration: StoreConfiguration(directory: data), logger: logger)
        } catch {
            // The store cannot be opened (in use by a server, unwritable): exit 2, as for a file that cannot be read.
            Self.fail("\(error)")
        }
        let bar = isatty(2) == 1 ? ProgressBar() : nil
        let summary: ImportSummary
        do {
            summary = try await DebtorImport.run(
                file: file == "-" ? "/dev/stdin" : file, into: store, batchSize: batch, maxLineLength: maxLine
            ) { p in
                bar?.update(p)
            }
        } catch {
            bar?.finish()
            try? await store.close()
            // The file cannot be read or the store cannot be written: exit 2 ("usage or I/O error"), never 1 (which
            // says that lines were rejected). Batches committed before a write failure stay committed, and the
            // message says up to which line.
            if let error = error as? EngineError { Self.fail("\(error.code): \(error.message)") }
            Self.fail("\(error)")
        }
        bar?.finish()
        try await store.close()
        if json {
            let object: [String: Any] = [
                "lines": summary.lines, "accepted": summary.accepted, "rejected": summary.rejectedCount,
                "elapsedSeconds": summary.elapsedSeconds,
                "rejections": summary.rejections.map(Self.json),
                "warningCount": summary.warningCount,
                "warnings": summary.warnings.map(Self.json),
                "repeatedIDs": summary.repeatedIDs, "debtors": summary.accepted - summary.repeatedIDs,
                "blankLines": summary.blankLines,
            ]
            let data = try JSONSerialization.data(
                withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        } else {
            let debtors = summary.accepted - summary.repeatedIDs
            let repeats = summary.repeatedIDs == 0 ? ""
                : ", \(summary.repeatedIDs) of them repeating the id of an earlier line (the later line wins)"
            print(
                "imported \(debtors) debtor\(debtors == 1 ? "" : "s") from "
                    + "\(file == "-" ? "standard input" : file) into \(data): \(summary.lines) lines"
                    + (summary.blankLines == 0 ? ", " : " (and \(summary.blankLines) blank, skipped), ")
                    + "\(summary.accepted) accepted\(repeats), \(summary.rejectedCount) rejected "
                    + String(format: "(%.1f s)", summary.elapsedSeconds))
            for r in summary.rejections {
                print("  line \(r.line): \(r.code): " + (r.field.isEmpty ? r.message : "\(r.field): \(r.message)"))
            }
            if summary.rejectedCount > summary.rejections.count {
                print("  … and \(summary.rejectedCount - summary.rejections.count) more rejected lines")
            }
            if summary.warningCount > 0 {
                print("\(summary.warningCount) warning\(summary.warningCount == 1 ? "" : "s") on accepted lines (the lines were imported):")
                for w in summary.warnings {
                    print("  line \(w.line): warning \(w.code): \(w.field): \(w.message)")
                }
                if summary.warningCount > summary.warnings.count {
                    print("  … and \(summary.warningCount - summary.warnings.count) more warnings")
                }
            }
        }
        if summary.rejectedCount > 0 { throw ExitCode(1) }
    }

    /// A rejection or warning as a JSON object of the `--json` summary.
    private static func json(_ f: LineFinding) -> [String: Any] {
        ["line": f.line, "code": f.code, "field": f.field, "message": f.message]
    }

    /// Prints `message` to standard error and exits with status 2.
    private static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data(("Error: " + message + "\n").utf8))
        Foundation.exit(2)
    }
}

/// A one-line progress bar on stderr (only used when stderr is a terminal).
final class ProgressBar: @unchecked Sendable {
    private let lock = NSLock()
    private var last = Date.distantPast

    func update(_ p: ImportProgress) {
        lock.lock()
        defer { lock.unlock() }
        let now = Date()
        guard now.timeIntervalSince(last) > 0.1 || p.bytesRead >= p.totalBytes else { return }
        last = now
        let fraction = p.totalBytes > 0 ? min(1, Double(p.bytesRead) / Double(p.totalBytes)) : 0
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let text = String(format: "\r[%@] %3.0f%%  %d lines, %d accepted, %d rejected", bar, fraction * 100, p.lines,
                          p.accepted, p.rejected)
        FileHandle.standardError.write(Data(text.utf8))
    }

    func finish() {
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
