extension RFC3339 {
    /// Writes what ``format(_:offsetSeconds:zulu:)`` returns (`2026-11-30T09:05:00-05:00`) at `out`, which must
    /// have room for 32 bytes, and returns the number of bytes written; nil (nothing written) for years outside
    /// 0...9999, which ``format(_:offsetSeconds:zulu:)`` handles. For encoders that own raw buffers.
    public static func write(_ instant: UnixSeconds, offsetSeconds: Int32, zulu: Bool = false, at out: UnsafeMutablePointer<UInt8>)
        -> Int?
    {
        write(instant, offsetSeconds: offsetSeconds, zulu: zulu, to: UnsafeMutableBufferPointer(start: out, count: 32))
    }
}
