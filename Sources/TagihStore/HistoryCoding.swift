import TagihCore

/// One row of the history checkpoint (table `history_state`, migration v3): a debtor's history as the engine
/// keeps it, so a restart need not replay the debtor's events from the start of the log.
public struct HistoryRow: Sendable, Hashable {
    /// The debtor id.
    public var debtor: String
    /// A log position at or after every event the history holds (the engine writes the debtor's last change, its
    /// decision basis). At recovery, an event of this debtor logged after the history floor and at or before
    /// this position may already be in the row, and is applied only when it is not (see ``HistoryCoding``).
    public var lsn: Int64
    /// The history in ``HistoryCoding``'s encoding.
    public var body: [UInt8]

    /// Creates a row.
    public init(debtor: String, lsn: Int64, body: [UInt8]) {
        self.debtor = debtor
        self.lsn = lsn
        self.body = body
    }
}

/// The encoding of a debtor's history in a history checkpoint row.
///
/// Version byte 1, then a table of the distinct strings the history repeats (debt ids, phone numbers, outcome
/// names, promise due dates, and any debtor id other than the row's), then the outcomes, payments, unresolved
/// attempts (expired leases) and operator clearances, each list in the order the history holds it, then a 32-bit
/// checksum of everything before it (``isIntact(_:)``: the engine keeps bodies encoded and decodes a debtor's only
/// when it is needed, so it checks each body when it reads it from the store instead). Integers are LEB128 varints
/// (signed ones zigzag-coded); times are deltas from the previous item's time; attempt, payment and lease ids are
/// front-coded against the previous one of their list (``ByteWriter/write(_:sharingPrefixWith:)``). Outcomes are
/// named by their wire value, so the encoding does not depend on the order of `Outcome`'s cases. Decoding gives
/// back a value equal (`==`) to the encoded one.
public enum HistoryCoding {
    /// The format version (the first byte of every body).
    public static let version: UInt8 = 1

    /// Encodes `history`, whose events belong to debtor `debtor` (an event naming another debtor keeps its id).
    public static func encode(_ history: DebtorHistory, debtor: String) -> [UInt8] {
        var table = StringTable()
        // Pass 1: the table (the strings are interned in the order pass 2 meets them).
        for o in history.outcomes {
            table.intern(o.debt)
            table.intern(o.phone)
            table.intern(o.outcome.rawValue)
            if let p = o.promise { table.intern(p.due) }
            if o.debtor != debtor { table.intern(o.debtor) }
        }
        for p in history.payments {
            table.intern(p.debt)
            if p.debtor != debtor { table.intern(p.debtor) }
        }
        for u in history.unresolved {
            table.intern(u.debt)
            table.intern(u.phone)
            if u.debtor != debtor { table.intern(u.debtor) }
        }
        for c in history.clearances { if let debt = c.debt { table.intern(debt) } }

        var w = ByteWriter(capacity: 16 + table.byteCount + 24 * history.outcomes.count + 16 * history.payments.count)
        w.write(version)
        w.writeVarint(UInt64(table.strings.count))
        for s in table.strings { w.write(s) }

        w.writeVarint(UInt64(history.outcomes.count))
        var previousID = ""
        var previousLease = ""
        var previousAt: Int64 = 0
        for o in history.outcomes {
            var flags: UInt8 = 0
            if o.lease != nil { flags |= 1 }
            if o.promise != nil { flags |= 2 }
            if o.callbackAt != nil { flags |= 4 }
            if o.debtor != debtor { flags |= 8 }
            w.write(flags)
            w.writeVarint(table.index(o.outcome.rawValue))
            w.write(o.attempt, after: &previousID)
            w.writeVarint(table.index(o.debt))
            w.writeVarint(table.index(o.phone))
            w.writeZigzag(o.at &- previousAt)
            previousAt = o.at
            if let lease = o.lease { w.write(lease, after: &previousLease) }
            if let p = o.promise {
                w.writeZigzag(p.amount.tenThousandths)
                w.writeVarint(table.index(p.due))
            }
            if let callbackAt = o.callbackAt { w.writeZigzag(callbackAt &- o.at) }
            if o.debtor != debtor { w.writeVarint(table.index(o.debtor)) }
        }

        w.writeVarint(UInt64(history.payments.count))
        previousID = ""
        previousAt = 0
        for p in history.payments {
            w.write(UInt8(p.debtor != debtor ? 8 : 0))
            w.write(p.payment, after: &previousID)
            w.writeVarint(table.index(p.debt))
            w.writeZigzag(p.amount.tenThousandths)
            w.writeZigzag(p.at &- previousAt)
            previousAt = p.at
            if p.debtor != debtor { w.writeVarint(table.index(p.debtor)) }
        }

        w.writeVarint(UInt64(history.unresolved.count))
        previousLease = ""
        previousAt = 0
        for u in history.unresolved {
            w.write(UInt8((u.lease != nil ? 1 : 0) | (u.debtor != debtor ? 8 : 0)))
            w.writeVarint(table.index(u.debt))
            w.writeVarint(table.index(u.phone))
            w.writeZigzag(u.at &- previousAt)
            previousAt = u.at
            if let lease = u.lease { w.write(lease, after: &previousLease) }
            if u.debtor != debtor { w.writeVarint(table.index(u.debtor)) }
        }

        w.writeVarint(UInt64(history.clearances.count))
        previousAt = 0
        for c in history.clearances {
            w.write(UInt8((c.kind == .cease ? 1 : 0) | (c.debt != nil ? 2 : 0)))
            if let debt = c.debt { w.writeVarint(table.index(debt)) }
            w.writeZigzag(c.at &- previousAt)
            previousAt = c.at
        }
        let sum = w.bytes.withUnsafeBytes { checksum($0) }
        w.write(sum)
        return w.bytes
    }

    /// Whether `bytes` is a body of this version whose checksum matches (a truncated, extended or altered body is
    /// not, whatever bytes were lost or changed, but for a chance of 2^-32).
    public static func isIntact(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 5, bytes[0] == version else { return false }
        let n = bytes.count - 4
        var stored: UInt32 = 0
        for k in 0..<4 { stored |= UInt32(bytes[n + k]) << UInt32(8 * k) }
        return checksum(UnsafeRawBufferPointer(rebasing: bytes[..<n])) == stored
    }

    /// A 32-bit hash of `bytes`, eight bytes at a time (a multiply-xorshift mix per word, then the length).
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15
        var k = 0
        let n = bytes.count
        while k + 8 <= n {
            h = (h ^ bytes.loadUnaligned(fromByteOffset: k, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 31
            k += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while k < n {
            tail |= UInt64(bytes[k]) << shift
            shift += 8
            k += 1
        }
        h = (h ^ tail ^ (UInt64(n) << 56)) &* 0x94D0_49BB_1331_11EB
        h ^= h >> 29
        h = h &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 32
        return UInt32(truncatingIfNeeded: h)
    }

    /// Every outcome, in a fixed order (for the decoder's cache of parsed names; never stored).
    static let outcomes = Outcome.allCases

    /// Decodes a body written by ``encode(_:debtor:)`` for debtor `debtor`.
    /// - Throws: ``StoreError`` with code `corrupt_record` when the bytes are not such a body (``isIntact(_:)``
    ///   is false, or it is but they do not parse).
    public static func decode(_ bytes: UnsafeRawBufferPointer, debtor: String) throws(StoreError) -> DebtorHistory {
        guard isIntact(bytes) else {
            throw StoreError(code: .corruptRecord, message: "a history checkpoint row is damaged (checksum)")
        }
        var r = ByteReader(UnsafeRawBufferPointer(rebasing: bytes[..<(bytes.count - 4)]))
        guard try r.readUInt8() == version else {
            throw StoreError(code: .corruptRecord, message: "a history checkpoint row has an unknown format version")
        }
        let tableCount = try r.readCount()
        var table: [String] = []
        table.reserveCapacity(tableCount)
        for _ in 0..<tableCount { table.append(try r.readString()) }
        func string(_ r: inout ByteReader) throws(StoreError) -> String {
            let k = try r.readCount()
            guard k < table.count else {
                throw StoreError(code: .corruptRecord, message: "a history checkpoint row names a string it lacks")
            }
            return table[k]
        }
        // Outcome names are parsed once per table entry, not once per outcome: entry k (k < 16) parsed is at
        // `parsed[k]` as its position in `Outcome.allCases` + 1 (0: not parsed yet).
        var parsed = InlineArray<16, UInt8>(repeating: 0)

        var history = DebtorHistory()
        let outcomeCount = try r.readCount()
        history.outcomes.reserveCapacity(outcomeCount)
        var previousID = ""
        var previousLease = ""
        var previousAt: Int64 = 0
        for _ in 0..<outcomeCount {
            let flags = try r.readUInt8()
            let nameIndex = try r.readCount()
            let outcome: Outcome
            if nameIndex < 16 && parsed[nameIndex] != 0 {
                outcome = Self.outcomes[Int(parsed[nameIndex]) - 1]
            } else {
                guard nameIndex < table.count, let name = Outcome(rawValue: table[nameIndex]) else {
                    throw StoreError(code: .corruptRecord, message: "a history checkpoint row names an unknown outcome")
                }
                if nameIndex < 16 { parsed[nameIndex] = UInt8(Self.outcomes.firstIndex(of: name)! + 1) }
                outcome = name
            }
            let attempt = try r.readString(after: &previousID)
            let debt = try string(&r)
            let phone = try string(&r)
            let at = previousAt &+ (try r.readZigzag())
            previousAt = at
            let lease = flags & 1 != 0 ? try r.readString(after: &previousLease) : nil
            var promise: PromiseTerms?
            if flags & 2 != 0 {
                let amount = try r.readZigzag()
                promise = PromiseTerms(amount: Money(tenThousandths: amount), due: try string(&r))
            }
            let callbackAt: Int64? = flags & 4 != 0 ? at &+ (try r.readZigzag()) : nil
            let who = flags & 8 != 0 ? try string(&r) : debtor
            history.outcomes.append(OutcomeEvent(attempt: attempt, debtor: who, debt: debt, phone: phone, at: at,
                                                 outcome: outcome, lease: lease, promise: promise,
                                                 callbackAt: callbackAt))
        }

        let paymentCount = try r.readCount()
        history.payments.reserveCapacity(paymentCount)
        previousID = ""
        previousAt = 0
        for _ in 0..<paymentCount {
            let flags = try r.readUInt8()
            let id = try r.readString(after: &previousID)
            let debt = try string(&r)
            let amount = try r.readZigzag()
            let at = previousAt &+ (try r.readZigzag())
            previousAt = at
            let who = flags & 8 != 0 ? try string(&r) : debtor
            history.payments.append(PaymentEvent(payment: id, debtor: who, debt: debt,
                                                 amount: Money(tenThousandths: amount), at: at))
        }

        let unresolvedCount = try r.readCount()
        history.unresolved.reserveCapacity(unresolvedCount)
        previousLease = ""
        previousAt = 0
        for _ in 0..<unresolvedCount {
            let flags = try r.readUInt8()
            let debt = try string(&r)
            let phone = try string(&r)
            let at = previousAt &+ (try r.readZigzag())
            previousAt = at
            let lease = flags & 1 != 0 ? try r.readString(after: &previousLease) : nil
            let who = flags & 8 != 0 ? try string(&r) : debtor
            history.unresolved.append(UnresolvedAttempt(debtor: who, debt: debt, phone: phone, at: at, lease: lease))
        }

        let clearanceCount = try r.readCount()
        history.clearances.reserveCapacity(clearanceCount)
        previousAt = 0
        for _ in 0..<clearanceCount {
            let flags = try r.readUInt8()
            let debt: String? = flags & 2 != 0 ? try string(&r) : nil
            let at = previousAt &+ (try r.readZigzag())
            previousAt = at
            history.clearances.append(HoldClearance(kind: flags & 1 != 0 ? .cease : .dispute, debt: debt, at: at))
        }
        guard r.isAtEnd else {
            throw StoreError(code: .corruptRecord, message: "a history checkpoint row has bytes after its history")
        }
        return history
    }
}

/// The distinct strings of one history, numbered in the order they are first met. A history repeats a handful
/// (a debt, a phone, a few outcome names): they are found by a linear search, and by a dictionary only once there
/// are more than 16 (no hashing, no dictionary allocated for the common row).
private struct StringTable {
    var strings: [String] = []
    var indices: [String: UInt64] = [:]
    var byteCount = 0

    mutating func intern(_ s: String) {
        if find(s) != nil { return }
        if strings.count == 16 {
            for (k, t) in strings.enumerated() { indices[t] = UInt64(k) }
        }
        if strings.count >= 16 { indices[s] = UInt64(strings.count) }
        strings.append(s)
        byteCount += s.utf8.count + 1
    }

    @inline(__always) func find(_ s: String) -> UInt64? {
        if strings.count > 16 { return indices[s] }
        for k in strings.indices where strings[k] == s { return UInt64(k) }
        return nil
    }

    func index(_ s: String) -> UInt64 { find(s)! }
}

extension ByteWriter {
    /// Appends an unsigned LEB128 varint (7 bits a byte, low bits first).
    mutating func writeVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// Appends a signed integer as a zigzag-coded varint (small magnitudes of either sign are short).
    mutating func writeZigzag(_ value: Int64) {
        writeVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }
}

extension ByteReader {
    /// Reads an unsigned LEB128 varint.
    mutating func readVarint() throws(StoreError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try readUInt8()
            guard shift < 64 else {
                throw StoreError(code: .corruptRecord, message: "a stored varint is longer than 64 bits")
            }
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
    }

    /// Reads a zigzag-coded signed varint.
    mutating func readZigzag() throws(StoreError) -> Int64 {
        let raw = try readVarint()
        return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }

    /// Reads a varint count or index that must fit the bytes left (a corrupt count cannot make a huge allocation).
    mutating func readCount() throws(StoreError) -> Int {
        let value = try readVarint()
        guard value <= UInt64(base.count) else {
            throw StoreError(code: .corruptRecord, message: "a stored count exceeds its record")
        }
        return Int(value)
    }
}
