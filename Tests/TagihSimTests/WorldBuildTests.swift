import Foundation
import Testing
import TagihCore
@testable import TagihSim

/// `World.init` builds the world in chunks on all cores; these tests check that the result is the one a single pass
/// over the debtors in index order gives (the serial build of session 7, written out again below), whatever the
/// number of chunks.
@Suite struct WorldBuildTests {
    /// A population with what the generator never makes: unknown and invalid zones, unknown jurisdictions (a US one
    /// spans seven zones, so its sets take the unpacked path), debtors without phones or debts, duplicate numbers,
    /// a zone first met on a phone late in the list.
    static func oddPopulation() -> [Debtor] {
        var list = SyntheticPopulation.generate(count: 3_000, seed: 11)
        let odd: [Debtor] = [
            Debtor(id: "X-1", jurisdiction: "US-ZZ", zone: nil, phones: [Phone(number: "+15555550100")],
                   debts: [Debt(id: "X-1-a", balance: Money(tenThousandths: 10_000), currency: "USD")]),
            Debtor(id: "X-2", jurisdiction: "ZZ", zone: "Mars/Olympus", phones: [Phone(number: "+999", zone: "Nowhere")],
                   debts: []),
            Debtor(id: "X-3", jurisdiction: "GB", zone: "Europe/Dublin", status: .cease,
                   phones: [Phone(number: "+441234", zone: "Asia/Tokyo"), Phone(number: "+441234", kind: .work)],
                   debts: [Debt(id: "X-3-a", balance: Money(tenThousandths: 5), currency: "EUR"),
                           Debt(id: "X-3-a", balance: Money(tenThousandths: 7), currency: "GBP")],
                   quiet: [QuietTime(days: [], fromMinute: 0, toMinute: 60)]),
            Debtor(id: "X-4", jurisdiction: "US-TX", zone: nil, phones: [], debts: []),
            Debtor(id: "X-5", jurisdiction: "ID", zone: nil,
                   phones: [Phone(number: "+919876", zone: "Australia/Lord_Howe", owner: .emergency)],
                   debts: [Debt(id: "X-5-a", balance: Money(tenThousandths: 1), currency: "IDR")]),
        ]
        // Spread them out, so they fall into different chunks.
        for (k, d) in odd.enumerated() { list.insert(d, at: min(list.count, 7 + k * 650)) }
        list.append(Debtor(id: "X-6", jurisdiction: "US-FL", zone: "Pacific/Chatham",
                           phones: [Phone(number: "+12125550000", zone: "Africa/Nairobi")], debts: []))
        return list
    }

    @Test(arguments: [1, 2, 3, 7, 64])
    func chunkedBuildEqualsOnePass(chunks: Int) {
        let population = Self.oddPopulation()
        var c = SimulationConfiguration(start: testStart)
        c.seed = 5
        let world = World(debtors: population, configuration: c, chunks: chunks)
        let reference = ReferenceWorld(debtors: population, configuration: c)
        #expect(world.clock.names == reference.names)
        #expect(world.zoneSets == reference.zoneSets)
        #expect(world.primaryZone == reference.primaryZone)
        #expect(world.phoneZones == reference.phoneZones)
        #expect(world.phoneStart == reference.phoneStart)
        #expect(world.debtStart == reference.debtStart)
        #expect(world.archetype == reference.archetype)
        #expect(world.baseRPC == reference.baseRPC)
        #expect(world.rules == reference.rules)
        #expect(world.active == reference.active)
        #expect(world.hasQuiet == reference.hasQuiet)
        #expect(world.debtorID == population.map(\.id))
        #expect(world.phoneNumber == population.flatMap { $0.phones.map(\.number) })
        #expect(world.phoneKind == population.flatMap { $0.phones.map(\.kind) })
        #expect(world.phoneDialable == population.flatMap { $0.phones.map { $0.owner == .debtor } })
        #expect(world.phoneDead == reference.phoneDead)
        #expect(world.phoneWrong == reference.phoneWrong)
        #expect(world.debtID == population.flatMap { $0.debts.map(\.id) })
        #expect(world.debtBalance == population.flatMap { $0.debts.map(\.balance.tenThousandths) })
        #expect(world.debtUSDRate == population.flatMap { $0.debts.map { World.usdRate($0.currency) } })
        #expect(world.debtDebtor == population.indices.flatMap { i in population[i].debts.map { _ in Int32(i) } })
        // The odd ones did what they should: unknown zones left out, a seven-zone set, the late zones interned last.
        #expect(!world.clock.names.contains("Mars/Olympus") && !world.clock.names.contains("Nowhere"))
        #expect(world.zoneSets.contains { $0.count == 7 })
        #expect(world.clock.names.suffix(2) == ["Pacific/Chatham", "Africa/Nairobi"])
    }

    @Test func emptyAndTinyPopulations() {
        let c = SimulationConfiguration(start: testStart)
        for n in [0, 1, 2] {
            let population = SyntheticPopulation.generate(count: n, seed: 2)
            let world = World(debtors: population, configuration: c, chunks: 4)
            let reference = ReferenceWorld(debtors: population, configuration: c)
            #expect(world.primaryZone == reference.primaryZone)
            #expect(world.phoneStart == reference.phoneStart && world.phoneStart.count == n + 1)
            #expect(world.debtStart == reference.debtStart)
            #expect(world.clock.names == reference.names)
        }
    }
}

/// The world's zones and hidden truth computed in one pass in index order, the way `World.init` did it before it
/// ran in chunks (zones named in order of first use, sets numbered in order of first use).
private struct ReferenceWorld {
    var names: [String] = []
    var nameIndex: [String: Int32] = [:]
    var zoneSets: [[Int32]] = []
    var setIndex: [[Int32]: Int32] = [:]
    var primaryZone: [Int32] = []
    var phoneZones: [Int32] = []
    var phoneStart: [Int32] = []
    var debtStart: [Int32] = []
    var archetype: [Archetype] = []
    var baseRPC: [Float] = []
    var rules: [World.RuleSet] = []
    var active: [Bool] = []
    var hasQuiet: [Bool] = []
    var phoneDead: [Bool] = []
    var phoneWrong: [Bool] = []

    mutating func intern(_ name: String) -> Int32? {
        if let id = nameIndex[name] { return id }
        guard TimeZone(identifier: name) != nil else { return nil }
        let id = Int32(names.count)
        names.append(name)
        nameIndex[name] = id
        return id
    }

    mutating func internSet(_ zones: [Int32]) -> Int32 {
        if let id = setIndex[zones] { return id }
        let id = Int32(zoneSets.count)
        zoneSets.append(zones)
        setIndex[zones] = id
        return id
    }

    init(debtors: [Debtor], configuration: SimulationConfiguration) {
        let w = configuration.world
        let mix = Archetype.allCases.map { max(0, w.mix[$0] ?? 0) }
        let mixTotal = max(mix.reduce(0, +), 1e-12)
        var seenJurisdictions: Set<String> = []
        var seenPrefixes: Set<Int> = []
        var phones: Int32 = 0, debts: Int32 = 0
        for (i, d) in debtors.enumerated() {
            var rng = SeededRandom(seed: configuration.seed ^ 0x5EED_0F_70_7E, stream: UInt64(i))
            var pick = rng.uniform() * mixTotal
            var kind = Archetype.never
            for (k, share) in zip(Archetype.allCases, mix) {
                pick -= share
                if pick < 0 {
                    kind = k
                    break
                }
            }
            archetype.append(kind)
            baseRPC.append(Float(rng.beta(mean: d.segment == "early" ? w.baseRPCEarly : w.baseRPCLate,
                                          concentration: w.concentration)))
            active.append(d.status == .active)
            hasQuiet.append(!d.quiet.isEmpty)
            // The jurisdiction's zones are named at its first debtor.
            if seenJurisdictions.insert(d.jurisdiction).inserted {
                for z in Jurisdictions.zones(of: d.jurisdiction) { _ = intern(z) }
            }
            let jz = Jurisdictions.zones(of: d.jurisdiction).compactMap { nameIndex[$0] }
            let address = d.zone.flatMap { intern($0) }.map { [$0] } ?? jz
            primaryZone.append(address.first ?? (intern("UTC") ?? 0))
            phoneStart.append(phones)
            for p in d.phones {
                var set = Set(address)
                if let z = p.zone, let id = intern(z) { set.insert(id) }
                let key = World.numberZoneKey(p.number)
                if key != World.noPrefix {
                    if seenPrefixes.insert(key).inserted, let z = World.numberZone(p.number) { _ = intern(z) }
                    if let z = World.numberZone(p.number), let id = nameIndex[z] { set.insert(id) }
                }
                phoneZones.append(internSet(set.sorted()))
                let u = rng.uniform()
                phoneDead.append(u < w.deadShare)
                phoneWrong.append(u >= w.deadShare && u < w.deadShare + w.wrongShare)
                phones += 1
            }
            debtStart.append(debts)
            debts += Int32(d.debts.count)
            rules.append(World.ruleSet(d.jurisdiction))
        }
        phoneStart.append(phones)
        debtStart.append(debts)
    }
}

/// The tagih refill keeps only the best `size` of its ranked pool: moved to the front by a selection, then sorted.
@Suite struct BestSelectionTests {
    @Test(arguments: [0, 1, 2, 5, 50, 999, 1000, 1001, 5000])
    func selectionThenSortEqualsSortingEverything(count: Int) {
        var rng = SeededRandom(seed: UInt64(count) + 17)
        // Few distinct values, so many ties are broken by the debtor.
        var list = (0..<1000).map { k in (value: Double(rng.below(40)) / 8, debtor: Int32(k * 7 % 1000)) }
        list.shuffle(using: &rng)
        let better: ((value: Double, debtor: Int32), (value: Double, debtor: Int32)) -> Bool = {
            $0.value > $1.value || ($0.value == $1.value && $0.debtor < $1.debtor)
        }
        let expected = Array(list.sorted(by: better).prefix(count))
        var selected = list
        if selected.count > count {
            selected.withUnsafeMutableBufferPointer { TagihPolicyStrategy.moveBestToFront($0, count: count, by: better) }
            selected.removeLast(selected.count - count)
        }
        selected.sort(by: better)
        #expect(selected.map(\.debtor) == expected.map(\.debtor))
        #expect(selected.map(\.value) == expected.map(\.value))
    }
}
