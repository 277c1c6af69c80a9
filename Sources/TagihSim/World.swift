import TagihCore

/// The static part of a simulated world in flat arrays: the visible records (indexed), their
/// zones, and the hidden truth (archetype, base RPC, dead and wrong numbers) that no strategy sees.
final class World {
    let debtors: [Debtor]
    @exclusivity(unchecked) var clock: ZoneClock

    // Per debtor.
    @exclusivity(unchecked) var primaryZone: [Int32]
    @exclusivity(unchecked) var archetype: [Archetype]
    @exclusivity(unchecked) var baseRPC: [Float]
    @exclusivity(unchecked) var phoneStart: [Int32]
    @exclusivity(unchecked) var debtStart: [Int32]
    @exclusivity(unchecked) var rules: [RuleSet]
    @exclusivity(unchecked) var active: [Bool]

    // Per phone (flat).
    @exclusivity(unchecked) var phoneZones: [Int32]  // zone-set id of the candidate zones when this phone is dialed
    @exclusivity(unchecked) var phoneKind: [PhoneKind]
    @exclusivity(unchecked) var phoneDialable: [Bool]  // owner == debtor
    @exclusivity(unchecked) var phoneDead: [Bool]
    @exclusivity(unchecked) var phoneWrong: [Bool]

    // Per debt (flat).
    @exclusivity(unchecked) var debtBalance: [Int64]
    @exclusivity(unchecked) var debtUSDRate: [Double]
    @exclusivity(unchecked) var debtDebtor: [Int32]

    // Visible ids, flat (the attempt log and the strategies' outcome events are built from these without
    // copying a `Debtor`).
    @exclusivity(unchecked) var debtorID: [String]
    @exclusivity(unchecked) var debtID: [String]
    @exclusivity(unchecked) var phoneNumber: [String]
    /// Whether a debtor has consumer-stated quiet times.
    @exclusivity(unchecked) var hasQuiet: [Bool]

    @exclusivity(unchecked) var zoneSets: [[Int32]] = []
    @exclusivity(unchecked) private var zoneSetIndex: [[Int32]: Int32] = [:]

    /// Which legal rules the independent checker applies to a debtor.
    struct RuleSet: Hashable {
        var windowFrom: Int
        var windowTo: Int
        var noSunday: Bool
        var holidays: Bool
        var usCaps: Bool
        var ma: Bool
        var wa: Bool
        var nyc: Bool
        var gb: Bool
    }

    var phoneCount: Int { phoneKind.count }
    var debtCount: Int { debtBalance.count }

    init(debtors: [Debtor], configuration: SimulationConfiguration) {
        self.debtors = debtors
        let end = configuration.start + Int64(configuration.days) * 86_400
        clock = ZoneClock(from: configuration.start, to: end)
        let n = debtors.count
        primaryZone = []
        primaryZone.reserveCapacity(n)
        archetype = []
        archetype.reserveCapacity(n)
        baseRPC = []
        baseRPC.reserveCapacity(n)
        phoneStart = []
        phoneStart.reserveCapacity(n + 1)
        debtStart = []
        debtStart.reserveCapacity(n + 1)
        rules = []
        rules.reserveCapacity(n)
        active = []
        active.reserveCapacity(n)
        phoneZones = []
        phoneKind = []
        phoneDialable = []
        phoneDead = []
        phoneWrong = []
        debtBalance = []
        debtUSDRate = []
        debtDebtor = []
        debtorID = debtors.map(\.id)
        debtID = []
        phoneNumber = []
        hasQuiet = debtors.map { !$0.quiet.isEmpty }

        let w = configuration.world
        let mix = Archetype.allCases.map { max(0, w.mix[$0] ?? 0) }
        let mixTotal = max(mix.reduce(0, +), 1e-12)
        var jurisdictionZones: [String: [Int32]] = [:]
        var jurisdictionRules: [String: RuleSet] = [:]
        // The zone id a number's prefix points to, by prefix key (`numberZoneKey`); interned on first use, as
        // `numberZone` + `intern` would (the same ids in the same order).
        var prefixZones: [Int: Int32?] = [:]
        var setZones: [Int32] = []
        setZones.reserveCapacity(8)
        debtors.withUnsafeBufferPointer { debtors in
        for i in 0..<n {
            let d = debtors[i]
            var rng = SeededRandom(seed: configuration.seed ^ 0x5EED_0F_70_7E, stream: UInt64(i))
            // Hidden truth.
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
            let mean = d.segment == "early" ? w.baseRPCEarly : w.baseRPCLate
            baseRPC.append(Float(rng.beta(mean: mean, concentration: w.concentration)))
            active.append(d.status == .active)

            // Zones.
            let jz: [Int32]
            if let cached = jurisdictionZones[d.jurisdiction] {
                jz = cached
            } else {
                jz = Jurisdictions.zones(of: d.jurisdiction).compactMap { clock.intern($0) }
                jurisdictionZones[d.jurisdiction] = jz
            }
            let address: [Int32] = d.zone.flatMap { clock.intern($0) }.map { [$0] } ?? jz
            primaryZone.append(address.first ?? (clock.intern("UTC") ?? 0))

            phoneStart.append(Int32(phoneKind.count))
            for p in d.phones {
                // The sorted distinct candidate zones (address, the phone's own zone, the number's prefix).
                setZones.removeAll(keepingCapacity: true)
                for z in address { Self.insertSorted(z, into: &setZones) }
                if let z = p.zone, let id = clock.intern(z) { Self.insertSorted(id, into: &setZones) }
                let key = Self.numberZoneKey(p.number)
                if key != Self.noPrefix {
                    let id: Int32?
                    if let cached = prefixZones[key] {
                        id = cached
                    } else {
                        id = Self.numberZone(p.number).flatMap { clock.intern($0) }
                        prefixZones[key] = id
                    }
                    if let id { Self.insertSorted(id, into: &setZones) }
                }
                phoneZones.append(internSet(setZones))
                phoneKind.append(p.kind)
                phoneNumber.append(p.number)
                phoneDialable.append(p.owner == .debtor)
                let u = rng.uniform()
                phoneDead.append(u < w.deadShare)
                phoneWrong.append(u >= w.deadShare && u < w.deadShare + w.wrongShare)
            }
            debtStart.append(Int32(debtBalance.count))
            for debt in d.debts {
                debtBalance.append(debt.balance.tenThousandths)
                debtUSDRate.append(Self.usdRate(debt.currency))
                debtDebtor.append(Int32(i))
                debtID.append(debt.id)
            }
            if let cached = jurisdictionRules[d.jurisdiction] {
                rules.append(cached)
            } else {
                let win = Jurisdictions.window(of: d.jurisdiction)
                let country = Jurisdictions.country(d.jurisdiction)
                let r = RuleSet(
                    windowFrom: win.from, windowTo: win.to, noSunday: win.noSunday, holidays: country == "ID",
                    usCaps: country == "US", ma: d.jurisdiction == "US-MA", wa: d.jurisdiction == "US-WA",
                    nyc: d.jurisdiction == "US-NY-NYC", gb: country == "GB")
                jurisdictionRules[d.jurisdiction] = r
                rules.append(r)
            }
        }
        }
        phoneStart.append(Int32(phoneKind.count))
        debtStart.append(Int32(debtBalance.count))
    }

    /// Sets of up to three zones with ids below 2^20, packed (count and ids) for a look-up without an allocation.
    @exclusivity(unchecked) private var packedSetIndex: [UInt64: Int32] = [:]

    private func internSet(_ zones: [Int32]) -> Int32 {
        if zones.count <= 3 && zones.allSatisfy({ $0 >= 0 && $0 < 1 << 20 }) {
            var key = UInt64(zones.count)
            for z in zones { key = key << 20 | UInt64(z) }
            if let id = packedSetIndex[key] { return id }
            let id = Int32(zoneSets.count)
            zoneSets.append(zones)
            packedSetIndex[key] = id
            return id
        }
        if let id = zoneSetIndex[zones] { return id }
        let id = Int32(zoneSets.count)
        zoneSets.append(zones)
        zoneSetIndex[zones] = id
        return id
    }

    /// Inserts `z` into the sorted, distinct `zones`.
    @inline(__always)
    static func insertSorted(_ z: Int32, into zones: inout [Int32]) {
        var k = zones.count
        while k > 0 && zones[k - 1] > z { k -= 1 }
        if k > 0 && zones[k - 1] == z { return }
        zones.insert(z, at: k)
    }

    static let noPrefix = Int.min

    /// A key for the prefix `numberZone` reads (equal keys, equal zones): the area code of a +1 number, -44 and
    /// -91 for +44 and +91, `noPrefix` when the number's prefix points to no zone.
    static func numberZoneKey(_ number: String) -> Int {
        var head: (UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0)
        var n = 0
        for b in number.utf8.prefix(5) {
            switch n {
            case 0: head.0 = b
            case 1: head.1 = b
            case 2: head.2 = b
            case 3: head.3 = b
            default: head.4 = b
            }
            n += 1
        }
        if n >= 5 && head.0 == UInt8(ascii: "+") && head.1 == UInt8(ascii: "1") {
            let area = Int(head.2 &- 48) * 100 + Int(head.3 &- 48) * 10 + Int(head.4 &- 48)
            return areaZones[area] == nil ? noPrefix : area
        }
        if n >= 3 && head.0 == UInt8(ascii: "+") && head.1 == UInt8(ascii: "4") && head.2 == UInt8(ascii: "4") {
            return -44
        }
        if n >= 3 && head.0 == UInt8(ascii: "+") && head.1 == UInt8(ascii: "9") && head.2 == UInt8(ascii: "1") {
            return -91
        }
        return noPrefix
    }

    /// The zone the number's prefix points to (the simulator's own small table), nil if none.
    static func numberZone(_ number: String) -> String? {
        switch numberZoneKey(number) {
        case noPrefix: nil
        case -44: "Europe/London"
        case -91: "Asia/Kolkata"
        case let area: areaZones[area]
        }
    }

    static let areaZones: [Int: String] = {
        var m: [Int: String] = [:]
        for s in SyntheticPopulation.states where s.zones.count == 1 {
            for a in s.areaCodes { m[a] = s.zones[0] }
        }
        // States spanning zones: their metro area codes are in the main zone.
        for s in SyntheticPopulation.states where s.zones.count > 1 {
            for a in s.areaCodes { m[a] = s.zones[0] }
        }
        return m
    }()

    /// Fixed conversion rates used only to add amounts up in the report (documented, not live).
    static func usdRate(_ currency: String) -> Double {
        switch currency {
        case "USD": 1
        case "IDR": 1.0 / 15_000
        case "GBP": 1.25
        case "INR": 1.0 / 80
        case "EUR": 1.1
        default: 1
        }
    }

    /// Local (zone) epoch seconds of the debtor's primary zone.
    @inline(__always)
    func primaryLocal(_ debtor: Int, _ t: UnixSeconds) -> Int64 { clock.local(primaryZone[debtor], t) }

    /// The hidden RPC probability multiplier of a debtor at instant `t`.
    @inline(__always)
    func curve(_ debtor: Int, _ t: UnixSeconds) -> Double {
        let local = primaryLocal(debtor, t)
        let day = LocalTime.day(local)
        return archetype[debtor].multiplier(hour: LocalTime.minute(local) / 60, weekday: LocalTime.weekday(day: day))
    }
}
