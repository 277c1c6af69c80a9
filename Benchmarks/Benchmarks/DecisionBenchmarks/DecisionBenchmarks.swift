import Benchmark
import Foundation
import TagihCore

/// A typical debtor: US-NY, address America/New_York, phone zone America/Chicago (two candidate zones),
/// 20 attempts of history over the last 3 weeks.
func typicalDebtor() -> (Debtor, DebtorHistory, Int64) {
    let debtor = Debtor(
        id: "D-42", jurisdiction: "US-NY", zone: "America/New_York", segment: "late",
        phones: [Phone(number: "+13125550100", kind: .mobile, zone: "America/Chicago")],
        debts: [Debt(id: "A-1", balance: Money(decimal: "1250.00")!, currency: "USD")])
    let now = RFC3339.parse("2026-11-30T15:05:00Z")!
    var history = DebtorHistory()
    let outcomes: [Outcome] = [.noAnswer, .busy, .voicemail, .noAnswer, .noAnswer]
    for i in 0..<20 {
        let at = now - 21 * 86_400 + Int64(i) * 86_400 + Int64(i % 5) * 3600
        history.record(OutcomeEvent(attempt: "a\(i)", debtor: "D-42", debt: "A-1", phone: "+13125550100", at: at,
                                    outcome: outcomes[i % 5]))
    }
    return (debtor, history, now)
}

/// The straightforward window computation on Foundation: the first instant ≥ t inside 08:00–21:00 in both
/// zones and the end of that interval, using Calendar/TimeZone calls.
func foundationWindow(_ t: Date, _ calendars: [Calendar]) -> (Date, Date)? {
    var cur = t
    for _ in 0..<20 {
        var end = Date.distantFuture
        var moved = false
        for cal in calendars {
            let hour = cal.component(.hour, from: cur)
            let start: Date
            let stop: Date
            if hour < 8 {
                start = cal.date(bySettingHour: 8, minute: 0, second: 0, of: cur)!
                stop = cal.date(bySettingHour: 21, minute: 0, second: 0, of: cur)!
            } else if hour >= 21 {
                let next = cal.date(byAdding: .day, value: 1, to: cal.startOfDay(for: cur))!
                start = cal.date(bySettingHour: 8, minute: 0, second: 0, of: next)!
                stop = cal.date(bySettingHour: 21, minute: 0, second: 0, of: next)!
            } else {
                start = cur
                stop = cal.date(bySettingHour: 21, minute: 0, second: 0, of: cur)!
            }
            if start > cur {
                cur = start
                moved = true
                break
            }
            end = min(end, stop)
        }
        if !moved { return (cur, end) }
    }
    return nil
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 1_000_000
    )
    let (debtor, history, now) = typicalDebtor()
    let policy = ContactPolicy()
    var quiet = PolicyConfiguration()
    quiet.includeReasons = false
    let lean = ContactPolicy(configuration: quiet)

    Benchmark("decide: US, 2 zones, 20 attempts (with reasons)") { benchmark in
        for i in benchmark.scaledIterations {
            blackHole(policy.decide(for: debtor, history: history, now: now + Int64(i % 4096) * 61))
        }
    }

    Benchmark("decide: US, 2 zones, 20 attempts (no reasons)") { benchmark in
        for i in benchmark.scaledIterations {
            blackHole(lean.decide(for: debtor, history: history, now: now + Int64(i % 4096) * 61))
        }
    }

    // The engine's path (ShardState.redecide): the same decisions, handed to a closure instead of an array.
    Benchmark("forEachDecision: US, 2 zones, 20 attempts (no reasons)") { benchmark in
        for i in benchmark.scaledIterations {
            lean.forEachDecision(for: debtor, history: history, now: now + Int64(i % 4096) * 61) { blackHole($0) }
        }
    }

    Benchmark("forEachDecision: US, 2 zones, 20 attempts (with reasons)") { benchmark in
        for i in benchmark.scaledIterations {
            policy.forEachDecision(for: debtor, history: history, now: now + Int64(i % 4096) * 61) { blackHole($0) }
        }
    }

    Benchmark("decide: US, 2 zones, no history (no reasons)") { benchmark in
        for i in benchmark.scaledIterations {
            blackHole(lean.decide(for: debtor, history: DebtorHistory(), now: now + Int64(i % 4096) * 61))
        }
    }

    Benchmark("score now: US, 20 attempts") { benchmark in
        for i in benchmark.scaledIterations {
            blackHole(policy.score(for: debtor, history: history, debt: "A-1", at: now + Int64(i % 4096) * 61))
        }
    }

    // The simulator's policy backend: a prepared debtor and its compact history (session 9).
    let prepared = lean.prepare(debtor)
    let compact = CompactHistory(history, of: debtor, prepared: prepared)!
    Benchmark("score now (prepared, compact history): US, 20 attempts") { benchmark in
        for i in benchmark.scaledIterations {
            blackHole(lean.score(for: debtor, prepared: prepared, history: compact, debt: 0,
                                 at: now + Int64(i % 4096) * 61))
        }
    }

    Benchmark("forEachCompactDecision (prepared): US, 2 zones, 20 attempts") { benchmark in
        for i in benchmark.scaledIterations {
            lean.forEachCompactDecision(for: debtor, prepared: prepared, history: compact,
                                        now: now + Int64(i % 4096) * 61) { blackHole($0) }
        }
    }

    // A phone without a zone: its zones come from the number's prefix on every call (session 9).
    var prefixDebtor = debtor
    prefixDebtor.phones[0].zone = nil
    Benchmark("forEachDecision: US, phone zone from its prefix, 20 attempts (no reasons)") { benchmark in
        for i in benchmark.scaledIterations {
            lean.forEachDecision(for: prefixDebtor, history: history, now: now + Int64(i % 4096) * 61) {
                blackHole($0)
            }
        }
    }

    let ny = ZoneDatabase.system.zone(named: "America/New_York")!
    let chicago = ZoneDatabase.system.zone(named: "America/Chicago")!
    Benchmark("window only: zone tables, 2 zones") { benchmark in
        for i in benchmark.scaledIterations {
            var t = now + Int64(i % 4096) * 61
            var end = Int64.max
            for _ in 0..<4 {
                var moved = false
                end = Int64.max
                for z in [ny, chicago] {
                    let local = z.localSeconds(at: t)
                    let day = local >= 0 ? local / 86_400 : (local - 86_399) / 86_400
                    let sod = local - day * 86_400
                    var s = t
                    var d = day
                    if sod < 8 * 3600 { s = z.instant(forLocal: day * 86_400 + 8 * 3600) }
                    if sod >= 21 * 3600 {
                        d += 1
                        s = z.instant(forLocal: d * 86_400 + 8 * 3600)
                    }
                    if s > t {
                        t = s
                        moved = true
                        break
                    }
                    end = min(end, z.instant(forLocal: d * 86_400 + 21 * 3600))
                }
                if !moved { break }
            }
            blackHole((t, end))
        }
    }

    var ca = Calendar(identifier: .gregorian)
    ca.timeZone = TimeZone(identifier: "America/New_York")!
    var cb = Calendar(identifier: .gregorian)
    cb.timeZone = TimeZone(identifier: "America/Chicago")!
    let calendars = [ca, cb]
    Benchmark("window only: Foundation Calendar/TimeZone baseline, 2 zones") { benchmark in
        for i in benchmark.scaledIterations {
            let t = Date(timeIntervalSince1970: Double(now + Int64(i % 4096) * 61))
            blackHole(foundationWindow(t, calendars))
        }
    }
}
