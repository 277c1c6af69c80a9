import Foundation
import Testing
@testable import TagihCore
@testable import TagihSim

/// The session-7 layout changes of the shared floor: none may change a result. The checker's records, the flat zone
/// table, the group bounds of the refill scan and the prefetch addresses are each compared with what they replace.
@Suite struct FloorLayoutTests {
    /// With group bounds (kept as `PolicyBook` keeps them: lowered on every code write, never raised except by a
    /// scan) the selection equals the one that reads every code, round after round of changed codes (leases, new
    /// permitted times, times later than before), and after a scan every bound is still at most its group's minimum.
    @Test(arguments: [1_000, 77_881, 300_000])
    func groupBoundsChangeNoSelection(size: Int) {
        var rng = SeededRandom(seed: UInt64(size) &+ 7)
        let base: UnixSeconds = 1_800_000_000
        let codes = UnsafeMutablePointer<Int32>.allocate(capacity: size)
        let groups = (size + WaitingSelector.group - 1) >> WaitingSelector.groupShift
        let bounds = UnsafeMutablePointer<Int32>.allocate(capacity: groups)
        defer {
            codes.deallocate()
            bounds.deallocate()
        }
        func randomCode() -> Int32 {
            let u = rng.uniform()
            if u < 0.3 { return Int32.max }  // leased or no permitted time
            return Int32(rng.uniform() * 10 * 86_400)
        }
        for i in 0..<size { codes[i] = randomCode() }
        bounds.initialize(repeating: Int32.max, count: groups)
        for i in 0..<size { bounds[i >> WaitingSelector.groupShift] = min(bounds[i >> WaitingSelector.groupShift], codes[i]) }
        let withBounds = WaitingSelector(size: size), without = WaitingSelector(size: size)
        var skipped = 0
        for round in 0..<12 {
            let now = base + Int64(round) * 86_400 / 2
            let key = CompactWaitKey(codes: codes, base: base, now: now)
            for count in [1, 512, size / 3] {
                var a: [Int32] = [], b: [Int32] = []
                without.select(count: count, codes: codes, base: base, now: now, key: key, into: &a)
                withBounds.select(count: count, codes: codes, base: base, now: now, key: key, groupMin: bounds, into: &b)
                #expect(a == b, "round \(round) count \(count)")
            }
            let limit = Int32(clamping: now - base)
            for g in 0..<groups {
                let range = g << WaitingSelector.groupShift..<min(size, (g + 1) << WaitingSelector.groupShift)
                let m = range.map { codes[$0] }.min()!
                #expect(bounds[g] <= m)
                if bounds[g] > limit { skipped += 1 }
            }
            // Change a tenth of the codes, lowering bounds as `PolicyBook.setWaitCode` does (raised codes leave their
            // bound low: a stale bound only costs a read).
            for _ in 0..<size / 10 {
                let i = rng.below(size)
                codes[i] = randomCode()
                bounds[i >> WaitingSelector.groupShift] = min(bounds[i >> WaitingSelector.groupShift], codes[i])
            }
        }
        #expect(skipped > 0)
    }

    /// The flat table gives every zone's local time as `ZoneClock` does, across daylight-saving changes and the
    /// edges of the covered period.
    @Test func flatZoneClockEqualsZoneClock() {
        var clock = ZoneClock(from: testStart, to: testStart + 200 * 86_400)
        let names = ["America/New_York", "Asia/Kolkata", "Europe/London", "Asia/Jakarta", "Australia/Lord_Howe", "UTC"]
        let ids = names.map { clock.intern($0)! }
        let flat = clock.flattened()
        #expect(flat.zones == names.count)
        var t = testStart - 10 * 86_400
        while t < testStart + 260 * 86_400 {
            for z in ids { #expect(flat.local(z, t) == clock.local(z, t)) }
            t += 3_571
        }
    }

    /// The prefetch of a decision's buffers reads the references where `Debtor` keeps its phones and debts and where
    /// `CompactHistory` keeps its events (if a layout changed, the prefetches would go to useless addresses: this
    /// test says so).
    @Test func prefetchAddressesAreTheBuffers() {
        let debtor = Debtor(
            id: "D-1", jurisdiction: "US-NY", zone: "America/New_York",
            phones: [Phone(number: "+12125550100", kind: .mobile), Phone(number: "+12125550101", kind: .home)],
            debts: [Debt(id: "A-1", balance: Money(tenThousandths: 1_000_000), currency: "USD")])
        let policy = Simulation.policy
        let prepared = policy.prepare(debtor)
        var history = CompactHistory()
        history.record(at: testStart, outcome: .noAnswer, debt: 0, phone: 0, debtor: [debtor].withUnsafeBufferPointer {
            UnsafeMutablePointer(mutating: $0.baseAddress!)
        }, prepared: [prepared].withUnsafeBufferPointer { UnsafeMutablePointer(mutating: $0.baseAddress!) })
        withUnsafePointer(to: debtor) { d in
            let raw = UnsafeRawPointer(d)
            let phones = raw.load(fromByteOffset: MemoryLayout<Debtor>.offset(of: \Debtor.phones)!, as: UInt.self)
            let debts = raw.load(fromByteOffset: MemoryLayout<Debtor>.offset(of: \Debtor.debts)!, as: UInt.self)
            #expect(phones == unsafeBitCast(debtor.phones, to: UInt.self))
            #expect(debts == unsafeBitCast(debtor.debts, to: UInt.self))
            debtor.phones.withUnsafeBufferPointer { buffer in
                #expect(UInt(bitPattern: buffer.baseAddress!) == phones + 32)
            }
        }
        #expect(history.count == 1)
        withUnsafePointer(to: history) { h in
            #expect(UnsafeRawPointer(h).load(as: UInt.self) == unsafeBitCast(history.packed, to: UInt.self))
        }
    }

    /// The checker's per-debt record is one cache line, and its ring of eight calls wraps: the ninth and later calls
    /// of a debt replace the oldest (a 7-in-7 cap still counts the last seven days only).
    @Test func checkerRingWraps() {
        #expect(MemoryLayout<ComplianceChecker.DebtRecord>.stride == 64)
        let debtor = ComplianceCheckerTests.debtor()
        // One call a day for twelve days (each a counted call, none in a conversation's block): never 8 in 7 days.
        let daily = (0..<12).map { (ComplianceCheckerTests.ny($0, 10), Outcome.noAnswer) }
        #expect(ComplianceCheckerTests.run(debtor, daily) == 0)
        // Two a day: from the fourth day on, the 8th counted call in 7 days (calls 8 ... 24 are violations).
        let twice = (0..<12).flatMap { [(ComplianceCheckerTests.ny($0, 10), Outcome.noAnswer),
                                        (ComplianceCheckerTests.ny($0, 15), Outcome.noAnswer)] }
        #expect(ComplianceCheckerTests.run(debtor, twice) == 24 - 7)
    }
}

/// Stale hopper entries re-decided ahead on all cores (`PolicyBook.decideStaleAhead`) give the same run, attempt by
/// attempt, as re-deciding each when the walk reaches it; and the walks do use decisions made ahead.
@Suite struct DecideAheadTests {
    @Test(arguments: [StrategyKind.earliest, .tagih])
    func staleEntriesDecidedAheadChangeNoResult(kind: StrategyKind) async throws {
        let population = SyntheticPopulation.generate(count: 6000, seed: 31)
        let config = smallConfiguration(days: 5, agents: 20, seed: 31)
        let one = try Simulation(population: population, configuration: config)
        one.decideStaleAhead = false
        let ahead = try Simulation(population: population, configuration: config)
        ahead.aheadThreshold = 1
        var attemptsOne: [OutcomeEvent] = [], attemptsAhead: [OutcomeEvent] = []
        let a = try await one.resultOfRun(kind, attempt: { attemptsOne.append($0) })
        let b = try await ahead.resultOfRun(kind, attempt: { attemptsAhead.append($0) })
        #expect(a.dials > 5000)
        #expect(a == b)
        #expect(attemptsOne == attemptsAhead)
        #expect(one.lastAheadDecisions == 0)
        #expect((ahead.lastAheadDecisions ?? 0) > 100)
    }
}
