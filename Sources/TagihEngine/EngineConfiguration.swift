import Foundation
import TagihCore
import TagihStore

/// Settings of the engine. Every field has a documented default.
public struct EngineConfiguration: Sendable {
    /// The number of shard actors. Default: 2 × the number of active processor cores.
    public var shardCount: Int
    /// How long a lease lasts without an outcome. Default 600 s (10 minutes).
    public var leaseTTL: Int64
    /// The store: data directory (default `./data`), durability (default `synchronous=FULL`), group commit size.
    public var store: StoreConfiguration
    /// How often ``Engine/run()`` calls ``Engine/tick()``, in milliseconds. Default 1,000.
    public var tickIntervalMilliseconds: Int
    /// How often ``Engine/run()`` writes a decision snapshot, in seconds; 0 disables. Default 3,600.
    /// ``Engine/close()`` always writes one.
    public var snapshotIntervalSeconds: Int
    /// ``Engine/run()`` also writes a snapshot (decisions and history checkpoint) once this many log positions
    /// (events, record upserts, lease grant batches) were written since the last one, so that a restart after a
    /// crash replays at most about this much of the log whatever the ingest rate. 0 = by time only. Default
    /// 1,000,000.
    public var snapshotAfterEvents: Int = 1_000_000
    /// How many ready debtors a shard re-scores per tick after the hour changes. Default 50,000.
    public var rescoreBatch: Int
    /// How durable a lease grant (and a release) is before the lease is handed out. Default: the store's
    /// durability (``StoreConfiguration/Durability/full``: fsynced, survives a power loss).
    /// ``StoreConfiguration/Durability/normal`` commits grants without their own fsync: a grant survives a
    /// crash or kill of the process (it is in the WAL file) and becomes power-loss safe with the next fully
    /// synchronous commit (the next outcome batch) or checkpoint; after a power loss the leases granted since
    /// then (usually milliseconds) may be forgotten and those debtors leased again. See Benchmarks/results/engine.md
    /// for the lease throughput of both.
    public var leaseDurability: StoreConfiguration.Durability? = nil
    /// Best-time gate on leasing (cap planning): when set to θ in 0...1, a debtor that may be called now but whose
    /// value now is below θ × its decision's discounted value at its best time is held (not leasable) until that
    /// best time, so the limited calls the caps allow are spent at the hours the model rates best. Default nil:
    /// every permitted debtor is leasable, ranked by its value now. A debtor with no recorded outcome (never
    /// called) is never held: its best time would rest on the population's prior alone, and holding it delays
    /// both its first contact and what the model learns of its hours (sim-engine.md, "Session 18").
    public var holdBelowShareOfBest: Double? = nil
    /// With the best-time gate: only debtors whose value at their best time is among the lowest this share (of the
    /// debtors the gate flagged lately, per shard, counts halved every hour) are held; the others stay leasable
    /// at once. When the caps bind, the low-value debtors then spend their few calls at their best hours, while
    /// the high-value ones keep every call the caps allow. Default 1 (every debtor the gate would hold is held).
    public var holdShare: Double = 1
    /// The lease ids' start tag: six characters `0-9a-z`. Default nil: drawn at each open from the clock and a
    /// random number, so that lease ids stay unique across restarts of a store. An ephemeral engine (a simulation)
    /// may fix it, so that the same run gives the same lease ids.
    public var leaseTag: String? = nil
    /// Whether the engine keeps a store. Default ``Persistence/store``.
    public var persistence: Persistence = .store
    /// How far after the engine's clock an outcome's or a payment's `at` may be (clock skew between a dialer and
    /// the service) before ``Engine/ingest(events:)`` rejects it as `invalid_time`: a mistyped year or an epoch in
    /// milliseconds would otherwise take the debtor off the schedule until that date. Seconds; default 300.
    public var futureEventAllowance: Int64 = 300

    /// Whether the engine logs its writes to a durable store.
    public enum Persistence: String, Sendable, CaseIterable {
        /// The SQLite store in ``EngineConfiguration/store``: every write is durable before it is acknowledged,
        /// and a restart recovers every debtor, event and lease. The default.
        case store
        /// No store at all, for simulations and tests: nothing is written to disk and nothing survives the
        /// process (``Engine/store`` must not be read; ``Engine/writeSnapshot()`` does nothing). Validation,
        /// idempotency (a repeated attempt, payment or clearance id is a ``IngestResult/duplicate``), log
        /// positions, shards, queues, leases and expiries work exactly as with a store, so the engine decides,
        /// leases and acknowledges the same; only the group commit, its writer thread and the disk are skipped.
        /// The idempotency keys of every event are kept in memory (about 16 bytes per key of up to 15 bytes).
        case ephemeral
    }

    /// How many revocations ``Engine/revocations`` keeps for a slow consumer (the newest; older ones are dropped).
    /// 0 turns revocation off: no check when a leased debtor changes (the simulator, which reports every call).
    /// Default 10,000.
    public var revocationBuffer: Int = 10_000

    /// Whether the engine's counters (`tagih_engine_*`) go to the process's metrics backend. Off for an engine that
    /// is not the service's (a simulation run by `POST /v1/simulations`). Default true.
    public var exportsMetrics = true

    /// Creates a configuration; see each property for its default.
    public init(
        shardCount: Int = 2 * max(1, ProcessInfo.processInfo.activeProcessorCount),
        leaseTTL: Int64 = 600,
        store: StoreConfiguration = .init(),
        tickIntervalMilliseconds: Int = 1_000,
        snapshotIntervalSeconds: Int = 3_600,
        rescoreBatch: Int = 50_000
    ) {
        self.shardCount = max(1, shardCount)
        self.leaseTTL = max(1, leaseTTL)
        self.store = store
        self.tickIntervalMilliseconds = max(1, tickIntervalMilliseconds)
        self.snapshotIntervalSeconds = max(0, snapshotIntervalSeconds)
        self.rescoreBatch = max(1, rescoreBatch)
    }

    /// A configuration with the data directory set (everything else default).
    public init(dataDirectory: String) {
        self.init(store: StoreConfiguration(directory: dataDirectory))
    }
}
