import Foundation
import Testing
import TagihCore
import TagihStore
@testable import TagihEngine

@Suite struct ImportTests {
    @Test func importsGoodLinesAndNamesBadOnes() async throws {
        let dir = temporaryDirectory()
        let file = dir + "/debtors.ndjson"
        let lines = [
            #"{"id":"D-1","jurisdiction":"US-MA","zone":"America/New_York","status":"active","segment":"late","phones":[{"number":"+16175550100","kind":"mobile","zone":"America/New_York","owner":"debtor"}],"debts":[{"id":"A-1","balance":"1250.00","currency":"USD"}],"quiet":[{"days":["sun"],"from":"00:00","to":"24:00"}]}"#,
            #"{"id":"D-2","jurisdiction":"ID","phones":[{"number":"+628111234567","kind":"pager"}],"debts":[]}"#,
            "not json",
            "",
            #"{"id":"D-3","jurisdiction":"ID","phones":[],"debts":[{"id":"A-3","balance":12.5,"currency":"IDR"}]}"#,
            #"{"id":"D-4","jurisdiction":"GB","phones":[],"debts":[{"id":"A-4","balance":"-1","currency":"GBP"}]}"#,
            #"{"id":"D-1","jurisdiction":"US-MA","status":"cease","phones":[],"debts":[{"id":"A-1","balance":"1","currency":"USD"}]}"#,
            #"{"id":"D-5","jurisdiction":"UX","nickname":"x","phones":[],"debts":[{"id":"A-5","balance":"1","currency":"USD"}]}"#,
        ]
        try lines.joined(separator: "\r\n").write(toFile: file, atomically: true, encoding: .utf8)
        let store = try await Store.open(configuration: .init(directory: dir + "/data"))
        let summary = try await DebtorImport.run(file: file, into: store, batchSize: 2)
        try await store.close()
        #expect(summary.lines == 7)
        #expect(summary.accepted == 4)
        // Warnings do not reject the line: both of line 8's are listed, in field order.
        // Line 7 repeats D-1 of line 1 (the later line wins, with a warning naming the earlier line).
        #expect(summary.warningCount == 3)
        #expect(summary.repeatedIDs == 1)
        #expect(summary.warnings.map(\.line) == [7, 8, 8])
        #expect(summary.warnings.map(\.code) == ["repeated_id", "unknown_field", "no_rule_pack"])
        #expect(summary.warnings.map(\.field) == ["id", "nickname", "jurisdiction"])
        #expect(summary.warnings[0].message.contains("debtor 'D-1' is also on line 1"))
        #expect(summary.rejectedCount == 3)
        #expect(summary.rejections.map(\.line) == [2, 3, 6])
        #expect(summary.rejections.map(\.field) == ["phones[0].kind", "", "debts[0].balance"])
        #expect(summary.rejections.map(\.code) == ["unknown_value", "invalid_json", "invalid_money"])

        let engine = try await Engine.open(
            configuration: EngineConfiguration(dataDirectory: dir + "/data"), clock: VirtualClock(start: t0),
            logger: quietLogger)
        #expect(await engine.count() == 3)
        let d1 = try #require(await engine.debtorState(id: "D-1"))
        #expect(d1.debtor.status == .cease, "the later line for the same id wins")
        let d3 = try #require(await engine.debtorState(id: "D-3"))
        #expect(d3.debtor.debts[0].balance == Money(decimal: "12.5")!)
        try await engine.close()
    }
}
