import Testing

@testable import TagihCore

/// The policy's per-call look-up tables against the plain string-keyed tables they stand for.
@Suite struct LookupTableTests {
    /// The longest prefix of the number's digits (after an optional `+`) in the string-keyed table: the reference
    /// for `PolicyData.phoneZoneList` (whose digit table is an open-addressing `DigitPrefixTable`).
    static func referenceList(_ number: String, _ data: PolicyData) -> ZoneList {
        var digits = Substring(number)
        if digits.hasPrefix("+") { digits = digits.dropFirst() }
        let leading = digits.prefix { $0.isASCII && $0.isNumber }
        var n = min(data.maxPrefix, leading.count)
        while n >= 1 {
            if let z = data.prefixZones[String(leading.prefix(n))] { return z }
            n -= 1
        }
        return .empty
    }

    @Test func phonePrefixTableMatchesTheStringTable() {
        let data = ContactPolicy().data
        #expect(data.prefixZonesByDigits != nil)
        var numbers = ["", "+", "+1", "1", "+1617", "+16175550100", "16175550100", "+6281234567", "+442071234567",
                       "+919876543210", "+8505550102", "+1850555010", "+999", "+0", "+00000000000000000000", "+1a617",
                       "+1-617-555-0100", "abc", "+١٦١٧"]
        var rng = PropertyTests.Rng(s: 0x5052_4546)
        for prefix in data.prefixZones.keys.sorted() {
            numbers.append("+" + prefix)
            numbers.append(prefix + String(rng.int(1_000_000)))
            numbers.append("+" + prefix.dropLast())
        }
        for _ in 0..<3_000 {
            let length = 1 + rng.int(16)
            numbers.append((rng.int(4) == 0 ? "" : "+") + String((0..<length).map { _ in Character(String(rng.int(10))) }))
        }
        var found = 0
        for number in numbers {
            let got = data.phoneZoneList(number)
            let expected = Self.referenceList(number, data)
            #expect(got.base == expected.base && got.count == expected.count, "\(number)")
            if got.count > 0 { found += 1 }
        }
        #expect(found > data.prefixZones.count)
    }

    @Test func digitPrefixTableFindsEveryKeyAndNoOther() {
        let a = ZoneList(base: UnsafeMutablePointer<ZoneRef>.allocate(capacity: 1), count: 1)
        let b = ZoneList(base: UnsafeMutablePointer<ZoneRef>.allocate(capacity: 2), count: 2)
        defer {
            a.free()
            b.free()
        }
        var source: [UInt64: ZoneList] = [:]
        for k in 0..<500 { source[UInt64(k) &* 977 &* 32 &+ UInt64(k % 5 + 1)] = k % 2 == 0 ? a : b }
        let table = DigitPrefixTable(source)
        defer { table.free() }
        for (key, list) in source {
            #expect(table[key]?.base == list.base)
            #expect(table[key &+ 32 * 1_000_003] == nil)
        }
        #expect(table[0] == nil)
        #expect(table[UInt64.max - 1] == nil)
    }

    /// Prepared zones are kept in the struct when few and in an array when many; the randomized debtors of
    /// `PreparedDebtorTests` (whose decisions are compared with `decide(for:history:now:)`) have both, and both read
    /// back as the sets they were built from.
    @Test func preparedZonesInlineAndWide() {
        var rng = PropertyTests.Rng(s: 0x5052_4550)
        var inline = 0
        var wide = 0
        for i in 0..<300 {
            let debtor = PreparedDebtorTests.randomDebtor(&rng, i)
            let prepared = policy.prepare(debtor)
            if prepared.zonesInline { inline += 1 } else { wide += 1 }
            let phoneCount = debtor.phones.count
            let bounds = (0...(phoneCount + 1)).map { k in
                prepared.wideBounds.isEmpty ? Int(prepared.narrowBounds[k]) : Int(prepared.wideBounds[k])
            }
            withUnsafePointer(to: prepared) { p in
                ContactPolicy.withZones(of: p, policy.data.layout) { zones in
                    #expect(zones.count >= bounds.last!)
                    // The day zones (the last set) start with the primary zone.
                    #expect(zones[bounds[phoneCount]] == prepared.primary)
                    for k in 0..<phoneCount {
                        let names = policy.candidateZones(for: debtor, phone: debtor.phones[k])
                        let got = (bounds[k]..<bounds[k + 1]).map { zones[$0].pointee.table.name }
                        #expect(debtor.phones[k].owner != .debtor ? got.isEmpty : got == names, "debtor \(i) phone \(k)")
                    }
                }
            }
        }
        #expect(inline > 50 && wide > 20, "inline \(inline), wide \(wide)")
    }
}
