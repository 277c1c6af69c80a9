import TagihCore
import TagihStore

/// Strings that repeat across debtors (zones, segments, currencies, jurisdictions), numbered once per shard.
/// Id 0 stands for nil.
struct Interner {
    private(set) var strings: [String] = [""]
    private var ids: [String: UInt16] = [:]

    /// The id of `text` (0 for nil), or nil when the table (65,535 entries) is full.
    mutating func id(_ text: String?) -> UInt16? {
        guard let text else { return 0 }
        if let id = ids[text] { return id }
        guard strings.count < Int(UInt16.max) else { return nil }
        let id = UInt16(strings.count)
        strings.append(text)
        utf8.append(Array(text.utf8))
        ids[text] = id
        return id
    }

    func existingID(_ text: String) -> UInt16? { ids[text] }

    /// FNV-1a of a string's UTF-8 → its id, so recovery can intern straight from stored bytes.
    private var byHash: [UInt64: UInt16] = [:]
    /// A direct-mapped cache in front of `byHash` (low hash bits → id; 0 = empty): the few distinct zones,
    /// segments and currencies of a population are found with one hash, one load and one memcmp.
    private var recent = [UInt16](repeating: 0, count: 256)
    /// The UTF-8 bytes of every interned string, for comparing without going through `String`.
    private var utf8: [[UInt8]] = [[]]

    /// The id of the UTF-8 string in `bytes` (interning it when new); nil when the table is full.
    mutating func id(bytes: UnsafeRawBufferPointer) -> UInt16? {
        let slot = Self.cacheSlot(bytes)
        let cached = recent[slot]
        if cached != 0 && matches(cached, bytes) { return cached }
        let hash = stableHash(bytes)
        if let id = byHash[hash], matches(id, bytes) {
            recent[slot] = id
            return id
        }
        guard let id = id(String(decoding: bytes, as: UTF8.self)) else { return nil }
        byHash[hash] = id
        recent[slot] = id
        return id
    }

    /// The cache slot of a string: its length and last eight bytes, mixed (cheaper than hashing every byte;
    /// names that share a prefix, like zones, differ at the end).
    @inline(__always) private static func cacheSlot(_ bytes: UnsafeRawBufferPointer) -> Int {
        var tail: UInt64 = 0
        let n = bytes.count
        if n >= 8 {
            tail = bytes.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
        } else {
            for i in 0..<n { tail = tail << 8 | UInt64(bytes[i]) }
        }
        let mixed = (tail ^ UInt64(n)) &* 0x9E37_79B9_7F4A_7C15
        return Int(truncatingIfNeeded: mixed >> 56)
    }

    private func matches(_ id: UInt16, _ bytes: UnsafeRawBufferPointer) -> Bool {
        let stored = utf8[Int(id)]
        return stored.count == bytes.count && stored.withUnsafeBytes { memcmpEqual($0, bytes) }
    }

    func string(_ id: UInt16) -> String? { id == 0 ? nil : strings[Int(id)] }
}

/// Debtor records packed into one byte array per shard: the id and phone numbers inline, repeated strings
/// interned. A record is found by its offset; a replaced record leaves garbage that compaction reclaims.
///
/// Layout: id (u8 length + bytes), zone u16, status u8, segment u16, phone count u8, per phone: number
/// (u8 length + bytes), kind u8, owner u8 (bit 7: opted out), zone u16; debt count u8, per debt: id (u8 length + bytes),
/// balance i64, currency u16; quiet count u8, per quiet time: day mask u8, from u16, to u16.
struct DebtorArena {
    var bytes: [UInt8] = []
    var strings = Interner()
    /// Bytes that belong to replaced records.
    var garbage = 0

    static let statuses = DebtorStatus.allCases
    static let kinds = PhoneKind.allCases
    static let owners = PhoneOwner.allCases

    enum EncodeError: Error {
        case tooLong(String)
        case tooManyValues
    }

    /// Appends a debtor; returns its offset and length.
    mutating func append(_ d: Debtor) throws(EncodeError) -> (offset: UInt32, length: UInt16) {
        let start = bytes.count
        do throws(EncodeError) {
            try appendString(d.id, field: "id")
            try appendID(d.zone)
            bytes.append(UInt8(Self.statuses.firstIndex(of: d.status)!))
            try appendID(d.segment)
            guard d.phones.count < 256, d.debts.count < 256, d.quiet.count < 256 else {
                throw EncodeError.tooLong("phones, debts or quiet (at most 255 each)")
            }
            bytes.append(UInt8(d.phones.count))
            for p in d.phones {
                try appendString(p.number, field: "phones.number")
                bytes.append(UInt8(Self.kinds.firstIndex(of: p.kind)!))
                bytes.append(UInt8(Self.owners.firstIndex(of: p.owner)!) | (p.optedOut ? 0x80 : 0))
                try appendID(p.zone)
            }
            bytes.append(UInt8(d.debts.count))
            for debt in d.debts {
                try appendString(debt.id, field: "debts.id")
                let raw = UInt64(bitPattern: debt.balance.tenThousandths)
                for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: raw >> UInt64(shift))) }
                try appendID(debt.currency)
            }
            bytes.append(UInt8(d.quiet.count))
            for q in d.quiet {
                var mask: UInt8 = 0
                for day in q.days where (1...7).contains(day) { mask |= 1 << UInt8(day - 1) }
                bytes.append(mask)
                append16(UInt16(clamping: max(0, q.fromMinute)))
                append16(UInt16(clamping: max(0, q.toMinute)))
            }
        } catch {
            bytes.removeSubrange(start...)
            throw error
        }
        let length = bytes.count - start
        guard length <= Int(UInt16.max) else {
            bytes.removeSubrange(start...)
            throw EncodeError.tooLong("record (at most 65,535 bytes packed)")
        }
        return (UInt32(start), UInt16(length))
    }

    private mutating func appendString(_ s: String, field: String) throws(EncodeError) {
        let utf8 = s.utf8
        guard utf8.count < 256 else { throw EncodeError.tooLong(field + " (at most 255 bytes)") }
        bytes.append(UInt8(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    private mutating func appendID(_ s: String?) throws(EncodeError) {
        guard let id = strings.id(s) else { throw EncodeError.tooManyValues }
        append16(id)
    }

    private mutating func append16(_ v: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: v))
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
    }

    /// Appends a record straight from the store's encoding (`RecordCoding`), without building a `Debtor`.
    /// Returns its offset, the id's bytes range within `stored`, and the jurisdiction's bytes range.
    mutating func appendStored(_ stored: UnsafeRawBufferPointer) throws(StoreError)
        -> (offset: UInt32, id: Range<Int>, jurisdiction: Range<Int>)
    {
        var r = ByteReader(stored)
        let start = bytes.count
        func copyString(_ range: Range<Int>) throws(StoreError) {
            guard range.count < 256 else {
                throw StoreError(code: .corruptRecord, message: "a stored string is longer than 255 bytes")
            }
            bytes.append(UInt8(range.count))
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: stored[range]))
        }
        func intern(_ range: Range<Int>?) throws(StoreError) {
            guard let range else { return append16(0) }
            guard let id = strings.id(bytes: UnsafeRawBufferPointer(rebasing: stored[range])) else {
                throw StoreError(code: .corruptRecord, message: "more than 65,535 distinct interned values")
            }
            append16(id)
        }
        func optional(_ r: inout ByteReader) throws(StoreError) -> Range<Int>? {
            try r.readUInt8() == 0 ? nil : try r.readStringRange()
        }
        func code(_ range: Range<Int>, _ table: [[UInt8]]) throws(StoreError) -> UInt8 {
            let raw = UnsafeRawBufferPointer(rebasing: stored[range])
            guard let i = table.firstIndex(where: { name in
                name.count == raw.count && name.withUnsafeBytes { memcmpEqual($0, raw) }
            }) else {
                throw StoreError(code: .corruptRecord, message: "unknown enumeration value in a stored debtor")
            }
            return UInt8(i)
        }
        do throws(StoreError) {
            let id = try r.readStringRange()
            try copyString(id)
            let jurisdiction = try r.readStringRange()
            try intern(try optional(&r))  // zone
            bytes.append(try code(try r.readStringRange(), Self.statusNames))
            try intern(try optional(&r))  // segment
            let phones = try r.readUInt8()
            bytes.append(phones)
            for _ in 0..<phones {
                try copyString(try r.readStringRange())
                bytes.append(try code(try r.readStringRange(), Self.kindNames))
                let owner = try code(try r.readStringRange(), Self.ownerNames)
                let zone = try optional(&r)
                let optedOut = try r.readUInt8() != 0
                bytes.append(owner | (optedOut ? 0x80 : 0))
                try intern(zone)
            }
            let debts = try r.readUInt8()
            bytes.append(debts)
            for _ in 0..<debts {
                try copyString(try r.readStringRange())
                let raw = UInt64(bitPattern: try r.readInt64())
                for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: raw >> UInt64(shift))) }
                try intern(try r.readStringRange())
            }
            let quiet = try r.readUInt8()
            bytes.append(quiet)
            for _ in 0..<quiet {
                bytes.append(try r.readUInt8())
                append16(try r.readUInt16())
                append16(try r.readUInt16())
            }
            return (UInt32(start), id, jurisdiction)
        } catch {
            bytes.removeSubrange(start...)
            throw error
        }
    }

    static let statusNames = DebtorStatus.allCases.map { Array($0.rawValue.utf8) }
    static let kindNames = PhoneKind.allCases.map { Array($0.rawValue.utf8) }
    static let ownerNames = PhoneOwner.allCases.map { Array($0.rawValue.utf8) }

    // MARK: reading

    @inline(__always) private func u16(_ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }

    private func string(_ at: inout Int) -> String {
        let n = Int(bytes[at])
        let s = bytes.withUnsafeBufferPointer { String(decoding: $0[(at + 1)..<(at + 1 + n)], as: UTF8.self) }
        at += 1 + n
        return s
    }

    /// Whether the id of the record at `offset` equals `id`.
    func idEquals(at offset: UInt32, _ id: UnsafeRawBufferPointer) -> Bool {
        let at = Int(offset)
        let n = Int(bytes[at])
        guard n == id.count else { return false }
        return bytes.withUnsafeBufferPointer { buffer in
            memcmpEqual(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[(at + 1)..<(at + 1 + n)]), id)
        }
    }

    /// The hash of the id of the record at `offset`.
    func idHash(at offset: UInt32) -> UInt64 {
        let at = Int(offset)
        let n = Int(bytes[at])
        return bytes.withUnsafeBytes { stableHash(UnsafeRawBufferPointer(rebasing: $0[(at + 1)..<(at + 1 + n)])) }
    }

    /// The id of the record at `offset`.
    func id(at offset: UInt32) -> String {
        var at = Int(offset)
        return string(&at)
    }

    /// The debtor at `offset` (its jurisdiction is kept apart, in the slot).
    func debtor(at offset: UInt32, jurisdiction: String) -> Debtor {
        var d = Debtor(id: "", jurisdiction: "", phones: [], debts: [])
        decode(at: offset, jurisdiction: jurisdiction, into: &d)
        return d
    }

    /// Decodes the debtor at `offset` into `d`, replacing every field: the same value as `debtor(at:jurisdiction:)`,
    /// reusing the storage of `d`'s phone, debt and quiet-time arrays when they are uniquely referenced (a shard
    /// decodes a debtor per decision into one scratch value: no allocation per decision).
    func decode(at offset: UInt32, jurisdiction: String, into d: inout Debtor) {
        var at = Int(offset)
        d.id = string(&at)
        d.jurisdiction = jurisdiction
        d.zone = strings.string(u16(at))
        at += 2
        d.status = Self.statuses[Int(bytes[at])]
        at += 1
        d.segment = strings.string(u16(at))
        at += 2
        let phoneCount = Int(bytes[at])
        at += 1
        d.phones.removeAll(keepingCapacity: true)
        d.phones.reserveCapacity(phoneCount)
        for _ in 0..<phoneCount {
            let number = string(&at)
            let kind = Self.kinds[Int(bytes[at])]
            let owner = Self.owners[Int(bytes[at + 1] & 0x7F)]
            let optedOut = bytes[at + 1] & 0x80 != 0
            let phoneZone = strings.string(u16(at + 2))
            at += 4
            d.phones.append(Phone(number: number, kind: kind, zone: phoneZone, owner: owner, optedOut: optedOut))
        }
        let debtCount = Int(bytes[at])
        at += 1
        d.debts.removeAll(keepingCapacity: true)
        d.debts.reserveCapacity(debtCount)
        for _ in 0..<debtCount {
            let debtID = string(&at)
            var raw: UInt64 = 0
            for i in 0..<8 { raw |= UInt64(bytes[at + i]) << UInt64(8 * i) }
            at += 8
            let currency = strings.string(u16(at)) ?? ""
            at += 2
            d.debts.append(Debt(id: debtID, balance: Money(tenThousandths: Int64(bitPattern: raw)), currency: currency))
        }
        let quietCount = Int(bytes[at])
        at += 1
        d.quiet.removeAll(keepingCapacity: true)
        for _ in 0..<quietCount {
            let mask = bytes[at]
            let from = Int(u16(at + 1))
            let to = Int(u16(at + 3))
            at += 5
            d.quiet.append(QuietTime(days: (1...7).filter { mask & (1 << UInt8($0 - 1)) != 0 }, fromMinute: from,
                                     toMinute: to))
        }
    }

    /// The id of debt number `index` and the number of phone number `phone` of the record at `offset`.
    func debtAndPhone(at offset: UInt32, debt index: Int, phone: Int) -> (debt: String, phone: String) {
        var at = Int(offset)
        at += 1 + Int(bytes[at])  // id
        at += 5  // zone, status, segment
        let phoneCount = Int(bytes[at])
        at += 1
        var number = ""
        for i in 0..<phoneCount {
            if i == phone { number = string(&at) } else { at += 1 + Int(bytes[at]) }
            at += 4
        }
        let debtCount = Int(bytes[at])
        at += 1
        var debtID = ""
        for i in 0..<debtCount {
            if i == index {
                debtID = string(&at)
                break
            }
            at += 1 + Int(bytes[at]) + 10
        }
        return (debtID, number)
    }

    /// Whether the record at `offset` has a debt with id `debt`.
    func hasDebt(at offset: UInt32, _ debt: String) -> Bool { debtEntry(at: offset, debt) != nil }

    /// Whether the record at `offset` lists phone `number` (whatever its owner, kind or opt-out).
    func hasPhone(at offset: UInt32, _ number: String) -> Bool {
        var at = Int(offset)
        at += 1 + Int(bytes[at]) + 5
        let phoneCount = Int(bytes[at])
        at += 1
        var number = number
        return number.withUTF8 { utf8 -> Bool in
            let raw = UnsafeRawBufferPointer(utf8)
            for _ in 0..<phoneCount {
                if idEquals(at: UInt32(at), raw) { return true }
                at += 1 + Int(bytes[at]) + 4
            }
            return false
        }
    }

    /// Where debt `debt`'s entry (id, balance, currency) starts in the record at `offset`, or nil.
    private func debtEntry(at offset: UInt32, _ debt: String) -> Int? {
        var at = Int(offset)
        at += 1 + Int(bytes[at]) + 5
        let phoneCount = Int(bytes[at])
        at += 1
        for _ in 0..<phoneCount { at += 1 + Int(bytes[at]) + 4 }
        let debtCount = Int(bytes[at])
        at += 1
        var id = debt
        return id.withUTF8 { utf8 -> Int? in
            let raw = UnsafeRawBufferPointer(utf8)
            for _ in 0..<debtCount {
                if idEquals(at: UInt32(at), raw) { return at }
                at += 1 + Int(bytes[at]) + 10
            }
            return nil
        }
    }

    /// The currency of debt `debt` of the record at `offset`, or nil when the record has no such debt.
    func currency(at offset: UInt32, debt: String) -> String? {
        guard let at = debtEntry(at: offset, debt) else { return nil }
        return strings.string(u16(at + 1 + Int(bytes[at]) + 8))
    }

    /// The packed length of the record at `offset`.
    func recordLength(at offset: UInt32) -> Int {
        var at = Int(offset)
        at += 1 + Int(bytes[at]) + 5
        let phoneCount = Int(bytes[at])
        at += 1
        for _ in 0..<phoneCount { at += 1 + Int(bytes[at]) + 4 }
        let debtCount = Int(bytes[at])
        at += 1
        for _ in 0..<debtCount { at += 1 + Int(bytes[at]) + 10 }
        at += 1 + 5 * Int(bytes[at])
        return at - Int(offset)
    }

    /// Moves every live record into a fresh array and updates the slots' offsets.
    mutating func compact(_ records: inout [Slot]) {
        var fresh: [UInt8] = []
        fresh.reserveCapacity(bytes.count - garbage + bytes.count / 8)
        for i in records.indices {
            let start = Int(records[i].blob)
            let end = start + recordLength(at: records[i].blob)
            records[i].blob = UInt32(fresh.count)
            fresh.append(contentsOf: bytes[start..<end])
        }
        bytes = fresh
        garbage = 0
    }
}

@inline(__always)
func memcmpEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    for i in 0..<a.count where a[i] != b[i] { return false }
    return true
}

/// Open-addressing hash table from debtor id to slot index; keys are compared against the arena, so the
/// table itself holds only 4 bytes per bucket.
struct IDIndex {
    private(set) var buckets: [UInt32] = Array(repeating: 0, count: 1024)  // 0 = empty, else slot + 1
    private(set) var count = 0

    private static func bucket(_ hash: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (hash &* 0x9E37_79B9_7F4A_7C15) >> 20) & mask
    }

    func find(hash: UInt64, matches: (UInt32) -> Bool) -> UInt32? {
        let mask = buckets.count - 1
        var i = Self.bucket(hash, mask)
        while true {
            let v = buckets[i]
            if v == 0 { return nil }
            if matches(v - 1) { return v - 1 }
            i = (i + 1) & mask
        }
    }

    /// The first slot `find(hash:matches:)` would compare for `hash` (nil when its bucket is empty); for prefetching.
    @inline(__always) func firstCandidate(hash: UInt64) -> UInt32? {
        let v = buckets[Self.bucket(hash, buckets.count - 1)]
        return v == 0 ? nil : v - 1
    }

    /// Asks for the cache line of `hash`'s first bucket (a hint; see `Prefetch`).
    @inline(__always) func prefetch(hash: UInt64) {
        buckets.withUnsafeBufferPointer { b in
            Prefetch.read(UnsafeRawPointer(b.baseAddress! + Self.bucket(hash, b.count - 1)))
        }
    }

    /// Inserts a slot known to be absent; `rehash` gives the hash of any slot (used when growing).
    mutating func insert(hash: UInt64, slot: UInt32, rehash: (UInt32) -> UInt64) {
        if (count + 1) * 10 > buckets.count * 7 {
            let old = buckets
            buckets = Array(repeating: 0, count: old.count * 2)
            count = 0
            for v in old where v != 0 { place(Self.bucket(rehash(v - 1), buckets.count - 1), v) }
        }
        place(Self.bucket(hash, buckets.count - 1), slot + 1)
    }

    private mutating func place(_ start: Int, _ value: UInt32) {
        let mask = buckets.count - 1
        var i = start
        while buckets[i] != 0 { i = (i + 1) & mask }
        buckets[i] = value
        count += 1
    }

    /// Replaces the table with one holding slots `0..<n`, sized for them at once (recovery loads every record
    /// first and indexes them in one pass, in slot order: no growth, no rehashing).
    mutating func rebuild(count n: Int, hash: (UInt32) -> UInt64) {
        var size = 1024
        while n * 10 > size * 7 { size *= 2 }
        buckets = Array(repeating: 0, count: size)
        count = 0
        for i in 0..<n { place(Self.bucket(hash(UInt32(i)), size - 1), UInt32(i) + 1) }
    }

    mutating func reserve(_ n: Int) {
        var size = buckets.count
        while n * 10 > size * 7 { size *= 2 }
        if size != buckets.count {
            // Growing happens on the next insert through `rehash`; only pre-size when empty.
            if count == 0 { buckets = Array(repeating: 0, count: size) }
        }
    }
}
