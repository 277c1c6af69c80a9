import Synchronization
import TagihCore
import TagihStore

/// Where the engine logs its writes: the durable SQLite ``Store`` (the default), or an ``EphemeralLog`` that
/// keeps only what the engine reads back while it runs (log positions and idempotency keys) and writes nothing
/// (``EngineConfiguration/Persistence/ephemeral``, for simulations). Every other path of the engine (validation,
/// shards, queues, leases, expiries) is the same for both.
enum EngineLog: Sendable {
    case durable(Store)
    case ephemeral(EphemeralLog)

    func append(_ events: [StoredEvent], durability: StoreConfiguration.Durability? = nil) async throws
        -> [AppendResult]
    {
        switch self {
        case .durable(let store): try await store.append(events, durability: durability)
        case .ephemeral(let log): log.append(events)
        }
    }

    func append(_ grants: GrantBatchEncoder, durability: StoreConfiguration.Durability? = nil) async throws
        -> AppendResult
    {
        switch self {
        case .durable(let store): try await store.append(grants, durability: durability)
        case .ephemeral(let log): try log.append(grants)
        }
    }

    func upsert(_ debtors: [Debtor]) async throws -> [Int64] {
        switch self {
        case .durable(let store): try await store.upsert(debtors)
        case .ephemeral(let log): log.upsert(debtors)
        }
    }

    func lastLSN() async -> Int64 {
        switch self {
        case .durable(let store): await store.lastLSN()
        case .ephemeral(let log): log.lastLSN()
        }
    }

    func leaseReplayFloor() async throws -> Int64 {
        switch self {
        case .durable(let store): try await store.leaseReplayFloor()
        case .ephemeral: 0
        }
    }

    func setLeaseReplayFloor(_ lsn: Int64) async throws {
        if case .durable(let store) = self { try await store.setLeaseReplayFloor(lsn) }
    }

    func events(after lsn: Int64, limit: Int, leaseFloor: Int64) async throws -> [LoggedEvent] {
        switch self {
        case .durable(let store): try await store.events(after: lsn, limit: limit, leaseFloor: leaseFloor)
        case .ephemeral: []
        }
    }

    func openRecordReader() throws -> Reader {
        switch self {
        case .durable(let store): .durable(try store.openRecordReader())
        case .ephemeral: .empty
        }
    }

    func writeSnapshot(_ rows: [SnapshotRow], reasonLists: [ReasonList]) async throws {
        if case .durable(let store) = self { try await store.writeSnapshot(rows, reasonLists: reasonLists) }
    }

    func writeHistory(_ rows: [HistoryRow]) async throws {
        if case .durable(let store) = self { try await store.writeHistory(rows) }
    }

    /// The history floor (0 for an ephemeral log, which keeps no checkpoint).
    func sizeHints() async throws -> SizeHints {
        if case .durable(let store) = self { return try await store.sizeHints() }
        return SizeHints()
    }

    func setSizeHints(_ hints: SizeHints) async throws {
        if case .durable(let store) = self { try await store.setSizeHints(hints) }
    }

    func historyFloor() async throws -> Int64 {
        if case .durable(let store) = self { return try await store.historyFloor() }
        return 0
    }

    func setHistoryFloor(_ lsn: Int64) async throws {
        if case .durable(let store) = self { try await store.setHistoryFloor(lsn) }
    }

    /// The reason lists snapshot rows name, by hash (none for an ephemeral log).
    func reasonLists() async throws -> [UInt64: [String]] {
        if case .durable(let store) = self { return try await store.reasonLists() }
        return [:]
    }

    func checkpoint() async throws {
        if case .durable(let store) = self { try await store.checkpoint() }
    }

    func close() async throws {
        if case .durable(let store) = self { try await store.close() }
    }

    /// Reads the stored debtor records at start (an ephemeral log has none).
    enum Reader {
        case durable(Store.RecordReader)
        case empty

        func recordPage(after: String?, limit: Int) async throws -> RecordPage {
            switch self {
            case .durable(let reader): try await reader.recordPage(after: after, limit: limit)
            case .empty: RecordPage()
            }
        }

        func close() throws {
            if case .durable(let reader) = self { try reader.close() }
        }
    }
}

/// The log of an ephemeral engine: nothing is written anywhere. It numbers writes as the store would (one log
/// position per applied event and per upserted record, in call order) and refuses a repeated (kind, key) as a
/// ``AppendResult/duplicate``, as the store's unique index does (keys compared by their UTF-8 bytes, as the store
/// compares TEXT), so the engine acknowledges and applies exactly what it would with a store. It keeps the keys of
/// every event appended (16 bytes per key of up to 15 bytes, in a table at most three quarters full), nothing
/// else. Calls complete without suspending (a lock, no writer thread).
final class EphemeralLog: Sendable {
    private struct State {
        var lsn: Int64 = 0
        /// The keys seen, by event kind (``StoredEvent/kind``; the store's unique index is on (kind, key)).
        var keys: [KeySet] = Array(repeating: KeySet(), count: 16)
    }

    private let state = Mutex(State())

    func append(_ events: [StoredEvent]) -> [AppendResult] {
        state.withLock { s in
            var results: [AppendResult] = []
            results.reserveCapacity(events.count)
            for event in events {
                if s.keys[event.kind].insert(event.key) {
                    s.lsn += 1
                    results.append(.applied(lsn: s.lsn))
                } else {
                    results.append(.duplicate)
                }
            }
            return results
        }
    }

    func append(_ grants: GrantBatchEncoder) throws -> AppendResult {
        guard grants.appended == grants.count, grants.count > 0 else {
            throw StoreError(code: .invalidArgument,
                             message: "a grant batch announced \(grants.count) grants and holds \(grants.appended)")
        }
        return state.withLock { s in
            guard s.keys[GrantBatchEncoder.kind].insert(grants.id) else { return .duplicate }
            s.lsn += 1
            return .applied(lsn: s.lsn)
        }
    }

    func upsert(_ debtors: [Debtor]) -> [Int64] {
        if debtors.isEmpty { return [] }
        return state.withLock { s in
            let first = s.lsn + 1
            s.lsn += Int64(debtors.count)
            return Array(first...s.lsn)
        }
    }

    func lastLSN() -> Int64 { state.withLock { $0.lsn } }
}

/// A set of keys compared by their UTF-8 bytes. Keys of up to 15 bytes (lease, attempt and payment ids in practice)
/// are packed into two words each (the bytes, then the length with the top bit set, so that no key is all zeros)
/// in an open-addressing table with linear probing; longer keys go to a `Set` of byte arrays. Cheaper to hash and
/// compare than `Set<String>` (a multiply-shift hash of two words instead of SipHash over the string, no
/// Unicode-aware comparison), at the same 16 bytes per short key.
struct KeySet {
    /// Two words per entry; both 0 = empty. The capacity (entries) is a power of two.
    private var table: [UInt64] = []
    private var shortCount = 0
    private var long: Set<[UInt8]> = []

    /// The number of keys.
    var count: Int { shortCount + long.count }

    /// Inserts `key`; false when it was already there.
    mutating func insert(_ key: String) -> Bool {
        var key = key
        return key.withUTF8 { bytes in
            guard bytes.count <= 15 else { return long.insert(Array(bytes)).inserted }
            var words: (UInt64, UInt64) = (0, UInt64(0x80 | bytes.count) << 56)
            withUnsafeMutableBytes(of: &words) { raw in
                if let base = bytes.baseAddress { raw.baseAddress!.copyMemory(from: base, byteCount: bytes.count) }
            }
            return insert(words.0, words.1)
        }
    }

    private mutating func insert(_ w0: UInt64, _ w1: UInt64) -> Bool {
        if (shortCount + 1) * 4 > table.count / 2 * 3 { grow() }
        let mask = table.count / 2 - 1
        var i = Self.hash(w0, w1) & mask
        return table.withUnsafeMutableBufferPointer { t in
            while true {
                let a = t[2 * i], b = t[2 * i + 1]
                if a == 0 && b == 0 {
                    t[2 * i] = w0
                    t[2 * i + 1] = w1
                    shortCount += 1
                    return true
                }
                if a == w0 && b == w1 { return false }
                i = (i + 1) & mask
            }
        }
    }

    private mutating func grow() {
        let old = table
        let capacity = max(1024, old.count)  // entries: twice the old count of entries
        table = Array(repeating: 0, count: 2 * capacity)
        shortCount = 0
        for e in stride(from: 0, to: old.count, by: 2) where old[e] != 0 || old[e + 1] != 0 {
            _ = insert(old[e], old[e + 1])
        }
    }

    @inline(__always)
    private static func hash(_ w0: UInt64, _ w1: UInt64) -> Int {
        var h = (w0 ^ (w1 &* 0x9E37_79B9_7F4A_7C15)) &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 31
        h = h &* 0x94D0_49BB_1331_11EB
        h ^= h >> 29
        return Int(truncatingIfNeeded: h)
    }
}
