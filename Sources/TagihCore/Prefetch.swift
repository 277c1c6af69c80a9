/// LLVM's `llvm.prefetch` intrinsic (a hint, never a fault: any address may be passed). Swift has no prefetch in its
/// standard library; declaring the intrinsic under its LLVM name makes the compiler emit the instruction
/// (`prefetcht0` on x86-64, `prfm` on arm64) in place of a call.
@usableFromInline
@_silgen_name("llvm.prefetch.p0")
func llvmPrefetch(_ address: UnsafeRawPointer, _ write: Int32, _ locality: Int32, _ cache: Int32)

/// Software prefetch for random accesses over large arrays (the engine's shards and the simulator read debtor
/// records, histories and queue entries a few items ahead): the cache misses of the next items then overlap with the
/// work on the current one instead of stalling it. A hint only: no result depends on it, and an address that is
/// wrong, stale or invalid only costs the hint. Inlined into the callers of every module.
public enum Prefetch {
    /// Asks for the cache line holding `address` (for reading; into every cache level).
    @inlinable @inline(__always)
    public static func read(_ address: UnsafeRawPointer) {
        llvmPrefetch(address, 0, 3, 1)
    }

    /// Asks for the cache line holding `address`, about to be written.
    @inlinable @inline(__always)
    public static func write(_ address: UnsafeRawPointer) {
        llvmPrefetch(address, 1, 3, 1)
    }

    /// Asks for the cache lines of `bytes` bytes from `address` (at most four lines).
    @inlinable @inline(__always)
    public static func read(_ address: UnsafeRawPointer, bytes: Int) {
        llvmPrefetch(address, 0, 3, 1)
        if bytes > 64 { llvmPrefetch(address + 64, 0, 3, 1) }
        if bytes > 128 { llvmPrefetch(address + 128, 0, 3, 1) }
        if bytes > 192 { llvmPrefetch(address + 192, 0, 3, 1) }
    }
}
