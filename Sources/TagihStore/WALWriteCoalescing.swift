import Foundation
import GRDBSQLite

#if canImport(Glibc)
import Glibc
#endif

/// How many write calls a WAL file received from SQLite and how many it passed on to the file system (for tests
/// and benchmarks). Counted per open WAL file, since it was opened.
struct WALWriteCounts: Sendable, Equatable {
    /// `xWrite` calls SQLite made on the WAL file (two per frame: its 24-byte header, then the page).
    var received = 0
    /// Bytes SQLite wrote.
    var receivedBytes: Int64 = 0
    /// Write calls passed on to the wrapped file (each one `pwrite`): coalesced buffers and written-through calls.
    var issued = 0
    /// Of `issued`, those that wrote a coalesced buffer.
    var flushes = 0
    /// Flushes that failed (their error was returned to SQLite).
    var failedFlushes = 0
}

/// A SQLite VFS, `tagih-wal`, that wraps the default (unix) VFS and coalesces the WAL writes of one fully
/// synchronous group commit into one `pwrite` (one per 124 KiB, see `maxWrite`), issued just before the WAL's
/// `xSync`.
///
/// **Why.** SQLite 3.40 writes each WAL frame as two `pwrite`s (`walWriteOneFrame` in wal.c: the 24-byte frame
/// header, then the page), then `fdatasync`s the WAL at COMMIT (`synchronous = FULL`). A grant transaction of 8
/// frames thus made 16 system calls before its fsync; with this VFS it makes one. (Measured on the benchmark
/// machine: about 1 µs saved per frame, 4 % more durable leases per second; Benchmarks/results/engine.md, session 11.)
///
/// **What is wrapped.** Only files opened with `SQLITE_OPEN_WAL` get this VFS's methods; every other file (the
/// database, its shared memory) is opened by the wrapped VFS into the same memory and keeps the wrapped VFS's own
/// methods, so nothing else changes. A WAL file buffers a write only while the calling thread is inside
/// ``coalescing(_:)`` and only when it continues the buffer (contiguous appends, at most `capacity` bytes); any
/// other call on that file first writes the buffer out (`xRead`, `xTruncate`, `xSync`, `xFileSize`, `xLock`,
/// `xUnlock`, `xCheckReservedLock`, `xFileControl`, the `xShm…` and `xFetch`/`xUnfetch` calls, `xClose`, a
/// write that does not continue the buffer). Only `xSectorSize` and `xDeviceCharacteristics` do not: they are
/// queries that cannot change the file nor report an error. A failed flush returns the wrapped file's error
/// (`SQLITE_IOERR_WRITE`, or `SQLITE_FULL` when the disk is full) from the call that flushed; when that call is one
/// whose result SQLite may ignore (a size hint, an unlock, a close), the error is also returned by the next
/// `xWrite` or `xSync` of the file, so a commit whose frames were not written always fails.
///
/// **Why buffering is safe only inside a fully synchronous commit (the NORMAL case).** In wal.c (3.40.1),
/// `sqlite3WalFrames` writes the frames of a transaction with `walWriteOneFrame`; when the transaction commits and
/// `WAL_SYNC_FLAGS(sync_flags)` is not zero (only with `synchronous = FULL`: `pager.c` puts the sync flags in
/// the low bits of `walSyncFlags` only when `fullSync` is set), it calls `sqlite3OsSync` on the WAL file (through
/// `walWriteToLog`'s sync point when it pads to a sector boundary, else directly) *before* `walIndexAppend` and
/// `walIndexWriteHdr`, which publish the new `mxFrame` in the shared wal-index where other connections read it.
/// That `xSync` flushes the buffer, so no reader can see a frame that is not yet in the file. (Only when the file
/// has "powersafe overwrite", the unix VFS's default: without it SQLite pads the commit to a sector boundary and
/// syncs in the middle of the last frame, so a WAL file without it is never buffered.) With `synchronous =
/// NORMAL` there is no `xSync` at commit: the next thing after the frames' writes is the wal-index header, written
/// to shared memory with no call on the WAL file at all (`walIndexWriteHdr` calls `xShmBarrier` on the
/// *database* file, between its two header copies). So the group committer opens a coalescing scope only around a
/// commit that runs with `synchronous = FULL` (never around a relaxed one, nor in a store opened with
/// ``StoreConfiguration/Durability/normal``), and the scope itself writes out whatever is still buffered when it
/// ends (a spilled, uncommitted transaction's frames after a rollback), so no buffer outlives the commit that
/// filled it. The whole COMMIT runs inside one `sqlite3_step` on the writer's thread, which is why the scope is a
/// thread-local flag. (The other choice, flushing in the database file's `xShmBarrier`, would also cover NORMAL
/// commits, but needs every database file wrapped and a map from database files to the WAL files of their
/// connections; the relaxed commits have no fsync to save the frames' writes from waiting on, so they would gain
/// little.)
///
/// **Crash safety** is unchanged: frames still reach the file before the `fdatasync` that makes the commit durable,
/// in the same order and at the same offsets; a kill -9 before the flush loses only an unacknowledged commit, as a
/// kill before SQLite's own writes would. The on-disk format does not change: stores are interchangeable with
/// binaries that do not use this VFS.
///
/// Registered once per process, never as the default VFS; the store's pool opens its connections with the URI
/// parameter `vfs=tagih-wal` (``uri(forPath:)``). (GRDB then looks for the WAL file at the URI's text plus
/// `-wal`, does not find it, and runs its empty `CREATE`/`DROP TABLE` commit at every open of the pool: harmless.)
enum WALWriteCoalescing {
    /// The VFS's registered name.
    static let vfsName = "tagih-wal"
    /// The most bytes buffered before they are written out (a large transaction writes several buffers).
    static let capacity = 4 << 20
    /// The most bytes passed to one `xWrite` of the wrapped file. The unix VFS writes at most 128 KiB − 1 bytes
    /// per call: `seekAndWriteFd` in os_unix.c masks the length with `0x1ffff` (SQLite itself never writes more
    /// than a page, at most 64 KiB, at once), so a longer write loses its high bits, writes nothing more and fails
    /// with `SQLITE_FULL`. A buffer is therefore written in pieces of at most 124 KiB: one `pwrite` per 30 frames
    /// of 4 KiB pages instead of 60.
    static let maxWrite = 124 << 10

    /// Registers the VFS (once per process). Returns whether it is available.
    static func register() -> Bool { registered }

    /// A `file:` URI that opens `path` through this VFS.
    static func uri(forPath path: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "?#%")
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let escaped = absolute.addingPercentEncoding(withAllowedCharacters: allowed) ?? absolute
        return "file:\(escaped)?vfs=\(vfsName)"
    }

    /// Runs `body` with coalescing of WAL writes on for the calling thread; writes out anything still buffered
    /// when it ends. Call only around work whose commits are fully synchronous (see the type's documentation).
    /// - Throws: what `body` throws; else ``StoreError`` with code `write_failed` when the final write of a
    ///   buffer failed.
    static func coalescing<T>(_ body: () throws -> T) throws -> T {
        let key = threadKey
        let outer = pthread_getspecific(key)
        if outer != nil { return try body() }  // nested: the outer scope flushes
        pthread_setspecific(key, activeMark)
        let result: Result<T, any Error> = Result { try body() }
        var code = SQLITE_OK
        if let current = pthread_getspecific(key), current != activeMark {
            code = Unmanaged<WALFile>.fromOpaque(current).takeUnretainedValue().flush()
        }
        pthread_setspecific(key, nil)
        let value = try result.get()
        guard code == SQLITE_OK else {
            throw StoreError(
                code: .writeFailed, message: "writing the WAL failed (SQLite result code \(code)); retry")
        }
        return value
    }

    /// The write counts of the WAL file that `connection` has open, or nil when it has none or it is not this
    /// VFS's. Call on the connection's own queue.
    static func counts(connection: OpaquePointer?) -> WALWriteCounts? {
        var pointer: UnsafeMutableRawPointer?
        guard sqlite3_file_control(connection, "main", SQLITE_FCNTL_JOURNAL_POINTER, &pointer) == SQLITE_OK,
            let pointer
        else { return nil }
        let file = pointer.assumingMemoryBound(to: sqlite3_file.self)
        guard file.pointee.pMethods == UnsafePointer(walMethods) else { return nil }
        return WALFile.of(file).counts
    }
}

// MARK: - Thread-local scope

/// The thread-local value: nil outside a scope, `activeMark` inside one with nothing buffered, else the
/// `WALFile` whose buffer holds data.
private let threadKey: pthread_key_t = {
    var key = pthread_key_t()
    precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
    return key
}()
nonisolated(unsafe) private let activeMark = UnsafeMutableRawPointer(bitPattern: 1)!

// MARK: - The WAL file's state

/// The memory SQLite allocates for a WAL file opened through this VFS (`szOsFile` bytes): the `sqlite3_file`
/// header (its methods), the `WALFile` (retained), then the wrapped VFS's own file structure.
private let stateOffset = MemoryLayout<sqlite3_file>.stride
private let wrappedOffset = (stateOffset + MemoryLayout<UnsafeMutableRawPointer>.stride + 15) & ~15

/// One open WAL file: the wrapped file and the write buffer. Used only from the thread of the connection that
/// owns the file (SQLite serializes a connection's calls).
final class WALFile {
    let wrapped: UnsafeMutablePointer<sqlite3_file>
    private var buffer: UnsafeMutableRawPointer?
    private var bufferCapacity = 0
    private var count = 0
    private var start: Int64 = 0
    /// A failed flush's error not yet returned by an `xWrite` or `xSync`.
    private var pendingError = SQLITE_OK
    var counts = WALWriteCounts()

    /// Whether writes may be buffered at all (see `xOpen`).
    let buffers: Bool

    init(wrapped: UnsafeMutablePointer<sqlite3_file>, buffers: Bool) {
        self.wrapped = wrapped
        self.buffers = buffers
    }

    deinit { buffer?.deallocate() }

    static func of(_ file: UnsafeMutablePointer<sqlite3_file>?) -> WALFile {
        let slot = UnsafeMutableRawPointer(file!).advanced(by: stateOffset)
        return Unmanaged<WALFile>.fromOpaque(slot.load(as: UnsafeMutableRawPointer.self)).takeUnretainedValue()
    }

    private var methods: sqlite3_io_methods { wrapped.pointee.pMethods.pointee }

    /// Writes the buffer out: one call of the wrapped file's `xWrite` per `maxWrite` bytes (one for a grant
    /// commit); returns the first failure, if any.
    func flush() -> Int32 {
        guard count > 0, let buffer else { return SQLITE_OK }
        var code = SQLITE_OK
        var done = 0
        while done < count && code == SQLITE_OK {
            let chunk = min(count - done, WALWriteCoalescing.maxWrite)
            code = methods.xWrite(wrapped, buffer.advanced(by: done), Int32(chunk), start + Int64(done))
            counts.issued += 1
            done += chunk
        }
        counts.flushes += 1
        count = 0
        let key = threadKey
        if pthread_getspecific(key) == Unmanaged.passUnretained(self).toOpaque() {
            pthread_setspecific(key, activeMark)
        }
        if code != SQLITE_OK { counts.failedFlushes += 1 }
        return code
    }

    /// Flushes before a call other than `xWrite`/`xSync`; remembers a failure for the next of those.
    func flushBeforeCall() -> Int32 {
        let code = flush()
        if code != SQLITE_OK { pendingError = code }
        return code
    }

    /// Flushes before `xWrite`/`xSync`, reporting (once) an earlier failure too.
    private func flushReporting() -> Int32 {
        let code = flush()
        if pendingError != SQLITE_OK {
            defer { pendingError = SQLITE_OK }
            return pendingError
        }
        return code
    }

    func write(_ bytes: UnsafeRawPointer, _ amount: Int32, _ offset: Int64) -> Int32 {
        counts.received += 1
        counts.receivedBytes += Int64(amount)
        let key = threadKey
        let scope = pthread_getspecific(key)
        guard let scope, buffers, amount > 0, Int(amount) <= WALWriteCoalescing.capacity else {
            let code = flushReporting()
            guard code == SQLITE_OK else { return code }
            counts.issued += 1
            return methods.xWrite(wrapped, bytes, amount, offset)
        }
        if pendingError != SQLITE_OK || (count > 0 && (offset != start + Int64(count)
            || count + Int(amount) > WALWriteCoalescing.capacity))
        {
            let code = flushReporting()
            guard code == SQLITE_OK else { return code }
        }
        let me = Unmanaged.passUnretained(self).toOpaque()
        if count == 0 {
            if scope != activeMark && scope != me {
                // Another WAL file of this thread holds a buffer (an attached database): write it out first.
                let code = Unmanaged<WALFile>.fromOpaque(scope).takeUnretainedValue().flush()
                guard code == SQLITE_OK else { return code }
            }
            start = offset
            pthread_setspecific(key, me)
        }
        let needed = count + Int(amount)
        if needed > bufferCapacity {
            let capacity = min(WALWriteCoalescing.capacity, max(needed, bufferCapacity * 2, 64 << 10))
            let grown = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
            if let buffer {
                grown.copyMemory(from: buffer, byteCount: count)
                buffer.deallocate()
            }
            buffer = grown
            bufferCapacity = capacity
        }
        buffer!.advanced(by: count).copyMemory(from: bytes, byteCount: Int(amount))
        count = needed
        return SQLITE_OK
    }

    func sync(_ flags: Int32) -> Int32 {
        let code = flushReporting()
        guard code == SQLITE_OK else { return code }
        return methods.xSync(wrapped, flags)
    }
}

// MARK: - The VFS and the WAL file's methods

private func wrappedVFS(_ vfs: UnsafeMutablePointer<sqlite3_vfs>?) -> UnsafeMutablePointer<sqlite3_vfs> {
    vfs!.pointee.pAppData.assumingMemoryBound(to: sqlite3_vfs.self)
}

/// Calls `body` with the WAL file after flushing its buffer; a failed flush returns its error instead.
@inline(__always)
private func afterFlush(
    _ file: UnsafeMutablePointer<sqlite3_file>?, _ body: (UnsafeMutablePointer<sqlite3_file>, sqlite3_io_methods) -> Int32
) -> Int32 {
    let wal = WALFile.of(file)
    let code = wal.flushBeforeCall()
    guard code == SQLITE_OK else { return code }
    return body(wal.wrapped, wal.wrapped.pointee.pMethods.pointee)
}

nonisolated(unsafe) private let walMethods: UnsafeMutablePointer<sqlite3_io_methods> = {
    let methods = UnsafeMutablePointer<sqlite3_io_methods>.allocate(capacity: 1)
    methods.initialize(to: sqlite3_io_methods())
    methods.pointee.iVersion = 3
    methods.pointee.xClose = { file in
        let slot = UnsafeMutableRawPointer(file!).advanced(by: stateOffset)
        let wal = WALFile.of(file)
        let flushed = wal.flushBeforeCall()
        let closed = wal.wrapped.pointee.pMethods.pointee.xClose(wal.wrapped)
        Unmanaged<WALFile>.fromOpaque(slot.load(as: UnsafeMutableRawPointer.self)).release()
        file!.pointee.pMethods = nil
        return flushed != SQLITE_OK ? flushed : closed
    }
    methods.pointee.xRead = { file, bytes, amount, offset in
        afterFlush(file) { f, m in m.xRead(f, bytes, amount, offset) }
    }
    methods.pointee.xWrite = { file, bytes, amount, offset in
        WALFile.of(file).write(bytes!, amount, offset)
    }
    methods.pointee.xTruncate = { file, size in afterFlush(file) { f, m in m.xTruncate(f, size) } }
    methods.pointee.xSync = { file, flags in WALFile.of(file).sync(flags) }
    methods.pointee.xFileSize = { file, size in afterFlush(file) { f, m in m.xFileSize(f, size) } }
    methods.pointee.xLock = { file, level in afterFlush(file) { f, m in m.xLock(f, level) } }
    methods.pointee.xUnlock = { file, level in afterFlush(file) { f, m in m.xUnlock(f, level) } }
    methods.pointee.xCheckReservedLock = { file, out in afterFlush(file) { f, m in m.xCheckReservedLock(f, out) } }
    methods.pointee.xFileControl = { file, op, argument in
        afterFlush(file) { f, m in m.xFileControl(f, op, argument) }
    }
    methods.pointee.xSectorSize = { file in
        let wal = WALFile.of(file)
        return wal.wrapped.pointee.pMethods.pointee.xSectorSize(wal.wrapped)
    }
    methods.pointee.xDeviceCharacteristics = { file in
        let wal = WALFile.of(file)
        return wal.wrapped.pointee.pMethods.pointee.xDeviceCharacteristics(wal.wrapped)
    }
    methods.pointee.xShmMap = { file, region, size, extend, out in
        afterFlush(file) { f, m in m.iVersion >= 2 ? m.xShmMap(f, region, size, extend, out) : SQLITE_IOERR }
    }
    methods.pointee.xShmLock = { file, offset, n, flags in
        afterFlush(file) { f, m in m.iVersion >= 2 ? m.xShmLock(f, offset, n, flags) : SQLITE_IOERR }
    }
    methods.pointee.xShmBarrier = { file in
        _ = afterFlush(file) { f, m in
            if m.iVersion >= 2 { m.xShmBarrier(f) }
            return SQLITE_OK
        }
    }
    methods.pointee.xShmUnmap = { file, delete in
        afterFlush(file) { f, m in m.iVersion >= 2 ? m.xShmUnmap(f, delete) : SQLITE_OK }
    }
    methods.pointee.xFetch = { file, offset, amount, out in
        afterFlush(file) { f, m in
            if m.iVersion >= 3 { return m.xFetch(f, offset, amount, out) }
            out?.pointee = nil
            return SQLITE_OK
        }
    }
    methods.pointee.xUnfetch = { file, offset, page in
        afterFlush(file) { f, m in m.iVersion >= 3 ? m.xUnfetch(f, offset, page) : SQLITE_OK }
    }
    return methods
}()

/// Registers the VFS; false when the default VFS is missing or registration failed.
private let registered: Bool = {
    if sqlite3_vfs_find(WALWriteCoalescing.vfsName) != nil { return true }
    guard let base = sqlite3_vfs_find(nil) else { return false }
    _ = walMethods
    let vfs = UnsafeMutablePointer<sqlite3_vfs>.allocate(capacity: 1)  // lives as long as the process
    vfs.initialize(to: sqlite3_vfs())
    vfs.pointee.iVersion = min(base.pointee.iVersion, 3)
    vfs.pointee.szOsFile = Int32(wrappedOffset) + base.pointee.szOsFile
    vfs.pointee.mxPathname = base.pointee.mxPathname
    vfs.pointee.zName = UnsafePointer(strdup(WALWriteCoalescing.vfsName))
    vfs.pointee.pAppData = UnsafeMutableRawPointer(base)
    vfs.pointee.xOpen = { vfs, name, file, flags, outFlags in
        let base = wrappedVFS(vfs)
        guard let file else { return SQLITE_MISUSE }
        guard flags & SQLITE_OPEN_WAL != 0 else {
            // Not a WAL: the wrapped VFS opens it into the same memory, with its own methods.
            return base.pointee.xOpen(base, name, file, flags, outFlags)
        }
        file.pointee.pMethods = nil
        let raw = UnsafeMutableRawPointer(file)
        let wrapped = raw.advanced(by: wrappedOffset).assumingMemoryBound(to: sqlite3_file.self)
        let code = base.pointee.xOpen(base, name, wrapped, flags, outFlags)
        guard code == SQLITE_OK else { return code }
        // Without "powersafe overwrite" (the unix VFS has it unless built without it or the URI says `psow=0`), a
        // FULL commit pads its last frame to a sector boundary and syncs in the middle of that frame
        // (`walWriteToLog`'s sync point): the rest of it is written after the `xSync`, and would stay buffered while
        // readers see the commit. Such a WAL file is never buffered. wal.c reads the flag from the *database* file
        // (`sqlite3WalOpen`), whose `psow` URI parameter the unix VFS honours while the WAL file's own flags keep
        // the build's default: so both are checked, the parameter on the WAL's name (SQLite passes the database's
        // URI parameters with it).
        let characteristics = wrapped.pointee.pMethods.pointee.xDeviceCharacteristics(wrapped)
        let powersafe = characteristics & SQLITE_IOCAP_POWERSAFE_OVERWRITE != 0
            && sqlite3_uri_boolean(name, "psow", 1) != 0
        let wal = WALFile(wrapped: wrapped, buffers: powersafe)
        raw.advanced(by: stateOffset).storeBytes(
            of: Unmanaged.passRetained(wal).toOpaque(), as: UnsafeMutableRawPointer.self)
        file.pointee.pMethods = UnsafePointer(walMethods)
        return SQLITE_OK
    }
    vfs.pointee.xDelete = { vfs, name, syncDirectory in
        let base = wrappedVFS(vfs)
        return base.pointee.xDelete(base, name, syncDirectory)
    }
    vfs.pointee.xAccess = { vfs, name, flags, out in
        let base = wrappedVFS(vfs)
        return base.pointee.xAccess(base, name, flags, out)
    }
    vfs.pointee.xFullPathname = { vfs, name, size, out in
        let base = wrappedVFS(vfs)
        return base.pointee.xFullPathname(base, name, size, out)
    }
    vfs.pointee.xDlOpen = { vfs, name in
        let base = wrappedVFS(vfs)
        return base.pointee.xDlOpen(base, name)
    }
    vfs.pointee.xDlError = { vfs, size, out in
        let base = wrappedVFS(vfs)
        base.pointee.xDlError(base, size, out)
    }
    vfs.pointee.xDlSym = { vfs, handle, symbol in
        let base = wrappedVFS(vfs)
        return base.pointee.xDlSym(base, handle, symbol)
    }
    vfs.pointee.xDlClose = { vfs, handle in
        let base = wrappedVFS(vfs)
        base.pointee.xDlClose(base, handle)
    }
    vfs.pointee.xRandomness = { vfs, size, out in
        let base = wrappedVFS(vfs)
        return base.pointee.xRandomness(base, size, out)
    }
    vfs.pointee.xSleep = { vfs, microseconds in
        let base = wrappedVFS(vfs)
        return base.pointee.xSleep(base, microseconds)
    }
    vfs.pointee.xCurrentTime = { vfs, out in
        let base = wrappedVFS(vfs)
        return base.pointee.xCurrentTime(base, out)
    }
    vfs.pointee.xGetLastError = { vfs, size, out in
        let base = wrappedVFS(vfs)
        return base.pointee.xGetLastError(base, size, out)
    }
    if base.pointee.iVersion >= 2 {
        vfs.pointee.xCurrentTimeInt64 = { vfs, out in
            let base = wrappedVFS(vfs)
            return base.pointee.xCurrentTimeInt64(base, out)
        }
    }
    if base.pointee.iVersion >= 3 {
        vfs.pointee.xSetSystemCall = { vfs, name, call in
            let base = wrappedVFS(vfs)
            return base.pointee.xSetSystemCall(base, name, call)
        }
        vfs.pointee.xGetSystemCall = { vfs, name in
            let base = wrappedVFS(vfs)
            return base.pointee.xGetSystemCall(base, name)
        }
        vfs.pointee.xNextSystemCall = { vfs, name in
            let base = wrappedVFS(vfs)
            return base.pointee.xNextSystemCall(base, name)
        }
    }
    return sqlite3_vfs_register(vfs, 0) == SQLITE_OK
}()
