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

    func writeSnapshot(_ rows: [SnapshotRow]) async throws {
        if case .durable(let store) = self { try await store.writeSnapshot(rows) }
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
/// ``AppendResult/duplicate``, as the store's unique index does, so the engine acknowledges and applies exactly
/// what it would with a store. It keeps the keys of every event appended (about 16 bytes per key of up to
/// 15 bytes), nothing else. Calls complete without suspending (a lock, no writer thread).
final class EphemeralLog: Sendable {
    private struct State {
        var lsn: Int64 = 0
        /// The keys seen, by event kind (``StoredEvent/kind``; the store's unique index is on (kind, key)).
        var keys: [Set<String>] = Array(repeating: [], count: 16)
    }

    private let state = Mutex(State())

    func append(_ events: [StoredEvent]) -> [AppendResult] {
        state.withLock { s in
            var results: [AppendResult] = []
            results.reserveCapacity(events.count)
            for event in events {
                if s.keys[event.kind].insert(event.key).inserted {
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
            guard s.keys[GrantBatchEncoder.kind].insert(grants.id).inserted else { return .duplicate }
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
