import Foundation
import TagihCore

/// Local clock arithmetic for the simulation: UTC offsets of every interned IANA zone,
/// precomputed per 15-minute slot over the simulated period from the system tz database.
///
/// The hot path (checking windows, local hour of week) is a table lookup, never a Foundation call.
struct ZoneClock: Sendable {
    static let slot: Int64 = 900

    private(set) var names: [String] = []
    private var index: [String: Int32] = [:]
    private var offsets: [[Int32]] = []
    let base: UnixSeconds
    let slots: Int

    /// How finely zone `id`'s local hours and days fall on UTC instants over the covered period, in quarter hours:
    /// 4 when every offset is a whole number of hours and every change of offset happens at a whole UTC hour, 1 for
    /// quarter hours, 0 otherwise (`ScoreCache`). The changes are the tz database's daylight-saving transitions.
    func period(zone id: Int32) -> UInt8 {
        var unit: Int64 = 3600
        func fits(_ seconds: Int64) -> Bool {
            while seconds % unit != 0 {
                if unit == 900 { return false }
                unit = 900
            }
            return true
        }
        for offset in offsets[Int(id)] where !fits(Int64(offset)) { return 0 }
        guard let zone = TimeZone(identifier: names[Int(id)]) else { return 0 }
        let end = Date(timeIntervalSince1970: TimeInterval(base + Int64(slots) * Self.slot))
        var t = Date(timeIntervalSince1970: TimeInterval(base))
        while let next = zone.nextDaylightSavingTimeTransition(after: t), next < end {
            let instant = next.timeIntervalSince1970
            guard instant == instant.rounded(), fits(Int64(instant)) else { return 0 }
            t = next
        }
        return unit == 3600 ? 4 : 1
    }

    /// Covers `[from, to)` (a little padding is added on both sides).
    init(from: UnixSeconds, to: UnixSeconds) {
        base = from - 3 * 86_400
        slots = Int((to + 45 * 86_400 - base) / Self.slot)
    }

    /// The interned id of `name`, computing its table on first use; nil when the zone is unknown.
    mutating func intern(_ name: String) -> Int32? {
        if let id = index[name] { return id }
        guard let zone = TimeZone(identifier: name) else { return nil }
        var table = [Int32](repeating: 0, count: slots)
        var lastOffset = Int32(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(base))))
        // Sample every hour, refine to the slot only around a change.
        var i = 0
        while i < slots {
            let hourEnd = min(slots, i + 4)
            let tEnd = base + Int64(hourEnd) * Self.slot
            let endOffset = Int32(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(tEnd - 1))))
            if endOffset == lastOffset {
                for j in i..<hourEnd { table[j] = lastOffset }
            } else {
                for j in i..<hourEnd {
                    let t = base + Int64(j) * Self.slot
                    table[j] = Int32(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(t))))
                }
                lastOffset = endOffset
            }
            i = hourEnd
        }
        let id = Int32(names.count)
        names.append(name)
        offsets.append(table)
        index[name] = id
        return id
    }

    /// The id of an already interned zone.
    func id(of name: String) -> Int32? { index[name] }

    /// UTC offset in seconds of zone `zone` at instant `t`.
    @inline(__always)
    func offset(_ zone: Int32, at t: UnixSeconds) -> Int64 {
        var s = Int((t - base) / Self.slot)
        if s < 0 { s = 0 } else if s >= slots { s = slots - 1 }
        return Int64(offsets[Int(zone)][s])
    }

    /// Local wall-clock seconds since the epoch (as if local time were UTC).
    @inline(__always)
    func local(_ zone: Int32, _ t: UnixSeconds) -> Int64 { t + offset(zone, at: t) }

    /// The offsets of the zones interned so far in one flat table (`FlatZoneClock`), for hot loops.
    func flattened() -> FlatZoneClock { FlatZoneClock(base: base, slots: slots, offsets: offsets) }
}

/// `ZoneClock`'s offsets of a fixed set of zones in one manually managed table (zone-major): a local time is one
/// load, without the nested arrays' bounds checks and reference counting. Immutable, so shared by threads.
final class FlatZoneClock: @unchecked Sendable {
    let base: UnixSeconds
    let slots: Int
    /// How many zones the table holds (ids `0..<zones`).
    let zones: Int
    private let table: UnsafeMutablePointer<Int32>

    init(base: UnixSeconds, slots: Int, offsets: [[Int32]]) {
        self.base = base
        self.slots = slots
        zones = offsets.count
        table = .allocate(capacity: max(1, offsets.count * slots))
        for (z, row) in offsets.enumerated() {
            precondition(row.count == slots)
            (table + z * slots).initialize(from: row, count: slots)
        }
    }

    deinit { table.deallocate() }

    /// UTC offset in seconds of zone `zone` (below `zones`) at instant `t` (the same as `ZoneClock.offset`).
    @inline(__always)
    func offset(_ zone: Int32, at t: UnixSeconds) -> Int64 {
        var s = Int((t - base) / ZoneClock.slot)
        if s < 0 { s = 0 } else if s >= slots { s = slots - 1 }
        return Int64(table[Int(zone) * slots + s])
    }

    /// Local wall-clock seconds since the epoch (the same as `ZoneClock.local`).
    @inline(__always)
    func local(_ zone: Int32, _ t: UnixSeconds) -> Int64 { t + offset(zone, at: t) }
}

/// Calendar helpers on "local epoch seconds".
enum LocalTime {
    /// Days since 1970-01-01 of a local epoch second.
    @inline(__always) static func day(_ local: Int64) -> Int32 {
        Int32(local >= 0 ? local / 86_400 : (local - 86_399) / 86_400)
    }
    /// Minute of the local day, 0..<1440.
    @inline(__always) static func minute(_ local: Int64) -> Int {
        Int(local - Int64(day(local)) * 86_400) / 60
    }
    /// ISO weekday 1 (Monday) ... 7 (Sunday) of a day number.
    @inline(__always) static func weekday(day: Int32) -> Int {
        Int(((day % 7) + 7 + 3) % 7) + 1
    }
    /// Hour of week 0..<168, Monday 00h = 0.
    @inline(__always) static func hourOfWeek(_ local: Int64) -> Int {
        let d = day(local)
        return (weekday(day: d) - 1) * 24 + minute(local) / 60
    }
    /// Civil date of a day number (Howard Hinnant's algorithm).
    static func civil(day: Int32) -> (year: Int, month: Int, day: Int) {
        let z = Int(day) + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
    /// Day number of a civil date.
    static func dayNumber(year: Int, month: Int, day: Int) -> Int32 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return Int32(era * 146_097 + doe - 719_468)
    }
    /// `YYYY-MM-DD` of a day number.
    static func dateString(day: Int32) -> String {
        let c = civil(day: day)
        return String(format: "%04d-%02d-%02d", c.year, c.month, c.day)
    }
    /// Parses `YYYY-MM-DD`.
    static func parseDate(_ s: String) -> Int32? {
        let parts = s.split(separator: "-")
        guard parts.count == 3, let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]),
            (1...12).contains(m), (1...31).contains(d)
        else { return nil }
        return dayNumber(year: y, month: m, day: d)
    }
    /// RFC 3339 UTC text of an instant, for example `2026-11-30T14:05:00Z`.
    static func rfc3339(_ t: UnixSeconds) -> String {
        let d = day(t)
        let c = civil(day: d)
        let s = Int(t - Int64(d) * 86_400)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", c.year, c.month, c.day, s / 3600, (s / 60) % 60, s % 60)
    }
}
