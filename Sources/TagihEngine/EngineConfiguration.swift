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
    /// How many ready debtors a shard re-scores per tick after the hour changes. Default 50,000.
    public var rescoreBatch: Int
    /// How durable a lease grant (and a release) is before the lease is handed out. Default: the store's
    /// durability (``StoreConfiguration/Durability/full``: fsynced, survives a power loss).
    /// ``StoreConfiguration/Durability/normal`` commits grants without their own fsync: a grant survives a
    /// crash or kill of the process (it is in the WAL file) and becomes power-loss safe with the next fully
    /// synchronous commit (the next outcome batch) or checkpoint; after a power loss the leases granted since
    /// then (usually milliseconds) may be forgotten and those debtors leased again. About 3-5× the lease
    /// throughput when dialers are few (see Benchmarks/results/engine.md).
    public var leaseDurability: StoreConfiguration.Durability? = nil

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
