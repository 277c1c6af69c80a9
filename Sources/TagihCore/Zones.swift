#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One IANA time zone compiled into a transition table for fast UTC ↔ local conversion.
///
/// Built from a TZif (v1/v2+) file; instants past the file's table follow its POSIX TZ footer, expanded at
/// load time up to `ZoneTable.expandedThroughYear`, so a lookup is one load from a jump table plus a step or
/// two. History before 1970 is dropped: earlier instants get the offset in effect on 1970-01-01.
public final class ZoneTable: @unchecked Sendable, CustomStringConvertible {
    /// The last year for which footer rules are expanded; later instants keep the last offset.
    public static let expandedThroughYear = 2100

    /// The IANA name, e.g. `America/New_York`.
    public let name: String
    /// A small process-wide integer identifying the zone inside its database.
    public let id: Int32
    /// UTC instants at which the offset changes (ascending).
    @usableFromInline let transitions: [Int64]
    /// `offsets[i]` applies from `transitions[i-1]` (inclusive) to `transitions[i]` (exclusive).
    @usableFromInline let offsets: [Int32]
    /// `bucketIndex[k]` = the number of transitions at or before `k << bucketShift` (a jump table that turns
    /// the lookup into one load plus a step or two; nil when the zone has no transitions after 1970).
    @usableFromInline let bucketIndex: [UInt16]
    @usableFromInline static let bucketShift: Int64 = 22  // ~48.5 days

    /// Creates a zone from its transitions; `offsets.count` must be `transitions.count + 1`.
    public init(name: String, id: Int32 = 0, transitions: [Int64], offsets: [Int32]) {
        precondition(offsets.count == transitions.count + 1)
        self.name = name
        self.id = id
        self.transitions = transitions
        self.offsets = offsets
        var index: [UInt16] = []
        if let last = transitions.last, last > 0, transitions.count < Int(UInt16.max) {
            let buckets = Int(last >> Self.bucketShift) + 2
            index.reserveCapacity(buckets)
            var i = 0
            for k in 0..<buckets {
                let start = Int64(k) << Self.bucketShift
                while i < transitions.count, transitions[i] <= start { i += 1 }
                index.append(UInt16(i))
            }
        }
        self.bucketIndex = index
        let t = UnsafeMutablePointer<Int64>.allocate(capacity: max(transitions.count, 1))
        t.initialize(from: transitions, count: transitions.count)
        let o = UnsafeMutablePointer<Int32>.allocate(capacity: offsets.count)
        o.initialize(from: offsets, count: offsets.count)
        let b = UnsafeMutablePointer<UInt16>.allocate(capacity: max(index.count, 1))
        b.initialize(from: index, count: index.count)
        self.rawStorage = UnsafeMutablePointer<RawZone>.allocate(capacity: 1)
        rawStorage.initialize(to: RawZone(table: self, transitions: t, offsets: o, buckets: b,
                                          transitionCount: transitions.count, bucketCount: index.count))
    }

    deinit {
        let r = rawStorage.pointee
        UnsafeMutablePointer(mutating: r.transitions).deallocate()
        UnsafeMutablePointer(mutating: r.offsets).deallocate()
        UnsafeMutablePointer(mutating: r.buckets).deallocate()
        rawStorage.deinitialize(count: 1)
        rawStorage.deallocate()
    }

    /// The table's reference-count-free view (immutable; lives as long as the table).
    let rawStorage: UnsafeMutablePointer<RawZone>

    /// A pointer to the reference-count-free view of this table (its identity is the table's identity).
    @inline(__always) var raw: UnsafePointer<RawZone> { UnsafePointer(rawStorage) }

    /// A zone with one fixed offset (used for tests and `Etc/` zones).
    public convenience init(fixedName name: String, offsetSeconds: Int32, id: Int32 = 0) {
        self.init(name: name, id: id, transitions: [], offsets: [offsetSeconds])
    }

    public var description: String { name }

    @inlinable
    func index(after t: Int64) -> Int {
        let k = t >> Self.bucketShift
        if k >= 0, k < Int64(bucketIndex.count) {
            var i = Int(bucketIndex[Int(k)])
            while i < transitions.count, transitions[i] <= t { i &+= 1 }
            return i
        }
        var lo = 0
        var hi = transitions.count
        while lo < hi {
            let mid = (lo &+ hi) >> 1
            if transitions[mid] <= t { lo = mid &+ 1 } else { hi = mid }
        }
        return lo
    }

    /// The UTC offset in seconds (east positive) in effect at `instant`.
    @inlinable
    public func offset(at instant: UnixSeconds) -> Int32 {
        offsets[index(after: instant)]
    }

    /// The offset at `instant` and the instant at which it next changes (`Int64.max` when it never does).
    @inlinable
    public func offsetSegment(at instant: UnixSeconds) -> (offset: Int32, until: UnixSeconds) {
        let i = index(after: instant)
        return (offsets[i], i < transitions.count ? transitions[i] : Int64.max)
    }

    /// The offset at `instant` with the stretch of time it holds for: `[from, until)`.
    @inlinable
    public func segment(at instant: UnixSeconds) -> (offset: Int32, from: UnixSeconds, until: UnixSeconds) {
        let i = index(after: instant)
        return (offsets[i], i > 0 ? transitions[i - 1] : Int64.min, i < transitions.count ? transitions[i] : Int64.max)
    }

    /// The local wall-clock seconds (seconds since 1970-01-01T00:00 local) at `instant`.
    @inlinable
    public func localSeconds(at instant: UnixSeconds) -> Int64 { instant + Int64(offset(at: instant)) }

    /// The first instant whose local wall time is `local` or, in a DST gap, the first instant after it
    /// (the transition). In a fold (a local time that occurs twice), `later` picks the second occurrence.
    public func instant(forLocal local: Int64, later: Bool = false) -> UnixSeconds {
        raw.pointee.instant(forLocal: local, later: later)
    }
}

/// A plain view of a `ZoneTable` (pointers into its immutable tables): the decision hot path uses it so that
/// no reference counting happens per lookup. Valid as long as its table lives (tables live in their database).
struct RawZone {
    unowned(unsafe) let table: ZoneTable
    let transitions: UnsafePointer<Int64>
    let offsets: UnsafePointer<Int32>
    let buckets: UnsafePointer<UInt16>
    let transitionCount: Int
    let bucketCount: Int

    init(table: ZoneTable, transitions: UnsafePointer<Int64>, offsets: UnsafePointer<Int32>,
         buckets: UnsafePointer<UInt16>, transitionCount: Int, bucketCount: Int)
    {
        self.table = table
        self.transitions = transitions
        self.offsets = offsets
        self.buckets = buckets
        self.transitionCount = transitionCount
        self.bucketCount = bucketCount
    }

    /// Same as `ZoneTable.index(after:)`.
    @inline(__always)
    func index(after t: Int64) -> Int {
        let k = t >> ZoneTable.bucketShift
        if k >= 0, k < Int64(bucketCount) {
            var i = Int(buckets[Int(k)])
            while i < transitionCount, transitions[i] <= t { i &+= 1 }
            return i
        }
        var lo = 0
        var hi = transitionCount
        while lo < hi {
            let mid = (lo &+ hi) >> 1
            if transitions[mid] <= t { lo = mid &+ 1 } else { hi = mid }
        }
        return lo
    }

    @inline(__always)
    func offset(at instant: Int64) -> Int32 { offsets[index(after: instant)] }

    @inline(__always)
    func offsetSegment(at instant: Int64) -> (offset: Int32, until: Int64) {
        let i = index(after: instant)
        return (offsets[i], i < transitionCount ? transitions[i] : Int64.max)
    }

    @inline(__always)
    func segment(at instant: Int64) -> (offset: Int32, from: Int64, until: Int64) {
        let i = index(after: instant)
        return (offsets[i], i > 0 ? transitions[i - 1] : Int64.min, i < transitionCount ? transitions[i] : Int64.max)
    }

    @inline(__always)
    func localSeconds(at instant: Int64) -> Int64 { instant + Int64(offset(at: instant)) }

    /// The first instant whose local wall time is `local` (see `ZoneTable.instant(forLocal:later:)`, which calls this).
    func instant(forLocal local: Int64, later: Bool = false) -> Int64 {
        if transitionCount == 0 { return local - Int64(offsets[0]) }
        let before = offset(at: local - 93_600)
        let after = offset(at: local + 93_600)
        if before == after { return local - Int64(before) }
        let u1 = local - Int64(before)
        let u2 = local - Int64(after)
        let ok1 = offset(at: u1) == before
        let ok2 = offset(at: u2) == after
        switch (ok1, ok2) {
        case (true, true): return later ? max(u1, u2) : min(u1, u2)
        case (true, false): return u1
        case (false, true): return u2
        case (false, false):
            let lo = min(u1, u2)
            let i = index(after: lo)
            return i < transitionCount ? transitions[i] : u1
        }
    }
}

/// Errors while reading the tz database.
public struct ZoneError: Error, Sendable, Hashable, CustomStringConvertible {
    /// `unknown_zone`, `bad_tzif`.
    public var code: String
    /// What went wrong.
    public var message: String
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "\(code): \(message)" }
}

/// Every IANA zone of the system tz database, compiled and interned (immutable after load).
public final class ZoneDatabase: @unchecked Sendable {
    /// The zones by name (links included: `US/Eastern` resolves to its own table).
    public let zonesByName: [String: ZoneTable]
    /// The zones by interned id.
    public let zones: [ZoneTable]
    /// ISO 3166-1 country code → zones (from `zone.tab`).
    public let countryZones: [String: [String]]
    /// Where the database was read from.
    public let directory: String
    /// Open-addressing name index (FNV-1a over UTF-8; cheaper than `Dictionary`'s SipHash on the hot path).
    let slotNames: [String]
    let slotZones: [Int32]
    let slotMask: Int
    /// `slotRaw[i]` is the plain view of the zone in slot `i` (immutable).
    let slotRaw: [UnsafePointer<RawZone>?]
    /// A second open-addressing index over the same names, keyed by their first and last eight bytes and length
    /// (`nameKey`): for names up to 16 bytes the key is the whole name, so one entry compare is the string
    /// compare. Empty entries have slot -1.
    let fastEntries: UnsafeMutablePointer<FastEntry>
    let fastMask: Int
    let fastShift: UInt64
    /// `slotRaw` and `slotBytes` as plain pointers (read on every decision).
    let slotRawPointers: UnsafeMutablePointer<UnsafePointer<RawZone>?>
    let slotBytePointers: UnsafeMutablePointer<(Int, Int)>
    /// The UTF-8 bytes of every slot's name: `(offset into slotByteStore, count)`.
    let slotBytes: [(Int, Int)]
    let slotByteStore: UnsafeMutableBufferPointer<UInt8>

    /// The process-wide database read from `/usr/share/zoneinfo` (or `$TZDIR`).
    public static let system: ZoneDatabase = {
        let dir = getenvString("TZDIR") ?? "/usr/share/zoneinfo"
        return ZoneDatabase(directory: dir)
    }()

    /// Reads every TZif file under `directory` (skipping `posix/`, `right/`).
    public init(directory: String) {
        self.directory = directory
        var names: [String] = []
        Self.walk(directory, prefix: "", into: &names)
        names.sort()
        var byName: [String: ZoneTable] = [:]
        var all: [ZoneTable] = []
        for n in names {
            guard let bytes = readFile(directory + "/" + n), bytes.count > 44, bytes[0] == 0x54, bytes[1] == 0x5A,
                bytes[2] == 0x69, bytes[3] == 0x66
            else { continue }
            if let z = try? TZif.compile(name: n, id: Int32(all.count), bytes: bytes) {
                byName[n] = z
                all.append(z)
            }
        }
        if byName["UTC"] == nil {
            let z = ZoneTable(fixedName: "UTC", offsetSeconds: 0, id: Int32(all.count))
            byName["UTC"] = z
            all.append(z)
        }
        self.zonesByName = byName
        self.zones = all
        (slotNames, slotZones, slotMask) = Self.buildIndex(byName, all)
        slotRaw = Self.rawSlots(slotZones, all)
        (slotBytes, slotByteStore) = Self.byteStore(slotNames)
        (fastEntries, fastMask, fastShift) = Self.fastIndex(slotNames, slotZones)
        slotRawPointers = Self.copy(slotRaw)
        slotBytePointers = Self.copy(slotBytes)
        var cz: [String: [String]] = [:]
        if let tab = readFile(directory + "/zone.tab") {
            for line in String(decoding: tab, as: UTF8.self).split(separator: "\n") {
                if line.hasPrefix("#") { continue }
                let f = line.split(separator: "\t", omittingEmptySubsequences: false)
                if f.count >= 3, byName[String(f[2])] != nil { cz[String(f[0]), default: []].append(String(f[2])) }
            }
        }
        self.countryZones = cz
    }

    /// Creates a database from given tables (tests).
    public init(tables: [ZoneTable], countryZones: [String: [String]] = [:]) {
        var byName: [String: ZoneTable] = [:]
        for t in tables { byName[t.name] = t }
        self.zonesByName = byName
        self.zones = tables
        self.countryZones = countryZones
        self.directory = ""
        (slotNames, slotZones, slotMask) = Self.buildIndex(byName, tables)
        slotRaw = Self.rawSlots(slotZones, tables)
        (slotBytes, slotByteStore) = Self.byteStore(slotNames)
        (fastEntries, fastMask, fastShift) = Self.fastIndex(slotNames, slotZones)
        slotRawPointers = Self.copy(slotRaw)
        slotBytePointers = Self.copy(slotBytes)
    }

    static func buildIndex(_ byName: [String: ZoneTable], _ all: [ZoneTable]) -> ([String], [Int32], Int) {
        var size = 16
        while size < byName.count * 2 { size <<= 1 }
        var names = [String](repeating: "", count: size)
        var ids = [Int32](repeating: -1, count: size)
        let position = Dictionary(uniqueKeysWithValues: all.enumerated().map { (ObjectIdentifier($0.element), $0.offset) })
        for (name, table) in byName.sorted(by: { $0.key < $1.key }) {
            guard let p = position[ObjectIdentifier(table)] else { continue }
            var i = Int(truncatingIfNeeded: nameHash(name)) & (size - 1)
            while ids[i] >= 0 { i = (i + 1) & (size - 1) }
            names[i] = name
            ids[i] = Int32(p)
        }
        return (names, ids, size - 1)
    }

    @inline(__always)
    static func nameHash(_ name: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        if let r = name.utf8.withContiguousStorageIfAvailable({ buf -> UInt64 in
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for b in buf { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            return h
        }) {
            return r
        }
        for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    /// Whether `n` bytes at `a` and `b` are equal (8 bytes at a time).
    @inline(__always)
    static func sameBytes(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        var i = 0
        while i + 8 <= n {
            if ra.loadUnaligned(fromByteOffset: i, as: UInt64.self) != rb.loadUnaligned(fromByteOffset: i, as: UInt64.self) {
                return false
            }
            i += 8
        }
        while i < n {
            if a[i] != b[i] { return false }
            i += 1
        }
        return true
    }

    /// One entry of the fast name index.
    struct FastEntry {
        var head: UInt64
        var tail: UInt64
        var count: Int
        var slot: Int
    }

    /// The key of a name of `n` UTF-8 bytes at `p`: its first and last eight bytes (they overlap below 16 bytes),
    /// or its bytes in one word below eight.
    @inline(__always)
    static func nameKey(_ p: UnsafePointer<UInt8>, _ n: Int) -> (head: UInt64, tail: UInt64) {
        let raw = UnsafeRawPointer(p)
        if n >= 8 {
            return (raw.loadUnaligned(as: UInt64.self), raw.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self))
        }
        var w: UInt64 = 0
        for i in 0..<n { w |= UInt64(p[i]) << UInt64(8 * i) }
        return (w, 0)
    }

    /// The hash of a key (its top bits pick the entry).
    @inline(__always)
    static func keyHash(_ head: UInt64, _ tail: UInt64, _ n: Int) -> UInt64 {
        ((head ^ UInt64(truncatingIfNeeded: n)) &* 0x9E37_79B9_7F4A_7C15) ^ (tail &* 0xFF51_AFD7_ED55_8CCD)
    }

    static func fastIndex(_ names: [String], _ ids: [Int32]) -> (UnsafeMutablePointer<FastEntry>, Int, UInt64) {
        var size = 16
        var bits: UInt64 = 4
        while size < names.count * 2 {
            size <<= 1
            bits += 1
        }
        let shift = 64 - bits
        var entries = [FastEntry](repeating: FastEntry(head: 0, tail: 0, count: 0, slot: -1), count: size)
        for (slot, name) in names.enumerated() where ids[slot] >= 0 {
            var bytes = Array(name.utf8)
            let key = bytes.withUnsafeMutableBufferPointer { nameKey($0.baseAddress!, $0.count) }
            var i = Int(truncatingIfNeeded: keyHash(key.head, key.tail, bytes.count) >> shift)
            while entries[i].slot >= 0 { i = (i + 1) & (size - 1) }
            entries[i] = FastEntry(head: key.head, tail: key.tail, count: bytes.count, slot: slot)
            bytes.removeAll()
        }
        return (copy(entries), size - 1, shift)
    }

    static func byteStore(_ names: [String]) -> ([(Int, Int)], UnsafeMutableBufferPointer<UInt8>) {
        var bytes: [UInt8] = []
        var ranges: [(Int, Int)] = []
        for n in names {
            ranges.append((bytes.count, n.utf8.count))
            bytes.append(contentsOf: n.utf8)
        }
        let store = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(bytes.count, 1))
        _ = store.initialize(from: bytes)
        return (ranges, store)
    }

    deinit {
        slotByteStore.deallocate()
        fastEntries.deallocate()
        slotRawPointers.deallocate()
        slotBytePointers.deallocate()
    }

    static func copy<T>(_ a: [T]) -> UnsafeMutablePointer<T> {
        let p = UnsafeMutablePointer<T>.allocate(capacity: max(a.count, 1))
        p.initialize(from: a, count: a.count)
        return p
    }

    static func rawSlots(_ ids: [Int32], _ all: [ZoneTable]) -> [UnsafePointer<RawZone>?] {
        ids.map { $0 >= 0 ? all[Int($0)].raw : nil }
    }

    /// The plain view of the zone named `name` (same lookup as `zone(named:)`, without reference counting).
    func rawZone(named name: String) -> UnsafePointer<RawZone>? {
        // A contiguous ASCII name (every IANA name) is compared byte by byte: for ASCII strings that is
        // string equality. Anything else takes the general path.
        // Equal bytes are equal strings, so a hit is final whatever the name; a miss is final for an ASCII name
        // (checked only then).
        let fast = name.utf8.withContiguousStorageIfAvailable { buf -> (found: Bool, zone: UnsafePointer<RawZone>?) in
            guard let p = buf.baseAddress else { return (false, nil) }
            let n = buf.count
            let key = Self.nameKey(p, n)
            var i = Int(truncatingIfNeeded: Self.keyHash(key.head, key.tail, n) >> fastShift)
            while true {
                let entry = fastEntries[i]
                if entry.slot < 0 { break }
                // Equal keys and lengths: equal names up to 16 bytes; longer ones compare their middle bytes.
                if entry.head == key.head && entry.tail == key.tail && entry.count == n
                    && (n <= 16 || Self.sameBytes(slotByteStore.baseAddress! + slotBytePointers[entry.slot].0 + 8,
                                                  p + 8, n - 16))
                {
                    return (true, slotRawPointers[entry.slot])
                }
                i = (i + 1) & fastMask
            }
            var ascii: UInt8 = 0
            for b in buf { ascii |= b }
            return (ascii < 0x80, nil)
        }
        if let fast, fast.found { return fast.zone }
        var i = Int(truncatingIfNeeded: Self.nameHash(name)) & slotMask
        while true {
            if slotZones[i] < 0 { return nil }
            if slotNames[i] == name { return slotRaw[i] }
            i = (i + 1) & slotMask
        }
    }

    /// The zone named `name`, or nil when the tz database has no such zone.
    public func zone(named name: String) -> ZoneTable? {
        var i = Int(truncatingIfNeeded: Self.nameHash(name)) & slotMask
        while true {
            let id = slotZones[i]
            if id < 0 { return nil }
            if slotNames[i] == name { return zones[Int(id)] }
            i = (i + 1) & slotMask
        }
    }

    private static func walk(_ dir: String, prefix: String, into names: inout [String]) {
        guard let d = opendir(dir) else { return }
        defer { closedir(d) }
        while let entry = readdir(d) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name.hasPrefix(".") || name == "posix" || name == "right" || name == "posixrules"
                || name == "localtime" || name == "Factory"
            {
                continue
            }
            let path = dir + "/" + name
            var st = stat()
            guard stat(path, &st) == 0 else { continue }
            let rel = prefix.isEmpty ? name : prefix + "/" + name
            if (st.st_mode & S_IFMT) == S_IFDIR {
                walk(path, prefix: rel, into: &names)
            } else if (st.st_mode & S_IFMT) == S_IFREG, name.first?.isUppercase == true || prefix != "" {
                names.append(rel)
            }
        }
    }
}

func getenvString(_ name: String) -> String? {
    guard let p = getenv(name) else { return nil }
    let s = String(cString: p)
    return s.isEmpty ? nil : s
}

/// Reads a whole file; nil when it cannot be read.
func readFile(_ path: String) -> [UInt8]? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65_536)
    while true {
        let n = buf.withUnsafeMutableBytes { fread($0.baseAddress, 1, 65_536, f) }
        if n <= 0 { break }
        out.append(contentsOf: buf[0..<n])
    }
    return out
}

/// TZif parsing (RFC 8536) and POSIX TZ footer expansion.
enum TZif {
    static func compile(name: String, id: Int32, bytes: [UInt8]) throws(ZoneError) -> ZoneTable {
        var p = 0
        func be32(_ i: Int) -> Int64 {
            Int64(Int32(bitPattern: UInt32(bytes[i]) << 24 | UInt32(bytes[i + 1]) << 16 | UInt32(bytes[i + 2]) << 8
                | UInt32(bytes[i + 3])))
        }
        func be64(_ i: Int) -> Int64 {
            var v: UInt64 = 0
            for k in 0..<8 { v = v << 8 | UInt64(bytes[i + k]) }
            return Int64(bitPattern: v)
        }
        func header(_ at: Int) throws(ZoneError) -> (Int, Int, Int, Int, Int, Int) {
            guard at + 44 <= bytes.count, bytes[at] == 0x54, bytes[at + 1] == 0x5A else {
                throw ZoneError(code: "bad_tzif", message: "\(name): bad TZif header")
            }
            return (Int(be32(at + 20)), Int(be32(at + 24)), Int(be32(at + 28)), Int(be32(at + 32)),
                    Int(be32(at + 36)), Int(be32(at + 40)))
        }
        let version = bytes[4]
        var (isut, isstd, leap, timecnt, typecnt, charcnt) = try header(0)
        var timeSize = 4
        p = 44
        if version >= 0x32 {
            p += timecnt * 4 + timecnt + typecnt * 6 + charcnt + leap * 8 + isstd + isut
            (isut, isstd, leap, timecnt, typecnt, charcnt) = try header(p)
            p += 44
            timeSize = 8
        }
        guard typecnt > 0,
            p + timecnt * timeSize + timecnt + typecnt * 6 + charcnt + leap * (timeSize + 4) + isstd + isut
                <= bytes.count
        else { throw ZoneError(code: "bad_tzif", message: "\(name): truncated TZif data") }
        var times: [Int64] = []
        times.reserveCapacity(timecnt)
        for i in 0..<timecnt { times.append(timeSize == 8 ? be64(p + i * 8) : be32(p + i * 4)) }
        p += timecnt * timeSize
        let idx = Array(bytes[p..<(p + timecnt)])
        p += timecnt
        var typeOffsets: [Int32] = []
        for i in 0..<typecnt { typeOffsets.append(Int32(truncatingIfNeeded: be32(p + i * 6))) }
        p += typecnt * 6 + charcnt + leap * (timeSize + 4) + isstd + isut
        var footer = ""
        if version >= 0x32, p < bytes.count, bytes[p] == 0x0A {
            if let end = bytes[(p + 1)...].firstIndex(of: 0x0A) {
                footer = String(decoding: bytes[(p + 1)..<end], as: UTF8.self)
            }
        }
        // Raw table, then drop transitions that do not change the offset.
        var trans: [Int64] = []
        var offs: [Int32] = [typeOffsets[0]]
        for i in 0..<timecnt {
            let o = typeOffsets[Int(idx[i]) < typecnt ? Int(idx[i]) : 0]
            if o != offs[offs.count - 1] {
                trans.append(times[i])
                offs.append(o)
            }
        }
        if !footer.isEmpty, let rule = PosixTZ(footer) {
            let lastT = trans.last ?? Int64.min
            if let dst = rule.dst {
                let startYear = trans.isEmpty ? 1970 : CivilTime.date(ofDay: CivilTime.day(ofLocalSeconds: lastT)).year
                for year in startYear...ZoneTable.expandedThroughYear {
                    var pair = [
                        (rule.transitionLocal(dst.start, year: year) - Int64(rule.stdOffset), dst.offset),
                        (rule.transitionLocal(dst.end, year: year) - Int64(dst.offset), rule.stdOffset),
                    ]
                    pair.sort { $0.0 < $1.0 }
                    for (t, o) in pair where t > lastT && o != offs[offs.count - 1] {
                        trans.append(t)
                        offs.append(o)
                    }
                }
            } else if rule.stdOffset != offs[offs.count - 1], let l = trans.last {
                // A fixed rule after the table that differs from the last type: applies after the last transition.
                _ = l
                offs[offs.count - 1] = rule.stdOffset
            } else if trans.isEmpty {
                offs[0] = rule.stdOffset
            }
        }
        // Keep the table small: drop history before 1970 (the offset in effect at 1970 becomes the initial one).
        var first = 0
        while first < trans.count, trans[first] <= 0 { first += 1 }
        if first > 0 {
            trans.removeFirst(first)
            offs.removeFirst(first)
        }
        return ZoneTable(name: name, id: id, transitions: trans, offsets: offs)
    }
}

/// A POSIX TZ string such as `EST5EDT,M3.2.0,M11.1.0` (the TZif v2+ footer).
struct PosixTZ {
    enum RuleDate {
        case month(month: Int, week: Int, weekday: Int)  // Mm.w.d, weekday 0 = Sunday
        case julian1(Int)  // Jn, 1...365, Feb 29 never counted
        case julian0(Int)  // n, 0...365
    }
    struct Rule {
        var date: RuleDate
        var time: Int  // seconds after local midnight (may be negative or > 24 h)
    }
    struct DST {
        var offset: Int32
        var start: Rule
        var end: Rule
    }
    var stdOffset: Int32
    var dst: DST?

    init?(_ s: String) {
        let b = Array(s.utf8)
        var i = 0
        func name() -> Bool {
            if i < b.count, b[i] == UInt8(ascii: "<") {
                while i < b.count, b[i] != UInt8(ascii: ">") { i += 1 }
                guard i < b.count else { return false }
                i += 1
                return true
            }
            let s = i
            while i < b.count, (b[i] >= 65 && b[i] <= 90) || (b[i] >= 97 && b[i] <= 122) { i += 1 }
            return i - s >= 3
        }
        func num() -> Int? {
            var v = 0
            let s = i
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                v = v * 10 + Int(b[i] - 48)
                i += 1
            }
            return i > s ? v : nil
        }
        func time() -> Int? {
            var sign = 1
            if i < b.count, b[i] == UInt8(ascii: "+") { i += 1 } else if i < b.count, b[i] == UInt8(ascii: "-") {
                sign = -1
                i += 1
            }
            guard let h = num() else { return nil }
            var t = h * 3600
            if i < b.count, b[i] == UInt8(ascii: ":") {
                i += 1
                guard let m = num() else { return nil }
                t += m * 60
                if i < b.count, b[i] == UInt8(ascii: ":") {
                    i += 1
                    guard let sec = num() else { return nil }
                    t += sec
                }
            }
            return sign * t
        }
        func rule() -> Rule? {
            var date: RuleDate
            if i < b.count, b[i] == UInt8(ascii: "M") {
                i += 1
                guard let m = num(), i < b.count, b[i] == UInt8(ascii: ".") else { return nil }
                i += 1
                guard let w = num(), i < b.count, b[i] == UInt8(ascii: ".") else { return nil }
                i += 1
                guard let d = num() else { return nil }
                date = .month(month: m, week: w, weekday: d)
            } else if i < b.count, b[i] == UInt8(ascii: "J") {
                i += 1
                guard let n = num() else { return nil }
                date = .julian1(n)
            } else {
                guard let n = num() else { return nil }
                date = .julian0(n)
            }
            var t = 7200
            if i < b.count, b[i] == UInt8(ascii: "/") {
                i += 1
                guard let tt = time() else { return nil }
                t = tt
            }
            return Rule(date: date, time: t)
        }
        guard name(), let std = time() else { return nil }
        stdOffset = Int32(-std)
        if i >= b.count {
            dst = nil
            return
        }
        guard name() else { return nil }
        var dstOff = stdOffset + 3600
        if i < b.count, b[i] != UInt8(ascii: ",") {
            guard let d = time() else { return nil }
            dstOff = Int32(-d)
        }
        guard i < b.count, b[i] == UInt8(ascii: ","), ({ i += 1; return true })(), let r1 = rule(),
            i < b.count, b[i] == UInt8(ascii: ","), ({ i += 1; return true })(), let r2 = rule()
        else { return nil }
        dst = DST(offset: dstOff, start: r1, end: r2)
    }

    /// The local wall seconds (in the offset in effect before the transition) of a rule in `year`.
    func transitionLocal(_ r: Rule, year: Int) -> Int64 {
        var day: Int64
        switch r.date {
        case .month(let m, let w, let d):
            let first = CivilTime.dayNumber(year: year, month: m, day: 1)
            let wdFirst = CivilTime.weekday(ofDay: first) % 7  // 0 = Sunday
            var dom = 1 + (d - wdFirst + 7) % 7 + (w - 1) * 7
            let dim = CivilTime.daysInMonth(year: year, month: m)
            while dom > dim { dom -= 7 }
            day = first + Int64(dom - 1)
        case .julian1(let n):
            day = CivilTime.dayNumber(year: year, month: 1, day: 1) + Int64(n - 1)
            if CivilTime.isLeapYear(year) && n >= 60 { day += 1 }
        case .julian0(let n):
            day = CivilTime.dayNumber(year: year, month: 1, day: 1) + Int64(n)
        }
        return day * 86_400 + Int64(r.time)
    }
}
