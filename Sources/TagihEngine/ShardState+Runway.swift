import TagihCore

/// The runway: the best live ready entries of the shard, already popped from the per-jurisdiction ready heaps and
/// merged, best first. Unfiltered leasing (the common case) peeks and takes from it: a `lease` call peeks at a
/// shard's best few dozen scores and then takes some of them, and the next call peeks at the same entries again;
/// kept here, they are checked against hot slots instead of being found again by walking the heaps (a walk that
/// touched a cold slot per entry and was most of the cost of a peek).
///
/// Invariant: every entry in `runway[runwayHead...]` ranks at or above every entry left in the ready heaps, so
/// the runway followed by the heaps is the shard's ready queue in rank order. `fileReady` keeps it when a debtor
/// becomes ready; filtered leasing first puts the runway back into the heaps (`flushRunway`).
extension ShardState {
    /// The most entries a debtor that becomes ready is sorted into the runway (beyond, the runway goes back into
    /// the heaps: an hourly re-score of every ready debtor must not insert millions into the runway).
    static let runwayInsertLimit = 1_024

    @inline(__always) func isLiveReady(_ e: ReadyEntry) -> Bool {
        let slot = slots[Int(e.index)]
        return slot.generation == e.generation && slot.state == .ready
    }

    /// Files a ready debtor's entry: into the runway when it ranks above the runway's last entry (sorted in),
    /// else into its jurisdiction's heap.
    mutating func fileReady(_ entry: ReadyEntry, jurisdiction j: Int) {
        runwayLive = 0
        guard runwayHead < runway.count, runway[runway.count - 1] < entry else {
            ready[j].push(entry)
            return
        }
        if runway.count - runwayHead >= Self.runwayInsertLimit {
            flushRunway()
            ready[j].push(entry)
            return
        }
        var low = runwayHead
        var high = runway.count
        while low < high {
            let mid = (low + high) / 2
            if runway[mid] < entry { high = mid } else { low = mid + 1 }
        }
        runway.insert(entry, at: low)
    }

    /// Puts the runway's live entries back into their heaps (before filtered leasing, which reads the heaps).
    mutating func flushRunway() {
        runwayLive = 0
        for k in runwayHead..<runway.count {
            let e = runway[k]
            if isLiveReady(e) { ready[Int(slots[Int(e.index)].jurisdiction)].push(e) }
        }
        runway.removeAll(keepingCapacity: true)
        runwayHead = 0
    }

    /// Appends up to `count` (at least `runwayRefill`) entries to the runway: the best heap tops, in rank order.
    /// Entries are not checked against their slots here (the runway's readers do that, and drop stale ones):
    /// the merge reads only the ready queues' heads, and the slots of the new entries are then read in one loop
    /// of independent loads (`touchSlots`), so the processor waits for their cache misses together instead of
    /// for one after the other inside the merge (a slot of 10 M debtors is cold).
    mutating func extendRunway(by count: Int) {
        let first = runway.count
        let wanted = max(count, Self.runwayRefill)
        let queues = ready.count
        guard queues > 1 else { return }
        // The heads of the non-empty ready queues in a heap: each entry appended costs a few comparisons instead of
        // one per queue (a shard has a queue per jurisdiction, dozens in a real book).
        var heads = MaxHeap<QueueHead>()
        heads.reserveCapacity(queues)
        for j in 1..<queues {
            if let top = ready[j].top { heads.push(QueueHead(entry: top, queue: j)) }
        }
        var added = 0
        while added < wanted, let head = heads.pop() {
            guard let entry = ready[head.queue].pop() else { break }
            runway.append(entry)
            added += 1
            if let next = ready[head.queue].top { heads.push(QueueHead(entry: next, queue: head.queue)) }
        }
        touchSlots(from: first)
    }

    /// The fewest entries `extendRunway` appends at once (its per-call work, one head per ready queue, is then
    /// spread over many entries).
    static let runwayRefill = 64

    /// Reads the slot of every runway entry from `start` on, in a loop of independent loads.
    mutating func touchSlots(from start: Int) {
        guard start < runway.count else { return }
        var sink: UInt8 = 0
        runway.withUnsafeBufferPointer { entries in
            slots.withUnsafeBufferPointer { slots in
                for k in start..<entries.count {
                    let slot = slots.baseAddress! + Int(entries[k].index)
                    sink &+= slot.pointee.flags &+ UInt8(truncatingIfNeeded: slot.pointee.basis)
                }
            }
        }
        touchSink &+= sink
    }

    /// The scores of the best `n` ready debtors (no filter), best first; drops stale runway entries on the way.
    /// The entries a previous peek found live, with nothing changed since (`runwayLive`), are not checked again:
    /// the eight dialers' peeks of the same best few dozen entries then read no slot (each a cache miss at 10 M
    /// debtors) but the first.
    mutating func peekRunway(_ n: Int) -> [Float] {
        var scores: [Float] = []
        scores.reserveCapacity(n)
        let known = min(runwayLive, n, runway.count - runwayHead)
        if known > 0 {
            runway.withUnsafeBufferPointer { entries in
                for k in runwayHead..<(runwayHead + known) { scores.append(entries[k].score) }
            }
            if known == n { return scores }
        }
        var write = runwayHead + known
        var read = write
        while scores.count < n {
            if read == runway.count {
                runway.removeSubrange(write..<runway.count)
                read = write
                extendRunway(by: n - scores.count)
                if read == runway.count { break }
            }
            let e = runway[read]
            read += 1
            if isLiveReady(e) {
                runway[write] = e
                write += 1
                scores.append(e.score)
            }
        }
        if write < read { runway.removeSubrange(write..<read) }
        runwayLive = write - runwayHead
        return scores
    }

    /// Reads the slot and the start of the record of each of the next `n` runway entries, in a loop of
    /// independent loads: the processor then waits for many of these cache misses at once, instead of for one
    /// after the other while each debtor is leased (the slot and record of a debtor are cold at 10 M debtors).
    mutating func touchRunway(_ n: Int) {
        let end = min(runway.count, runwayHead + n)
        guard runwayHead < end else { return }
        var sink: UInt8 = 0
        runway.withUnsafeBufferPointer { entries in
            slots.withUnsafeBufferPointer { slots in
                arena.bytes.withUnsafeBufferPointer { bytes in
                    for k in runwayHead..<end {
                        let blob = Int(slots[Int(entries[k].index)].blob)
                        sink &+= bytes[blob]
                        if blob + 64 < bytes.count { sink &+= bytes[blob + 64] }
                    }
                }
            }
        }
        touchSink &+= sink
    }

    /// The best live ready entry (no filter), taken off the runway (refilled from the heaps, `refill` at a time).
    mutating func popRunway(refill: Int) -> ReadyEntry? {
        while true {
            if runwayHead == runway.count {
                runway.removeAll(keepingCapacity: true)
                runwayHead = 0
                extendRunway(by: max(1, refill))
                if runwayHead == runway.count { return nil }
            }
            let e = runway[runwayHead]
            runwayHead += 1
            if runwayLive > 0 { runwayLive -= 1 }
            if runwayHead > 4_096 && runwayHead * 2 > runway.count {
                runway.removeSubrange(0..<runwayHead)
                runwayHead = 0
            }
            if isLiveReady(e) { return e }
        }
    }
}
