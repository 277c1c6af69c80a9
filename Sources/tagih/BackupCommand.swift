import ArgumentParser
import Foundation
import TagihStore

/// `tagih backup [--data DIR] FILE`: a consistent copy of the store in one SQLite file, taken while a server may run.
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy the store into one SQLite file, consistently, even while `tagih serve` runs on it.",
        discussion: """
            The copy holds every write the store had acknowledged when the backup began (SQLite's online backup \
            of one read transaction), is checked with SQLite's quick_check, and appears at FILE only when whole. \
            A running server keeps serving and writing meanwhile. To restore, stop the server and copy FILE into \
            an empty data folder as tagih.sqlite. Exit status 2 when the store cannot be read or FILE written.
            """)

    @Option(name: .long, help: "Data directory holding the SQLite store.")
    var data: String = "./data"

    @Flag(name: .long, help: "Print the summary as one JSON object.")
    var json = false

    @Argument(help: "The backup file to write (must not exist).")
    var file: String

    func run() async throws {
        let bar = isatty(2) == 1 ? PageProgressBar() : nil
        let started = ContinuousClock.now
        let summary: StoreBackupSummary
        do {
            summary = try StoreBackup.run(configuration: StoreConfiguration(directory: data), to: file) { copied, total in
                bar?.update(copied: copied, total: total)
            }
        } catch {
            bar?.finish()
            FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
            throw ExitCode(2)
        }
        bar?.finish()
        let elapsed = (ContinuousClock.now - started).components
        let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
        if json {
            let object: [String: Any] = [
                "file": summary.path, "bytes": summary.bytes, "debtors": summary.debtors, "events": summary.events,
                "lastEventPosition": summary.lastEventPosition, "elapsedSeconds": seconds,
            ]
            let data = try JSONSerialization.data(
                withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(
                "backed up \(data) to \(summary.path): \(summary.debtors) debtors, \(summary.events) events "
                    + "(up to position \(summary.lastEventPosition)), \(summary.bytes) bytes "
                    + String(format: "(%.1f s)", seconds))
        }
    }
}

/// A one-line progress bar of pages copied, on stderr (only when stderr is a terminal).
final class PageProgressBar: @unchecked Sendable {
    private let lock = NSLock()
    private var last = Date.distantPast

    func update(copied: Int, total: Int) {
        lock.lock()
        defer { lock.unlock() }
        let now = Date()
        guard now.timeIntervalSince(last) > 0.1 || copied >= total else { return }
        last = now
        let fraction = total > 0 ? min(1, Double(copied) / Double(total)) : 0
        let filled = Int(fraction * 30)
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: 30 - filled)
        FileHandle.standardError.write(Data(String(format: "\r[%@] %3.0f%%  %d of %d pages", bar, fraction * 100, copied, total).utf8))
    }

    func finish() { FileHandle.standardError.write(Data("\n".utf8)) }
}
