/// FNV-1a, 64 bit: a hash that is the same in every process and on every run (unlike Swift's seeded `Hasher`),
/// so a debtor always lands on the same shard.
@inlinable
public func stableHash(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x100_0000_01b3
    }
    return hash
}

/// FNV-1a, 64 bit, over raw bytes (the same value as ``stableHash(_:)`` of the string they encode).
@inlinable
func stableHash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
        hash ^= UInt64(byte)
        hash = hash &* 0x100_0000_01b3
    }
    return hash
}
