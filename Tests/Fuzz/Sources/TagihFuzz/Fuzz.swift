#if canImport(Glibc)
import Glibc
#endif
import TagihCore
import TagihEngine
import TagihStore

/// One input (libFuzzer's callback, see main.swift). The first byte of an input picks what the rest is fed to (its value modulo the
/// number of targets); every target either returns normally or stops the process (a trap, a failed check).
///
/// Besides "does not crash", the targets check properties that must hold for every input:
/// - a line the decoder accepts survives the store's encoding unchanged (what is acknowledged is what a restart
///   reads back), and a debtor the decoder accepts either passes the engine's own validation or is refused with a
///   reason, never trapped on;
/// - ContactPolicy decides any accepted debtor with any accepted history at any instant of a wide range without a
///   trap, and every decision it returns is well-formed (earliest ≤ best, a finite score);
/// - bytes read back from a damaged store give a `StoreError`, never a crash.
func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let body = UnsafeBufferPointer(start: data + 1, count: size - 1)
    switch data[0] % 8 {
    case 0: _ = try? JSONValue.parse(body)
    case 1: debtorLine(body)
    case 2: outcomeLine(body)
    case 3: paymentLine(body)
    case 4: clearanceLine(body)
    case 5: storedDebtor(body)
    case 6: storedEvent(body)
    default: debtorWithHistory(body)
    }
    return 0
}

let policy = ContactPolicy()
/// 2026-12-01 15:00 UTC, and instants around it (a day, a year, ten years either side) at which decisions are taken.
let base: UnixSeconds = 1_796_137_200
let instants: [UnixSeconds] = [base, base - 86_400, base + 86_400 * 3 + 7_777, base - 365 * 86_400,
                               base + 10 * 365 * 86_400]

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}

func debtorLine(_ body: UnsafeBufferPointer<UInt8>) {
    guard let debtor = try? LineDecoder.debtor(from: body).value else { return }
    roundTrip(debtor)
    if Engine.validate(debtor) == nil { decideEverywhere(debtor, DebtorHistory()) }
}

/// `TAGIH_FUZZ_WRITE_SEEDS=DIR`: the store's encoding of every debtor and event an input decodes to is written to
/// DIR as a seed of the record targets (5 and 6), so that they start from real records (scripts/fuzz.sh).
let seedDirectory: String? = getenv("TAGIH_FUZZ_WRITE_SEEDS").map { String(cString: $0) }

func writeSeed(_ bytes: [UInt8]) {
    guard let directory = seedDirectory else { return }
    var hash: UInt64 = 14_695_981_039_346_656_037
    for b in bytes { hash = (hash ^ UInt64(b)) &* 1_099_511_628_211 }
    guard let file = fopen(directory + "/record-\(String(hash, radix: 16))", "wb") else { return }
    _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
    fclose(file)
}

func roundTrip(_ debtor: Debtor) {
    let bytes = RecordCoding.encode(debtor)
    writeSeed([5] + bytes)
    let back = bytes.withUnsafeBytes { try? RecordCoding.decodeDebtor($0) }
    check(back == debtor, "a decoded debtor did not survive the store's encoding: \(debtor) became \(String(describing: back))")
}

func roundTrip(_ event: StoredEvent) {
    let bytes = RecordCoding.encode(event)
    writeSeed([6, UInt8(event.kind)] + bytes)
    let back = bytes.withUnsafeBytes { try? RecordCoding.decodeEvent(kind: event.kind, $0) }
    check(back == event, "a decoded event did not survive the store's encoding: \(event) became \(String(describing: back))")
}

func outcomeLine(_ body: UnsafeBufferPointer<UInt8>) {
    guard let outcome = try? LineDecoder.outcome(from: body).value else { return }
    roundTrip(.outcome(outcome))
}

func paymentLine(_ body: UnsafeBufferPointer<UInt8>) {
    guard var payment = try? LineDecoder.payment(from: body).value else { return }
    payment.currency = nil  // checked against the debt on ingest, not stored
    roundTrip(.payment(payment))
}

func clearanceLine(_ body: UnsafeBufferPointer<UInt8>) {
    guard let line = try? LineDecoder.clearance(from: body).value else { return }
    roundTrip(.clearance(ClearanceEvent(id: line.clearance, debtor: line.debtor, kind: line.clears, debt: line.debt,
                                        at: base, clearedBy: line.by, note: line.note)))
}

func storedDebtor(_ body: UnsafeBufferPointer<UInt8>) {
    _ = try? RecordCoding.decodeDebtor(UnsafeRawBufferPointer(body))
    _ = try? HistoryCoding.decode(UnsafeRawBufferPointer(body), debtor: "D-1")
}

func storedEvent(_ body: UnsafeBufferPointer<UInt8>) {
    guard body.count > 0 else { return }
    let raw = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(body)[1...])
    _ = try? RecordCoding.decodeEvent(kind: Int(body[0] % 16), raw)
}

/// The input's lines: the first a debtor, each further one an outcome or a payment of it (whichever decodes); the
/// debtor is then decided with that history at each instant of `instants`.
func debtorWithHistory(_ body: UnsafeBufferPointer<UInt8>) {
    let lines = body.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
    guard let first = lines.first, let debtor = try? LineDecoder.debtor(from: first).value,
        Engine.validate(debtor) == nil
    else { return }
    var history = DebtorHistory()
    for line in lines.dropFirst() {
        if var outcome = try? LineDecoder.outcome(from: line).value {
            outcome.debtor = debtor.id
            history.record(outcome)
        } else if var payment = try? LineDecoder.payment(from: line).value {
            payment.debtor = debtor.id
            history.record(payment)
        }
    }
    history.outcomes.sort { $0.at < $1.at }
    history.payments.sort { $0.at < $1.at }
    decideEverywhere(debtor, history)
}

func decideEverywhere(_ debtor: Debtor, _ history: DebtorHistory) {
    for now in instants {
        for decision in policy.decide(for: debtor, history: history, now: now) {
            check(decision.score.isFinite, "a decision's score is not finite: \(decision)")
            if let earliest = decision.earliest, let best = decision.best {
                check(earliest <= best, "a decision's best time is before its earliest: \(decision)")
            }
            if let earliest = decision.earliest, let ends = decision.windowEnds {
                check(earliest < ends, "a decision's window ends before it opens: \(decision)")
            }
        }
    }
}
