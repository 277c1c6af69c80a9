import NIOCore
import TagihCore

/// Builds one JSON object line (`{...}\n`) straight into bytes, for hot output paths.
///
/// Keys are trusted ASCII literals; string values are escaped per RFC 8259. The bytes live in one raw,
/// growable buffer owned by this value (it is noncopyable), so a member costs a capacity check and a copy.
public struct JSONLine: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    private var count = 0
    private var capacity: Int
    private var first = true

    /// Starts an object.
    public init(capacity: Int = 256) {
        self.capacity = max(capacity, 64)
        base = .allocate(capacity: self.capacity)
        base[0] = UInt8(ascii: "{")
        count = 1
    }

    deinit { base.deallocate() }

    @inline(__always) private mutating func reserve(_ n: Int) {
        if count + n > capacity { grow(count + n) }
    }

    private mutating func grow(_ needed: Int) {
        let newCapacity = max(needed, capacity * 2)
        let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newBase.initialize(from: base, count: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    @inline(__always) private mutating func put(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    @inline(__always) private mutating func put(_ bytes: UnsafeRawBufferPointer) {
        guard let from = bytes.baseAddress, bytes.count > 0 else { return }
        reserve(bytes.count)
        JSONLine.copy(from.assumingMemoryBound(to: UInt8.self), to: base + count, bytes.count)
        count += bytes.count
    }

    /// Copies `n` bytes; short copies (keys, ids, codes: most of them) in a loop rather than a `memmove` call.
    @inline(__always) private static func copy(_ from: UnsafePointer<UInt8>, to: UnsafeMutablePointer<UInt8>, _ n: Int) {
        if n <= 16 {
            for k in 0..<n { to[k] = from[k] }
        } else {
            to.update(from: from, count: n)
        }
    }

    @inline(__always) private mutating func put(_ text: StaticString) {
        put(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    private mutating func key(_ key: StaticString) {
        let n = key.utf8CodeUnitCount
        reserve(n + 4)
        // Locals, not `self`: a store through a byte pointer could alias `count`, which would be reloaded.
        let out = base
        var c = count
        if !first {
            out[c] = UInt8(ascii: ",")
            c += 1
        }
        first = false
        out[c] = UInt8(ascii: "\"")
        JSONLine.copy(key.utf8Start, to: out + c + 1, n)
        out[c + 1 + n] = UInt8(ascii: "\"")
        out[c + 2 + n] = UInt8(ascii: ":")
        count = c + n + 3
    }

    /// Adds a string member.
    public mutating func add(_ key: StaticString, _ value: String) {
        self.key(key)
        appendEscaped(value)
    }

    /// Adds a string member or `null`.
    public mutating func add(_ key: StaticString, _ value: String?) {
        self.key(key)
        if let value { appendEscaped(value) } else { put("null") }
    }

    /// Adds an integer member.
    public mutating func add(_ key: StaticString, _ value: Int) {
        self.key(key)
        appendInteger(value)
    }

    /// Adds an instant as RFC 3339 local time in `zone` with its offset, or in UTC (`Z`) when `zone` is nil;
    /// `null` when the instant is nil.
    public mutating func addTime(_ key: StaticString, _ instant: Int64?, in zone: ZoneTable?) {
        self.key(key)
        guard let instant else {
            put("null")
            return
        }
        let offset = zone?.offset(at: instant) ?? 0
        reserve(34)
        base[count] = UInt8(ascii: "\"")
        if let n = RFC3339.write(instant, offsetSeconds: offset, zulu: zone == nil, at: base + count + 1) {
            base[count + 1 + n] = UInt8(ascii: "\"")
            count += n + 2
        } else {
            appendEscaped(RFC3339.format(instant, offsetSeconds: offset, zulu: zone == nil))
        }
    }

    /// Adds a boolean member.
    public mutating func add(_ key: StaticString, _ value: Bool) {
        self.key(key)
        if value { put("true") } else { put("false") }
    }

    /// Adds a number member; non-finite numbers become 0.
    public mutating func add(_ key: StaticString, _ value: Double) {
        self.key(key)
        if value.isFinite {
            var text = value.description
            text.withUTF8 { put(UnsafeRawBufferPointer($0)) }
        } else {
            put(UInt8(ascii: "0"))
        }
    }

    /// Adds an array of strings.
    public mutating func add(_ key: StaticString, _ values: [String]) {
        self.key(key)
        put(UInt8(ascii: "["))
        for (i, v) in values.enumerated() {
            if i > 0 { put(UInt8(ascii: ",")) }
            appendEscaped(v)
        }
        put(UInt8(ascii: "]"))
    }

    /// Adds an object member whose members `fill` writes in place.
    public mutating func addObject(_ key: StaticString, _ fill: (inout JSONLine) -> Void) {
        self.key(key)
        appendObject(fill)
    }

    /// Adds an array of objects, each written in place by `fill`.
    public mutating func addObjects<Element>(
        _ key: StaticString, _ elements: [Element], _ fill: (inout JSONLine, Element) -> Void
    ) {
        self.key(key)
        put(UInt8(ascii: "["))
        for (i, element) in elements.enumerated() {
            if i > 0 { put(UInt8(ascii: ",")) }
            appendObject { fill(&$0, element) }
        }
        put(UInt8(ascii: "]"))
    }

    /// `{`, the members `fill` writes, `}`; the enclosing object's member separator state is kept.
    private mutating func appendObject(_ fill: (inout JSONLine) -> Void) {
        put(UInt8(ascii: "{"))
        first = true
        fill(&self)
        put(UInt8(ascii: "}"))
        first = false
    }

    /// Adds a member whose value is already JSON text.
    public mutating func addRaw(_ key: StaticString, _ json: String) {
        self.key(key)
        var json = json
        json.withUTF8 { put(UnsafeRawBufferPointer($0)) }
    }

    /// Adds a member whose value is already JSON bytes.
    public mutating func addRaw(_ key: StaticString, _ json: [UInt8]) {
        self.key(key)
        json.withUnsafeBytes { put($0) }
    }

    /// Closes the object, appends `\n` (unless `newline` is false) and returns the bytes.
    public consuming func finish(newline: Bool = true) -> [UInt8] {
        close(newline: newline)
        return Array(UnsafeBufferPointer(start: base, count: count))
    }

    /// Closes the object, appends `\n` (unless `newline` is false) and writes the bytes to `buffer`.
    public consuming func finish(newline: Bool = true, into buffer: inout ByteBuffer) {
        close(newline: newline)
        buffer.writeBytes(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// Closes the object, appends `\n` (unless `newline` is false), writes the bytes to `buffer` and starts a
    /// new, empty object in the same storage: one `JSONLine` can write many lines without allocating again.
    public mutating func finishAndReset(newline: Bool = true, into buffer: inout ByteBuffer) {
        close(newline: newline)
        buffer.writeBytes(UnsafeRawBufferPointer(start: base, count: count))
        base[0] = UInt8(ascii: "{")
        count = 1
        first = true
    }

    private mutating func close(newline: Bool) {
        reserve(2)
        base[count] = UInt8(ascii: "}")
        count += 1
        if newline {
            base[count] = 0x0A
            count += 1
        }
    }

    private mutating func appendInteger(_ value: Int) {
        reserve(20)
        if value == 0 {
            base[count] = UInt8(ascii: "0")
            count += 1
            return
        }
        var magnitude = value.magnitude
        if value < 0 {
            base[count] = UInt8(ascii: "-")
            count += 1
        }
        var digits = 0
        var probe = magnitude
        while probe > 0 {
            digits += 1
            probe /= 10
        }
        var i = count + digits - 1
        while magnitude > 0 {
            base[i] = UInt8(48 + magnitude % 10)
            magnitude /= 10
            i -= 1
        }
        count += digits
    }

    private mutating func appendEscaped(_ value: String) {
        let done: Void? = value.utf8.withContiguousStorageIfAvailable { appendEscaped(utf8: $0) }
        if done == nil {
            var copy = value
            copy.withUTF8 { appendEscaped(utf8: $0) }
        }
    }

    /// True when one of the eight bytes is below 0x20, `"` or `\\` (bit tricks: a byte below n sets its high
    /// bit in `(x - n) & ~x`; equality is a zero byte of `x ^ c`).
    @inline(__always) static func needsEscape(_ x: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let control = (x &- ones &* 0x20) & ~x & highs
        let q = x ^ (ones &* 0x22)
        let quote = (q &- ones) & ~q & highs
        let bs = x ^ (ones &* 0x5C)
        let backslash = (bs &- ones) & ~bs & highs
        return control | quote | backslash != 0
    }

    /// `"`, the bytes with RFC 8259 escapes, `"`. Runs that need no escaping are copied at once.
    private mutating func appendEscaped(utf8: UnsafeBufferPointer<UInt8>) {
        let n = utf8.count
        reserve(n + 2)
        guard n > 0, let from = utf8.baseAddress else {
            put("\"\"")
            return
        }
        let raw = UnsafeRawPointer(from)
        // Most values need no escape: find the first byte that does (eight at a time), copy the clean run at once.
        var i = 0
        while i + 8 <= n, !JSONLine.needsEscape(raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) { i += 8 }
        while i < n {
            let b = from[i]
            if b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { break }
            i += 1
        }
        let out = base
        let c = count
        out[c] = UInt8(ascii: "\"")
        JSONLine.copy(from, to: out + c + 1, i)
        if i == n {
            out[c + 1 + n] = UInt8(ascii: "\"")
            count = c + n + 2
            return
        }
        count = c + 1 + i
        var start = i
        while i < n {
            // Skip eight bytes at a time while none is a control byte, a quote or a backslash.
            while i + 8 <= n {
                let word = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                if JSONLine.needsEscape(word) { break }
                i += 8
            }
            guard i < n else { break }
            let b = utf8[i]
            if b >= 0x20 && b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\") {
                i += 1
                continue
            }
            if start < i { put(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(utf8)[start..<i])) }
            start = i + 1
            i += 1
            switch b {
            case UInt8(ascii: "\""): put("\\\"")
            case UInt8(ascii: "\\"): put("\\\\")
            case 0x0A: put("\\n")
            case 0x0D: put("\\r")
            case 0x09: put("\\t")
            default:
                let hex: StaticString = "0123456789abcdef"
                put("\\u00")
                put(hex.utf8Start[Int(b >> 4)])
                put(hex.utf8Start[Int(b & 0xF)])
            }
        }
        if start < utf8.count { put(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(utf8)[start...])) }
        put(UInt8(ascii: "\""))
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
