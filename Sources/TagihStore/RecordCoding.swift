import TagihCore

/// An event kept in the append-only log. Each kind has its own idempotency key space.
public enum StoredEvent: Sendable, Hashable {
    /// The outcome of a placed call; keyed by `attempt`.
    case outcome(OutcomeEvent)
    /// A payment; keyed by `payment`.
    case payment(PaymentEvent)
    /// A lease that expired without an outcome; keyed by the lease id. It counts as a placed call.
    case leaseExpired(LeaseExpiry)
    /// The leases of one `lease` call, handed to a dialer; keyed by the batch id. Logged before the dialer is
    /// given them, so a restart knows who holds which debtor. One row per call, not per lease: the single
    /// writer inserts one row for a hundred grants.
    case leasesGranted(LeaseGrants)
    /// Leases given back without a call (a dialer that disconnected cleanly); keyed by the batch id.
    case leasesReleased(LeaseReleases)
    /// An operator's clearance of a hold (a resolved dispute, a withdrawn cease); keyed by its id.
    case clearance(ClearanceEvent)

    /// The log's kind code for this event.
    public var kind: Int {
        switch self {
        case .outcome: 1
        case .payment: 2
        case .leaseExpired: 3
        case .leasesGranted(let g): g.sharedTerms == nil ? 7 : 10
        case .leasesReleased: 8
        case .clearance: 6
        }
    }

    /// The idempotency key within the kind.
    public var key: String {
        switch self {
        case .outcome(let o): o.attempt
        case .payment(let p): p.payment
        case .leaseExpired(let l): l.lease
        case .leasesGranted(let g): g.id
        case .leasesReleased(let r): r.id
        case .clearance(let c): c.id
        }
    }

    /// The debtor the event belongs to.
    public var debtor: String {
        switch self {
        case .outcome(let o): o.debtor
        case .payment(let p): p.debtor
        case .leaseExpired(let l): l.debtor
        case .leasesGranted(let g): g.grants.first?.debtor ?? ""
        case .leasesReleased(let r): r.releases.first?.debtor ?? ""
        case .clearance(let c): c.debtor
        }
    }
}

/// A lease that ran out without an outcome: the dialer may have dialed, so it counts as a placed call.
public struct LeaseExpiry: Sendable, Hashable {
    /// The lease id.
    public var lease: String
    /// The debtor that was leased.
    public var debtor: String
    /// The debt the call was about.
    public var debt: String
    /// The phone number that may have been dialed.
    public var phone: String
    /// When the lease was handed out (the instant the call may have been placed).
    public var leasedAt: UnixSeconds
    /// When it expired.
    public var expiredAt: UnixSeconds
    /// Creates an expiry record.
    public init(lease: String, debtor: String, debt: String, phone: String, leasedAt: UnixSeconds,
                expiredAt: UnixSeconds) {
        self.lease = lease
        self.debtor = debtor
        self.debt = debt
        self.phone = phone
        self.leasedAt = leasedAt
        self.expiredAt = expiredAt
    }
}

/// A lease handed to a dialer: from `leasedAt` until `expires` (or its outcome, or a release) nobody else is
/// given the debtor.
public struct LeaseGrant: Sendable, Hashable {
    /// The lease id.
    public var lease: String
    /// The debtor leased.
    public var debtor: String
    /// The debt to call about.
    public var debt: String
    /// The number to dial.
    public var phone: String
    /// The dialer (session) that holds it.
    public var holder: String
    /// When it was handed out.
    public var leasedAt: UnixSeconds
    /// When it expires without an outcome.
    public var expires: UnixSeconds
    /// Creates a grant record.
    public init(lease: String, debtor: String, debt: String, phone: String, holder: String, leasedAt: UnixSeconds,
                expires: UnixSeconds) {
        self.lease = lease
        self.debtor = debtor
        self.debt = debt
        self.phone = phone
        self.holder = holder
        self.leasedAt = leasedAt
        self.expires = expires
    }
}

/// The grants of one batch of leases (one `lease` call), logged as one event.
public struct LeaseGrants: Sendable, Hashable {
    /// The batch id (the idempotency key): the first lease's id.
    public var id: String
    /// The grants, each for another debtor.
    public var grants: [LeaseGrant]
    /// Creates a batch.
    public init(id: String, grants: [LeaseGrant]) {
        self.id = id
        self.grants = grants
    }

    /// The holder and times every grant of the batch shares (one `lease` call gives all its leases the same), or
    /// nil when they differ or the batch is empty. Such a batch is logged compactly (kind 10: the shared terms
    /// once, then lease, debtor, debt and phone per grant, each front-coded against the previous grant's); any
    /// other batch as kind 7 (every field per grant). Kind 9 (the same without front coding) is still read. The
    /// store writes the kind 10 batches of one transaction as one row of kind 11 (``GrantBatchEncoder/merge(_:)``),
    /// read back as one batch of all their grants, under the first batch's id.
    public var sharedTerms: (holder: String, leasedAt: UnixSeconds, expires: UnixSeconds)? {
        guard let first = grants.first else { return nil }
        for g in grants where g.holder != first.holder || g.leasedAt != first.leasedAt || g.expires != first.expires {
            return nil
        }
        return (first.holder, first.leasedAt, first.expires)
    }
}

/// A batch of releases, logged as one event.
public struct LeaseReleases: Sendable, Hashable {
    /// The batch id (the idempotency key).
    public var id: String
    /// The releases.
    public var releases: [LeaseRelease]
    /// Creates a batch.
    public init(id: String, releases: [LeaseRelease]) {
        self.id = id
        self.releases = releases
    }
}

/// A lease given back without a call: it does not count.
public struct LeaseRelease: Sendable, Hashable {
    /// The lease id.
    public var lease: String
    /// The debtor that was leased.
    public var debtor: String
    /// When it was released.
    public var at: UnixSeconds
    /// Creates a release record.
    public init(lease: String, debtor: String, at: UnixSeconds) {
        self.lease = lease
        self.debtor = debtor
        self.at = at
    }
}

/// An operator's clearance of a hold (DOMAIN.md: a `dispute` holds a debt until an operator clears it; a `cease`
/// stops every call to the debtor until cleared).
public struct ClearanceEvent: Sendable, Hashable {
    /// The idempotency key: a repeat with the same id is acknowledged, never applied twice.
    public var id: String
    /// The debtor.
    public var debtor: String
    /// Which hold is cleared.
    public var kind: HoldClearance.Kind
    /// The debt whose dispute is cleared (required for `dispute`; nil for `cease`, which is debtor-wide).
    public var debt: String?
    /// When it was cleared: it clears holds recorded before this instant.
    public var at: UnixSeconds
    /// Who cleared it (an operator id, for the audit trail); may be empty.
    public var clearedBy: String
    /// Why (free text for the audit trail); may be empty.
    public var note: String
    /// Creates a clearance record.
    public init(id: String, debtor: String, kind: HoldClearance.Kind, debt: String? = nil, at: UnixSeconds,
                clearedBy: String = "", note: String = "") {
        self.id = id
        self.debtor = debtor
        self.kind = kind
        self.debt = debt
        self.at = at
        self.clearedBy = clearedBy
        self.note = note
    }

    /// The clearance as the policy reads it.
    public var holdClearance: HoldClearance { HoldClearance(kind: kind, debt: debt, at: at) }
}

/// Encodes one batch of lease grants that share holder and times (kind 10: the batch id, the shared terms once,
/// then lease, debtor, debt and phone per grant, each front-coded against the previous grant's) straight from
/// the caller's values, without building ``LeaseGrant`` values first (the engine encodes a `lease` call's grants
/// from its `Lease` values). ``RecordCoding/encode(_:)-(StoredEvent)`` writes kind 10 through it too.
public struct GrantBatchEncoder: Sendable {
    /// The batch id (the event's idempotency key).
    public let id: String
    /// The debtor of the first grant (the event's debtor column).
    public private(set) var firstDebtor = ""
    /// The number of grants announced in the header.
    public let count: Int
    /// The grants appended so far.
    public private(set) var appended = 0
    /// The batch's bytes are `buffer[..<used]`; the rest is room for the next grants (written through one
    /// pointer per grant, not appended byte by byte).
    var buffer: [UInt8]
    var used: Int
    /// The previous grant's four strings, their first 255 UTF-8 bytes each (all a front coding compares) at
    /// `256 * field`, and their lengths (at most 255): kept as bytes, so that no string is retained or released.
    var previous = [UInt8](repeating: 0, count: 4 * 256)
    var previousCounts: (Int, Int, Int, Int) = (0, 0, 0, 0)

    /// Starts a batch of `count` grants (exactly `count` must be appended).
    public init(id: String, holder: String, leasedAt: UnixSeconds, expires: UnixSeconds, count: Int) {
        self.id = id
        self.count = count
        var writer = ByteWriter(capacity: 64 + 40 * count)
        writer.write(id)
        writer.write(holder)
        writer.write(leasedAt)
        writer.write(expires)
        writer.write(UInt32(count))
        used = writer.bytes.count
        buffer = writer.bytes
        buffer.append(contentsOf: repeatElement(0, count: 64 + 40 * count))
    }

    /// Appends the next grant.
    public mutating func append(lease: String, debtor: String, debt: String, phone: String) {
        if appended == 0 { firstDebtor = debtor }
        appended += 1
        // At most 6 header bytes a field.
        let most = 24 + lease.utf8.count + debtor.utf8.count + debt.utf8.count + phone.utf8.count
        if used + most > buffer.count {
            buffer.append(contentsOf: repeatElement(0, count: max(most, buffer.count)))
        }
        var counts = previousCounts
        var at = used
        buffer.withUnsafeMutableBufferPointer { out in
            previous.withUnsafeMutableBufferPointer { kept in
                counts.0 = Self.write(lease, field: 0, previousCount: counts.0, kept: kept, to: out, at: &at)
                counts.1 = Self.write(debtor, field: 1, previousCount: counts.1, kept: kept, to: out, at: &at)
                counts.2 = Self.write(debt, field: 2, previousCount: counts.2, kept: kept, to: out, at: &at)
                counts.3 = Self.write(phone, field: 3, previousCount: counts.3, kept: kept, to: out, at: &at)
            }
        }
        previousCounts = counts
        used = at
    }

    /// `write` of a string's UTF-8 bytes, read in place (no copy of the string, so no retain and release of it).
    @inline(__always)
    private static func write(
        _ text: String, field: Int, previousCount: Int, kept: UnsafeMutableBufferPointer<UInt8>,
        to out: UnsafeMutableBufferPointer<UInt8>, at: inout Int
    ) -> Int {
        var position = at
        let written = text.utf8.withContiguousStorageIfAvailable { bytes in
            write(bytes, field: field, previousCount: previousCount, kept: kept, to: out, at: &position)
        }
        if let written {
            at = position
            return written
        }
        var copy = text
        return copy.withUTF8 { write($0, field: field, previousCount: previousCount, kept: kept, to: out, at: &at) }
    }

    /// Writes `text` at `out[at...]` front-coded against the previous grant's string of the same field (as
    /// ``ByteWriter/write(_:sharingPrefixWith:)`` does) and keeps it as that field's previous string; returns its
    /// kept length. `out` has room for the text and 6 bytes more. (Ids and numbers are a dozen bytes: the bytes
    /// are copied in loops, not by a `memmove` call each.)
    @inline(__always)
    private static func write(
        _ text: UnsafeBufferPointer<UInt8>, field: Int, previousCount: Int, kept: UnsafeMutableBufferPointer<UInt8>,
        to out: UnsafeMutableBufferPointer<UInt8>, at: inout Int
    ) -> Int {
        let base = 256 * field
        let limit = min(255, text.count, previousCount)
        var shared = 0
        while shared < limit && text[shared] == kept[base + shared] { shared += 1 }
        out[at] = UInt8(shared)
        let rest = text.count - shared
        if rest < 255 {
            out[at + 1] = UInt8(rest)
            at += 2
        } else {
            out[at + 1] = 255
            for i in 0..<4 { out[at + 2 + i] = UInt8(truncatingIfNeeded: UInt32(rest) >> UInt32(8 * i)) }
            at += 6
        }
        if rest > 64 {
            (out.baseAddress! + at).update(from: text.baseAddress! + shared, count: rest)
        } else {
            var j = 0
            while j < rest {
                out[at + j] = text[shared + j]
                j += 1
            }
        }
        at += rest
        let keep = min(255, text.count)
        var j = shared
        while j < keep {
            kept[base + j] = text[j]
            j += 1
        }
        return keep
    }

    /// The event's body.
    public var body: [UInt8] { Array(buffer[..<used]) }

    /// The log's kind code of such a batch.
    public static let kind = 10

    /// The log's kind code of several such batches committed in one transaction (`merge(_:)`): they share one
    /// row and one log position.
    public static let mergedKind = 11

    /// The body of a kind 11 row: the number of batches (4 bytes), then each kind 10 body with its length
    /// (4 bytes) in front. Binaries built before kind 11 existed refuse such a log (an unknown kind).
    static func merge(_ bodies: [[UInt8]]) -> [UInt8] {
        var writer = ByteWriter(capacity: 4 + bodies.reduce(0) { $0 + 4 + $1.count })
        writer.write(UInt32(bodies.count))
        for body in bodies {
            writer.write(UInt32(body.count))
            writer.bytes.append(contentsOf: body)
        }
        return writer.bytes
    }
}

/// Binary encoding of records for the store's BLOB columns.
public enum RecordCoding {
    /// Encodes a debtor.
    public static func encode(_ d: Debtor, into w: inout ByteWriter) {
        w.write(d.id)
        w.write(d.jurisdiction)
        w.write(d.zone)
        w.write(d.status.rawValue)
        w.write(d.segment)
        w.write(UInt8(clamping: d.phones.count))
        for p in d.phones.prefix(255) {
            w.write(p.number)
            w.write(p.kind.rawValue)
            w.write(p.owner.rawValue)
            w.write(p.zone)
            w.write(UInt8(p.optedOut ? 1 : 0))
        }
        w.write(UInt8(clamping: d.debts.count))
        for debt in d.debts.prefix(255) {
            w.write(debt.id)
            w.write(debt.balance.tenThousandths)
            w.write(debt.currency)
        }
        w.write(UInt8(clamping: d.quiet.count))
        for q in d.quiet.prefix(255) {
            var mask: UInt8 = 0
            for day in q.days where (1...7).contains(day) { mask |= 1 << UInt8(day - 1) }
            w.write(mask)
            w.write(UInt16(clamping: q.fromMinute))
            w.write(UInt16(clamping: q.toMinute))
        }
    }

    /// Encodes a debtor into a fresh byte array.
    public static func encode(_ d: Debtor) -> [UInt8] {
        var w = ByteWriter(capacity: 96)
        encode(d, into: &w)
        return w.bytes
    }

    /// Decodes a debtor.
    public static func decodeDebtor(_ r: inout ByteReader) throws(StoreError) -> Debtor {
        let id = try r.readString()
        let jurisdiction = try r.readString()
        let zone = try r.readOptionalString()
        let status = try code(DebtorStatus.self, try r.readString())
        let segment = try r.readOptionalString()
        let phoneCount = Int(try r.readUInt8())
        var phones: [Phone] = []
        phones.reserveCapacity(phoneCount)
        for _ in 0..<phoneCount {
            let number = try r.readString()
            let kind = try code(PhoneKind.self, try r.readString())
            let owner = try code(PhoneOwner.self, try r.readString())
            let phoneZone = try r.readOptionalString()
            let optedOut = try r.readUInt8() != 0
            phones.append(Phone(number: number, kind: kind, zone: phoneZone, owner: owner, optedOut: optedOut))
        }
        let debtCount = Int(try r.readUInt8())
        var debts: [Debt] = []
        debts.reserveCapacity(debtCount)
        for _ in 0..<debtCount {
            let debtID = try r.readString()
            let balance = try r.readInt64()
            let currency = try r.readString()
            debts.append(Debt(id: debtID, balance: Money(tenThousandths: balance), currency: currency))
        }
        let quietCount = Int(try r.readUInt8())
        var quiet: [QuietTime] = []
        for _ in 0..<quietCount {
            let mask = try r.readUInt8()
            let from = Int(try r.readUInt16())
            let to = Int(try r.readUInt16())
            quiet.append(QuietTime(days: (1...7).filter { mask & (1 << UInt8($0 - 1)) != 0 }, fromMinute: from,
                                   toMinute: to))
        }
        return Debtor(id: id, jurisdiction: jurisdiction, zone: zone, status: status, segment: segment,
                      phones: phones, debts: debts, quiet: quiet)
    }

    /// Decodes a debtor from bytes.
    public static func decodeDebtor(_ bytes: UnsafeRawBufferPointer) throws(StoreError) -> Debtor {
        var r = ByteReader(bytes)
        return try decodeDebtor(&r)
    }

    /// Encodes the body of an event (its kind is kept apart).
    public static func encode(_ e: StoredEvent) -> [UInt8] {
        var w = ByteWriter(capacity: 80)
        switch e {
        case .outcome(let o):
            w.write(o.attempt)
            w.write(o.debtor)
            w.write(o.debt)
            w.write(o.phone)
            w.write(o.at)
            w.write(o.outcome.rawValue)
            w.write(o.lease)
            if let p = o.promise {
                w.write(UInt8(1))
                w.write(p.amount.tenThousandths)
                w.write(p.due)
            } else {
                w.write(UInt8(0))
            }
            w.write(o.callbackAt)
        case .payment(let p):
            w.write(p.payment)
            w.write(p.debtor)
            w.write(p.debt)
            w.write(p.amount.tenThousandths)
            w.write(p.at)
        case .leaseExpired(let l):
            w.write(l.lease)
            w.write(l.debtor)
            w.write(l.debt)
            w.write(l.phone)
            w.write(l.leasedAt)
            w.write(l.expiredAt)
        case .leasesGranted(let b):
            if let shared = b.sharedTerms {  // kind 10
                var batch = GrantBatchEncoder(id: b.id, holder: shared.holder, leasedAt: shared.leasedAt,
                                              expires: shared.expires, count: b.grants.count)
                for g in b.grants { batch.append(lease: g.lease, debtor: g.debtor, debt: g.debt, phone: g.phone) }
                return batch.body
            }
            w.write(b.id)
            w.write(UInt32(b.grants.count))  // kind 7
            for g in b.grants {
                w.write(g.lease)
                w.write(g.debtor)
                w.write(g.debt)
                w.write(g.phone)
                w.write(g.holder)
                w.write(g.leasedAt)
                w.write(g.expires)
            }
        case .leasesReleased(let b):
            w.write(b.id)
            w.write(UInt32(b.releases.count))
            for r in b.releases {
                w.write(r.lease)
                w.write(r.debtor)
                w.write(r.at)
            }
        case .clearance(let c):
            w.write(c.id)
            w.write(c.debtor)
            w.write(c.kind.rawValue)
            w.write(c.debt)
            w.write(c.at)
            w.write(c.clearedBy)
            w.write(c.note)
        }
        return w.bytes
    }

    /// Decodes an event body of the given kind.
    public static func decodeEvent(kind: Int, _ bytes: UnsafeRawBufferPointer) throws(StoreError) -> StoredEvent {
        var r = ByteReader(bytes)
        switch kind {
        case 1:
            let attempt = try r.readString()
            let debtor = try r.readString()
            let debt = try r.readString()
            let phone = try r.readString()
            let at = try r.readInt64()
            let outcome = try code(Outcome.self, try r.readString())
            let lease = try r.readOptionalString()
            var promise: PromiseTerms?
            if try r.readUInt8() != 0 {
                let amount = try r.readInt64()
                promise = PromiseTerms(amount: Money(tenThousandths: amount), due: try r.readString())
            }
            let callbackAt = try r.readOptionalInt64()
            return .outcome(OutcomeEvent(attempt: attempt, debtor: debtor, debt: debt, phone: phone, at: at,
                                         outcome: outcome, lease: lease, promise: promise, callbackAt: callbackAt))
        case 2:
            let payment = try r.readString()
            let debtor = try r.readString()
            let debt = try r.readString()
            let amount = try r.readInt64()
            let at = try r.readInt64()
            return .payment(PaymentEvent(payment: payment, debtor: debtor, debt: debt,
                                         amount: Money(tenThousandths: amount), at: at))
        case 3:
            let lease = try r.readString()
            let debtor = try r.readString()
            let debt = try r.readString()
            let phone = try r.readString()
            let leasedAt = try r.readInt64()
            let expiredAt = try r.readInt64()
            return .leaseExpired(LeaseExpiry(lease: lease, debtor: debtor, debt: debt, phone: phone,
                                             leasedAt: leasedAt, expiredAt: expiredAt))
        case 4:  // a single grant, as logged before grants were batched (read back as a batch of one)
            let lease = try r.readString()
            let debtor = try r.readString()
            let debt = try r.readString()
            let phone = try r.readString()
            let holder = try r.readString()
            let leasedAt = try r.readInt64()
            let expires = try r.readInt64()
            return .leasesGranted(LeaseGrants(id: lease, grants: [
                LeaseGrant(lease: lease, debtor: debtor, debt: debt, phone: phone, holder: holder, leasedAt: leasedAt,
                           expires: expires)
            ]))
        case 5:  // a single release, as logged before releases were batched
            let lease = try r.readString()
            let debtor = try r.readString()
            let at = try r.readInt64()
            return .leasesReleased(
                LeaseReleases(id: lease, releases: [LeaseRelease(lease: lease, debtor: debtor, at: at)]))
        case 7:
            let id = try r.readString()
            let count = Int(try r.readUInt32())
            var grants: [LeaseGrant] = []
            grants.reserveCapacity(min(count, 100_000))
            for _ in 0..<count {
                let lease = try r.readString()
                let debtor = try r.readString()
                let debt = try r.readString()
                let phone = try r.readString()
                let holder = try r.readString()
                let leasedAt = try r.readInt64()
                let expires = try r.readInt64()
                grants.append(LeaseGrant(lease: lease, debtor: debtor, debt: debt, phone: phone, holder: holder,
                                         leasedAt: leasedAt, expires: expires))
            }
            return .leasesGranted(LeaseGrants(id: id, grants: grants))
        case 9, 10:  // a batch whose grants share holder and times (`LeaseGrants.sharedTerms`); in kind 10 each
            // string is front-coded against the previous grant's
            let frontCoded = kind == 10
            let id = try r.readString()
            let holder = try r.readString()
            let leasedAt = try r.readInt64()
            let expires = try r.readInt64()
            let count = Int(try r.readUInt32())
            var grants: [LeaseGrant] = []
            grants.reserveCapacity(min(count, 100_000))
            var previous = LeaseGrant(lease: "", debtor: "", debt: "", phone: "", holder: holder, leasedAt: leasedAt,
                                      expires: expires)
            func next(_ before: String) throws(StoreError) -> String {
                frontCoded ? try r.readString(sharingPrefixWith: before) : try r.readString()
            }
            for _ in 0..<count {
                let lease = try next(previous.lease)
                let debtor = try next(previous.debtor)
                let debt = try next(previous.debt)
                let phone = try next(previous.phone)
                previous = LeaseGrant(lease: lease, debtor: debtor, debt: debt, phone: phone, holder: holder,
                                      leasedAt: leasedAt, expires: expires)
                grants.append(previous)
            }
            return .leasesGranted(LeaseGrants(id: id, grants: grants))
        case 11:  // kind 10 batches committed together (`GrantBatchEncoder.merge`): one batch of all their grants,
            // each grant with its own batch's holder and times, under the first batch's id
            let parts = Int(try r.readUInt32())
            var id = ""
            var grants: [LeaseGrant] = []
            for part in 0..<parts {
                let length = Int(try r.readUInt32())
                try r.need(length)
                let body = UnsafeRawBufferPointer(rebasing: r.base[r.offset..<(r.offset + length)])
                r.offset += length
                guard case .leasesGranted(let batch) = try decodeEvent(kind: 10, body) else {
                    throw StoreError(code: .corruptRecord, message: "a merged grant batch holds another event")
                }
                if part == 0 {
                    id = batch.id
                    // Room for as many parts as the rest of the row can hold (each needs at least its 4-byte length):
                    // a damaged count must give `corrupt_record` below, not an allocation of terabytes.
                    let room = min(parts - 1, (r.base.count - r.offset) / 4)
                    grants.reserveCapacity(min(batch.grants.count * (1 + room), r.base.count))
                }
                grants += batch.grants
            }
            return .leasesGranted(LeaseGrants(id: id, grants: grants))
        case 8:
            let id = try r.readString()
            let count = Int(try r.readUInt32())
            var releases: [LeaseRelease] = []
            releases.reserveCapacity(min(count, 100_000))
            for _ in 0..<count {
                let lease = try r.readString()
                let debtor = try r.readString()
                let at = try r.readInt64()
                releases.append(LeaseRelease(lease: lease, debtor: debtor, at: at))
            }
            return .leasesReleased(LeaseReleases(id: id, releases: releases))
        case 6:
            let id = try r.readString()
            let debtor = try r.readString()
            let kind = try code(HoldClearance.Kind.self, try r.readString())
            let debt = try r.readOptionalString()
            let at = try r.readInt64()
            let clearedBy = try r.readString()
            let note = try r.readString()
            return .clearance(ClearanceEvent(id: id, debtor: debtor, kind: kind, debt: debt, at: at,
                                             clearedBy: clearedBy, note: note))
        default:
            throw StoreError(code: .corruptRecord, message: "unknown event kind \(kind) in the log")
        }
    }

    static func code<T: RawRepresentable<String>>(_ type: T.Type, _ raw: String) throws(StoreError) -> T {
        guard let value = T(rawValue: raw) else {
            throw StoreError(code: .corruptRecord, message: "unknown value '\(raw)' in a stored record")
        }
        return value
    }
}
