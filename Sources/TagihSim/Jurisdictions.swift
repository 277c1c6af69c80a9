/// The simulator's own, independent table of jurisdictions: their zones and the rules the
/// compliance checker holds calls to. Deliberately not shared with TagihCore, so the checker
/// is a second opinion rather than a copy.
enum Jurisdictions {
    static let usZones = [
        "America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
        "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu",
    ]

    /// Every zone a jurisdiction spans (used when a debtor's zone is unknown).
    static func zones(of jurisdiction: String) -> [String] {
        switch jurisdiction {
        case "US-MA", "US-NY", "US-NY-NYC", "US-GA", "US-OH", "US-PA", "US-NC", "US-NJ", "US-VA": ["America/New_York"]
        case "US-FL": ["America/New_York", "America/Chicago"]
        case "US-TX": ["America/Chicago", "America/Denver"]
        case "US-IL": ["America/Chicago"]
        case "US-CO": ["America/Denver"]
        case "US-AZ": ["America/Phoenix", "America/Denver"]
        case "US-CA", "US-WA", "US-NV": ["America/Los_Angeles"]
        case "US-HI": ["Pacific/Honolulu"]
        case "ID": ["Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura"]
        case "GB": ["Europe/London"]
        case "IN": ["Asia/Kolkata"]
        default: jurisdiction.hasPrefix("US") ? usZones : []
        }
    }

    /// Country part of a jurisdiction code.
    static func country(_ jurisdiction: String) -> String {
        if let dash = jurisdiction.firstIndex(of: "-") { return String(jurisdiction[..<dash]) }
        return jurisdiction
    }

    /// Legal window in local minutes [from, to) and whether Sunday is excluded.
    static func window(of jurisdiction: String) -> (from: Int, to: Int, noSunday: Bool) {
        switch country(jurisdiction) {
        case "ID": (480, 1200, true)
        case "IN": (480, 1140, false)
        default: (480, 1260, false)
        }
    }

    /// Indonesian national holidays, 2025-2030 (the PyPI `holidays` package 0.109,
    /// `holidays.country_holidays("ID", years=[y])` for each year). A day outside these years is unknown: the
    /// checker counts a call on it as a call on a holiday (DOMAIN.md: the stricter reading wins).
    static let indonesianHolidayYears = 2025...2030
    static let indonesianHolidays: Set<String> = [
        "2025-01-01", "2025-01-27", "2025-01-29", "2025-03-29", "2025-03-31", "2025-04-01", "2025-04-18",
        "2025-04-20", "2025-05-01", "2025-05-12", "2025-05-29", "2025-06-01", "2025-06-06", "2025-06-27",
        "2025-08-17", "2025-09-05", "2025-12-25", "2026-01-01", "2026-01-16", "2026-02-17", "2026-03-19",
        "2026-03-21", "2026-03-22", "2026-04-03", "2026-04-05", "2026-05-01", "2026-05-14", "2026-05-27",
        "2026-05-31", "2026-06-01", "2026-06-16", "2026-08-17", "2026-08-25", "2026-12-25", "2027-01-01",
        "2027-01-05", "2027-02-06", "2027-03-08", "2027-03-10", "2027-03-11", "2027-03-26", "2027-03-28",
        "2027-05-01", "2027-05-06", "2027-05-17", "2027-05-20", "2027-06-01", "2027-06-06", "2027-08-15",
        "2027-08-17", "2027-12-25", "2027-12-26", "2028-01-01", "2028-01-26", "2028-02-27", "2028-02-28",
        "2028-03-26", "2028-04-14", "2028-04-16", "2028-05-01", "2028-05-05", "2028-05-09", "2028-05-25",
        "2028-05-26", "2028-06-01", "2028-08-04", "2028-08-17", "2028-12-14", "2028-12-25", "2029-01-01",
        "2029-02-13", "2029-02-15", "2029-02-16", "2029-03-15", "2029-03-30", "2029-04-01", "2029-04-25",
        "2029-05-01", "2029-05-10", "2029-05-15", "2029-05-27", "2029-06-01", "2029-07-24", "2029-08-17",
        "2029-12-04", "2029-12-25", "2030-01-01", "2030-02-03", "2030-02-04", "2030-02-05", "2030-03-05",
        "2030-04-14", "2030-04-19", "2030-04-21", "2030-05-01", "2030-05-04", "2030-05-16", "2030-05-30",
        "2030-06-01", "2030-07-13", "2030-08-17", "2030-11-23", "2030-12-25"
    ]
}
