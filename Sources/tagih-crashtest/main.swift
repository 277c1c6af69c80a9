// tagih-crashtest DIR ROUND
//
// A helper for the kill -9 recovery test: opens the engine on DIR, makes sure a small population exists, then
// ingests outcomes from a deterministic sequence with several concurrent writers, printing one line per
// acknowledged event (`ack <attempt> applied|duplicate`) and flushing stdout, until it is killed. Every sixth
// event repeats an attempt id of the previous round, so duplicates are exercised across crashes.
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
let writers = 6
let perWriter = 1_000_000

var configuration = EngineConfiguration(dataDirectory: directory)
configuration.shardCount = 3
let engine = try await Engine.open(configuration: configuration, clock: WallClock())
if await engine.isEmpty() {
    let debtors = (0..<debtorCount).map { i in
        Debtor(id: "D-\(i)", jurisdiction: i % 2 == 0 ? "US-MA" : "ID",
               phones: [Phone(number: "+1617555\(1000 + i)")],
               debts: [Debt(id: "A-\(i)", balance: Money(tenThousandths: Int64(1_000_000 + i)), currency: "USD")])
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
                do {
                    let results = try await engine.ingest(batch)
                    emit(zip(batch, results).map { e, r in
                        switch r {
                        case .applied: "ack \(e.attempt) applied"
                        case .duplicate: "ack \(e.attempt) duplicate"
                        case .rejected(let code, _): "rejected \(e.attempt) \(code)"
                        }
                    })
                } catch {
                    emit(["error \(error)"])
                }
            }
        }
    }
}
