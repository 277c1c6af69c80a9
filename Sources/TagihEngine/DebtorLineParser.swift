import Foundation
import TagihCore

/// Parses one debtor line (line protocol v1) into a ``Debtor``.
///
/// A small adapter over Foundation's JSONSerialization until TagihCore's `LineDecoder` is merged; only this type
/// changes then. Errors name the field (`phones[0].kind`) and say what was expected.
enum DebtorLineParser {
    static let dayNames = ["mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7]

    static func parse(_ line: Data) throws(RecordError) -> Debtor {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: line, options: [])
        } catch {
            throw RecordError(code: "invalid_json", field: "", message: "the line is not valid JSON")
        }
        guard let json = object as? [String: Any] else {
            throw RecordError(code: "wrong_type", field: "", message: "a debtor line must be a JSON object")
        }
        let id = try string(json, "id", path: "id")
        let jurisdiction = try string(json, "jurisdiction", path: "jurisdiction")
        let zone = try optionalString(json, "zone", path: "zone")
        let status = try enumeration(json, "status", path: "status", default: DebtorStatus.active)
        let segment = try optionalString(json, "segment", path: "segment")
        var phones: [Phone] = []
        for (i, p) in try array(json, "phones", path: "phones", required: true).enumerated() {
            let path = "phones[\(i)]"
            guard let p = p as? [String: Any] else {
                throw RecordError(code: "wrong_type", field: path, message: "expected an object")
            }
            phones.append(
                Phone(
                    number: try string(p, "number", path: path + ".number"),
                    kind: try enumeration(p, "kind", path: path + ".kind", default: PhoneKind.mobile),
                    zone: try optionalString(p, "zone", path: path + ".zone"),
                    owner: try enumeration(p, "owner", path: path + ".owner", default: PhoneOwner.debtor)))
        }
        var debts: [Debt] = []
        for (i, d) in try array(json, "debts", path: "debts", required: true).enumerated() {
            let path = "debts[\(i)]"
            guard let d = d as? [String: Any] else {
                throw RecordError(code: "wrong_type", field: path, message: "expected an object")
            }
            debts.append(
                Debt(
                    id: try string(d, "id", path: path + ".id"), balance: try money(d, "balance", path: path + ".balance"),
                    currency: try string(d, "currency", path: path + ".currency")))
        }
        var quiet: [QuietTime] = []
        for (i, q) in try array(json, "quiet", path: "quiet", required: false).enumerated() {
            let path = "quiet[\(i)]"
            guard let q = q as? [String: Any] else {
                throw RecordError(code: "wrong_type", field: path, message: "expected an object")
            }
            var days: [Int] = []
            for (k, name) in try array(q, "days", path: path + ".days", required: false).enumerated() {
                guard let name = name as? String, let day = dayNames[name.lowercased()] else {
                    throw RecordError(
                        code: "unknown_value", field: "\(path).days[\(k)]", message: "expected one of mon … sun")
                }
                days.append(day)
            }
            quiet.append(
                QuietTime(
                    days: days, fromMinute: try minute(q, "from", path: path + ".from"),
                    toMinute: try minute(q, "to", path: path + ".to")))
        }
        return Debtor(
            id: id, jurisdiction: jurisdiction, zone: zone, status: status, segment: segment, phones: phones,
            debts: debts, quiet: quiet)
    }

    private static func string(_ o: [String: Any], _ key: String, path: String) throws(RecordError) -> String {
        guard let value = o[key] else {
            throw RecordError(code: "missing_field", field: path, message: "is required")
        }
        guard let s = value as? String, !s.isEmpty else {
            throw RecordError(code: "wrong_type", field: path, message: "expected a non-empty string")
        }
        return s
    }

    private static func optionalString(_ o: [String: Any], _ key: String, path: String) throws(RecordError) -> String? {
        guard let value = o[key], !(value is NSNull) else { return nil }
        guard let s = value as? String else {
            throw RecordError(code: "wrong_type", field: path, message: "expected a string")
        }
        return s
    }

    private static func enumeration<T: RawRepresentable<String> & CaseIterable>(
        _ o: [String: Any], _ key: String, path: String, default value: T
    ) throws(RecordError) -> T {
        guard let raw = try optionalString(o, key, path: path) else { return value }
        guard let v = T(rawValue: raw) else {
            throw RecordError(
                code: "unknown_value", field: path,
                message: "'\(raw)' is not one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return v
    }

    private static func array(_ o: [String: Any], _ key: String, path: String, required: Bool) throws(RecordError)
        -> [Any]
    {
        guard let value = o[key] else {
            if required { throw RecordError(code: "missing_field", field: path, message: "is required") }
            return []
        }
        guard let a = value as? [Any] else {
            throw RecordError(code: "wrong_type", field: path, message: "expected an array")
        }
        return a
    }

    private static func money(_ o: [String: Any], _ key: String, path: String) throws(RecordError) -> Money {
        guard let value = o[key] else { throw RecordError(code: "missing_field", field: path, message: "is required") }
        let text: String
        if let s = value as? String {
            text = s
        } else if let n = value as? NSNumber, !(value is Bool) {
            text = n.stringValue
        } else {
            throw RecordError(code: "wrong_type", field: path, message: "expected a decimal string such as \"1250.00\"")
        }
        guard let m = Money(decimal: text) else {
            throw RecordError(
                code: "invalid_money", field: path,
                message: "'\(text)' is not a non-negative decimal with at most 4 fraction digits")
        }
        return m
    }

    private static func minute(_ o: [String: Any], _ key: String, path: String) throws(RecordError) -> Int {
        let text = try string(o, key, path: path)
        let parts = text.split(separator: ":")
        guard parts.count == 2, let h = Int(parts[0]), let m = Int(parts[1]), (0...24).contains(h), (0..<60).contains(m),
            h * 60 + m <= 1440
        else {
            throw RecordError(code: "wrong_type", field: path, message: "expected a local time HH:MM (00:00 … 24:00)")
        }
        return h * 60 + m
    }
}
