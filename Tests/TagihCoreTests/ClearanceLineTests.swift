import Testing

@testable import TagihCore

@Suite struct ClearanceLineTests {
    @Test func decodesDisputeAndCease() throws {
        let dispute = try LineDecoder.clearance(
            from: Array(#"{"clearance":"CL-1","debtor":"D-1","clears":"dispute","debt":"A-1","by":"ops","note":"ok","x":1}"#.utf8))
        #expect(dispute.value == ClearanceLine(clearance: "CL-1", debtor: "D-1", clears: .dispute, debt: "A-1", by: "ops", note: "ok"))
        #expect(dispute.warnings.map(\.field) == ["x"])
        let cease = try LineDecoder.clearance(from: Array(#"{"clearance":"CL-2","debtor":"D-1","clears":"cease","by":"ops"}"#.utf8))
        #expect(cease.value.clears == .cease && cease.value.debt == nil && cease.value.note == "")
    }

    static let bad: [(String, String, String)] = [
        (#"{"debtor":"D-1","clears":"cease","by":"ops"}"#, "missing_field", "clearance"),
        (#"{"clearance":"C","clears":"cease","by":"ops"}"#, "missing_field", "debtor"),
        (#"{"clearance":"C","debtor":"D-1","by":"ops"}"#, "missing_field", "clears"),
        (#"{"clearance":"C","debtor":"D-1","clears":"forgive","by":"ops"}"#, "unknown_value", "clears"),
        (#"{"clearance":"C","debtor":"D-1","clears":"dispute","by":"ops"}"#, "missing_field", "debt"),
        (#"{"clearance":"C","debtor":"D-1","clears":"cease","debt":"A-1","by":"ops"}"#, "invalid_value", "debt"),
        (#"{"clearance":"C","debtor":"D-1","clears":"cease"}"#, "missing_field", "by"),
        (#"{"clearance":7,"debtor":"D-1","clears":"cease","by":"ops"}"#, "wrong_type", "clearance"),
        (#"{"clearance":"C","debtor":"D-1","clears":"cease","by":""}"#, "invalid_value", "by"),
        (#"{"clearance":"C","debtor":"D-1","clears":"cease","clears":"dispute","debt":"A-1","by":"ops"}"#,
         "duplicate_key", "clears"),
    ]

    @Test(arguments: bad) func rejectsWithFieldAndReason(line: String, code: String, field: String) {
        #expect {
            _ = try LineDecoder.clearance(from: Array(line.utf8))
        } throws: { error in
            guard let error = error as? RecordError else { return false }
            return error.code == code && error.field == field && !error.message.isEmpty
        }
    }
}
