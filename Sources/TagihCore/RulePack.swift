/// A legal rule pack (DOMAIN.md "Legal rule packs"): the calling window, permitted days, holidays and the
/// statutory frequency caps of one jurisdiction. Resolved from a jurisdiction code by `RulePack.resolve`.
public struct RulePack: Sendable, Hashable {
    /// The pack's code: `US`, `US-MA`, `US-WA`, `US-NY-NYC`, `ID`, `IN`, `GB` or `default`.
    public var code: String
    /// Window start, local minutes after midnight (inclusive).
    public var windowStartMinute: Int
    /// Window end, local minutes after midnight (exclusive).
    public var windowEndMinute: Int
    /// Permitted ISO weekdays as a bit mask (bit 1 = Monday ... bit 7 = Sunday).
    public var weekdayMask: UInt8
    /// Whether the jurisdiction's national holidays are never-call days (`ID`).
    public var closedOnHolidays: Bool
    /// Statutory counted calls per debt in 7 consecutive local days (`US`: 7); nil = none in law.
    public var countedPerDebtPer7Days: Int?
    /// Whether a conversation blocks calls about the debt for the conversation day + 6 days (`US`).
    public var conversationBlock: Bool
    /// `US-MA`: counted calls per debt in 7 days to personal numbers (mobile, home).
    public var personalPerDebtPer7Days: Int?
    /// `US-MA`: counted calls per debt in 30 days to other numbers (work, other).
    public var otherPerDebtPer30Days: Int?
    /// `US-WA`: counted calls per debtor in 7 days.
    public var countedPerDebtorPer7Days: Int?
    /// `US-NY-NYC`: attempts of any outcome per debt in 7 days, and the first day it applies.
    public var attemptsPerDebtPer7Days: Int?
    /// Day number from which `attemptsPerDebtPer7Days` applies.
    public var attemptsCapFromDay: Int64
    /// `GB`: no redial within this many seconds after an abandoned call.
    public var abandonedHoldSeconds: Int64
    /// Where the rules come from (shown in reasons and docs).
    public var source: String

    static let allDays: UInt8 = 0b1111_1110

    /// The US federal pack: 08–21, 7-in-7 per debt, conversation block (FDCPA, Reg F).
    public static let us = RulePack(
        code: "US", windowStartMinute: 8 * 60, windowEndMinute: 21 * 60, weekdayMask: allDays,
        closedOnHolidays: false, countedPerDebtPer7Days: 7, conversationBlock: true, personalPerDebtPer7Days: nil,
        otherPerDebtPer30Days: nil, countedPerDebtorPer7Days: nil, attemptsPerDebtPer7Days: nil,
        attemptsCapFromDay: 0, abandonedHoldSeconds: 0,
        source: "FDCPA 15 USC 1692c(a)(1); Reg F 12 CFR 1006.6(b)(1)(i), 1006.14(b)(2)")

    /// Massachusetts: US plus 2 per 7 days to personal numbers, 2 per 30 days to others (940 CMR 7.04(1)(f)).
    public static let usMA: RulePack = {
        var p = us
        p.code = "US-MA"
        p.personalPerDebtPer7Days = 2
        p.otherPerDebtPer30Days = 2
        p.source += "; 940 CMR 7.04(1)(f)"
        return p
    }()

    /// Washington: US plus 3 counted calls per debtor per 7 days (RCW 19.16.250(13)).
    public static let usWA: RulePack = {
        var p = us
        p.code = "US-WA"
        p.countedPerDebtorPer7Days = 3
        p.source += "; RCW 19.16.250(13)"
        return p
    }()

    /// New York City: US plus 3 attempts of any kind per debt per 7 days from 2026-09-01 (6 RCNY 5-77).
    public static let usNYNYC: RulePack = {
        var p = us
        p.code = "US-NY-NYC"
        p.attemptsPerDebtPer7Days = 3
        p.attemptsCapFromDay = CivilTime.dayNumber(year: 2026, month: 9, day: 1)
        p.source += "; 6 RCNY 5-77"
        return p
    }()

    /// Indonesia: 08–20, Monday–Saturday, never on national holidays; debtor only (POJK 22/2023).
    public static let id = RulePack(
        code: "ID", windowStartMinute: 8 * 60, windowEndMinute: 20 * 60, weekdayMask: 0b0111_1110,
        closedOnHolidays: true, countedPerDebtPer7Days: nil, conversationBlock: false, personalPerDebtPer7Days: nil,
        otherPerDebtPer30Days: nil, countedPerDebtorPer7Days: nil, attemptsPerDebtPer7Days: nil,
        attemptsCapFromDay: 0, abandonedHoldSeconds: 0, source: "POJK 22/2023 Pasal 62(2); SEOJK 19/2023 IX.5")

    /// India: 08–19 (RBI circular 12 Aug 2022).
    public static let india: RulePack = {
        var p = defaultPack
        p.code = "IN"
        p.windowEndMinute = 19 * 60
        p.source = "RBI circular 12 Aug 2022 (recovery agents)"
        return p
    }()

    /// Great Britain: house 08–21, no redial for 72 h after an abandoned call (CONC 7.9.4R; Ofcom).
    public static let gb: RulePack = {
        var p = defaultPack
        p.code = "GB"
        p.abandonedHoldSeconds = 72 * 3600
        p.source = "FCA CONC 7.9.4R; Ofcom persistent-misuse statement"
        return p
    }()

    /// Anything else: 08–21 every day, house rules only (conservative default).
    public static let defaultPack = RulePack(
        code: "default", windowStartMinute: 8 * 60, windowEndMinute: 21 * 60, weekdayMask: allDays,
        closedOnHolidays: false, countedPerDebtPer7Days: nil, conversationBlock: false, personalPerDebtPer7Days: nil,
        otherPerDebtPer30Days: nil, countedPerDebtorPer7Days: nil, attemptsPerDebtPer7Days: nil,
        attemptsCapFromDay: 0, abandonedHoldSeconds: 0, source: "conservative default")

    /// The pack for a jurisdiction code: its own pack, else its country's (`US-FL` → `US`), else the default.
    public static func resolve(_ jurisdiction: String) -> RulePack { pack(kind: resolveKind(jurisdiction)) }

    /// The codes of the jurisdictions with a pack of their own, comma-separated (for messages).
    static let packCodes = (1...7).map { pack(kind: UInt8($0)).code }.joined(separator: ", ")

    /// The pack of a kind number from `resolveKind(_:)`.
    static func pack(kind: UInt8) -> RulePack {
        switch kind {
        case 1: return us
        case 2: return usMA
        case 3: return usWA
        case 4: return usNYNYC
        case 5: return id
        case 6: return india
        case 7: return gb
        default: return defaultPack
        }
    }

    /// Which pack a jurisdiction code selects: 0 default, 1 US, 2 US-MA, 3 US-WA, 4 US-NY-NYC, 5 ID, 6 IN, 7 GB.
    static func resolveKind(_ jurisdiction: String) -> UInt8 {
        // Compare bytes: this runs on every decision. No code point is canonically equivalent to a part of
        // "-MA", "-WA" or "-NY-NYC", so for strings of the same UTF-8 length byte equality is string equality.
        if let k = jurisdiction.utf8.withContiguousStorageIfAvailable({ Self.kind(ofBytes: $0) }) { return k }
        let u = jurisdiction.utf8
        guard u.count >= 2 else { return 0 }
        let a = u.first!
        let b = u[u.index(after: u.startIndex)]
        switch (a, b) {
        case (UInt8(ascii: "U"), UInt8(ascii: "S")):
            switch u.count {
            case 5:
                if jurisdiction == "US-MA" { return 2 }
                if jurisdiction == "US-WA" { return 3 }
            case 9:
                if jurisdiction == "US-NY-NYC" { return 4 }
            default: break
            }
            return 1
        case (UInt8(ascii: "I"), UInt8(ascii: "D")): return 5
        case (UInt8(ascii: "I"), UInt8(ascii: "N")): return 6
        case (UInt8(ascii: "G"), UInt8(ascii: "B")): return 7
        case (let x, let y) where isUSTerritory(x, y): return 1
        default: return 0
        }
    }

    /// `resolveKind(_:)` over the UTF-8 bytes of a jurisdiction code.
    @inline(__always)
    static func kind(ofBytes b: UnsafeBufferPointer<UInt8>) -> UInt8 {
        guard b.count >= 2 else { return 0 }
        switch (b[0], b[1]) {
        case (UInt8(ascii: "U"), UInt8(ascii: "S")):
            if b.count == 5 && b[2] == UInt8(ascii: "-") && b[4] == UInt8(ascii: "A") {
                if b[3] == UInt8(ascii: "M") { return 2 }
                if b[3] == UInt8(ascii: "W") { return 3 }
            } else if b.count == 9 && b[2] == UInt8(ascii: "-") && b[3] == UInt8(ascii: "N")
                && b[4] == UInt8(ascii: "Y") && b[5] == UInt8(ascii: "-") && b[6] == UInt8(ascii: "N")
                && b[7] == UInt8(ascii: "Y") && b[8] == UInt8(ascii: "C")
            {
                return 4
            }
            return 1
        case (UInt8(ascii: "I"), UInt8(ascii: "D")): return 5
        case (UInt8(ascii: "I"), UInt8(ascii: "N")): return 6
        case (UInt8(ascii: "G"), UInt8(ascii: "B")): return 7
        case (let x, let y) where isUSTerritory(x, y): return 1
        default: return 0
        }
    }

    /// The US territories with ISO 3166-1 codes of their own where the FDCPA and Regulation F apply: Puerto Rico,
    /// Guam, the US Virgin Islands, American Samoa and the Northern Mariana Islands (`PR`, `GU`, `VI`, `AS`, `MP`):
    /// their debtors get the US pack (their own zones, from the zone table).
    @inline(__always)
    static func isUSTerritory(_ a: UInt8, _ b: UInt8) -> Bool {
        switch (a, b) {
        case (UInt8(ascii: "P"), UInt8(ascii: "R")), (UInt8(ascii: "G"), UInt8(ascii: "U")),
            (UInt8(ascii: "V"), UInt8(ascii: "I")), (UInt8(ascii: "A"), UInt8(ascii: "S")),
            (UInt8(ascii: "M"), UInt8(ascii: "P")):
            return true
        default: return false
        }
    }

    /// Whether ISO weekday `wd` (1...7) is a permitted day.
    @inlinable public func allows(weekday wd: Int) -> Bool { weekdayMask & (1 << UInt8(wd)) != 0 }
}

/// The numeric rules of a `RulePack` (no strings: copied freely on the decision hot path).
struct PackRules {
    var kind: UInt8
    var windowStartMinute: Int
    var windowEndMinute: Int
    var weekdayMask: UInt8
    var closedOnHolidays: Bool
    var countedPerDebtPer7Days: Int?
    var conversationBlock: Bool
    var personalPerDebtPer7Days: Int?
    var otherPerDebtPer30Days: Int?
    var countedPerDebtorPer7Days: Int?
    var attemptsPerDebtPer7Days: Int?
    var attemptsCapFromDay: Int64
    var abandonedHoldSeconds: Int64

    init(kind: UInt8) {
        let p = RulePack.pack(kind: kind)
        self.kind = kind
        windowStartMinute = p.windowStartMinute
        windowEndMinute = p.windowEndMinute
        weekdayMask = p.weekdayMask
        closedOnHolidays = p.closedOnHolidays
        countedPerDebtPer7Days = p.countedPerDebtPer7Days
        conversationBlock = p.conversationBlock
        personalPerDebtPer7Days = p.personalPerDebtPer7Days
        otherPerDebtPer30Days = p.otherPerDebtPer30Days
        countedPerDebtorPer7Days = p.countedPerDebtorPer7Days
        attemptsPerDebtPer7Days = p.attemptsPerDebtPer7Days
        attemptsCapFromDay = p.attemptsCapFromDay
        abandonedHoldSeconds = p.abandonedHoldSeconds
    }

    /// The rules of every pack kind (index = `RulePack.resolveKind(_:)`), immutable.
    nonisolated(unsafe) static let all: UnsafeMutablePointer<PackRules> = {
        let p = UnsafeMutablePointer<PackRules>.allocate(capacity: 8)
        for k in 0..<8 { (p + k).initialize(to: PackRules(kind: UInt8(k))) }
        return p
    }()

    /// The pack's code (for reasons).
    var code: String { RulePack.pack(kind: kind).code }

    @inline(__always) func allows(weekday wd: Int) -> Bool { weekdayMask & (1 << UInt8(wd)) != 0 }
}

/// The zones a jurisdiction spans, used when neither the address nor the phone has a known zone.
enum JurisdictionZones {
    /// US states and territories → the zones they span (every zone in use anywhere in the state).
    static let usStates: [String: [String]] = [
        "AL": ["America/Chicago"], "AK": ["America/Anchorage", "America/Adak"],
        "AZ": ["America/Phoenix", "America/Denver"], "AR": ["America/Chicago"], "CA": ["America/Los_Angeles"],
        "CO": ["America/Denver"], "CT": ["America/New_York"], "DE": ["America/New_York"],
        "DC": ["America/New_York"], "FL": ["America/New_York", "America/Chicago"], "GA": ["America/New_York"],
        "HI": ["Pacific/Honolulu"], "ID": ["America/Boise", "America/Los_Angeles"], "IL": ["America/Chicago"],
        "IN": ["America/Indiana/Indianapolis", "America/Chicago"], "IA": ["America/Chicago"],
        "KS": ["America/Chicago", "America/Denver"], "KY": ["America/New_York", "America/Chicago"],
        "LA": ["America/Chicago"], "ME": ["America/New_York"], "MD": ["America/New_York"],
        "MA": ["America/New_York"], "MI": ["America/Detroit", "America/Menominee"], "MN": ["America/Chicago"],
        "MS": ["America/Chicago"], "MO": ["America/Chicago"], "MT": ["America/Denver"],
        "NE": ["America/Chicago", "America/Denver"], "NV": ["America/Los_Angeles", "America/Denver"],
        "NH": ["America/New_York"], "NJ": ["America/New_York"], "NM": ["America/Denver"],
        "NY": ["America/New_York"], "NC": ["America/New_York"],
        "ND": ["America/Chicago", "America/Denver", "America/North_Dakota/Center"], "OH": ["America/New_York"],
        "OK": ["America/Chicago"], "OR": ["America/Los_Angeles", "America/Boise"], "PA": ["America/New_York"],
        "RI": ["America/New_York"], "SC": ["America/New_York"], "SD": ["America/Chicago", "America/Denver"],
        "TN": ["America/New_York", "America/Chicago"], "TX": ["America/Chicago", "America/Denver"],
        "UT": ["America/Denver"], "VT": ["America/New_York"], "VA": ["America/New_York"],
        "WA": ["America/Los_Angeles"], "WV": ["America/New_York"], "WI": ["America/Chicago"],
        "WY": ["America/Denver"], "PR": ["America/Puerto_Rico"], "GU": ["Pacific/Guam"],
        "VI": ["America/St_Thomas"], "AS": ["Pacific/Pago_Pago"], "MP": ["Pacific/Saipan"],
    ]

    /// The zone names of a jurisdiction code (country zones from the tz database's zone.tab).
    static func names(for jurisdiction: String, in db: ZoneDatabase) -> [String] {
        let parts = jurisdiction.split(separator: "-")
        guard let country = parts.first.map(String.init) else { return [] }
        if country == "US", parts.count >= 2, let z = usStates[String(parts[1])] { return z }
        if country == "US" {
            // The 50 states and DC; territories have their own codes (US-PR, US-GU, ...).
            return db.countryZones["US"] ?? ["America/New_York", "America/Chicago", "America/Denver",
                                               "America/Phoenix", "America/Los_Angeles", "America/Anchorage",
                                               "America/Adak", "Pacific/Honolulu"]
        }
        return db.countryZones[country] ?? []
    }
}
