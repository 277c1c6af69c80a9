/// LLVM's `llvm.prefetch` intrinsic (a hint, never a fault: any address may be passed). Declaring it under its
/// LLVM name makes the compiler emit the instruction (`prefetcht0` on x86-64, `prfm` on arm64) instead of a call.
@_silgen_name("llvm.prefetch.p0")
private func llvmPrefetch(_ address: UnsafeRawPointer, _ write: Int32, _ locality: Int32, _ cache: Int32)

/// Software prefetch for the shards' random accesses: when a shard re-decides or looks up a list of debtors, it
/// asks for the next ones' slot, record, history and outcomes a few debtors ahead, so that their cache misses
/// overlap with the work on the current one instead of stalling it. A hint only: no result depends on it (an
/// address that is wrong, stale or invalid only costs the hint).
enum EnginePrefetch {
    /// Asks for the cache line holding `address` (for reading; into every cache level).
    @inline(__always)
    static func read(_ address: UnsafeRawPointer) {
        llvmPrefetch(address, 0, 3, 1)
    }

    /// Asks for the cache line holding `address`, about to be written.
    @inline(__always)
    static func write(_ address: UnsafeRawPointer) {
        llvmPrefetch(address, 1, 3, 1)
    }
}
