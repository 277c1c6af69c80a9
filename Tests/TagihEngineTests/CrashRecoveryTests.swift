import Foundation
import Testing
import TagihCore
import TagihEngine
import TagihStore

/// Finds the `tagih-crashtest` executable next to the test bundle (SwiftPM builds it with the tests).
func crashtestExecutable() -> URL? {
    var candidates: [URL] = []
    let argv0 = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var dir = argv0.deletingLastPathComponent()
    for _ in 0..<4 {
        candidates.append(dir.appendingPathComponent("tagih-crashtest"))
        dir = dir.deletingLastPathComponent()
    }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    candidates.append(root.appendingPathComponent(".build/debug/tagih-crashtest"))
    candidates.append(root.appendingPathComponent(".build/release/tagih-crashtest"))
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
}

/// Reads a pipe on a thread of its own, so the child never blocks on a full pipe.
final class PipeReader: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                lock.lock()
                data.append(chunk)
                lock.unlock()
            }
            done.signal()
        }
    }

    var text: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: data, as: UTF8.self)
    }

    func waitForEnd() { done.wait() }
}

@Suite struct CrashRecoveryTests {
    /// Runs `tagih-crashtest` against one data directory, kills it with SIGKILL at a random instant, 20 times;
    /// after each kill, every acknowledged event must be in the log exactly once, and the engine recovered from
    /// the store must hold each in its debtor's history exactly once.
    @Test(.timeLimit(.minutes(5)))
    func killNineAtRandomInstantsLosesNothingAndAppliesNothingTwice() async throws {
        let executable = try #require(crashtestExecutable(), "build the tagih-crashtest product first")
        let dir = temporaryDirectory()
        var acknowledged: Set<String> = []
        var duplicatesAcknowledged = 0
        var totalLines = 0
        for round in 1...20 {
            let process = Process()
            process.executableURL = executable
            process.arguments = [dir, String(round)]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            try process.run()
            let reader = PipeReader(pipe.fileHandleForReading)
            // Wait until it is ingesting, then kill it at a random instant.
            let deadline = Date().addingTimeInterval(30)
            while !reader.text.contains("ack ") && Date() < deadline { try await Task.sleep(for: .milliseconds(5)) }
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...250)))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            reader.waitForEnd()
            #expect(process.terminationReason == .uncaughtSignal)
            let lines = reader.text.split(separator: "\n")
            #expect(!lines.contains { $0.hasPrefix("error") || $0.hasPrefix("rejected") })
            for line in lines where line.hasPrefix("ack ") {
                let parts = line.split(separator: " ")
                guard parts.count == 3 else { continue }  // a line cut by the kill
                totalLines += 1
                acknowledged.insert(String(parts[1]))
                if parts[2] == "duplicate" { duplicatesAcknowledged += 1 }
            }

            // The log holds every acknowledged attempt exactly once.
            let store = try await Store.open(configuration: .init(directory: dir))
            var keys: [String: Int] = [:]
            var after: Int64 = 0
            while true {
                let page = try await store.events(after: after, limit: 50_000)
                if page.isEmpty { break }
                after = page.last!.lsn
                for e in page { keys[e.event.key, default: 0] += 1 }
            }
            try await store.close()
            let missing = acknowledged.filter { keys[$0] == nil }
            #expect(missing.isEmpty, "round \(round): acknowledged but lost: \(missing.prefix(5))")
            #expect(keys.values.allSatisfy { $0 == 1 }, "round \(round): an event is in the log twice")

            // Recovery applies each exactly once.
            if round % 5 == 0 || round == 1 {
                let engine = try await Engine.open(
                    configuration: EngineConfiguration(dataDirectory: dir), clock: VirtualClock(start: t0),
                    logger: quietLogger)
                var seen: [String: Int] = [:]
                for i in 0..<40 {
                    for o in await engine.debtorState(id: "D-\(i)")?.history.outcomes ?? [] {
                        seen[o.attempt, default: 0] += 1
                    }
                }
                #expect(seen.count == keys.count, "round \(round): recovered histories differ from the log")
                #expect(seen.values.allSatisfy { $0 == 1 })
                #expect(acknowledged.isSubset(of: Set(seen.keys)))
                try await engine.close()
            }
        }
        #expect(acknowledged.count > 100, "the child should have acknowledged events before being killed")
        #expect(duplicatesAcknowledged > 0, "repeats of earlier rounds should be acknowledged as duplicates")
        #expect(totalLines >= acknowledged.count)
    }
}
