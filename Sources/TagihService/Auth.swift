import Foundation
import TagihCore

/// What a bearer token may do.
public enum Role: String, Sendable, Hashable, CaseIterable {
    /// Leases calls (`/v1/calls`, `/v1/dialer`) and reports outcomes.
    case dialer
    /// Upserts debtors, reports outcomes and payments.
    case writer
    /// Reads debtor state, the schedule, metrics and the debug stream.
    case reader
    /// Everything, including simulations.
    case admin
}

/// An error in the token file: which line and why.
public struct TokenFileError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var line: Int
    public var message: String
    /// `path:line: message`, or `path: message` for what concerns the whole file (line 0).
    public var description: String { line > 0 ? "\(path):\(line): \(message)" : "\(path): \(message)" }
}

/// The bearer tokens the server accepts, each with its roles.
///
/// The token file has one token a line: `TOKEN ROLE[,ROLE...] [NAME]`. Blank lines and lines
/// starting with `#` are ignored. Tokens must be at least 16 characters long.
public struct TokenStore: Sendable {
    public struct Entry: Sendable, Hashable {
        public var roles: Set<Role>
        public var name: String
    }

    private var entries: [String: Entry]

    /// A store with no tokens: every request is allowed (only for loopback binds).
    public static let open = TokenStore(entries: [:])

    /// True when no token is configured and authentication is off.
    public var isOpen: Bool { entries.isEmpty }

    init(entries: [String: Entry]) { self.entries = entries }

    /// Parses token file text. Throws ``TokenFileError`` naming the bad line.
    public init(parsing text: String, path: String = "<tokens>") throws {
        var entries: [String: Entry] = [:]
        for (index, rawLine) in TextLines.split(text).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.count >= 2 else {
                throw TokenFileError(path: path, line: index + 1, message: "expected 'TOKEN ROLE[,ROLE...] [NAME]'")
            }
            let token = String(parts[0])
            guard token.count >= 16 else {
                throw TokenFileError(path: path, line: index + 1, message: "token is shorter than 16 characters")
            }
            var roles: Set<Role> = []
            for name in parts[1].split(separator: ",") {
                guard let role = Role(rawValue: String(name)) else {
                    let allowed = Role.allCases.map(\.rawValue).joined(separator: ", ")
                    throw TokenFileError(
                        path: path, line: index + 1, message: "unknown role '\(name)'; roles are \(allowed)")
                }
                roles.insert(role)
            }
            guard entries[token] == nil else {
                throw TokenFileError(path: path, line: index + 1, message: "duplicate token")
            }
            let name = parts.count > 2 ? String(parts[2]) : "token-\(index + 1)"
            entries[token] = Entry(roles: roles, name: name)
        }
        self.entries = entries
    }

    /// Loads a token file from disk.
    public init(contentsOfFile path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            let why = !exists ? "no such file" : isDirectory.boolValue ? "it is a directory" : "it is not readable by this process"
            throw TokenFileError(path: path, line: 0, message: "cannot read the token file: \(why)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TokenFileError(path: path, line: 0, message: "the token file is not UTF-8 text")
        }
        try self.init(parsing: text, path: path)
        if isOpen {
            throw TokenFileError(path: path, line: 0, message: "the token file holds no token")
        }
    }

    /// The outcome of checking a request's `authorization` header.
    public enum Verdict: Sendable, Equatable {
        case allowed
        /// No or unknown token: 401.
        case unauthenticated
        /// A valid token without a role the route needs: 403.
        case forbidden
    }

    /// Checks an `authorization` header value against the roles a route accepts.
    public func check(authorization: String?, anyOf allowed: Set<Role>) -> Verdict {
        if isOpen || allowed.isEmpty { return .allowed }
        guard let header = authorization, header.count > 7,
              header.prefix(7).lowercased() == "bearer "
        else { return .unauthenticated }
        let token = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        guard let entry = entries[token] else { return .unauthenticated }
        if entry.roles.contains(.admin) || !entry.roles.isDisjoint(with: allowed) { return .allowed }
        return .forbidden
    }
}

/// True when `host` only accepts connections from this machine.
public func isLoopback(host: String) -> Bool {
    if host == "localhost" || host == "::1" || host == "[::1]" { return true }
    let octets = host.split(separator: ".")
    return octets.count == 4 && octets.first == "127" && octets.allSatisfy { UInt8($0) != nil }
}
