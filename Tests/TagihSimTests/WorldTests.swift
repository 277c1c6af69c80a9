import Foundation
import Testing
import TagihCore
@testable import TagihSim

@Suite struct WorldTests {
    @Test func populationIsDeterministicAndRealistic() {
        let a = SyntheticPopulation.generate(count: 20_000, seed: 3)
        let b = SyntheticPopulation.generate(count: 20_000, seed: 3)
        #expect(a == b)
        #expect(a.first?.id == "D-1")
        #expect(SyntheticPopulation.generate(count: 2, seed: 3, startingAt: 501).map(\.id) == ["D-501", "D-502"])
        #expect(SyntheticPopulation.generate(count: 1, seed: 3, startingAt: 7)[0] == a[6])
        let jurisdictions = Set(a.map(\.jurisdiction))
        for j in ["US-MA", "US-WA", "US-NY-NYC", "ID", "GB", "IN", "US-CA"] { #expect(jurisdictions.contains(j), "\(j)") }
        let usd = a.flatMap(\.debts).filter { $0.currency == "USD" }.map { Double($0.balance.tenThousandths) / 10_000 }
            .sorted()
        let median = usd[usd.count / 2]
        #expect(median > 700 && median < 900, "median \(median)")
        let phones = a.flatMap(\.phones)
        let withZone = phones.filter { $0.zone != nil }.count
        #expect(withZone > phones.count / 4 && withZone < phones.count * 3 / 4)
        let early = a.filter { $0.segment == "early" }.count
        #expect(abs(Double(early) / 20_000 - 0.4) < 0.02)
        // Every zone the generator uses is a real IANA zone.
        let zones = Set(a.compactMap(\.zone) + phones.compactMap(\.zone))
        for z in zones { #expect(TimeZone(identifier: z) != nil, "\(z)") }
    }

    @Test(arguments: [
        ("day-worker=0.5,at-home=0.25,shift=0.15,never=0.10", [Archetype.dayWorker: 0.5, .atHome: 0.25, .shift: 0.15, .never: 0.10]),
        ("shift=1", [Archetype.shift: 1.0]),
        (" at-home = 0.3 , never=0.7", [Archetype.atHome: 0.3, .never: 0.7]),
    ])
    func mixParses(text: String, expected: [Archetype: Double]) throws {
        #expect(try WorldConfiguration.parseMix(text) == expected)
    }

    @Test(arguments: ["ghost=1", "day-worker=x", "day-worker=-1", "never=0", "", "never=inf,shift=1", "never=nan",
                      "never=1e308,shift=1e308", "never=1,never=2"])
    func badMixIsRejected(text: String) {
        #expect(throws: SimulationError.self) { try WorldConfiguration.parseMix(text) }
    }

    @Test func hiddenArchetypesFollowTheMix() throws {
        let population = SyntheticPopulation.generate(count: 10_000, seed: 8)
        var c = SimulationConfiguration(start: testStart)
        c.world.mix = [.dayWorker: 0.2, .never: 0.8]
        let world = World(debtors: population, configuration: c)
        let never = world.archetype.filter { $0 == .never }.count
        #expect(abs(Double(never) / 10_000 - 0.8) < 0.02)
        #expect(!world.archetype.contains(.atHome))
        let late = (0..<population.count).filter { population[$0].segment == "late" }
        let meanLate = late.map { Double(world.baseRPC[$0]) }.reduce(0, +) / Double(late.count)
        #expect(abs(meanLate - 0.01) < 0.002, "\(meanLate)")
        let dead = world.phoneDead.filter { $0 }.count + world.phoneWrong.filter { $0 }.count
        let share = Double(dead) / Double(world.phoneCount)
        #expect(share > 0.05 && share < 0.08)
    }

    @Test(arguments: [
        (Archetype.dayWorker, 10, 2, 0.5), (.dayWorker, 18, 2, 1.6), (.dayWorker, 10, 6, 1.4), (.dayWorker, 14, 7, 1.0),
        (.atHome, 11, 3, 1.3), (.atHome, 18, 3, 1.0), (.shift, 3, 1, 1.0), (.never, 18, 2, 0.0),
    ])
    func archetypeCurves(kind: Archetype, hour: Int, weekday: Int, expected: Double) {
        #expect(kind.multiplier(hour: hour, weekday: weekday) == expected)
    }

    @Test func randomIsSeededAndDistributionsHaveTheirMeans() {
        var a = SeededRandom(seed: 42)
        var b = SeededRandom(seed: 42)
        #expect((0..<100).map { _ in a.next() } == (0..<100).map { _ in b.next() })
        var r = SeededRandom(seed: 1)
        let n = 50_000
        let betaMean = (0..<n).map { _ in r.beta(mean: 0.06, concentration: 5) }.reduce(0, +) / Double(n)
        #expect(abs(betaMean - 0.06) < 0.003)
        let logs = (0..<n).map { _ in r.logNormal(median: 800, sigma: 1) }.sorted()
        #expect(abs(logs[n / 2] - 800) < 40)
        #expect((0..<1000).allSatisfy { _ in (3...7).contains(r.between(3, 7)) })
    }

    @Test func localTimeArithmetic() {
        #expect(LocalTime.dateString(day: LocalTime.dayNumber(year: 2026, month: 12, day: 1)) == "2026-12-01")
        #expect(LocalTime.weekday(day: LocalTime.dayNumber(year: 2026, month: 11, day: 30)) == 1)
        #expect(LocalTime.rfc3339(testStart) == "2026-12-01T05:00:00Z")
        var clock = ZoneClock(from: testStart, to: testStart + 86_400 * 200)
        let ny = clock.intern("America/New_York")!
        #expect(clock.offset(ny, at: testStart) == -5 * 3600)
        // 2027-03-14 is the first DST day in New York: 12:00 UTC is 08:00 EDT.
        let dst = Int64(LocalTime.dayNumber(year: 2027, month: 3, day: 14)) * 86_400 + 12 * 3600
        #expect(clock.offset(ny, at: dst) == -4 * 3600)
        let kolkata = clock.intern("Asia/Kolkata")!
        #expect(clock.offset(kolkata, at: testStart) == 19_800)
        #expect(clock.intern("Nowhere/Special") == nil)
    }

    @Test func populationLinesRoundTripThroughTheReader() throws {
        let text = """
            {"id":"D-1","jurisdiction":"US-MA","zone":"America/New_York","status":"active","segment":"late","phones":[{"number":"+16175550100","kind":"mobile","zone":"America/New_York","owner":"debtor"}],"debts":[{"id":"A-1","balance":"1250.00","currency":"USD"}],"quiet":[{"days":["sun"],"from":"00:00","to":"24:00"}]}

            {"id":"D-2","jurisdiction":"ID","phones":[{"number":"+628123456789","kind":"mobile","owner":"debtor"}],"debts":[{"id":"A-2","balance":"300000","currency":"IDR"}]}
            """
        let debtors = try PopulationReader.parse(Data(text.utf8))
        #expect(debtors.count == 2)
        #expect(debtors[0].quiet == [QuietTime(days: [7], fromMinute: 0, toMinute: 1440)])
        #expect(debtors[0].debts[0].balance == Money(decimal: "1250.00"))
        #expect(debtors[1].debts[0].balance == Money(decimal: "300000"))
        #expect(throws: SimulationError.self) { try PopulationReader.parse(Data("{\"id\":1}".utf8)) }
    }
}
