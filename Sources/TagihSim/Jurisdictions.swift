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

    /// Indonesian national holidays inside the usual simulation horizon (from the `holidays` package).
    /// Generated with `holidays.country_holidays("ID", years=[2026, 2027])`, Nov 2026 to Mar 2027.
    static let indonesianHolidays: Set<String> = [
        "2026-12-25", "2027-01-01", "2027-01-05", "2027-02-06", "2027-03-08", "2027-03-10", "2027-03-11",
        "2027-03-26", "2027-03-28",
    ]
}
