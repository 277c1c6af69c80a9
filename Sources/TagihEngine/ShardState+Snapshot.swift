import TagihCore
import TagihStore

/// The hashes of a shard's interned reason lists (parallel to `ShardState.reasonTable`, filled in as snapshot rows
/// name them) and which of them the store holds; at recovery, the lists read from the store, by hash.
struct SavedReasons {
    /// `ReasonList.hash` of `reasonTable[k]` (0 for the empty list at 0), for `k < hashes.count`.
    var hashes: [UInt64] = [0]
    /// Whether `reasonTable[k]` was handed to a snapshot write (or read from the store), for `k < hashes.count`.
    var saved: [Bool] = [true]
    /// Recovery only: every list in the store, by hash, and the ones interned so far (the last one looked up is
    /// kept apart: restored rows mostly name the same few lists).
    var stored: [UInt64: [String]] = [:]
    var interned: [UInt64: UInt32] = [:]
    var lastHash: UInt64 = 0
    var lastID: UInt32 = 0
    /// Restored ready decisions whose reasons were not restored (an older row, or a list missing from the store).
    var restoredWithout = 0
}

/// Decision snapshots: the engine's per-debtor decision saved to the store, so a restart files debtors into
/// their queues without running the policy for each. A snapshot row is used only when nothing changed for the
/// debtor after it was taken (its `basis` is the log position of the last change it reflects); restored
/// decisions are re-decided as soon as they are used at a later hour (`take`, the hourly re-score, the time queue).
///
/// Row format (version byte 1): state code, debt and phone index, flags, score, earliest, best, window end, decided
/// at, zone; then, in rows written since the store's migration v2, the `ReasonList.hash` of a ready decision's
/// reasons (0: none, or not ready), whose list is in the store's `reason_list` table. Older readers ignore the
/// trailing hash (they re-decide before leasing, as before); a row without it, or naming a list the store does not
/// hold, is restored without reasons and re-decided before it is leased.
extension ShardState {
    /// The decision was restored from a snapshot and is not yet in a queue.
    static let restoredFlag: UInt8 = 2
    /// The decision was restored without its reasons: re-decide before leasing.
    static let withoutReasonsFlag: UInt8 = 4
    static let snapshotVersion: UInt8 = 1

    /// The decision is already in the store's snapshot (cleared by every re-decision).
    static let inSnapshotFlag: UInt8 = 16

    /// Snapshot rows for the slots from `start` on whose decision changed since the last snapshot, at most
    /// `limit`; marks them written. Returns the rows, the reason lists they name that the store may not hold yet
    /// (to be written in the same or an earlier transaction), and where to continue (`slots.count` at the end).
    mutating func snapshotRows(from start: Int, limit: Int) -> (rows: [SnapshotRow], lists: [ReasonList], next: Int) {
        var rows: [SnapshotRow] = []
        var lists: [ReasonList] = []
        var i = start
        while i < slots.count && rows.count < limit {
            defer { i += 1 }
            let slot = slots[i]
            if slot.flags & Self.inSnapshotFlag != 0 { continue }
            slots[i].flags |= Self.inSnapshotFlag
            var w = ByteWriter(capacity: 64)
            w.write(Self.snapshotVersion)
            let code: UInt8 =
                switch slot.state {
                case .blocked: 0
                case .waiting, .pending: 1  // a pending row's basis is older than its events: never restored
                case .ready, .leased, .expiring: 2  // leases are not durable: a leased debtor restarts ready
                }
            w.write(code)
            w.write(slot.debtIndex)
            w.write(slot.phoneIndex)
            w.write(slot.flags & 1)
            w.write(slot.score.bitPattern)
            w.write(slot.earliest)
            w.write(slot.best)
            w.write(slot.windowEnds)
            w.write(slot.decidedAt)
            w.write(arena.strings.string(slot.zone) ?? "")
            if slot.flags & Self.withoutReasonsFlag == 0
                && (slot.reasons != 0 || reasonTable.count < Self.maxReasonEntries)
            {
                // (A full reason table leaves a new decision without reasons: no hash then, as its 0 would say
                // "none".)
                let hash = code != 0 ? reasonHash(slot.reasons, into: &lists) : 0  // a blocked one's are not kept
                w.write(Int64(bitPattern: hash))
            }
            rows.append(SnapshotRow(debtor: arena.id(at: slot.blob), basis: slot.basis, state: w.bytes))
        }
        return (rows, lists, i)
    }

    /// The hash of interned reason list `id` (0 for none); appends the list to `lists` the first time.
    private mutating func reasonHash(_ id: UInt32, into lists: inout [ReasonList]) -> UInt64 {
        if id == 0 { return 0 }
        hashNewReasonLists()
        let k = Int(id)
        if !savedReasons.saved[k] {
            savedReasons.saved[k] = true
            lists.append(ReasonList(reasonTable[k]))
        }
        return savedReasons.hashes[k]
    }

    /// Extends `savedReasons.hashes` (and `saved`, as not yet saved) to every interned reason list.
    private mutating func hashNewReasonLists() {
        while savedReasons.hashes.count < reasonTable.count {
            savedReasons.hashes.append(ReasonList.hash(reasonTable[savedReasons.hashes.count]))
            savedReasons.saved.append(false)
        }
    }

    /// Recovery: the reason lists the store holds (before any record is loaded).
    mutating func setStoredReasonLists(_ lists: [UInt64: [String]]) {
        savedReasons.stored = lists
    }

    /// Recovery is over: drops the stored lists.
    mutating func finishRestoring() {
        savedReasons.stored = [:]
        savedReasons.interned = [:]
    }

    /// The interned id of the stored list with this hash, or nil when the store does not hold it (or the reason
    /// table is full).
    private mutating func restoredReasons(_ hash: UInt64) -> UInt32? {
        if hash == savedReasons.lastHash && savedReasons.lastID != 0 { return savedReasons.lastID }
        var id = savedReasons.interned[hash] ?? 0
        if id == 0 {
            guard let list = savedReasons.stored[hash], ReasonList.hash(list) == hash else { return nil }
            id = internReasons(list)
            guard id != 0 else { return nil }
            savedReasons.interned[hash] = id
            hashNewReasonLists()
            savedReasons.saved[Int(id)] = true  // the store holds it
        }
        savedReasons.lastHash = hash
        savedReasons.lastID = id
        return id
    }

    /// Re-decides every ready debtor whose decision was restored without its reasons (rows of an older snapshot),
    /// so that the next snapshot holds them with their reasons. Returns how many.
    mutating func redecideRestoredWithoutReasons(now: UnixSeconds) -> Int {
        var count = 0
        for i in slots.indices where slots[i].flags & Self.withoutReasonsFlag != 0 && slots[i].state == .ready {
            redecide(UInt32(i), now: now)
            count += 1
        }
        return count
    }

    /// Loads stored debtors at recovery (ids are unique in the store, so no lookup) straight from the page's
    /// bytes; restores a snapshot decision when the snapshot covers the record, and the debtor's history from
    /// its history checkpoint row (ShardState+History.swift). A record that cannot be packed is skipped; returns
    /// how many were.
    mutating func load(_ page: RecordPage, _ rows: [Int32]) -> Int {
        var failed = 0
        page.bytes.withUnsafeBytes { raw in
            for k in rows {
                let entry = page.entries[Int(k)]
                let body = UnsafeRawBufferPointer(rebasing: raw[entry.body])
                let state = entry.state.map { UnsafeRawBufferPointer(rebasing: raw[$0]) }
                if !load(body: body, lsn: entry.lsn, snapshot: state, basis: entry.basis) {
                    failed += 1
                    continue
                }
                if let history = entry.history {
                    loadHistory(UInt32(slots.count - 1), body: UnsafeRawBufferPointer(rebasing: raw[history]),
                                lsn: entry.historyLSN)
                }
            }
        }
        return failed
    }

    /// Indexes every loaded record by id (after the last page, before the log is replayed).
    mutating func finishLoading() {
        let slots = self.slots
        let arena = self.arena
        index.rebuild(count: slots.count) { arena.idHash(at: slots[Int($0)].blob) }
    }

    /// Loads one stored record body (see `load(_:_:)`); the record is not findable by id until `finishLoading`.
    mutating func load(body: UnsafeRawBufferPointer, lsn: Int64, snapshot: UnsafeRawBufferPointer?, basis: Int64)
        -> Bool
    {
        guard let (offset, id, j) = try? arena.appendStored(body),
            let jurisdiction = jurisdictions.id(bytes: UnsafeRawBufferPointer(rebasing: body[j]))
        else { return false }
        if Int(jurisdiction) >= ready.count {
            ready.append(contentsOf: repeatElement(ReadyQueue(), count: Int(jurisdiction) + 1 - ready.count))
        }
        let i = UInt32(slots.count)
        slots.append(Slot(blob: offset, jurisdiction: jurisdiction, basis: lsn))
        _ = id  // indexed by `finishLoading`, once every record is in
        if let snapshot, basis >= lsn { restore(i, snapshot, basis: basis) }
        return true
    }

    /// Loads a decoded debtor at recovery (used by tests); see `load(_: StoredRecord)`.
    mutating func load(_ row: StoredDebtor) {
        guard case .inserted = upsert(row.debtor, lsn: row.lsn, now: nil),
            let snapshot = row.snapshot, snapshot.basis >= row.lsn, let i = find(row.debtor.id)
        else { return }
        snapshot.state.withUnsafeBytes { restore(i, $0, basis: snapshot.basis) }
    }

    /// This shard's part of the engine's size hints (see `Store.sizeHints()`): its records, their packed bytes, and
    /// an estimate of its history checkpoint rows' bytes (those loaded at start, plus as many again per history
    /// decoded or started since: it may count a history twice, and a hint too large costs only address space).
    func sizeHints() -> SizeHints {
        let stored = historyCheckpoint.storedBytes.count
        let rows = historyCheckpoint.storedOffsets.count
        let perRow = rows > 0 ? stored / rows + 1 : 256
        return SizeHints(debtors: slots.count, recordBytes: arena.bytes.count,
                         historyBytes: stored + histories.count * perRow)
    }

    /// Before the first record is loaded: reserves room for this shard's share of the records and history rows the
    /// last snapshot counted, so that loading them does not grow (and copy, and fault in) each array many times.
    mutating func reserveForLoading(_ share: SizeHints) {
        guard slots.isEmpty, share.debtors > 0 else { return }
        slots.reserveCapacity(share.debtors)
        arena.bytes.reserveCapacity(share.recordBytes)
        if share.historyBytes > 0 {
            historyCheckpoint.storedBytes.reserveCapacity(share.historyBytes)
            historyCheckpoint.storedOffsets.reserveCapacity(share.debtors)
        }
    }

    /// The bytes of a snapshot row before its zone: version, code, debt, phone, flags (1 byte each), score (4),
    /// earliest, best, window end, decided at (8 each).
    static let snapshotFixedBytes = 41

    private mutating func restore(_ i: UInt32, _ raw: UnsafeRawBufferPointer, basis: Int64) {
        // The fixed part is read with one bounds check (this runs for every debtor at every start).
        guard raw.count > Self.snapshotFixedBytes, raw[0] == Self.snapshotVersion else { return }
        @inline(__always) func int64(_ offset: Int) -> Int64 {
            Int64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int64.self))
        }
        do {
            var r = ByteReader(raw, offset: Self.snapshotFixedBytes)
            let code = raw[1]
            var slot = slots[Int(i)]
            slot.debtIndex = raw[2]
            slot.phoneIndex = raw[3]
            slot.flags = (raw[4] & 1) | Self.restoredFlag | Self.inSnapshotFlag
            slot.score = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 5, as: UInt32.self)))
            slot.earliest = int64(9)
            slot.best = int64(17)
            slot.windowEnds = int64(25)
            slot.decidedAt = int64(33)
            let zone = try r.readStringRange()
            slot.zone = zone.isEmpty ? 0 : (arena.strings.id(bytes: UnsafeRawBufferPointer(rebasing: raw[zone])) ?? 0)
            slot.state = code == 1 ? .waiting : code == 2 ? .ready : .blocked
            slot.basis = basis
            slot.reasons = 0
            if r.isAtEnd {
                slot.flags |= Self.withoutReasonsFlag  // a row written before reasons were saved
            } else {
                let hash = UInt64(bitPattern: try r.readInt64())
                if hash != 0 {
                    if let id = restoredReasons(hash) {
                        slot.reasons = id
                    } else {
                        slot.flags |= Self.withoutReasonsFlag
                    }
                }
            }
            slots[Int(i)] = slot
        } catch {
            return  // an unreadable snapshot row: the debtor is decided afresh
        }
    }

    /// Files a restored decision into its queue; re-decides when it is due, when its window closed, or when
    /// nothing was restored. Returns whether the restored decision was used as is.
    ///
    /// A ready decision made in an earlier hour whose window is still open is filed as it is, as a running
    /// engine's ready debtors are right after the hour changes: `take` re-decides such a debtor before leasing it,
    /// and the hourly re-score pass (`advance`, `rescoreBatch` slots a tick) re-decides the rest after the start.
    /// Re-deciding them here held a start in a later hour than the snapshot for each of them (4.2 M of 10 M in
    /// the restart benchmark: deciding took 12.6-13.3 s instead of 4.1-4.3; Benchmarks/results/restart.md).
    @discardableResult
    mutating func fileOrDecide(_ i: UInt32, now: UnixSeconds) -> Bool {
        runwayLive = 0
        var slot = slots[Int(i)]
        guard slot.flags & Self.restoredFlag != 0 else {
            redecide(i, now: now)
            return false
        }
        slot.flags &= ~Self.restoredFlag
        slot.generation &+= 1
        switch slot.state {
        case .waiting where slot.earliest > now:
            timeQueue.push(TimeEntry(time: slot.earliest, index: i, generation: slot.generation))
        case .ready where now < slot.windowEnds && slot.earliest <= now:
            if slot.flags & Self.withoutReasonsFlag != 0 { savedReasons.restoredWithout += 1 }
            if slot.decidedAt / 3600 != now / 3600 { rescoreCursor = 0 }  // the re-score pass starts at once
            fileReady(ReadyEntry(score: slot.score, index: i, generation: slot.generation),
                      jurisdiction: Int(slot.jurisdiction))
        case .blocked:
            break
        default:
            slots[Int(i)] = slot
            redecide(i, now: now)  // due, or out of its window
            return false
        }
        slots[Int(i)] = slot
        return true
    }
}
