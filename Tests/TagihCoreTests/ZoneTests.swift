import Foundation
import Testing

@testable import TagihCore

@Suite struct ZoneTests {
    static let db = ZoneDatabase.system

    @Test(arguments: [
        "America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles",
        "America/St_Johns", "Pacific/Guam", "America/Anchorage", "Pacific/Honolulu", "Asia/Jakarta",
        "Asia/Jayapura", "Asia/Kolkata", "Europe/London", "Australia/Lord_Howe", "America/Boise", "Asia/Tehran",
        "America/Santiago", "Pacific/Chatham",
    ])
    // Africa/Casablanca is left out: Debian tzdata 2026f and Foundation's bundled ICU data disagree on it.
    func offsetsMatchFoundation(name: String) throws {
        let z = try #require(Self.db.zone(named: name))
        let tz = try #require(TimeZone(identifier: name))
        // Every 3 hours across 2026-2027, plus far future (footer rule) samples.
        var t: Int64 = 1_767_225_600
        while t < 1_830_297_600 {
            #expect(Int(z.offset(at: t)) == tz.secondsFromGMT(for: Date(timeIntervalSince1970: Double(t))),
                    "\(name) at \(t)")
            t += 3 * 3600 + 17
        }
        for year in [2040, 2070, 2099] {
            let t = CivilTime.dayNumber(year: year, month: 7, day: 1) * 86_400
            #expect(Int(z.offset(at: t)) == tz.secondsFromGMT(for: Date(timeIntervalSince1970: Double(t))))
        }
    }

    @Test func dstGapAndFold() throws {
        let ny = try #require(Self.db.zone(named: "America/New_York"))
        // 2026-03-08 02:30 local does not exist: the first instant after is 03:00 EDT = 07:00Z.
        let gapLocal = CivilTime.dayNumber(year: 2026, month: 3, day: 8) * 86_400 + 2 * 3600 + 1800
        #expect(ny.instant(forLocal: gapLocal) == RFC3339.parse("2026-03-08T07:00:00Z"))
        // 2026-11-01 01:30 local happens twice.
        let foldLocal = CivilTime.dayNumber(year: 2026, month: 11, day: 1) * 86_400 + 3600 + 1800
        #expect(ny.instant(forLocal: foldLocal, later: false) == RFC3339.parse("2026-11-01T05:30:00Z"))
        #expect(ny.instant(forLocal: foldLocal, later: true) == RFC3339.parse("2026-11-01T06:30:00Z"))
        let eight = CivilTime.dayNumber(year: 2026, month: 11, day: 1) * 86_400 + 8 * 3600
        #expect(ny.instant(forLocal: eight) == RFC3339.parse("2026-11-01T13:00:00Z"))
    }

    @Test func rfc3339() {
        #expect(RFC3339.parse("2026-11-30T14:05:00Z") == 1_796_047_500)
        #expect(RFC3339.parse("2026-11-30T09:05:00-05:00") == 1_796_047_500)
        #expect(RFC3339.parse("2026-11-30T19:35:00.123+05:30") == 1_796_047_500)
        #expect(RFC3339.parse("2026-11-30T14:05:00") == nil)
        #expect(RFC3339.parse("2026-02-30T14:05:00Z") == nil)
        #expect(RFC3339.parse("2026-11-30T14:05:00+5:00") == nil)
        let ny = ZoneTests.db.zone(named: "America/New_York")!
        #expect(RFC3339.format(1_796_047_500, in: ny) == "2026-11-30T09:05:00-05:00")
        let stj = ZoneTests.db.zone(named: "America/St_Johns")!
        #expect(RFC3339.format(1_796_047_500, in: stj) == "2026-11-30T10:35:00-03:30")
        #expect(RFC3339.formatUTC(1_796_047_500) == "2026-11-30T14:05:00Z")
    }

    @Test(arguments: ["America/St_Johns", "Asia/Kolkata", "Pacific/Chatham", "America/Los_Angeles", "Asia/Jayapura"])
    func formattingMatchesFoundation(name: String) throws {
        let z = try #require(Self.db.zone(named: name))
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: name)!
        var t: Int64 = 1  // tables start in 1970: earlier instants keep the 1970 offset
        while t < 4_102_444_800 {
            let ours = RFC3339.format(t, in: z)
            #expect(ours == f.string(from: Date(timeIntervalSince1970: Double(t))))
            #expect(RFC3339.parse(ours) == t)
            t += 86_400 * 37 + 3_607
        }
    }

    @Test func civilCalendar() {
        for d in stride(from: Int64(-800_000), to: 800_000, by: 997) {
            let (y, m, dd) = CivilTime.date(ofDay: d)
            #expect(CivilTime.dayNumber(year: y, month: m, day: dd) == d)
        }
        #expect(CivilTime.weekday(ofDay: CivilTime.dayNumber(year: 2026, month: 11, day: 30)) == 1)
        #expect(CivilTime.weekday(ofDay: CivilTime.dayNumber(year: 1969, month: 12, day: 28)) == 7)
    }

    @Test func posixFooterParsing() throws {
        let r = try #require(PosixTZ("<-0330>3:30<-0230>,M3.2.0,M11.1.0"))
        #expect(r.stdOffset == -12_600)
        #expect(r.dst?.offset == -9000)
        let j = try #require(PosixTZ("<+0330>-3:30"))
        #expect(j.stdOffset == 12_600 && j.dst == nil)
        #expect(PosixTZ("EST5EDT,M3.2.0/2,M11.1.0/2")?.dst?.start.time == 7200)
        #expect(PosixTZ("X") == nil)
    }

    @Test func phonePrefixes() {
        let t = PhonePrefixZones.bundled
        #expect(Set(t.zones(for: "+18505550100")) == ["America/New_York", "America/Chicago"])
        #expect(Set(t.zones(for: "+12085550100")).isSuperset(of: ["America/Boise", "America/Los_Angeles"]))
        #expect(t.zones(for: "+16025550100") == ["America/Phoenix"])
        #expect(t.zones(for: "+16715550100") == ["Pacific/Guam"])
        #expect(t.zones(for: "+6281234567890") == [])
        #expect(t.zones(for: "+62215550100") == ["Asia/Jakarta"])
        #expect(t.zones(for: "+447700900000") == [])
        for ac in ["541", "458", "219", "574", "270", "606", "906", "620", "785", "308", "402", "701", "605"] {
            #expect(t.zones(for: "+1\(ac)5550100").count >= 2, "area code \(ac)")
        }
    }

    @Test func holidays() {
        let id = HolidayCalendar.bundled(country: "ID", includeCollectiveLeave: false)
        #expect(id.contains(CivilTime.dayNumber(year: 2026, month: 8, day: 17)))
        #expect(id.contains(CivilTime.dayNumber(year: 2028, month: 12, day: 25)))
        #expect(!id.contains(CivilTime.dayNumber(year: 2026, month: 8, day: 18)))
        #expect(!id.contains(CivilTime.dayNumber(year: 2026, month: 12, day: 24)))
        let all = HolidayCalendar.bundled(country: "ID", includeCollectiveLeave: true)
        #expect(all.contains(CivilTime.dayNumber(year: 2026, month: 12, day: 24)))
    }
}
