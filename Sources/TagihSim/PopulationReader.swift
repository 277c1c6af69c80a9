public import Foundation
public import TagihCore

/// Reads debtor NDJSON lines (line protocol v1) for `tagih simulate --population`, with TagihCore's
/// `LineDecoder` (the same decoder `PUT /v1/debtors` and `tagih import` use).
public enum PopulationReader {
    /// Parses every non-empty line of `data` as a debtor.
    ///
    /// - Throws: `SimulationError` (`invalid_population`) naming the line number and the field; also for a debtor id
    ///   listed twice.
    public static func parse(_ data: Data) throws(SimulationError) -> [Debtor] {
        try parseReportingWarnings(data).debtors
    }

    /// ``parse(_:)``, and the warnings of the lines it accepted, with their line numbers (an unknown field, a
    /// jurisdiction without a rule pack of its own: what `tagih import` and `PUT /v1/debtors` warn about).
    public static func parseReportingWarnings(_ data: Data) throws(SimulationError)
        -> (debtors: [Debtor], warnings: [(line: Int, warning: RecordWarning)])
    {
        var warnings: [(line: Int, warning: RecordWarning)] = []
        var result: [Debtor] = []
        // The line of each id: a repeated id would be simulated once (the engine keeps one record per id) but
        // counted twice in the report's denominators.
        var lineOf: [String: Int] = [:]
        let decoder = LineDecoder()
        var lineNumber = 0
        let bytes = [UInt8](data)
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
            let debtor: Debtor
            do {
                let decoded = try decoder.debtor(from: line)
                debtor = decoded.value
                for w in decoded.warnings { warnings.append((lineNumber, w)) }
            } catch {
                throw SimulationError(code: "invalid_population", message: "line \(lineNumber): \(error)")
            }
            if let first = lineOf.updateValue(lineNumber, forKey: debtor.id) {
                throw SimulationError(
                    code: "invalid_population",
                    message: "line \(lineNumber): id: debtor '\(debtor.id)' is already on line \(first); a population "
                        + "lists each debtor once")
            }
            result.append(debtor)
        }
        return (result, warnings)
    }
}
