import TagihCore

/// Builds one JSON object line (`{...}\n`) straight into bytes, for hot output paths.
///
/// Keys are trusted ASCII literals; string values are escaped per RFC 8259.
public struct JSONLine: Sendable {
    public private(set) var bytes: [UInt8]
    private var first = true

    private init(empty: Void) { bytes = [] }

    /// Starts an object.
    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
        bytes.append(UInt8(ascii: "{"))
    }

    private mutating func key(_ key: StaticString) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        bytes.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    /// Adds a string member.
    public mutating func add(_ key: StaticString, _ value: String) {
        self.key(key)
        JSONLine.appendEscaped(value, to: &bytes)
    }

    /// Adds a string member or `null`.
    public mutating func add(_ key: StaticString, _ value: String?) {
        if let value { add(key, value) } else { addRaw(key, "null") }
    }

    /// Adds an integer member.
    public mutating func add(_ key: StaticString, _ value: Int) {
        self.key(key)
        bytes.append(contentsOf: String(value).utf8)
    }

    /// Adds an instant as RFC 3339 local time in `zone` with its offset, or in UTC (`Z`) when `zone` is nil;
    /// `null` when the instant is nil.
    public mutating func addTime(_ key: StaticString, _ instant: Int64?, in zone: ZoneTable?) {
        self.key(key)
        guard let instant else {
            bytes.append(contentsOf: "null".utf8)
            return
        }
        bytes.append(UInt8(ascii: "\""))
        RFC3339.append(instant, offsetSeconds: zone?.offset(at: instant) ?? 0, zulu: zone == nil, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    /// Adds a boolean member.
    public mutating func add(_ key: StaticString, _ value: Bool) {
        addRaw(key, value ? "true" : "false")
    }

    /// Adds a number member; non-finite numbers become 0.
    public mutating func add(_ key: StaticString, _ value: Double) {
        self.key(key)
        bytes.append(contentsOf: (value.isFinite ? "\(value)" : "0").utf8)
    }

    /// Adds an array of strings.
    public mutating func add(_ key: StaticString, _ values: [String]) {
        self.key(key)
        bytes.append(UInt8(ascii: "["))
        for (i, v) in values.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            JSONLine.appendEscaped(v, to: &bytes)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// Adds an object member whose members `fill` writes in place (no intermediate buffer).
    public mutating func addObject(_ key: StaticString, _ fill: (inout JSONLine) -> Void) {
        self.key(key)
        appendObject(fill)
    }

    /// Adds an array of objects, each written in place by `fill`.
    public mutating func addObjects<Element>(
        _ key: StaticString, _ elements: [Element], _ fill: (inout JSONLine, Element) -> Void
    ) {
        self.key(key)
        bytes.append(UInt8(ascii: "["))
        for (i, element) in elements.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            appendObject { fill(&$0, element) }
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// Hands the buffer to a nested object and takes it back: `{`, the members, `}`.
    private mutating func appendObject(_ fill: (inout JSONLine) -> Void) {
        var inner = JSONLine(empty: ())
        swap(&inner.bytes, &bytes)
        inner.bytes.append(UInt8(ascii: "{"))
        fill(&inner)
        inner.bytes.append(UInt8(ascii: "}"))
        swap(&inner.bytes, &bytes)
    }

    /// Adds a member whose value is already JSON text.
    public mutating func addRaw(_ key: StaticString, _ json: String) {
        self.key(key)
        bytes.append(contentsOf: json.utf8)
    }

    /// Adds a member whose value is already JSON bytes.
    public mutating func addRaw(_ key: StaticString, _ json: [UInt8]) {
        self.key(key)
        bytes.append(contentsOf: json)
    }

    /// Closes the object and appends `\n`.
    public consuming func finish(newline: Bool = true) -> [UInt8] {
        bytes.append(UInt8(ascii: "}"))
        if newline { bytes.append(UInt8(ascii: "\n")) }
        return bytes
    }

    /// Appends `value` as a quoted, escaped JSON string.
    public static func appendEscaped(_ value: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            // Copy runs of bytes that need no escaping in one go; most values have no escapes at all.
            var start = 0
            for (i, b) in utf8.enumerated() where b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") {
                if start < i { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<i])) }
                start = i + 1
                switch b {
                case UInt8(ascii: "\""): bytes.append(0x5C); bytes.append(0x22)
                case UInt8(ascii: "\\"): bytes.append(0x5C); bytes.append(0x5C)
                case 0x0A: bytes.append(0x5C); bytes.append(UInt8(ascii: "n"))
                case 0x0D: bytes.append(0x5C); bytes.append(UInt8(ascii: "r"))
                case 0x09: bytes.append(0x5C); bytes.append(UInt8(ascii: "t"))
                default:
                    let hex: StaticString = "0123456789abcdef"
                    hex.withUTF8Buffer { hex in
                        bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]])
                    }
                }
            }
            if start < utf8.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...])) }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// A complete error line for streams: `{"type":"error","code":…,"message":…}`.
    public static func errorLine(code: String, message: String, line: Int? = nil, field: String? = nil) -> [UInt8] {
        var json = JSONLine()
        json.add("type", "error")
        json.add("code", code)
        json.add("message", message)
        if let line { json.add("line", line) }
        if let field { json.add("field", field) }
        return json.finish()
    }

    /// An HTTP error body: `{"error":{"code":…,"message":…}}`.
    public static func httpErrorBody(code: String, message: String) -> [UInt8] {
        var outer = JSONLine()
        outer.addObject("error") { inner in
            inner.add("code", code)
            inner.add("message", message)
        }
        return outer.finish()
    }
}
