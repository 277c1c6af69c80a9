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

/// The crash test child's clock (see `Sources/tagih-crashtest/main.swift`): 60 × faster than the wall clock from
/// the instant in DIR/epoch, starting on Tuesday 2026-12-01 15:00 UTC.
final class CrashTestClock: EngineClock {
    let epoch: Double
    init(epoch: Double) { self.epoch = epoch }
    func now() -> UnixSeconds { 1_796_137_200 + Int64((Date().timeIntervalSince1970 - epoch) * 60) }
}

/// What the log says about leases, replayed in log order with the engine's rules: a lease ends by the outcome
/// naming it, by an outcome without a lease id logged after its grant, by its expiry, or by its release.
struct LeaseLedger {
    /// Debtor → (lease id, grant position) of the lease open at the end of the log.
    var open: [String: (id: String, lsn: Int64)] = [:]
    /// Debtors granted while another lease on them was still open (must stay empty).
    var leasedTwice: [String] = []
    var granted: Set<String> = []
    var grants = 0
    var expiries: [String: Int] = [:]
    var answeredLeases: Set<String> = []
    var lateAnswers = 0
    /// Debtor → expiries whose lease got no outcome (each counts as one call).
    var countedExpiries: [String: Int] = [:]
    var outcomeKeys: [String: Int] = [:]

    init(_ events: [LoggedEvent]) {
        var expiredLeases: Set<String> = []
        for e in events {
            switch e.event {
            case .leasesGranted(let batch):
                for g in batch.grants {
                    grants += 1
                    granted.insert(g.lease)
                    if open[g.debtor] != nil { leasedTwice.append(g.debtor) }
                    open[g.debtor] = (g.lease, e.lsn)
                }
            case .outcome(let o):
                outcomeKeys[o.attempt, default: 0] += 1
                if let lease = o.lease {
                    answeredLeases.insert(lease)
                    if expiredLeases.contains(lease) { lateAnswers += 1 }
                    if open[o.debtor]?.id == lease { open[o.debtor] = nil }
                } else if let current = open[o.debtor], current.lsn < e.lsn {
                    open[o.debtor] = nil
                }
            case .leaseExpired(let x):
                expiries[x.lease, default: 0] += 1
                expiredLeases.insert(x.lease)
                if open[x.debtor]?.id == x.lease { open[x.debtor] = nil }
            case .leasesReleased(let batch):
                for r in batch.releases where open[r.debtor]?.id == r.lease { open[r.debtor] = nil }
            case .payment, .clearance:
                break
            }
        }
        for e in events {
            if case .leaseExpired(let x) = e.event, !answeredLeases.contains(x.lease) {
                countedExpiries[x.debtor, default: 0] += 1
            }
        }
    }
}

@Suite struct CrashRecoveryTests {
    /// Runs `tagih-crashtest` against one data directory, kills it with SIGKILL at a random instant, 20 times.
    /// After each kill: every acknowledged event is in the log exactly once; every lease the child printed (it
    /// prints a lease only once `lease` returned it) has its grant in the log; replaying the log, no debtor was
    /// ever granted while another lease on it was open, across all crashes; each lease expired at most once. Every
    /// fifth round the engine recovered from the store must hold each outcome in its debtor's history exactly
    /// once, hold every lease the log leaves open (and nothing else), and count each expiry once: an expired
    /// lease whose outcome came late counts only through the outcome.
    @Test(.timeLimit(.minutes(6)))
    func killNineAtRandomInstantsLosesNothingAndAppliesNothingTwice() async throws {
        let executable = try #require(crashtestExecutable(), "build the tagih-crashtest product first")
        let dir = temporaryDirectory()
        let epoch = Date().timeIntervalSince1970
        try String(epoch).write(toFile: dir + "/epoch", atomically: true, encoding: .utf8)
        let clock = CrashTestClock(epoch: epoch)
        var acknowledged: Set<String> = []
        var printedLeases: Set<String> = []
        var duplicatesAcknowledged = 0
        var totalLines = 0
        var expiriesSeen = 0
        var lateAnswersSeen = 0
        var leasesOpenAtAKill = 0
        var snapshotsWritten = 0
        var recoveredFromCheckpoint = 0
        for round in 1...20 {
            let process = Process()
            process.executableURL = executable
            process.arguments = [dir, String(round)]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            try process.run()
            let reader = PipeReader(pipe.fileHandleForReading)
            // Wait until it is ingesting and leasing, then kill it at a random instant (leases expire after 2 s).
            let deadline = Date().addingTimeInterval(30)
            while !(reader.text.contains("ack ") && reader.text.contains("lease ")) && Date() < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            // Every fourth round lives long enough for answers after expiry (2.1–2.6 s after their lease).
            let delay = round % 4 == 0 ? Int.random(in: 2_800...4_000) : Int.random(in: 0...3_000)
            try await Task.sleep(for: .milliseconds(delay))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            reader.waitForEnd()
            #expect(process.terminationReason == .uncaughtSignal)
            let lines = reader.text.split(separator: "\n")
            #expect(!lines.contains { $0.hasPrefix("error") || $0.hasPrefix("rejected") })
            for line in lines {
                let parts = line.split(separator: " ")
                if line.hasPrefix("ack "), parts.count == 3 {  // else a line cut by the kill
                    totalLines += 1
                    acknowledged.insert(String(parts[1]))
                    if parts[2] == "duplicate" { duplicatesAcknowledged += 1 }
                } else if line.hasPrefix("lease "), parts.count == 3 {
                    printedLeases.insert(String(parts[1]))
                } else if line == "snapshot" {
                    snapshotsWritten += 1
                }
            }

            // The log holds every acknowledged attempt and every lease handed out, each exactly once.
            var ledger = LeaseLedger(try await loggedEvents(dir))
            let missing = acknowledged.filter { ledger.outcomeKeys[$0] == nil }
            #expect(missing.isEmpty, "round \(round): acknowledged but lost: \(missing.prefix(5))")
            #expect(ledger.outcomeKeys.values.allSatisfy { $0 == 1 }, "round \(round): an outcome is in the log twice")
            let lostLeases = printedLeases.subtracting(ledger.granted)
            #expect(lostLeases.isEmpty, "round \(round): handed out but not logged: \(lostLeases.prefix(5))")
            #expect(ledger.leasedTwice.isEmpty, "round \(round): leased while leased: \(ledger.leasedTwice.prefix(5))")
            #expect(ledger.expiries.values.allSatisfy { $0 == 1 }, "round \(round): a lease expired twice")
            leasesOpenAtAKill += ledger.open.count

            // Recovery applies each exactly once and holds the open leases.
            if round % 5 == 0 || round == 1 {
                var configuration = EngineConfiguration(dataDirectory: dir)
                configuration.leaseTTL = 120
                let floorBefore = try await historyFloor(dir)
                let engine = try await Engine.open(configuration: configuration, clock: clock, logger: quietLogger)
                if floorBefore > 0 { recoveredFromCheckpoint += 1 }
                // Opening logs the expiries of leases that ran out while nobody ran: read the log again.
                ledger = LeaseLedger(try await loggedEvents(dir))
                #expect(ledger.leasedTwice.isEmpty)
                var seen: [String: Int] = [:]
                var heldWrongly: [String] = []
                var countedWrongly: [String] = []
                let ids = (0..<40).map { "D-\($0)" } + (0..<3_000).map { "L-\($0)" }
                for id in ids {
                    let state = try #require(await engine.debtorState(id: id))
                    for o in state.history.outcomes { seen[o.attempt, default: 0] += 1 }
                    if state.lease?.id != ledger.open[id]?.id { heldWrongly.append(id) }
                    let unresolved = state.history.unresolved.compactMap(\.lease)
                    if unresolved.count != Set(unresolved).count
                        || unresolved.contains(where: ledger.answeredLeases.contains)
                        || unresolved.count != ledger.countedExpiries[id, default: 0]
                    {
                        countedWrongly.append(id)
                    }
                }
                #expect(seen.count == ledger.outcomeKeys.count,
                        "round \(round): recovered histories differ from the log")
                #expect(seen.values.allSatisfy { $0 == 1 })
                #expect(acknowledged.isSubset(of: Set(seen.keys)))
                #expect(heldWrongly.isEmpty,
                        "round \(round): lease state differs from the log: \(heldWrongly.prefix(5))")
                #expect(countedWrongly.isEmpty, "round \(round): expiries counted wrongly: \(countedWrongly.prefix(5))")
                try await engine.close()
            }
            expiriesSeen = ledger.expiries.count
            lateAnswersSeen = ledger.lateAnswers
        }
        #expect(acknowledged.count > 100, "the child should have acknowledged events before being killed")
        #expect(duplicatesAcknowledged > 0, "repeats of earlier rounds should be acknowledged as duplicates")
        #expect(totalLines >= acknowledged.count)
        #expect(printedLeases.count > 100, "the child should have leased debtors before being killed")
        #expect(leasesOpenAtAKill > 0, "some leases should have been outstanding at a kill")
        #expect(expiriesSeen > 0, "some leases should have expired")
        #expect(lateAnswersSeen > 0, "some outcomes should have come after their lease expired")
        #expect(snapshotsWritten > 20, "the child should have written history checkpoints between kills")
        #expect(recoveredFromCheckpoint >= 4, "recoveries should have started from a history checkpoint")
    }
}
