/// The endpoints of line protocol v1 (proto-docs/README.md).
public enum Endpoint: Sendable, Hashable {
    case healthz, readyz, metrics, debugStream
    case putDebtors
    case getDebtor(id: String)
    case postOutcomes, postPayments, postClearances
    case getCalls, dialer, schedule, simulations

    /// A bounded label for metrics (never a debtor id).
    public var label: String {
        switch self {
        case .healthz: "healthz"
        case .readyz: "readyz"
        case .metrics: "metrics"
        case .debugStream: "debug_stream"
        case .putDebtors: "put_debtors"
        case .getDebtor: "get_debtor"
        case .postOutcomes: "outcomes"
        case .postPayments: "payments"
        case .postClearances: "clearances"
        case .getCalls: "calls"
        case .dialer: "dialer"
        case .schedule: "schedule"
        case .simulations: "simulations"
        }
    }

    /// The roles that may call this endpoint; empty = no token needed.
    public var roles: Set<Role> {
        switch self {
        case .healthz, .readyz: []
        case .metrics, .debugStream, .getDebtor, .schedule: [.reader]
        case .putDebtors, .postPayments: [.writer]
        case .postOutcomes: [.writer, .dialer]
        case .getCalls, .dialer: [.dialer]
        case .simulations, .postClearances: [.admin]
        }
    }

    /// The request media types accepted for the body, or nil when the endpoint takes no body.
    public var bodyMediaTypes: [String]? {
        switch self {
        case .putDebtors, .postOutcomes, .postPayments, .postClearances, .dialer:
            ["application/x-ndjson", "application/jsonl"]
        case .simulations: ["application/json"]
        default: nil
        }
    }
}

/// The result of matching a method and a path.
public enum RouteMatch: Sendable, Equatable {
    case found(Endpoint)
    case methodNotAllowed(allow: [String])
    case notFound
}

/// Maps a method and a path (without query) to an endpoint.
public func matchRoute(method: String, path: String) -> RouteMatch {
    func only(_ allowed: String, _ endpoint: Endpoint) -> RouteMatch {
        if method == allowed || (allowed == "GET" && method == "HEAD") { return .found(endpoint) }
        return .methodNotAllowed(allow: allowed == "GET" ? ["GET", "HEAD"] : [allowed])
    }
    switch path {
    case "/healthz": return only("GET", .healthz)
    case "/readyz": return only("GET", .readyz)
    case "/metrics": return only("GET", .metrics)
    case "/v1/debug/stream": return only("GET", .debugStream)
    case "/v1/debtors": return only("PUT", .putDebtors)
    case "/v1/outcomes": return only("POST", .postOutcomes)
    case "/v1/payments": return only("POST", .postPayments)
    case "/v1/clearances": return only("POST", .postClearances)
    case "/v1/calls": return only("GET", .getCalls)
    case "/v1/dialer": return only("POST", .dialer)
    case "/v1/schedule": return only("GET", .schedule)
    case "/v1/simulations": return only("POST", .simulations)
    default:
        let prefix = "/v1/debtors/"
        if path.hasPrefix(prefix) {
            let raw = path.dropFirst(prefix.count)
            guard !raw.isEmpty, !raw.utf8.contains(UInt8(ascii: "/")), let id = percentDecode(raw), !id.isEmpty else { return .notFound }
            return only("GET", .getDebtor(id: id))
        }
        return .notFound
    }
}

/// Decodes `%XX` escapes; nil for a malformed escape or invalid UTF-8.
public func percentDecode(_ text: Substring) -> String? {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(text.utf8.count)
    var it = text.utf8.makeIterator()
    while let b = it.next() {
        if b == UInt8(ascii: "%") {
            guard let h = it.next(), let l = it.next(), let hv = hexValue(h), let lv = hexValue(l) else { return nil }
            bytes.append(hv << 4 | lv)
        } else if b == UInt8(ascii: "+") {
            bytes.append(UInt8(ascii: " "))
        } else {
            bytes.append(b)
        }
    }
    return String(validating: bytes, as: UTF8.self)
}

private func hexValue(_ b: UInt8) -> UInt8? {
    switch b {
    case 48...57: b - 48
    case 65...70: b - 55
    case 97...102: b - 87
    default: nil
    }
}

/// Parses a query string (`a=1&b=x%20y`) into decoded pairs; malformed pairs are kept raw.
public func parseQuery(_ query: Substring) -> [String: String] {
    var result: [String: String] = [:]
    for pair in query.split(separator: "&") {
        let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        let key = percentDecode(parts[0]) ?? String(parts[0])
        let value = parts.count > 1 ? (percentDecode(parts[1]) ?? String(parts[1])) : ""
        result[key] = value
    }
    return result
}
