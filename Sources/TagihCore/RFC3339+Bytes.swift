extension RFC3339 {
    /// Appends what ``format(_:offsetSeconds:zulu:)`` returns (`2026-11-30T09:05:00-05:00`) to `bytes`, without
    /// creating a String: the service writes three of these for every decision it encodes.
    public static func append(_ instant: UnixSeconds, offsetSeconds: Int32, zulu: Bool = false, to bytes: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { buf in
            if let n = write(instant, offsetSeconds: offsetSeconds, zulu: zulu, to: buf) {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buf[0..<n]))
            } else {
                bytes.append(contentsOf: formatSlow(instant, offsetSeconds: offsetSeconds, zulu: zulu).utf8)
            }
        }
    }
}
