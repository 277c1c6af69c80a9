public import Foundation
public import TagihCore

/// Reads debtor NDJSON lines (line protocol v1) for `tagih simulate --population`.
public enum PopulationReader {
    /// Parses every non-empty line of `data` as a debtor.
    ///
    /// - Throws: `SimulationError` (`invalid_population`) naming the line number and the field.
    public static func parse(_ data: Data) throws(SimulationError) -> [Debtor] {
        var result: [Debtor] = []
        var lineNumber = 0
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
            do {
                result.append(try debtor(Data(line)))
            } catch {
                throw SimulationError(code: "invalid_population", message: "line \(lineNumber): \(error)")
            }
        }
        return result
    }

    static func debtor(_ line: Data) throws(RecordError) -> Debtor {
        guard let object = (try? JSONSerialization.jsonObject(with: line)) as? [String: Any] else {
            throw RecordError(code: "invalid_json", field: "", message: "not a JSON object")
        }
        func string(_ o: [String: Any], _ key: String, _ path: String) throws(RecordError) -> String {
            guard let v = o[key] as? String else {
                throw RecordError(code: "missing_field", field: path, message: "a string is required")
            }
            return v
        }
        let id = try string(object, "id", "id")
        let jurisdiction = try string(object, "jurisdiction", "jurisdiction")
        let status = DebtorStatus(rawValue: object["status"] as? String ?? "active")
        guard let status else { throw RecordError(code: "unknown_value", field: "status", message: "unknown status") }
        var phones: [Phone] = []
        for (k, p) in ((object["phones"] as? [[String: Any]]) ?? []).enumerated() {
            let number = try string(p, "number", "phones[\(k)].number")
            guard let kind = PhoneKind(rawValue: p["kind"] as? String ?? "mobile") else {
                throw RecordError(code: "unknown_value", field: "phones[\(k)].kind", message: "unknown kind")
            }
            guard let owner = PhoneOwner(rawValue: p["owner"] as? String ?? "debtor") else {
                throw RecordError(code: "unknown_value", field: "phones[\(k)].owner", message: "unknown owner")
            }
            phones.append(Phone(number: number, kind: kind, zone: p["zone"] as? String, owner: owner))
        }
        var debts: [Debt] = []
        for (k, d) in ((object["debts"] as? [[String: Any]]) ?? []).enumerated() {
            let debtID = try string(d, "id", "debts[\(k)].id")
            let money: Money?
            if let text = d["balance"] as? String {
                money = Money(decimal: text)
            } else if let number = d["balance"] as? NSNumber {
                money = Money(decimal: "\(number)")
            } else {
                money = nil
            }
            guard let money else {
                throw RecordError(code: "invalid_money", field: "debts[\(k)].balance", message: "a decimal string is required")
            }
            debts.append(Debt(id: debtID, balance: money, currency: d["currency"] as? String ?? "USD"))
        }
        let dayNames = ["mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7]
        func minutes(_ text: String?) -> Int? {
            guard let text else { return nil }
            let parts = text.split(separator: ":")
            guard parts.count == 2, let h = Int(parts[0]), let m = Int(parts[1]) else { return nil }
            return h * 60 + m
        }
        var quiet: [QuietTime] = []
        for (k, q) in ((object["quiet"] as? [[String: Any]]) ?? []).enumerated() {
            guard let from = minutes(q["from"] as? String), let to = minutes(q["to"] as? String) else {
                throw RecordError(code: "wrong_type", field: "quiet[\(k)]", message: "from and to are HH:MM")
            }
            let days = ((q["days"] as? [String]) ?? []).compactMap { dayNames[$0.lowercased()] }
            quiet.append(QuietTime(days: days, fromMinute: from, toMinute: to))
        }
        return Debtor(
            id: id, jurisdiction: jurisdiction, zone: object["zone"] as? String, status: status,
            segment: object["segment"] as? String, phones: phones, debts: debts, quiet: quiet)
    }
}
