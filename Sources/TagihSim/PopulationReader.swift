public import Foundation
public import TagihCore

/// Reads debtor NDJSON lines (line protocol v1) for `tagih simulate --population`, with TagihCore's
/// `LineDecoder` (the same decoder `PUT /v1/debtors` and `tagih import` use).
public enum PopulationReader {
    /// Parses every non-empty line of `data` as a debtor.
    ///
    /// - Throws: `SimulationError` (`invalid_population`) naming the line number and the field.
    public static func parse(_ data: Data) throws(SimulationError) -> [Debtor] {
        var result: [Debtor] = []
        let decoder = LineDecoder()
        var lineNumber = 0
        let bytes = [UInt8](data)
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
            do {
                result.append(try decoder.debtor(from: line).value)
            } catch {
                throw SimulationError(code: "invalid_population", message: "line \(lineNumber): \(error)")
            }
        }
        return result
    }
}
