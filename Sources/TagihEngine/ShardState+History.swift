import TagihCore
import TagihStore

/// A shard's part of the history checkpoint: which debtors' histories changed since they were last written, and,
/// during recovery, which histories came from the checkpoint.
struct HistoryCheckpointState {
    /// Whether changed histories are listed at all: an ephemeral engine writes no checkpoint, so its shards skip
    /// the bookkeeping (the list would only grow).
    var tracksChanges = true
    /// Bit per slot: the debtor's history changed since its checkpoint row was last taken (`historyRows`).
    var dirty: [UInt64] = []
    /// The slots whose bit is set, oldest first from `head` on (each slot once: it is appended only when its bit
    /// was clear).
    var queue: [UInt32] = []
    var head = 0
    /// Recovery only: bit per slot, the debtor's history was loaded from a checkpoint row.
    var restored: [UInt64] = []
    /// Recovery only: every event logged at or before it is in its debtor's checkpoint row.
    var replayFloor: Int64 = 0
    /// Recovery only: checkpoint rows that could not be decoded.
    var unreadable = 0
    /// The histories loaded from checkpoint rows and not changed since, still encoded (``HistoryCoding``), back
    /// to back: entry k is `storedBytes[storedOffsets[k] ..< storedOffsets[k + 1]]` (the last one ends at the end).
    /// A debtor's is decoded when it is needed (a decision, a query) and moved to `histories` when it changes.
    var storedBytes: [UInt8] = []
    var storedOffsets: [Int] = []

    /// The number of debtors whose history changed since it was last taken.
    var pendingCount: Int { queue.count - head }

    @inline(__always) static func isSet(_ bits: [UInt64], _ i: UInt32) -> Bool {
        let w = Int(i >> 6)
        return w < bits.count && bits[w] & (1 << UInt64(i & 63)) != 0
    }

    @inline(__always) static func set(_ bits: inout [UInt64], _ i: UInt32) {
        let w = Int(i >> 6)
        if w >= bits.count { bits.append(contentsOf: repeatElement(0, count: max(w + 1 - bits.count, bits.count / 4))) }
        bits[w] |= 1 << UInt64(i & 63)
    }

    @inline(__always) static func clear(_ bits: inout [UInt64], _ i: UInt32) {
        let w = Int(i >> 6)
        if w < bits.count { bits[w] &= ~(1 << UInt64(i & 63)) }
    }
}

/// History checkpoints: each debtor's history (outcomes, payments, expired leases, clearances: what replaying its
/// events rebuilds) is written to the store's `history_state` table with the decision snapshot, for the debtors
/// whose history changed since, so a start replays only the log after the history floor instead of all of it.
///
/// The rules that make recovery apply every event exactly once (the engine's side is in `Engine.writeSnapshot`):
/// - A row is taken in one turn of the shard, so it holds exactly the events applied to the debtor until then, and
///   its `lsn` is the debtor's decision basis, at or after each of them.
/// - The floor the engine records after a checkpoint's rows is a position through which every logged event had
///   been applied to its shard before the checkpoint began; every debtor with such an event was dirty or had a row
///   already, so its row holds those events.
/// - At recovery an event at or before the floor is not added again (`replayAddsToHistory`); an event after the
///   floor and at or before the basis of a debtor whose history came from a row may be in the row (shards apply
///   concurrent commits in any order, and a crash may leave rows of a checkpoint whose floor was never recorded),
///   and is added only when the history does not hold it (by attempt, payment or lease id; a clearance by value).
/// - Whatever an event does to leases is replayed regardless (`replayLeaseEnd`), from the lease replay floor on.
///
/// A history keeps its entries in the order the shard applied them. Concurrent commits for one debtor may reach
/// the shard in either order; the checkpoint keeps the live order, where a replay of the whole log would use log
/// order (the same entries; the policy reads them by time).
extension ShardState {
    /// `Slot.history` flag: the rest is an index into `historyCheckpoint.storedOffsets`, not `histories`.
    static let storedHistoryBit: UInt32 = 1 << 31

    /// Debtor `i`'s history as loaded from its checkpoint row (its slot has `storedHistoryBit`), decoded. A body is
    /// checked when it is loaded (`HistoryCoding.isIntact`), so decoding it does not fail (else it is empty).
    func storedHistory(_ i: UInt32) -> DebtorHistory {
        let slot = slots[Int(i)]
        let k = Int(slot.history & ~Self.storedHistoryBit)
        let start = historyCheckpoint.storedOffsets[k]
        let end = k + 1 < historyCheckpoint.storedOffsets.count
            ? historyCheckpoint.storedOffsets[k + 1] : historyCheckpoint.storedBytes.count
        let id = arena.id(at: slot.blob)
        return historyCheckpoint.storedBytes.withUnsafeBytes { raw in
            do {
                return try HistoryCoding.decode(UnsafeRawBufferPointer(rebasing: raw[start..<end]), debtor: id)
            } catch {
                assertionFailure("a history checkpoint row passed its check at start and does not decode: \(error)")
                return DebtorHistory()
            }
        }
    }

    /// Moves debtor `i`'s stored history to `histories` (before it changes). Its bytes stay in the stored arena,
    /// unused, until the next start.
    mutating func materializeHistory(_ i: UInt32) {
        guard slots[Int(i)].history & Self.storedHistoryBit != 0 else { return }
        let history = storedHistory(i)
        histories.append(history)
        slots[Int(i)].history = UInt32(histories.count)
    }

    /// Notes that debtor `i`'s history changed (an applied event), so that the next checkpoint writes it.
    mutating func markHistoryChanged(_ i: UInt32) {
        if !historyCheckpoint.tracksChanges || HistoryCheckpointState.isSet(historyCheckpoint.dirty, i) { return }
        HistoryCheckpointState.set(&historyCheckpoint.dirty, i)
        historyCheckpoint.queue.append(i)
    }

    /// Takes checkpoint rows of the debtors whose history changed, oldest change first: at most `limit` rows and
    /// about `maxBytes` of bodies. Their changes count as written; if the write fails, give them back
    /// (`markHistoryChanged` for each of the returned slots).
    mutating func historyRows(limit: Int, maxBytes: Int) -> (rows: [HistoryRow], slots: [UInt32]) {
        var rows: [HistoryRow] = []
        var taken: [UInt32] = []
        var bytes = 0
        while rows.count < limit && bytes < maxBytes && historyCheckpoint.head < historyCheckpoint.queue.count {
            let i = historyCheckpoint.queue[historyCheckpoint.head]
            historyCheckpoint.head += 1
            HistoryCheckpointState.clear(&historyCheckpoint.dirty, i)
            let slot = slots[Int(i)]
            guard slot.history != 0 else { continue }
            let id = arena.id(at: slot.blob)
            let body = HistoryCoding.encode(history(i), debtor: id)
            bytes += body.count + id.utf8.count
            rows.append(HistoryRow(debtor: id, lsn: slot.basis, body: body))
            taken.append(i)
        }
        if historyCheckpoint.head == historyCheckpoint.queue.count {
            historyCheckpoint.queue.removeAll(keepingCapacity: historyCheckpoint.queue.count < 1 << 16)
            historyCheckpoint.head = 0
        } else if historyCheckpoint.head > 4096 && historyCheckpoint.head * 2 > historyCheckpoint.queue.count {
            historyCheckpoint.queue.removeFirst(historyCheckpoint.head)
            historyCheckpoint.head = 0
        }
        return (rows, taken)
    }

    /// Recovery: installs debtor `i`'s history from its checkpoint row (`lsn`: the row's position), kept encoded
    /// (decoded when needed). A row whose body fails its check is counted (the engine then replays the whole log)
    /// and left out.
    mutating func loadHistory(_ i: UInt32, body: UnsafeRawBufferPointer, lsn: Int64) {
        guard HistoryCoding.isIntact(body), slots[Int(i)].history == 0,
            historyCheckpoint.storedOffsets.count < Int(Self.storedHistoryBit)
        else {
            historyCheckpoint.unreadable += 1
            return
        }
        var slot = slots[Int(i)]
        // As replaying the row's events would: a restored decision older than them is not used.
        if slot.flags & Self.restoredFlag != 0 && lsn > slot.basis { slot.flags &= ~Self.restoredFlag }
        slot.basis = max(slot.basis, lsn)
        slot.history = Self.storedHistoryBit | UInt32(historyCheckpoint.storedOffsets.count)
        historyCheckpoint.storedOffsets.append(historyCheckpoint.storedBytes.count)
        historyCheckpoint.storedBytes.append(contentsOf: body)
        slots[Int(i)] = slot
        HistoryCheckpointState.set(&historyCheckpoint.restored, i)
    }

    /// Recovery: forgets every history loaded from the checkpoint (some row could not be read: the engine replays
    /// the whole log instead). Call before any event is replayed.
    mutating func discardRestoredHistories() {
        for i in slots.indices where slots[i].history != 0 { slots[i].history = 0 }
        histories = []
        historyCheckpoint.storedBytes = []
        historyCheckpoint.storedOffsets = []
        historyCheckpoint.restored = []
        historyCheckpoint.replayFloor = 0
    }

    /// Recovery: the history floor of the log about to be replayed.
    mutating func beginHistoryReplay(floor: Int64) {
        historyCheckpoint.replayFloor = floor
    }

    /// Recovery is over: drops its state.
    mutating func finishHistoryReplay() {
        historyCheckpoint.restored = []
        historyCheckpoint.replayFloor = 0
        historyCheckpoint.unreadable = 0
    }

    /// Recovery: whether replaying `event` (logged at `lsn`) for debtor `i` adds it to the history, i.e. the
    /// history does not hold it yet (see the rules above).
    func replayAddsToHistory(_ event: StoredEvent, lsn: Int64, slot i: UInt32) -> Bool {
        switch event {
        case .leasesGranted, .leasesReleased: return true  // not history: `apply` handles them before
        default: break
        }
        if lsn <= historyCheckpoint.replayFloor { return false }
        let slot = slots[Int(i)]
        guard lsn <= slot.basis, slot.history != 0, HistoryCheckpointState.isSet(historyCheckpoint.restored, i)
        else { return true }
        let history = self.history(i)
        switch event {
        case .outcome(let o): return !history.outcomes.contains { $0.attempt == o.attempt }
        case .payment(let p): return !history.payments.contains { $0.payment == p.payment }
        case .leaseExpired(let l):
            return !history.unresolved.contains { $0.lease == l.lease } && !history.outcomes.contains { $0.lease == l.lease }
        case .clearance(let c): return !history.clearances.contains(c.holdClearance)
        case .leasesGranted, .leasesReleased: return true
        }
    }

    /// Recovery: what an event the checkpoint already holds does to leases (as `apply` does with `now` nil).
    mutating func replayLeaseEnd(_ event: StoredEvent, lsn: Int64, slot i: UInt32) {
        switch event {
        case .outcome(let o):
            if let lease = o.lease {
                endLease(id: lease, slot: i, now: nil)
            } else {
                endLeaseForUnleasedOutcome(slot: i, lsn: lsn, now: nil)
            }
        case .leaseExpired(let l):
            endLease(id: l.lease, slot: i, now: nil)
        case .payment, .clearance, .leasesGranted, .leasesReleased:
            break
        }
    }
}
