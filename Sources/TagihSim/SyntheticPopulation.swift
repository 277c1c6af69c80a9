public import TagihCore

/// Generates realistic synthetic debtor records (the visible part of a synthetic world).
///
/// US states with their real zones (including `US-MA`, `US-WA`, `US-NY-NYC`), some `ID`, `GB`
/// and `IN` debtors; phones with or without a zone, some whose zone differs from the address;
/// balances lognormal with median 800 and σ = 1; segments early (40 %) and late (60 %).
/// The same arguments always give the same records.
public enum SyntheticPopulation {
    /// Options of the generator; every field has a documented default.
    public struct Configuration: Sendable, Hashable {
        /// Share of early-stage (first-party) debtors; the rest are `late`. Default 0.4.
        public var earlyShare: Double = 0.4
        /// Median balance in US dollars. Default 800.
        public var medianBalance: Double = 800
        /// σ of the log of the balance. Default 1.
        public var balanceSigma: Double = 1
        /// Share of debtors outside the US (split evenly-ish between ID, GB and IN). Default 0.12.
        public var nonUSShare: Double = 0.12
        /// Share of debtors whose address zone is unknown. Default 0.08.
        public var unknownZoneShare: Double = 0.08
        /// Share of debtors with a status other than `active`. Default 0.01.
        public var inactiveShare: Double = 0.01
        /// Creates the default configuration.
        public init() {}
    }

    struct State {
        let code: String
        let weight: Int
        let zones: [String]
        let areaCodes: [Int]
    }

    static let states: [State] = [
        State(code: "US-CA", weight: 13, zones: ["America/Los_Angeles"], areaCodes: [213, 310, 415, 619, 916]),
        State(code: "US-TX", weight: 10, zones: ["America/Chicago", "America/Denver"], areaCodes: [214, 713, 512, 210]),
        State(code: "US-FL", weight: 8, zones: ["America/New_York", "America/Chicago"], areaCodes: [305, 407, 813, 904]),
        State(code: "US-NY-NYC", weight: 7, zones: ["America/New_York"], areaCodes: [212, 718, 917, 347]),
        State(code: "US-NY", weight: 4, zones: ["America/New_York"], areaCodes: [518, 585, 716, 315]),
        State(code: "US-MA", weight: 6, zones: ["America/New_York"], areaCodes: [617, 508, 781, 978]),
        State(code: "US-WA", weight: 6, zones: ["America/Los_Angeles"], areaCodes: [206, 253, 425, 509]),
        State(code: "US-IL", weight: 5, zones: ["America/Chicago"], areaCodes: [312, 773, 217]),
        State(code: "US-GA", weight: 5, zones: ["America/New_York"], areaCodes: [404, 770]),
        State(code: "US-OH", weight: 5, zones: ["America/New_York"], areaCodes: [216, 614, 513]),
        State(code: "US-PA", weight: 5, zones: ["America/New_York"], areaCodes: [215, 412]),
        State(code: "US-NC", weight: 4, zones: ["America/New_York"], areaCodes: [704, 919]),
        State(code: "US-AZ", weight: 4, zones: ["America/Phoenix"], areaCodes: [602, 480, 520]),
        State(code: "US-CO", weight: 3, zones: ["America/Denver"], areaCodes: [303, 719]),
        State(code: "US-HI", weight: 1, zones: ["Pacific/Honolulu"], areaCodes: [808]),
    ]

    static let indonesianZones = [("Asia/Jakarta", 70), ("Asia/Makassar", 20), ("Asia/Jayapura", 10)]

    /// Generates `count` debtors with ids `D-<startingAt>` ... `D-<startingAt + count - 1>`.
    ///
    /// - Parameters:
    ///   - count: how many debtors.
    ///   - seed: the seed; the same seed and arguments give the same records.
    ///   - startingAt: the number of the first id (lets a caller generate a population in chunks).
    ///   - configuration: the generator's options.
    public static func generate(
        count: Int, seed: UInt64, startingAt: Int = 1, configuration: Configuration = .init()
    ) -> [Debtor] {
        let totalWeight = states.reduce(0) { $0 + $1.weight }
        guard count > 0 else { return [] }
        // Every debtor has its own generator stream, so chunks generated on all cores give the same records.
        return [Debtor](unsafeUninitializedCapacity: count) { buffer, initialized in
            let target = Unchecked(buffer)
            let make: @Sendable (Range<Int>) -> Void = { range in
                for i in range {
                    let n = startingAt + i
                    var rng = SeededRandom(seed: seed, stream: UInt64(n))
                    (target.value.baseAddress! + i).initialize(
                        to: debtor(number: n, rng: &rng, configuration: configuration, totalWeight: totalWeight))
                }
            }
            if count < 4096 { make(0..<count) } else { Parallel.forEachChunk(count: count, make) }
            initialized = count
        }
    }

    private static func debtor(number n: Int, rng: inout SeededRandom, configuration c: Configuration, totalWeight: Int)
        -> Debtor
    {
        let id = "D-\(n)"
        let segment = rng.chance(c.earlyShare) ? "early" : "late"
        var jurisdiction: String
        var zone: String?
        var phones: [Phone] = []
        var currency = "USD"
        var scale = 1.0
        let digits = 1_000_000 + rng.below(8_999_999)
        if rng.chance(c.nonUSShare) {
            switch rng.below(3) {
            case 0:
                jurisdiction = "ID"
                currency = "IDR"
                scale = 15_000
                var pick = rng.below(100)
                zone = indonesianZones.first { pick -= $0.1; return pick < 0 }?.0
                phones.append(Phone(number: "+628\(digits)\(rng.below(10))", kind: .mobile, zone: nil, owner: .debtor))
            case 1:
                jurisdiction = "GB"
                currency = "GBP"
                scale = 0.8
                zone = "Europe/London"
                phones.append(
                    Phone(number: "+447\(digits)\(rng.below(100))", kind: .mobile,
                          zone: rng.chance(0.5) ? "Europe/London" : nil, owner: .debtor))
            default:
                jurisdiction = "IN"
                currency = "INR"
                scale = 80
                zone = "Asia/Kolkata"
                phones.append(
                    Phone(number: "+919\(digits)\(rng.below(100))", kind: .mobile,
                          zone: rng.chance(0.5) ? "Asia/Kolkata" : nil, owner: .debtor))
            }
        } else {
            var pick = rng.below(totalWeight)
            let state = states.first { pick -= $0.weight; return pick < 0 } ?? states[0]
            jurisdiction = state.code
            zone = state.zones.count == 1 || rng.chance(0.9) ? state.zones[0] : state.zones[1]
            // Most phones match the address; some belong to another state (the debtor moved).
            let phoneState = rng.chance(0.1) ? states[rng.below(states.count)] : state
            let area = phoneState.areaCodes[rng.below(phoneState.areaCodes.count)]
            let kind: PhoneKind = rng.chance(0.7) ? .mobile : .home
            let phoneZone: String? = rng.chance(0.6) ? phoneState.zones[0] : nil
            phones.append(Phone(number: "+1\(area)555\(String(digits % 10_000 + 10_000).dropFirst())", kind: kind,
                                zone: phoneZone, owner: .debtor))
            if rng.chance(0.25) {
                let area2 = state.areaCodes[rng.below(state.areaCodes.count)]
                phones.append(Phone(number: "+1\(area2)556\(rng.between(1000, 9999))", kind: rng.chance(0.5) ? .work : .home,
                                    zone: rng.chance(0.5) ? state.zones[0] : nil, owner: .debtor))
            }
            if rng.chance(0.1) {
                phones.append(Phone(number: "+1\(area)557\(rng.between(1000, 9999))", kind: .mobile, zone: nil,
                                    owner: .emergency))
            }
        }
        if rng.chance(c.unknownZoneShare) { zone = nil }
        var status = DebtorStatus.active
        if rng.chance(c.inactiveShare) {
            status = [DebtorStatus.cease, .attorney, .bankruptcy, .deceased][rng.below(4)]
        }
        var debts: [Debt] = []
        let debtCount = rng.chance(0.15) ? 2 : 1
        for k in 0..<debtCount {
            let usd = rng.logNormal(median: c.medianBalance, sigma: c.balanceSigma)
            let amount = (usd * scale).rounded()
            let units = max(1, min(Int64(amount), 9_000_000_000))
            debts.append(Debt(id: "A-\(n)-\(k + 1)", balance: Money(tenThousandths: units * 10_000), currency: currency))
        }
        var quiet: [QuietTime] = []
        let q = rng.uniform()
        if q < 0.04 {
            quiet.append(QuietTime(days: [7], fromMinute: 0, toMinute: 1440))
        } else if q < 0.08 {
            quiet.append(QuietTime(days: [], fromMinute: 0, toMinute: 600))
        }
        return Debtor(id: id, jurisdiction: jurisdiction, zone: zone, status: status, segment: segment, phones: phones,
                      debts: debts, quiet: quiet)
    }
}
