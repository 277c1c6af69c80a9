/// Settings of the SQLite store. Every field has a documented default.
public struct StoreConfiguration: Sendable {
    /// How hard a commit is pushed to disk before it is acknowledged.
    public enum Durability: String, Sendable, CaseIterable {
        /// `PRAGMA synchronous = FULL` in WAL mode: the WAL is fsynced at every commit. An acknowledged event
        /// survives a kill -9 of the process *and* a power loss or kernel crash. The default.
        case full
        /// `PRAGMA synchronous = NORMAL` in WAL mode: the commit is written to the WAL file (so it is in the
        /// kernel's page cache and survives a kill -9 of the process) but fsynced only at checkpoints; a power
        /// loss may roll back the last commits.
        case normal
    }

    /// The directory holding the database file; created when missing. Default `./data`.
    public var directory: String
    /// The database file name inside ``directory``. Default `tagih.sqlite`.
    public var fileName: String
    /// Commit durability. Default ``Durability/full``.
    public var durability: Durability
    /// The most rows (events or debtors) the group committer puts in one transaction. Default 20,000.
    public var maxRowsPerTransaction: Int
    /// Rows per page when the engine reads the store back at start. Default 20,000.
    public var readPageSize: Int
    /// Whether the store's connections use the `tagih-wal` VFS, which writes the WAL frames of each fully
    /// synchronous group commit with one `pwrite` instead of two per frame (SQLite's own way), just before the
    /// commit's fsync. Same files, same durability; off only for comparisons or as an escape hatch. Has no effect
    /// with ``Durability/normal`` (no commit there is fully synchronous). Default `true`.
    public var coalescesWALWrites: Bool

    /// Creates a configuration; see each property for its default.
    public init(
        directory: String = "./data", fileName: String = "tagih.sqlite", durability: Durability = .full,
        maxRowsPerTransaction: Int = 20_000, readPageSize: Int = 20_000, coalescesWALWrites: Bool = true
    ) {
        self.directory = directory
        self.fileName = fileName
        self.durability = durability
        self.maxRowsPerTransaction = maxRowsPerTransaction
        self.readPageSize = readPageSize
        self.coalescesWALWrites = coalescesWALWrites
    }

    /// The path of the database file.
    public var path: String { directory.hasSuffix("/") ? directory + fileName : directory + "/" + fileName }
}
