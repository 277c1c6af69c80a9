import TagihCore

/// Appends fixed-width little-endian integers and length-prefixed strings to a byte array.
///
/// The format is private to tagih: it is what the store keeps in its BLOB columns and what the engine keeps in
/// its compact per-shard arenas. It is versioned by the schema migrations, not by a header.
public struct ByteWriter: Sendable {
    /// The bytes written so far.
    public var bytes: [UInt8]

    /// Creates a writer, reserving `capacity` bytes.
    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Appends one byte.
    @inlinable public mutating func write(_ value: UInt8) { bytes.append(value) }

    /// Appends a 16-bit little-endian integer.
    @inlinable public mutating func write(_ value: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: value))
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
    }

    /// Appends a 32-bit little-endian integer.
    @inlinable public mutating func write(_ value: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    /// Appends a 64-bit little-endian integer.
    @inlinable public mutating func write(_ value: Int64) {
        let raw = UInt64(bitPattern: value)
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: raw >> UInt64(shift))) }
    }

    /// Appends a string as a variable-length size (1 byte below 255, else 255 + 4 bytes) and its UTF-8 bytes.
    @inlinable public mutating func write(_ value: String) {
        var text = value
        text.withUTF8 { utf8 in
            if utf8.count < 255 {
                bytes.append(UInt8(utf8.count))
            } else {
                bytes.append(255)
                write(UInt32(utf8.count))
            }
            bytes.append(contentsOf: utf8)
        }
    }

    /// Appends an optional string: a presence byte, then the string.
    @inlinable public mutating func write(_ value: String?) {
        if let value {
            write(UInt8(1))
            write(value)
        } else {
            write(UInt8(0))
        }
    }

    /// `write(_:sharingPrefixWith:)` against `previous`, which becomes `value` (the next one of a list is coded
    /// against it).
    @inlinable public mutating func write(_ value: String, after previous: inout String) {
        write(value, sharingPrefixWith: previous)
        previous = value
    }

    /// Appends `value` front-coded against `previous`: the number of leading UTF-8 bytes they share (at most
    /// 255), then the rest of `value` as a string. Consecutive ids of one kind ("D-9098178", "D-9160264") then
    /// cost a few bytes each.
    @inlinable public mutating func write(_ value: String, sharingPrefixWith previous: String) {
        var value = value
        var previous = previous
        value.withUTF8 { text in
            previous.withUTF8 { before in
                let limit = min(255, text.count, before.count)
                var shared = 0
                while shared < limit && text[shared] == before[shared] { shared += 1 }
                bytes.append(UInt8(shared))
                let rest = text.count - shared
                if rest < 255 {
                    bytes.append(UInt8(rest))
                } else {
                    bytes.append(255)
                    write(UInt32(rest))
                }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: text[shared...]))
            }
        }
    }

    /// Appends an optional 64-bit integer: a presence byte, then the integer.
    @inlinable public mutating func write(_ value: Int64?) {
        if let value {
            write(UInt8(1))
            write(value)
        } else {
            write(UInt8(0))
        }
    }
}

/// Reads what a ``ByteWriter`` wrote, from a buffer that stays valid while the reader is used.
public struct ByteReader {
    @usableFromInline let base: UnsafeRawBufferPointer
    /// The index of the next byte to read.
    public var offset: Int

    /// Creates a reader over `buffer`, starting at `offset`.
    public init(_ buffer: UnsafeRawBufferPointer, offset: Int = 0) {
        base = buffer
        self.offset = offset
    }

    /// Whether every byte has been read.
    public var isAtEnd: Bool { offset >= base.count }

    @inlinable mutating func need(_ count: Int) throws(StoreError) {
        if offset + count > base.count {
            throw StoreError(code: .corruptRecord, message: "a stored record is truncated at byte \(offset)")
        }
    }

    /// Reads one byte.
    @inlinable public mutating func readUInt8() throws(StoreError) -> UInt8 {
        try need(1)
        defer { offset += 1 }
        return base[offset]
    }

    /// Reads a 16-bit little-endian integer.
    @inlinable public mutating func readUInt16() throws(StoreError) -> UInt16 {
        try need(2)
        defer { offset += 2 }
        return UInt16(base[offset]) | UInt16(base[offset + 1]) << 8
    }

    /// Reads a 32-bit little-endian integer.
    @inlinable public mutating func readUInt32() throws(StoreError) -> UInt32 {
        try need(4)
        var value: UInt32 = 0
        for i in 0..<4 { value |= UInt32(base[offset + i]) << UInt32(8 * i) }
        offset += 4
        return value
    }

    /// Reads a 64-bit little-endian integer.
    @inlinable public mutating func readInt64() throws(StoreError) -> Int64 {
        try need(8)
        var value: UInt64 = 0
        for i in 0..<8 { value |= UInt64(base[offset + i]) << UInt64(8 * i) }
        offset += 8
        return Int64(bitPattern: value)
    }

    /// Reads the size prefix of a string and returns the range of its UTF-8 bytes, advancing past them.
    @inlinable public mutating func readStringRange() throws(StoreError) -> Range<Int> {
        var count = Int(try readUInt8())
        if count == 255 { count = Int(try readUInt32()) }
        try need(count)
        defer { offset += count }
        return offset..<(offset + count)
    }

    /// Reads a string.
    @inlinable public mutating func readString() throws(StoreError) -> String {
        let range = try readStringRange()
        return String(decoding: UnsafeRawBufferPointer(rebasing: base[range]), as: UTF8.self)
    }

    /// Reads a string written by `write(_:sharingPrefixWith:)` against `previous`. The string is built in place
    /// (no intermediate array: ids of up to 15 bytes cost no allocation at all).
    @inlinable public mutating func readString(sharingPrefixWith previous: String) throws(StoreError) -> String {
        let shared = Int(try readUInt8())
        let range = try readStringRange()
        var previous = previous
        guard shared <= previous.utf8.count else {
            throw StoreError(code: .corruptRecord, message: "a front-coded string shares more than its predecessor")
        }
        let rest = UnsafeRawBufferPointer(rebasing: base[range])
        return previous.withUTF8 { before in
            String(unsafeUninitializedCapacity: shared + rest.count) { out in
                for k in 0..<shared { out[k] = before[k] }
                for k in 0..<rest.count { out[shared + k] = rest[k] }
                return shared + rest.count
            }
        }
    }

    /// `readString(sharingPrefixWith:)` against `previous`, which becomes the string read (the next one of a list
    /// is coded against it).
    @inlinable public mutating func readString(after previous: inout String) throws(StoreError) -> String {
        let value = try readString(sharingPrefixWith: previous)
        previous = value
        return value
    }

    /// Reads an optional string.
    @inlinable public mutating func readOptionalString() throws(StoreError) -> String? {
        try readUInt8() == 0 ? nil : try readString()
    }

    /// Reads an optional 64-bit integer.
    @inlinable public mutating func readOptionalInt64() throws(StoreError) -> Int64? {
        try readUInt8() == 0 ? nil : try readInt64()
    }
}
