// tagih-crashtest DIR ROUND
//
// A helper for the kill -9 recovery test. It opens the engine on DIR (on an accelerated clock, see below), makes
// sure a population exists, then until it is killed:
//
// - six writers ingest outcomes for the `D-*` debtors from a deterministic sequence, printing
//   `ack <attempt> applied|duplicate` per acknowledged event (every sixth repeats an attempt id of the previous
//   round, so duplicates are exercised across crashes);
// - three dialers lease debtors, printing `lease <lease> <debtor>` once `lease` returned (the grant is durable
//   then); for each lease they report an outcome at once, report it after the lease expired (a late outcome),
//   or never (it expires); now and then a dialer releases everything it holds;
// - a ticker calls `tick()` every 100 ms, which logs expired leases;
// - a snapshot writer calls `writeSnapshot()` (decisions and history checkpoint) every 50-400 ms, printing
//   `snapshot` after each, so kills also land during and between history checkpoints.
//
// Every line is written straight to file descriptor 1, so whatever was acknowledged is in the pipe at once.
//
// The clock: `CrashTestClock` runs 60 times faster than the wall clock from the instant stored in DIR/epoch
// (written by the first round), starting on Tuesday 2026-12-01 15:00 UTC (10:00 in New York), so the test
// behaves the same at any hour and a lease (TTL 120 s) expires after 2 real seconds.
import Foundation
import TagihCore
import TagihEngine
import TagihStore

let arguments = CommandLine.arguments
guard arguments.count >= 3, let round = Int(arguments[2]) else {
    FileHandle.standardError.write(Data("usage: tagih-crashtest DIR ROUND\n".utf8))
    exit(2)
}
let directory = arguments[1]
let debtorCount = 40
let leasePool = 3_000
let writers = 6
let dialers = 3
let perWriter = 1_000_000

/// Virtual time: 60 × (wall clock − the epoch in DIR/epoch) after Tuesday 2026-12-01 15:00 UTC.
final class CrashTestClock: EngineClock {
    static let start: UnixSeconds = 1_796_137_200
    static let speed = 60.0
    let epoch: Double

    init(directory: String) {
        let path = directory + "/epoch"
        if let text = try? String(contentsOfFile: path, encoding: .utf8),
            let value = Double(text.trimmingCharacters(in: .whitespacesAndNewlines))
        {
            epoch = value
        } else {
            epoch = Date().timeIntervalSince1970
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try? String(epoch).write(toFile: path, atomically: true, encoding: .utf8)
        }
    }

    func now() -> UnixSeconds { Self.start + Int64((Date().timeIntervalSince1970 - epoch) * Self.speed) }
}

let clock = CrashTestClock(directory: directory)
var configuration = EngineConfiguration(dataDirectory: directory)
configuration.shardCount = 3
configuration.leaseTTL = 120
let engine = try await Engine.open(configuration: configuration, clock: clock)
if await engine.isEmpty() {
    var debtors = (0..<debtorCount).map { i in
        Debtor(id: "D-\(i)", jurisdiction: i % 2 == 0 ? "US-MA" : "ID",
               phones: [Phone(number: "+1617555\(1000 + i)")],
               debts: [Debt(id: "A-\(i)", balance: Money(tenThousandths: Int64(1_000_000 + i)), currency: "USD")])
    }
    debtors += (0..<leasePool).map { i in
        Debtor(id: "L-\(i)", jurisdiction: "US", zone: "America/New_York",
               phones: [Phone(number: "+1212555\(String(10000 + i).suffix(4))", kind: .mobile,
                              zone: "America/New_York")],
               debts: [Debt(id: "A-L-\(i)", balance: Money(tenThousandths: Int64(2_000_000 + i)), currency: "USD")])
    }
    _ = try await engine.upsert(debtors)
}
writeOut("ready\n")

/// Writes straight to file descriptor 1 (no stdio buffer), so everything acknowledged is in the pipe at once.
func writeOut(_ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(1, $0.baseAddress! + offset, $0.count - offset) }
        if n <= 0 { return }
        offset += n
    }
}

let lock = NSLock()
func emit(_ lines: [String]) {
    lock.lock()
    defer { lock.unlock() }
    writeOut(lines.map { $0 + "\n" }.joined())
}

func outcome(round: Int, writer: Int, k: Int) -> OutcomeEvent {
    let d = (writer * 7919 + k) % debtorCount
    let kinds: [Outcome] = [.noAnswer, .busy, .voicemail, .rightParty, .refused, .abandoned]
    return OutcomeEvent(attempt: "R\(round)-W\(writer)-\(k)", debtor: "D-\(d)", debt: "A-\(d)",
                        phone: "+1617555\(1000 + d)", at: 1_790_000_000 + Int64(k), outcome: kinds[k % kinds.count])
}

func report(_ batch: [OutcomeEvent]) async {
    do {
        let results = try await engine.ingest(batch)
        emit(zip(batch, results).map { e, r in
            switch r {
            case .applied: "ack \(e.attempt) applied"
            case .duplicate: "ack \(e.attempt) duplicate"
            case .rejected(let code, _, _): "rejected \(e.attempt) \(code)"
            }
        })
    } catch {
        emit(["error \(error)"])
    }
}

func answer(_ lease: Lease, kind: Outcome) -> OutcomeEvent {
    OutcomeEvent(attempt: "R\(round)-\(lease.id)", debtor: lease.debtor, debt: lease.debt, phone: lease.phone,
                 at: lease.leasedAt + 5, outcome: kind, lease: lease.id)
}

await withTaskGroup(of: Void.self) { group in
    for w in 0..<writers {
        group.addTask {
            var k = 0
            var generator = SystemRandomNumberGenerator()
            while k < perWriter {
                let size = Int.random(in: 1...12, using: &generator)
                var batch: [OutcomeEvent] = []
                for j in k..<(k + size) {
                    if j % 6 == 5 && round > 1 {
                        batch.append(outcome(round: round - 1, writer: w, k: j))
                    } else {
                        batch.append(outcome(round: round, writer: w, k: j))
                    }
                }
                k += size
                await report(batch)
            }
        }
    }
    for dialer in 0..<dialers {
        group.addTask {
            let holder = "R\(round)-dialer-\(dialer)"
            await withTaskGroup(of: Void.self) { calls in
                while true {
                    let leases = await engine.lease(Int.random(in: 1...4), holder: holder)
                    if !leases.isEmpty { emit(leases.map { "lease \($0.id) \($0.debtor)" }) }
                    for lease in leases {
                        switch Int.random(in: 0..<10) {
                        case 0..<4:  // answered while leased
                            calls.addTask {
                                try? await Task.sleep(for: .milliseconds(Int.random(in: 10...500)))
                                await report([answer(lease, kind: Bool.random() ? .busy : .noAnswer)])
                            }
                        case 4..<6:  // answered after the lease expired (TTL is 2 real seconds)
                            calls.addTask {
                                try? await Task.sleep(for: .milliseconds(Int.random(in: 2_100...2_600)))
                                await report([answer(lease, kind: .voicemail)])
                            }
                        default:  // never answered: it expires
                            break
                        }
                    }
                    if Int.random(in: 0..<40) == 0 {
                        let n = await engine.releaseLeases(heldBy: holder)
                        emit(["released \(holder) \(n)"])
                    }
                    try? await Task.sleep(for: .milliseconds(150))
                }
            }
        }
    }
    group.addTask {
        while true {
            try? await Task.sleep(for: .milliseconds(100))
            await engine.tick()
        }
    }
    group.addTask {
        while true {
            try? await Task.sleep(for: .milliseconds(Int.random(in: 50...400)))
            do {
                try await engine.writeSnapshot()
                emit(["snapshot"])
            } catch {
                emit(["error snapshot \(error)"])
            }
        }
    }
}
