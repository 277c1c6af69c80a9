#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The endpoints of line protocol v1 (proto-docs/README.md).
public enum Endpoint: Sendable, Hashable {
    case healthz, readyz, metrics, debugStream
    case putDebtors
    case getDebtor(id: String)
    case postOutcomes, postPayments, postClearances
    case getCalls, dialer, schedule, simulations

    /// A dense number for this kind of endpoint (0 ..< ``kindCount``), for per-endpoint tables.
    public var kind: Int {
        switch self {
        case .healthz: 0
        case .readyz: 1
        case .metrics: 2
        case .debugStream: 3
        case .putDebtors: 4
        case .getDebtor: 5
        case .postOutcomes: 6
        case .postPayments: 7
        case .postClearances: 8
        case .getCalls: 9
        case .dialer: 10
        case .schedule: 11
        case .simulations: 12
        }
    }

    /// The number of endpoint kinds.
    public static let kindCount = 13

    /// Metric labels by ``kind``.
    static let labels = [
        "healthz", "readyz", "metrics", "debug_stream", "put_debtors", "get_debtor", "outcomes", "payments",
        "clearances", "calls", "dialer", "schedule", "simulations",
    ]

    /// Roles by ``kind`` (built once: a request does not allocate a set).
    static let roleSets: [Set<Role>] = [
        [], [], [.reader], [.reader], [.writer], [.reader], [.writer, .dialer], [.writer], [.admin], [.dialer],
        [.dialer], [.reader], [.admin],
    ]

    /// A bounded label for metrics (never a debtor id).
    public var label: String { Self.labels[kind] }

    /// The roles that may call this endpoint; empty = no token needed.
    public var roles: Set<Role> { Self.roleSets[kind] }

    /// Whether `HEAD` is routed here like `GET` (answered with the same status and headers, no body): only where
    /// answering has no side effect and the body is complete, not a stream.
    public var answersHead: Bool {
        switch self {
        case .healthz, .readyz, .metrics, .getDebtor: true
        default: false
        }
    }

    /// The query parameters this endpoint reads, or nil when it does not check them (health, readiness and
    /// metrics: probes and scrapers may add their own). Any other parameter, or one given twice, is a `400
    /// bad_query` (``queryProblem(_:accepted:path:)``): a misspelt `limt=5` must not be silently ignored.
    public var queryParameters: [String]? {
        switch self {
        case .healthz, .readyz, .metrics: nil
        case .debugStream: ["n"]
        case .getCalls: ["n", "wait", "jurisdiction"]
        case .dialer: ["jurisdiction"]
        case .schedule: ["from", "to", "limit"]
        case .putDebtors, .getDebtor, .postOutcomes, .postPayments, .postClearances, .simulations: []
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
    /// A debtor path whose id is not valid percent-encoding (`%ZZ`) or not UTF-8 once decoded: a client error, not
    /// a missing endpoint.
    case badDebtorID
}

/// Maps a method and a path (without query) to an endpoint.
public func matchRoute(method: String, path: String) -> RouteMatch {
    func only(_ allowed: String, _ endpoint: Endpoint) -> RouteMatch {
        // HEAD only where answering it has no effect and a complete body: health, readiness, metrics and a
        // debtor's state. `/v1/calls` leases, and the schedule and the debug stream are streams: HEAD there is 405.
        let headToo = allowed == "GET" && endpoint.answersHead
        if method == allowed || (headToo && method == "HEAD") { return .found(endpoint) }
        return .methodNotAllowed(allow: headToo ? ["GET", "HEAD"] : [allowed])
    }
    // The one parameterised route first, on bytes: it is the hot read path.
    let prefix: StaticString = "/v1/debtors/"
    let isDebtorPath = path.utf8.withContiguousStorageIfAvailable { utf8 in
        utf8.count > prefix.utf8CodeUnitCount
            && memcmp(utf8.baseAddress!, prefix.utf8Start, prefix.utf8CodeUnitCount) == 0
    } ?? path.hasPrefix("/v1/debtors/")
    if isDebtorPath {
        let raw = path.utf8.dropFirst(prefix.utf8CodeUnitCount)
        guard !raw.contains(UInt8(ascii: "/")) else { return .notFound }
        guard let id = percentDecode(Substring(raw), formEncoded: false) else { return .badDebtorID }
        if id.isEmpty { return .notFound }
        return only("GET", .getDebtor(id: id))
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
        return .notFound
    }
}

/// Decodes `%XX` escapes; nil for a malformed escape or invalid UTF-8. `+` means a space only in a query
/// (`formEncoded`, HTML forms' encoding); in a path it is itself (`/v1/debtors/ACME+1` names `ACME+1`).
public func percentDecode(_ text: Substring, formEncoded: Bool = true) -> String? {
    if !text.utf8.contains(where: { $0 == UInt8(ascii: "%") || formEncoded && $0 == UInt8(ascii: "+") }) {
        return String(text)
    }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(text.utf8.count)
    var it = text.utf8.makeIterator()
    while let b = it.next() {
        if b == UInt8(ascii: "%") {
            guard let h = it.next(), let l = it.next(), let hv = hexValue(h), let lv = hexValue(l) else { return nil }
            bytes.append(hv << 4 | lv)
        } else if formEncoded && b == UInt8(ascii: "+") {
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

/// A query parameter an endpoint does not accept (see ``queryProblem(_:accepted:path:)``).
public struct QueryProblem: Sendable, Equatable {
    /// The parameter's name as sent (decoded when it can be; at most 64 characters, then `…`).
    public var parameter: String
    /// What is wrong, naming the parameters the endpoint reads.
    public var message: String
}

/// What is wrong with the raw query string `query` (after `?`) of a request to `path` whose endpoint reads only the
/// parameters `accepted`, or nil when nothing is: a parameter it does not read, one given twice, or a name that is
/// not valid percent-encoding. Empty pairs (`a=1&&b=2`, a trailing `&`) are ignored, as ``HTTP2RequestHead``'s
/// `queryItem` ignores them.
public func queryProblem(_ query: String, accepted: [String], path: String) -> QueryProblem? {
    if query.isEmpty { return nil }
    var seen: [String] = []
    for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
        let rawName = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
        guard let name = percentDecode(rawName) else {
            let shown = String(rawName.prefix(64))
            return QueryProblem(parameter: shown, message: "query parameter name '\(shown)' is not valid percent-encoding")
        }
        let shown = name.count > 64 ? String(name.prefix(64)) + "…" : name
        guard accepted.contains(name) else {
            return QueryProblem(
                parameter: shown,
                message: accepted.isEmpty
                    ? "\(path) takes no query parameters (got '\(shown)')"
                    : "unknown query parameter '\(shown)'; \(path) accepts \(accepted.joined(separator: ", "))")
        }
        if seen.contains(name) {
            return QueryProblem(parameter: shown, message: "query parameter '\(name)' is given twice")
        }
        seen.append(name)
    }
    return nil
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
