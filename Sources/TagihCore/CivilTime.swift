/// Proleptic Gregorian calendar arithmetic on integers (no Foundation): day numbers count days since
/// 1970-01-01, weekdays are ISO (1 = Monday ... 7 = Sunday).
public enum CivilTime {
    /// Seconds in a civil day.
    public static let secondsPerDay: Int64 = 86_400

    /// The day number of a calendar date (days since 1970-01-01; negative before).
    @inlinable
    public static func dayNumber(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The calendar date of a day number.
    @inlinable
    public static func date(ofDay dayNumber: Int64) -> (year: Int, month: Int, day: Int) {
        let z = dayNumber + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (Int(m <= 2 ? y + 1 : y), Int(m), Int(d))
    }

    /// The ISO weekday (1 = Monday ... 7 = Sunday) of a day number.
    @inlinable
    public static func weekday(ofDay dayNumber: Int64) -> Int {
        let r = (dayNumber + 3) % 7
        return Int(r < 0 ? r + 7 : r) + 1
    }

    /// Floor division of local seconds into a day number.
    @inlinable
    public static func day(ofLocalSeconds local: Int64) -> Int64 {
        local >= 0 ? local / secondsPerDay : (local - secondsPerDay + 1) / secondsPerDay
    }

    /// Whether `year` is a Gregorian leap year.
    @inlinable
    public static func isLeapYear(_ year: Int) -> Bool { (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 }

    /// Days in `month` of `year`.
    @inlinable
    public static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Parses `YYYY-MM-DD` into a day number; nil when malformed or not a real date.
    public static func parseDate(_ text: some StringProtocol) -> Int64? {
        let b = Array(text.utf8)
        guard b.count == 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
            let y = digits(b, 0, 4), let m = digits(b, 5, 2), let d = digits(b, 8, 2),
            m >= 1, m <= 12, d >= 1, d <= daysInMonth(year: y, month: m)
        else { return nil }
        return dayNumber(year: y, month: m, day: d)
    }

    /// Formats a day number as `YYYY-MM-DD`.
    public static func formatDate(_ dayNumber: Int64) -> String {
        let (y, m, d) = date(ofDay: dayNumber)
        return pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2)
    }

    @usableFromInline
    static func digits(_ b: [UInt8], _ start: Int, _ count: Int) -> Int? {
        guard start + count <= b.count else { return nil }
        var v = 0
        for i in start..<(start + count) {
            let c = b[i]
            guard c >= 48, c <= 57 else { return nil }
            v = v * 10 + Int(c - 48)
        }
        return v
    }

    static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}

/// RFC 3339 timestamps: parsing with offsets, formatting in a zone with its UTC offset.
public enum RFC3339 {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` (case-insensitive `T`/`Z`, a space allowed for `T`).
    /// Fractions of a second are truncated. Returns nil when the text is not RFC 3339 with an offset.
    public static func parse(_ text: some StringProtocol) -> UnixSeconds? {
        let b = Array(text.utf8)
        guard b.count >= 20, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
            b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t") || b[10] == UInt8(ascii: " "),
            b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"),
            let y = CivilTime.digits(b, 0, 4), let mo = CivilTime.digits(b, 5, 2), let d = CivilTime.digits(b, 8, 2),
            let h = CivilTime.digits(b, 11, 2), let mi = CivilTime.digits(b, 14, 2),
            let s = CivilTime.digits(b, 17, 2),
            mo >= 1, mo <= 12, d >= 1, d <= CivilTime.daysInMonth(year: y, month: mo), h <= 23, mi <= 59, s <= 60
        else { return nil }
        var i = 19
        if b[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
            guard i > start else { return nil }
        }
        guard i < b.count else { return nil }
        var offset = 0
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            i += 1
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
            guard i + 6 == b.count, b[i + 3] == UInt8(ascii: ":"), let oh = CivilTime.digits(b, i + 1, 2),
                let om = CivilTime.digits(b, i + 4, 2), oh <= 23, om <= 59
            else { return nil }
            offset = sign * (oh * 3600 + om * 60)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let day = CivilTime.dayNumber(year: y, month: mo, day: d)
        return day * 86_400 + Int64(h * 3600 + mi * 60 + min(s, 59)) - Int64(offset)
    }

    /// Formats `instant` as local time with its UTC offset for `offsetSeconds`, e.g. `2026-11-30T09:05:00-05:00`;
    /// offset 0 is written `Z` only when `zulu` is true.
    public static func format(_ instant: UnixSeconds, offsetSeconds: Int32, zulu: Bool = false) -> String {
        // One stack buffer, one String.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { buf in
            guard let n = write(instant, offsetSeconds: offsetSeconds, zulu: zulu, to: buf) else {
                return formatSlow(instant, offsetSeconds: offsetSeconds, zulu: zulu)
            }
            return String(decoding: UnsafeBufferPointer(rebasing: buf[0..<n]), as: UTF8.self)
        }
    }

    /// Writes what ``format(_:offsetSeconds:zulu:)`` returns into `buf` (at least 32 bytes) and returns its
    /// length; nil for years outside 0...9999 (``formatSlow(_:offsetSeconds:zulu:)`` handles those).
    static func write(_ instant: UnixSeconds, offsetSeconds: Int32, zulu: Bool, to buf: UnsafeMutableBufferPointer<UInt8>)
        -> Int?
    {
        let local = instant + Int64(offsetSeconds)
        let day = CivilTime.day(ofLocalSeconds: local)
        let sod = Int(local - day * 86_400)
        let (y, mo, d) = CivilTime.date(ofDay: day)
        if y < 0 || y > 9999 { return nil }
        var i = 0
        @inline(__always) func put(_ v: Int, _ width: Int) {
            var v = v
            var k = width - 1
            while k >= 0 {
                buf[i + k] = UInt8(48 + v % 10)
                v /= 10
                k -= 1
            }
            i += width
        }
        @inline(__always) func ch(_ c: Unicode.Scalar) {
            buf[i] = UInt8(ascii: c)
            i += 1
        }
        put(y, 4)
        ch("-")
        put(mo, 2)
        ch("-")
        put(d, 2)
        ch("T")
        put(sod / 3600, 2)
        ch(":")
        put(sod / 60 % 60, 2)
        ch(":")
        put(sod % 60, 2)
        if offsetSeconds == 0 && zulu {
            ch("Z")
        } else {
            let o = Int(offsetSeconds)
            let a = abs(o)
            ch(o < 0 ? "-" : "+")
            put(a / 3600, 2)
            ch(":")
            put(a / 60 % 60, 2)
        }
        return i
    }

    static func formatSlow(_ instant: UnixSeconds, offsetSeconds: Int32, zulu: Bool) -> String {
        let local = instant + Int64(offsetSeconds)
        let day = CivilTime.day(ofLocalSeconds: local)
        let sod = Int(local - day * 86_400)
        var s = CivilTime.formatDate(day)
        s += "T" + CivilTime.pad(sod / 3600, 2) + ":" + CivilTime.pad(sod / 60 % 60, 2) + ":"
            + CivilTime.pad(sod % 60, 2)
        if offsetSeconds == 0 && zulu { return s + "Z" }
        let o = Int(offsetSeconds)
        let a = abs(o)
        s += (o < 0 ? "-" : "+") + CivilTime.pad(a / 3600, 2) + ":" + CivilTime.pad(a / 60 % 60, 2)
        return s
    }

    /// Formats `instant` in `zone` with its UTC offset at that instant, e.g. `2026-11-30T09:05:00-05:00`.
    public static func format(_ instant: UnixSeconds, in zone: ZoneTable) -> String {
        format(instant, offsetSeconds: zone.offset(at: instant))
    }

    /// Formats `instant` in the IANA zone `zoneName` (system tz database) with its offset; UTC (`Z`) when the
    /// zone is unknown.
    public static func format(_ instant: UnixSeconds, zoneName: String?) -> String {
        guard let zoneName, let z = ZoneDatabase.system.zone(named: zoneName) else { return formatUTC(instant) }
        return format(instant, in: z)
    }

    /// Formats `instant` in UTC with a `Z` suffix, e.g. `2026-11-30T14:05:00Z`.
    public static func formatUTC(_ instant: UnixSeconds) -> String { format(instant, offsetSeconds: 0, zulu: true) }
}
