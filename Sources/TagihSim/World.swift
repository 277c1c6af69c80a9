import Dispatch
import Foundation
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

    /// The distinct candidate-zone sets of the phones (sorted zone ids), by the id `phoneZones` holds.
    @exclusivity(unchecked) var zoneSets: [[Int32]]

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

    /// Builds the world of `debtors` on all cores.
    ///
    /// The debtors are split into contiguous chunks; each chunk computes its debtors' hidden truth, rules, phones
    /// and debts, and names its zones and zone sets with chunk-local ids in the order it first uses them. A short
    /// serial pass then interns the chunks' zones and sets in chunk order, which gives every zone and set the id
    /// (and the clock the table order) that one pass over all debtors in index order gives; a last parallel pass
    /// replaces the local ids. The result does not depend on the number of chunks.
    ///
    /// - Parameter chunks: how many chunks (nil: one per core; tests vary it).
    init(debtors: [Debtor], configuration: SimulationConfiguration, chunks: Int? = nil) {
        self.debtors = debtors
        let end = configuration.start + Int64(configuration.days) * 86_400
        var clock = ZoneClock(from: configuration.start, to: end)
        let n = debtors.count
        let chunkCount = max(1, min(chunks ?? Parallel.workers, max(n, 1)))
        let bounds = (0...chunkCount).map { n * $0 / chunkCount }

        // Pass 1: phones and debts per chunk, for each chunk's first flat index.
        var phoneBase = [Int](repeating: 0, count: chunkCount + 1)
        var debtBase = [Int](repeating: 0, count: chunkCount + 1)
        do {
            let counts = Column<(Int, Int)>(chunkCount)
            let shared = Unchecked((debtors, counts, bounds))
            Self.forEach(chunks: chunkCount) { c in
                let (debtors, counts, bounds) = shared.value
                var phones = 0, debts = 0
                debtors.withUnsafeBufferPointer { d in
                    for i in bounds[c]..<bounds[c + 1] {
                        phones += d[i].phones.count
                        debts += d[i].debts.count
                    }
                }
                (counts.base + c).initialize(to: (phones, debts))
            }
            for c in 0..<chunkCount {
                phoneBase[c + 1] = phoneBase[c] + counts.base[c].0
                debtBase[c + 1] = debtBase[c] + counts.base[c].1
            }
            counts.base.deinitialize(count: chunkCount)
        }
        let phones = phoneBase[chunkCount], debts = debtBase[chunkCount]

        // Pass 2: every column, with chunk-local zone and zone-set ids.
        let cols = Columns(debtors: n, phones: phones, debts: debts)
        let found = Column<ChunkZones>(chunkCount)
        do {
            let w = configuration.world
            let mix = Archetype.allCases.map { max(0, w.mix[$0] ?? 0) }
            let mixTotal = max(mix.reduce(0, +), 1e-12)
            let seed = configuration.seed
            let shared = Unchecked((debtors, cols, found, bounds, phoneBase, debtBase))
            Self.forEach(chunks: chunkCount) { c in
                let (debtors, cols, found, bounds, phoneBase, debtBase) = shared.value
                var zones = ChunkZones()
                debtors.withUnsafeBufferPointer { d in
                    Self.fill(
                        d, range: bounds[c]..<bounds[c + 1], phone: phoneBase[c], debt: debtBase[c], into: cols,
                        zones: &zones, world: w, mix: mix, mixTotal: mixTotal, seed: seed)
                }
                (found.base + c).initialize(to: zones)
            }
        }

        // Serial: the chunks' zones and sets in chunk order (each chunk's in its order of first use).
        var zoneMaps: [[Int32]] = []
        var setMaps: [[Int32]] = []
        var sorted: [Int32] = []
        var globalSets = ZoneSetTable()
        for c in 0..<chunkCount {
            let zones = found.base[c]
            let zoneMap = zones.names.map { name -> Int32 in
                guard let id = clock.intern(name) else { preconditionFailure("zone \(name) was valid in a chunk") }
                return id
            }
            zoneMaps.append(zoneMap)
            setMaps.append(zones.sets.sets.map { set in
                sorted.removeAll(keepingCapacity: true)
                for z in set { Self.insertSorted(zoneMap[Int(z)], into: &sorted) }
                return globalSets.intern(sorted)
            })
        }
        found.base.deinitialize(count: chunkCount)
        self.clock = clock
        zoneSets = globalSets.sets

        // Pass 3: local ids to global ids.
        do {
            let shared = Unchecked((cols, bounds, phoneBase, zoneMaps, setMaps))
            Self.forEach(chunks: chunkCount) { c in
                let (cols, bounds, phoneBase, zoneMaps, setMaps) = shared.value
                let zoneMap = zoneMaps[c], setMap = setMaps[c]
                for i in bounds[c]..<bounds[c + 1] {
                    let local = cols.primaryZone[i]
                    cols.primaryZone[i] = local < 0 ? 0 : zoneMap[Int(local)]
                }
                for p in phoneBase[c]..<phoneBase[c + 1] { cols.phoneZones[p] = setMap[Int(cols.phoneZones[p])] }
            }
        }
        cols.phoneStart[n] = Int32(phones)
        cols.debtStart[n] = Int32(debts)

        primaryZone = cols.primaryZone.array()
        archetype = cols.archetype.array()
        baseRPC = cols.baseRPC.array()
        phoneStart = cols.phoneStart.array()
        debtStart = cols.debtStart.array()
        rules = cols.rules.array()
        active = cols.active.array()
        debtorID = cols.debtorID.array()
        hasQuiet = cols.hasQuiet.array()
        phoneZones = cols.phoneZones.array()
        phoneKind = cols.phoneKind.array()
        phoneDialable = cols.phoneDialable.array()
        phoneDead = cols.phoneDead.array()
        phoneWrong = cols.phoneWrong.array()
        phoneNumber = cols.phoneNumber.array()
        debtBalance = cols.debtBalance.array()
        debtUSDRate = cols.debtUSDRate.array()
        debtDebtor = cols.debtDebtor.array()
        debtID = cols.debtID.array()
    }

    /// Runs `body(c)` for `c` in `0..<chunks`, on all cores when there is more than one.
    private static func forEach(chunks: Int, _ body: @Sendable (Int) -> Void) {
        if chunks == 1 { body(0) } else { DispatchQueue.concurrentPerform(iterations: chunks, execute: body) }
    }

    /// Manually managed storage of `count` elements, written by several threads at disjoint indices, then moved
    /// into an array (`array()`, once, after every element is initialized).
    final class Column<T>: @unchecked Sendable {
        let base: UnsafeMutablePointer<T>
        let count: Int

        init(_ count: Int) {
            self.count = count
            base = .allocate(capacity: max(count, 1))
        }

        deinit { base.deallocate() }

        subscript(_ i: Int) -> T {
            @inline(__always) get { base[i] }
            @inline(__always) set { base[i] = newValue }
        }

        /// The elements as an array; they are moved, so the column is uninitialized afterwards.
        func array() -> [T] {
            [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                if count > 0 { buffer.baseAddress!.moveInitialize(from: base, count: count) }
                initialized = count
            }
        }
    }

    /// The columns `init` fills (per debtor, per phone, per debt); `phoneStart` and `debtStart` have one more
    /// element.
    final class Columns: @unchecked Sendable {
        let primaryZone: Column<Int32>
        let archetype: Column<Archetype>
        let baseRPC: Column<Float>
        let phoneStart: Column<Int32>
        let debtStart: Column<Int32>
        let rules: Column<RuleSet>
        let active: Column<Bool>
        let debtorID: Column<String>
        let hasQuiet: Column<Bool>
        let phoneZones: Column<Int32>
        let phoneKind: Column<PhoneKind>
        let phoneDialable: Column<Bool>
        let phoneDead: Column<Bool>
        let phoneWrong: Column<Bool>
        let phoneNumber: Column<String>
        let debtBalance: Column<Int64>
        let debtUSDRate: Column<Double>
        let debtDebtor: Column<Int32>
        let debtID: Column<String>

        init(debtors n: Int, phones: Int, debts: Int) {
            primaryZone = .init(n)
            archetype = .init(n)
            baseRPC = .init(n)
            phoneStart = .init(n + 1)
            debtStart = .init(n + 1)
            rules = .init(n)
            active = .init(n)
            debtorID = .init(n)
            hasQuiet = .init(n)
            phoneZones = .init(phones)
            phoneKind = .init(phones)
            phoneDialable = .init(phones)
            phoneDead = .init(phones)
            phoneWrong = .init(phones)
            phoneNumber = .init(phones)
            debtBalance = .init(debts)
            debtUSDRate = .init(debts)
            debtDebtor = .init(debts)
            debtID = .init(debts)
        }
    }

    /// The zones and zone sets one chunk of debtors uses, with chunk-local ids in order of first use.
    struct ChunkZones {
        /// The valid zone names by local id.
        var names: [String] = []
        /// Local id by name; nil for a name that is not a zone (known, so it is checked once).
        var index: [String: Int32?] = [:]
        /// The zone sets by local set id, each sorted by local zone id.
        var sets = ZoneSetTable()
        /// Per jurisdiction: its zones (local ids) and rules.
        var jurisdictions: [String: ([Int32], RuleSet)] = [:]
        /// Per number-prefix key (`numberZoneKey`): the local id of its zone.
        var prefixes: [Int: Int32?] = [:]

        /// The local id of `name`, nil when it is not a zone (as `ZoneClock.intern` decides).
        mutating func intern(_ name: String) -> Int32? {
            if let known = index[name] { return known }
            let id: Int32? = TimeZone(identifier: name) == nil ? nil : Int32(names.count)
            if id != nil { names.append(name) }
            index[name] = id
            return id
        }
    }

    /// Distinct zone sets numbered in order of first use.
    struct ZoneSetTable {
        private(set) var sets: [[Int32]] = []
        /// Sets of up to three zones with ids below 2^20, packed (count and ids) for a look-up without an allocation.
        private var packed: [UInt64: Int32] = [:]
        private var other: [[Int32]: Int32] = [:]

        /// The id of `zones` (sorted, distinct), numbering it when it is new.
        mutating func intern(_ zones: [Int32]) -> Int32 {
            if zones.count <= 3 && zones.allSatisfy({ $0 >= 0 && $0 < 1 << 20 }) {
                var key = UInt64(zones.count)
                for z in zones { key = key << 20 | UInt64(z) }
                if let id = packed[key] { return id }
                let id = Int32(sets.count)
                sets.append(zones)
                packed[key] = id
                return id
            }
            if let id = other[zones] { return id }
            let id = Int32(sets.count)
            sets.append(zones)
            other[zones] = id
            return id
        }
    }

    /// Fills the columns of the debtors in `range` (their first phone and debt at flat indices `phone` and
    /// `debt`), with local zone ids in `primaryZone` (-1: zone 0) and local set ids in `phoneZones`.
    private static func fill(
        _ debtors: UnsafeBufferPointer<Debtor>, range: Range<Int>, phone firstPhone: Int, debt firstDebt: Int,
        into cols: Columns, zones: inout ChunkZones, world w: WorldConfiguration, mix: [Double], mixTotal: Double,
        seed: UInt64
    ) {
        var p = firstPhone, q = firstDebt
        var setZones: [Int32] = []
        setZones.reserveCapacity(8)
        for i in range {
            let d = debtors[i]
            var rng = SeededRandom(seed: seed ^ 0x5EED_0F_70_7E, stream: UInt64(i))
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
            (cols.archetype.base + i).initialize(to: kind)
            let mean = d.segment == "early" ? w.baseRPCEarly : w.baseRPCLate
            (cols.baseRPC.base + i).initialize(to: Float(rng.beta(mean: mean, concentration: w.concentration)))
            (cols.active.base + i).initialize(to: d.status == .active)
            (cols.debtorID.base + i).initialize(to: d.id)
            (cols.hasQuiet.base + i).initialize(to: !d.quiet.isEmpty)

            // Zones: the jurisdiction's (interned at its first debtor, as a lone pass would), then the address's.
            let jz: [Int32]
            let rule: RuleSet
            if let cached = zones.jurisdictions[d.jurisdiction] {
                (jz, rule) = cached
            } else {
                jz = Jurisdictions.zones(of: d.jurisdiction).compactMap { zones.intern($0) }
                rule = ruleSet(d.jurisdiction)
                zones.jurisdictions[d.jurisdiction] = (jz, rule)
            }
            let own: Int32? = d.zone.flatMap { zones.intern($0) }
            let primary: Int32 = own ?? jz.first ?? (zones.intern("UTC") ?? -1)
            (cols.primaryZone.base + i).initialize(to: primary)

            (cols.phoneStart.base + i).initialize(to: Int32(p))
            for ph in d.phones {
                // The sorted distinct candidate zones (address, the phone's own zone, the number's prefix).
                setZones.removeAll(keepingCapacity: true)
                if let own { setZones.append(own) } else { for z in jz { insertSorted(z, into: &setZones) } }
                if let z = ph.zone, let id = zones.intern(z) { insertSorted(id, into: &setZones) }
                let key = numberZoneKey(ph.number)
                if key != noPrefix {
                    let id: Int32?
                    if let cached = zones.prefixes[key] {
                        id = cached
                    } else {
                        id = numberZone(ph.number).flatMap { zones.intern($0) }
                        zones.prefixes[key] = id
                    }
                    if let id { insertSorted(id, into: &setZones) }
                }
                (cols.phoneZones.base + p).initialize(to: zones.sets.intern(setZones))
                (cols.phoneKind.base + p).initialize(to: ph.kind)
                (cols.phoneNumber.base + p).initialize(to: ph.number)
                (cols.phoneDialable.base + p).initialize(to: ph.owner == .debtor)
                let u = rng.uniform()
                (cols.phoneDead.base + p).initialize(to: u < w.deadShare)
                (cols.phoneWrong.base + p).initialize(to: u >= w.deadShare && u < w.deadShare + w.wrongShare)
                p += 1
            }
            (cols.debtStart.base + i).initialize(to: Int32(q))
            for debt in d.debts {
                (cols.debtBalance.base + q).initialize(to: debt.balance.tenThousandths)
                (cols.debtUSDRate.base + q).initialize(to: usdRate(debt.currency))
                (cols.debtDebtor.base + q).initialize(to: Int32(i))
                (cols.debtID.base + q).initialize(to: debt.id)
                q += 1
            }
            (cols.rules.base + i).initialize(to: rule)
        }
    }

    /// The legal rules of a jurisdiction.
    static func ruleSet(_ jurisdiction: String) -> RuleSet {
        let win = Jurisdictions.window(of: jurisdiction)
        let country = Jurisdictions.country(jurisdiction)
        return RuleSet(
            windowFrom: win.from, windowTo: win.to, noSunday: win.noSunday, holidays: country == "ID",
            usCaps: country == "US", ma: jurisdiction == "US-MA", wa: jurisdiction == "US-WA",
            nyc: jurisdiction == "US-NY-NYC", gb: country == "GB")
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
