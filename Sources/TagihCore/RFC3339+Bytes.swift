extension RFC3339 {
    /// Appends `instant` as local time with its UTC offset (`2026-11-30T09:05:00-05:00`) to `bytes`, without
    /// creating a String: the service writes three of these for every decision it encodes.
    /// Offset 0 is written `Z` only when `zulu` is true. Years outside 0...9999 fall back to ``format(_:offsetSeconds:zulu:)``.
    public static func append(_ instant: UnixSeconds, offsetSeconds: Int32, zulu: Bool = false, to bytes: inout [UInt8]) {
        let local = instant + Int64(offsetSeconds)
        let day = CivilTime.day(ofLocalSeconds: local)
        let sod = Int(local - day * 86_400)
        let (y, mo, d) = CivilTime.date(ofDay: day)
        guard (0...9999).contains(y) else {
            bytes.append(contentsOf: format(instant, offsetSeconds: offsetSeconds, zulu: zulu).utf8)
            return
        }
        @inline(__always) func two(_ v: Int) {
            bytes.append(UInt8(48 + v / 10))
            bytes.append(UInt8(48 + v % 10))
        }
        two(y / 100)
        two(y % 100)
        bytes.append(UInt8(ascii: "-"))
        two(mo)
        bytes.append(UInt8(ascii: "-"))
        two(d)
        bytes.append(UInt8(ascii: "T"))
        two(sod / 3600)
        bytes.append(UInt8(ascii: ":"))
        two(sod / 60 % 60)
        bytes.append(UInt8(ascii: ":"))
        two(sod % 60)
        if offsetSeconds == 0 && zulu {
            bytes.append(UInt8(ascii: "Z"))
        } else {
            let o = Int(offsetSeconds)
            let a = abs(o)
            bytes.append(UInt8(ascii: o < 0 ? "-" : "+"))
            two(a / 3600)
            bytes.append(UInt8(ascii: ":"))
            two(a / 60 % 60)
        }
    }
}
