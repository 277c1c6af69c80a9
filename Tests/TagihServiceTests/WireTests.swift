import TagihCore
import Testing
@testable import TagihService

@Suite struct WireTests {
    @Test func debtorRoundTripsThroughTheLineDecoder() throws {
        let original = Debtor(
            id: "D-\"quoted\"", jurisdiction: "US-MA", zone: "America/New_York", status: .active, segment: "late",
            phones: [
                Phone(number: "+16175550100", kind: .home, zone: "America/New_York", owner: .debtor, optedOut: true),
                Phone(number: "+16175550101", kind: .work, zone: nil, owner: .emergency),
            ],
            debts: [Debt(id: "A-1", balance: Money(decimal: "1250.5")!, currency: "USD")],
            quiet: [QuietTime(days: [7], fromMinute: 0, toMinute: 24 * 60), QuietTime(days: [], fromMinute: 8 * 60,
                                                                                        toMinute: 10 * 60 + 30)])
        var json = JSONLine()
        Wire.debtor(original, into: &json)
        let decoded = try LineDecoder.debtor(from: json.finish(newline: false))
        #expect(decoded.value == original)
        #expect(decoded.warnings.isEmpty)
    }

    @Test func resultLinesCarryLineIdAndError() {
        let ok = String(decoding: Wire.result(line: 3, id: "a-1", duplicate: true, tagged: true), as: UTF8.self)
        #expect(ok == #"{"type":"ack","line":3,"id":"a-1","ok":true,"duplicate":true}"# + "\n")
        let bad = String(
            decoding: Wire.result(line: 4, id: nil, error: RecordError(code: "unknown_zone", field: "zone", message: "m")),
            as: UTF8.self)
        #expect(bad == #"{"line":4,"ok":false,"error":{"code":"unknown_zone","field":"zone","message":"m"}}"# + "\n")
        let whole = String(
            decoding: Wire.result(line: 5, id: nil, error: RecordError(code: "invalid_json", field: "", message: "m")),
            as: UTF8.self)
        #expect(whole == #"{"line":5,"ok":false,"error":{"code":"invalid_json","message":"m"}}"# + "\n")
    }
}
