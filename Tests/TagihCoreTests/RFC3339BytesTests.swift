import Testing

@testable import TagihCore

@Suite struct RFC3339BytesTests {
    /// The byte writer and the String formatter agree on random instants across 0001–9999 and on every offset
    /// sign, including half-hour offsets and UTC written as `Z` or `+00:00`.
    @Test func appendAgreesWithFormat() {
        var rng = SystemRandomNumberGenerator()
        let offsets: [Int32] = [0, -18_000, -12_600, 19_800, 34_200, 50_400, -36_000, 3_600]
        for _ in 0..<20_000 {
            let instant = Int64.random(in: -62_135_596_800...253_402_300_799, using: &rng)
            let offset = offsets.randomElement(using: &rng)!
            let zulu = Bool.random(using: &rng)
            var bytes: [UInt8] = Array("x".utf8)
            RFC3339.append(instant, offsetSeconds: offset, zulu: zulu, to: &bytes)
            #expect(String(decoding: bytes.dropFirst(), as: UTF8.self) == RFC3339.format(instant, offsetSeconds: offset, zulu: zulu))
        }
        var bytes: [UInt8] = []
        RFC3339.append(1_796_048_400, offsetSeconds: -18_000, to: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == "2026-11-30T09:20:00-05:00")
    }
}
