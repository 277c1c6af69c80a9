import Foundation
import Testing
import TagihCore
@testable import TagihSim

/// The session-6 refill shortcuts: `earliest` ranks from 4-byte codes in one pass (`WaitingSelector`), `tagih`
/// (ContactPolicy) scores its pool on all cores and reuses scores within an hour or quarter hour (`ScoreCache`).
/// Each must select exactly what the full ranking and fresh scores would.
@Suite struct RefillShortcutTests {
    /// `WaitingSelector` over the codes, `BinSelector` with `CompactWaitKey` over the codes, and `BinSelector` with
    /// `WaitKey` over the slots select the same debtors in the same order (random waits, leases, no permitted time,
    /// times before the codes' base; a small and a large count, one and two pieces).
    @Test(arguments: [1_000, 77_881, 300_000])
    func waitingSelectionEqualsTheRankingOfEverySlot(size: Int) {
        var rng = SeededRandom(seed: UInt64(size))
        let now: UnixSeconds = 1_800_000_000
        let base = now - 20 * 86_400
        let slots = UnsafeMutablePointer<PolicyBook.Slot>.allocate(capacity: size)
        slots.initialize(repeating: PolicyBook.Slot(pendingAt: Int64.min), count: size)
        let codes = UnsafeMutablePointer<Int32>.allocate(capacity: size)
        defer {
            slots.deallocate()
            codes.deallocate()
        }
        for i in 0..<size {
            let u = rng.uniform()
            let e: Int64
            if u < 0.2 { e = PolicyBook.never }
            else if u < 0.5 { e = now + Int64(rng.uniform() * 86_400) }  // not yet permitted
            else if u < 0.55 { e = base - Int64(rng.uniform() * 30 * 86_400) }  // before the base (bins capped)
            else { e = now - Int64(rng.uniform() * 3 * 86_400) }
            slots[i].earliest = e
            slots[i].leased = rng.uniform() < 0.05
            codes[i] = slots[i].leased || e == PolicyBook.never ? Int32.max : Int32(clamping: e - base)
        }
        let waiting = WaitingSelector(size: size)
        var selector = BinSelector(size: size)
        for count in [1, 7, 512, size / 10, size / 2, size] {
            var fromSlots: [Int32] = [], fromCodes: [Int32] = [], fromList: [Int32] = []
            selector.select(count: count, size: size, key: WaitKey(slots: slots, now: now), into: &fromSlots)
            selector.select(count: count, size: size, key: CompactWaitKey(codes: codes, base: base, now: now),
                            into: &fromCodes)
            waiting.select(count: count, codes: codes, base: base, now: now,
                           key: CompactWaitKey(codes: codes, base: base, now: now), into: &fromList)
            #expect(fromSlots.count == min(count, fromSlots.count))
            #expect(!fromSlots.isEmpty)
            #expect(fromCodes == fromSlots, "count \(count)")
            #expect(fromList == fromSlots, "count \(count)")
        }
    }

    /// A whole `earliest` or `tagih` (ContactPolicy) run ranks the same way from the codes as from the slots (the
    /// codes follow every stored decision and every lease).
    @Test(arguments: [StrategyKind.earliest, .tagih])
    func rankingFromCodesEqualsRankingFromSlots(kind: StrategyKind) async throws {
        let population = SyntheticPopulation.generate(count: 6000, seed: 21)
        let config = smallConfiguration(days: 4, agents: 20, seed: 21)
        let slots = try Simulation(population: population, configuration: config)
        slots.compactRanking = false
        let codes = try Simulation(population: population, configuration: config)
        codes.compactRanking = true
        let a = try await slots.resultOfRun(kind)
        let b = try await codes.resultOfRun(kind)
        #expect(a.dials > 5000)
        #expect(a == b)
    }

    /// `tagih` on ContactPolicy with the score cache (every cached value also recomputed and compared: a difference
    /// stops the test process) gives the same run as without it, and the cache serves part of the scores. The
    /// synthetic population has debtors in whole-hour zones (values kept for the hour) and in Asia/Kolkata (+05:30,
    /// kept for the quarter hour).
    @Test(arguments: [UInt64(5), 6])
    func scoreCacheChangesNoResult(seed: UInt64) async throws {
        let population = SyntheticPopulation.generate(count: 6000, seed: seed)
        #expect(population.contains { $0.jurisdiction.hasPrefix("IN") })
        let config = smallConfiguration(days: 9, agents: 20, seed: seed)
        let fresh = try Simulation(population: population, configuration: config)
        fresh.cacheScores = false
        let cached = try Simulation(population: population, configuration: config)
        cached.cacheScores = true
        cached.verifyScoreCache = true
        let a = try await fresh.resultOfRun(.tagih)
        let b = try await cached.resultOfRun(.tagih)
        #expect(a.dials > 5000)
        #expect(a == b)
        #expect(fresh.lastScoreCacheHits == nil)
        #expect((cached.lastScoreCacheHits ?? 0) > 1000)
    }

    /// A kept value is dropped (not kept in the period) when one of the debtor's attempts leaves the fatigue window
    /// during that period: exactly one window after the attempt's quarter hour, or its hour for hourly debtors.
    @Test(arguments: [(UInt8(1), Int64(900)), (4, 3600)])
    func valuesAreNotKeptWhileAnAttemptLeavesTheFatigueWindow(quarters: UInt8, period: Int64) throws {
        let window: Int64 = 7 * 86_400
        let cache = try #require(
            ScoreCache(count: 3, fatigueWindowSeconds: window, periods: { i in i == 2 ? 0 : quarters }))
        let t: Int64 = 1_800_000_000 - 1_800_000_000 % 3600 + 1234  // 20 min 34 s into an hour
        cache.noteAttempt(0, at: t)
        // Debtor 1 never dialed: kept in every period; debtor 2 has no period (its zones do not allow it).
        for now in [t + 3600, t + window - 3600, t + window, t + window + 1, t + window + 3600] {
            cache.prepare(now: now)
            let crossing = now.floorDiv(period) == (t + window).floorDiv(period)
            #expect((cache.key(0, now: now) == Int32.min) == crossing, "now \(now - t)")
            #expect(cache.key(1, now: now) == Int32(now.floorDiv(period)))
            #expect(cache.key(2, now: now) == Int32.min)
        }
        // A window that is not a whole number of quarter hours: no cache.
        #expect(ScoreCache(count: 1, fatigueWindowSeconds: window + 60, periods: { _ in 4 }) == nil)
    }

    /// A zone's period: whole hours (New York, with its DST changes at whole UTC hours), quarter hours (Kolkata,
    /// Kathmandu), none for an offset that is not a whole number of quarter hours.
    @Test func zonePeriods() throws {
        var clock = ZoneClock(from: 1_780_000_000, to: 1_800_000_000)
        let ny = clock.intern("America/New_York"), kolkata = clock.intern("Asia/Kolkata")
        let kathmandu = clock.intern("Asia/Kathmandu")
        #expect(clock.period(zone: try #require(ny)) == 4)
        #expect(clock.period(zone: try #require(kolkata)) == 1)
        #expect(clock.period(zone: try #require(kathmandu)) == 1)
        // Liberia kept −00:44:30 until 1972: no period.
        var old = ZoneClock(from: 0, to: 86_400 * 30)
        let monrovia = old.intern("Africa/Monrovia")
        #expect(old.period(zone: try #require(monrovia)) == 0)
    }
}
