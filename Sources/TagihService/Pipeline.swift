import Synchronization

/// A one-waiter wake-up signal with a timeout, for stream loops that sleep until there is work.
final class Doorbell: Sendable {
    private let state = Mutex<(rung: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    /// Wakes the waiter, or makes the next `wait` return at once.
    func ring() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let w = s.waiter {
                s.waiter = nil
                return w
            }
            s.rung = true
            return nil
        }
        waiter?.resume()
    }

    /// Waits until `ring()` or until `timeout` passes (or the task is cancelled).
    func wait(timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForRing() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.ring()
            }
            await group.next()
            group.cancelAll()
            self.ring()  // release the ring waiter if the sleep was cancelled first
            await group.waitForAll()
        }
        state.withLock { $0.rung = false }
    }

    private func waitForRing() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.rung {
                    s.rung = false
                    return true
                }
                s.waiter = c
                return false
            }
            if now { c.resume() }
        }
    }
}

/// Results of concurrently processed input lines, released strictly in input order.
///
/// The reader registers each line (waiting while `window` results are outstanding), workers
/// complete them in any order, and the writer takes the next consecutive run of finished results.
final class OrderedResults: Sendable {
    private struct State {
        var results: [Int: [UInt8]] = [:]
        var nextToWrite = 0
        var registered = 0
        var inputFinished = false
        var writer: CheckedContinuation<Void, Never>?
        var reader: CheckedContinuation<Void, Never>?
        var cancelled = false
    }

    private let state = Mutex(State())
    let window: Int

    init(window: Int) { self.window = max(1, window) }

    /// Reserves the next index, waiting while too many results are outstanding.
    /// - Throws: `CancellationError` when the task or the pipeline was cancelled.
    func register() async throws -> Int {
        while true {
            let index: Int? = try state.withLock { s in
                if s.cancelled { throw CancellationError() }
                guard s.registered - s.nextToWrite < window else { return nil }
                defer { s.registered += 1 }
                return s.registered
            }
            if let index { return index }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let resume = state.withLock { s -> Bool in
                        if s.cancelled || s.registered - s.nextToWrite < window { return true }
                        s.reader = c
                        return false
                    }
                    if resume { c.resume() }
                }
            } onCancel: {
                self.cancel()
            }
        }
    }

    /// Ends the pipeline at once: waiters resume, `register` throws, `next` returns nil.
    func cancel() {
        let (reader, writer) = state.withLock { s in
            s.cancelled = true
            defer {
                s.reader = nil
                s.writer = nil
            }
            return (s.reader, s.writer)
        }
        reader?.resume()
        writer?.resume()
    }

    /// Stores the result for `index` and wakes the writer.
    func complete(_ index: Int, _ bytes: [UInt8]) {
        let writer = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.results[index] = bytes
            defer { s.writer = nil }
            return s.writer
        }
        writer?.resume()
    }

    /// No more lines will be registered.
    func finishInput() {
        let writer = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.inputFinished = true
            defer { s.writer = nil }
            return s.writer
        }
        writer?.resume()
    }

    /// The next consecutive finished results in order, waiting for at least one;
    /// nil once input finished and everything was taken.
    func next() async -> [[UInt8]]? {
        while true {
            let (batch, done, reader) = state.withLock { s -> ([[UInt8]], Bool, CheckedContinuation<Void, Never>?) in
                if s.cancelled { return ([], true, nil) }
                var batch: [[UInt8]] = []
                while let r = s.results.removeValue(forKey: s.nextToWrite) {
                    batch.append(r)
                    s.nextToWrite += 1
                }
                let done = batch.isEmpty && s.inputFinished && s.nextToWrite == s.registered
                let reader = batch.isEmpty ? nil : s.reader
                if reader != nil { s.reader = nil }
                return (batch, done, reader)
            }
            reader?.resume()
            if !batch.isEmpty { return batch }
            if done { return nil }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let resume = state.withLock { s -> Bool in
                        if s.cancelled || s.results[s.nextToWrite] != nil
                            || (s.inputFinished && s.nextToWrite == s.registered)
                        {
                            return true
                        }
                        s.writer = c
                        return false
                    }
                    if resume { c.resume() }
                }
            } onCancel: {
                self.cancel()
            }
        }
    }
}

/// The request body sent no line for the configured idle time.
struct BodyIdleTimeout: Error {
    var message: String
}

/// Watches a body-reading loop and interrupts it when no input came for `timeout`.
final class IdleWatchdog: Sendable {
    private let lastActivity = Mutex(ContinuousClock.now)
    private let stopped = Atomic<Bool>(false)
    private let doorbell = Doorbell()
    let timeout: Duration

    init(timeout: Duration) { self.timeout = timeout }

    /// Records input activity.
    func touch() { lastActivity.withLock { $0 = ContinuousClock.now } }

    /// Ends `watch` promptly.
    func stop() {
        stopped.store(true, ordering: .relaxed)
        doorbell.ring()
    }

    /// Calls `onTimeout` (once) when no `touch()` came for `timeout`; returns after `stop()`.
    func watch(onTimeout: @Sendable () -> Void) async {
        while !stopped.load(ordering: .relaxed) {
            let idle = ContinuousClock.now - lastActivity.withLock { $0 }
            if idle >= timeout {
                onTimeout()
                return
            }
            await doorbell.wait(timeout: timeout - idle + .milliseconds(10))
        }
    }

    var message: String {
        "no line arrived for \(timeout.components.seconds) s; end the request body (END_STREAM) when done, "
            + "or send lines more often. Every complete line received was answered above; bytes after the last "
            + "newline (a line not finished) were not processed: send that line again"
    }
}

/// What an input line needs once decoded: a result known at once (blank or rejected), or an item for the
/// stream's batch runner.
enum BatchedLine<Item: Sendable>: Sendable {
    case done([UInt8])
    case item(Item)
}

/// The lines of one stream that need the engine, run in batches, one batch after the other, in input order.
///
/// The reader adds each decoded line; the runner takes everything queued so far (up to `maxBatch`) as one batch.
/// While a batch is being made durable the next one gathers, so a trickle of lines costs one engine call each
/// and a burst costs one engine call (one validation per shard, one group commit, one apply per shard) for
/// many lines. Running batches in input order also orders the lines: the second of two lines with one event id
/// is the duplicate, the later of two upserts of one debtor is the one that stays.
final class LineBatches<Item: Sendable>: Sendable {
    private struct State {
        var queue: [(index: Int, item: Item)] = []
        var finished = false
        var runner: CheckedContinuation<Void, Never>?
        /// Lines added, and lines whose batch `body` has run (in `add` order: batches run one after the other).
        var added = 0
        var processed = 0
        /// `waitUntilProcessed` callers: each resumed once `processed` reaches its target (or `run` returned).
        var waiters: [(target: Int, continuation: CheckedContinuation<Void, Never>)] = []
        var stopped = false
    }

    private let state = Mutex(State())
    let maxBatch: Int

    init(maxBatch: Int) { self.maxBatch = max(1, maxBatch) }

    /// Queues the line with result slot `index`.
    func add(_ index: Int, _ item: Item) {
        let runner = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.queue.append((index, item))
            s.added += 1
            defer { s.runner = nil }
            return s.runner
        }
        runner?.resume()
    }

    /// No more lines will be added (also on cancellation: `run` then returns once the queue is empty).
    func finish() {
        let runner = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.finished = true
            defer { s.runner = nil }
            return s.runner
        }
        runner?.resume()
    }

    /// Returns once every line added before this call has been processed by `run`'s `body` (its effects are
    /// done: for outcomes, durable and applied), or `run` has returned. A line that must not overtake the lines
    /// before it (a dialer's release after its outcomes) waits here first.
    func waitUntilProcessed() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resume = state.withLock { s -> Bool in
                if s.processed >= s.added || s.stopped { return true }
                s.waiters.append((s.added, c))
                return false
            }
            if resume { c.resume() }
        }
    }

    /// Runs `body` on successive batches until `finish()` and an empty queue; completes each line's result slot.
    /// `body` returns one result per item, in order.
    func run(into results: OrderedResults, _ body: ([Item]) async -> [[UInt8]]) async {
        defer {
            let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
                s.stopped = true
                defer { s.waiters = [] }
                return s.waiters.map(\.continuation)
            }
            for w in waiters { w.resume() }
        }
        while true {
            let taken = state.withLock { s -> [(index: Int, item: Item)]? in
                if s.queue.isEmpty { return s.finished ? nil : [] }
                if s.queue.count <= maxBatch {
                    defer { s.queue = [] }
                    return s.queue
                }
                defer { s.queue.removeFirst(maxBatch) }
                return Array(s.queue.prefix(maxBatch))
            }
            guard let taken else { return }
            if taken.isEmpty {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let resume = state.withLock { s -> Bool in
                        if !s.queue.isEmpty || s.finished { return true }
                        s.runner = c
                        return false
                    }
                    if resume { c.resume() }
                }
                continue
            }
            let out = await body(taken.map(\.item))
            for (k, entry) in taken.enumerated() { results.complete(entry.index, out[k]) }
            let ready = state.withLock { s -> [CheckedContinuation<Void, Never>] in
                s.processed += taken.count
                let done = s.waiters.filter { $0.target <= s.processed }
                s.waiters.removeAll { $0.target <= s.processed }
                return done.map(\.continuation)
            }
            for w in ready { w.resume() }
        }
    }
}
