// Engine benchmarks (release build). Sizes come from the environment:
//   TAGIH_BENCH_DEBTORS   debtors in the large store (default 1,000,000; the target run uses 10,000,000)
//   TAGIH_BENCH_DIR       where the stores are kept between runs (default $TMPDIR/tagih-engine-bench)
// The large store is generated once (through the store, without deciding) and reused by later runs.
//
//   cd Benchmarks && TAGIH_BENCH_DEBTORS=10000000 \
//     swift package --allow-writing-to-package-directory benchmark --target EngineBenchmarks
import Benchmark
import Foundation
import Logging
import TagihCore
import TagihEngine
import TagihStore

let environment = ProcessInfo.processInfo.environment
let debtorCount = Int(environment["TAGIH_BENCH_DEBTORS"] ?? "") ?? 1_000_000
let benchRoot = environment["TAGIH_BENCH_DIR"] ?? (NSTemporaryDirectory() + "tagih-engine-bench")
let largeDirectory = benchRoot + "/large-\(debtorCount)"
/// Tuesday 2026-12-01T15:00:00Z: 10:00 in New York, 15:00 in London, 22:00 in Jakarta.
let t0: UnixSeconds = 1_796_137_200
let logger: Logger = {
    var l = Logger(label: "bench")
    l.logLevel = .warning
    return l
}()

/// A deterministic synthetic population: mostly US (several states and zones), some GB and ID.
func syntheticDebtor(_ i: Int) -> Debtor {
    var x = UInt64(truncatingIfNeeded: i) &* 0x9E37_79B9_7F4A_7C15
    x ^= x >> 29
    let places: [(String, String, String)] = [
        ("US-MA", "America/New_York", "+1617"), ("US-NY", "America/New_York", "+1212"),
        ("US-FL", "America/New_York", "+1305"), ("US-TX", "America/Chicago", "+1214"),
        ("US-IL", "America/Chicago", "+1312"), ("US-CO", "America/Denver", "+1303"),
        ("US-AZ", "America/Phoenix", "+1602"), ("US-CA", "America/Los_Angeles", "+1213"),
        ("US-WA", "America/Los_Angeles", "+1206"), ("US", "America/New_York", "+1404"),
        ("GB", "Europe/London", "+4420"), ("GB", "Europe/London", "+44161"), ("ID", "Asia/Jakarta", "+6221"),
    ]
    let place = places[Int(x % UInt64(places.count))]
    let number = place.2 + String(1_000_000 + Int((x >> 8) % 8_999_999))
    let balance = Int64(50 + (x >> 20) % 5_000) * 10_000
    return Debtor(
        id: "D-\(i)", jurisdiction: place.0, zone: place.1, segment: (x >> 40) % 5 < 2 ? "early" : "late",
        phones: [Phone(number: number, kind: .mobile, zone: place.1)],
        debts: [Debt(id: "A-\(i)", balance: Money(tenThousandths: balance), currency: place.0 == "GB" ? "GBP" : "USD")])
}

/// Writes `n` synthetic debtors into the store at `directory` unless it already holds them.
func prepareStore(_ directory: String, _ n: Int, durability: StoreConfiguration.Durability = .full) async throws {
    let store = try await Store.open(
        configuration: StoreConfiguration(directory: directory, durability: durability), logger: logger)
    let have = try await store.debtorCount()
    if have < n {
        let batch = 20_000
        var i = have
        while i < n {
            let end = min(n, i + batch)
            _ = try await store.upsert((i..<end).map(syntheticDebtor))
            i = end
        }
        try await store.checkpoint()
    }
    try await store.close()
}

/// Makes sure the store holds a decision snapshot (as after a clean stop, or the periodic snapshot of `run()`);
/// the first, cold open (every debtor decided) is timed and printed.
func prepareSnapshot(_ directory: String, _ n: Int) async throws {
    let store = try await Store.open(configuration: StoreConfiguration(directory: directory), logger: logger)
    let rows = try await store.snapshotCount()
    try await store.close()
    if rows >= n { return }
    let started = ContinuousClock.now
    let engine = try await openEngine(directory, clock: VirtualClock(start: t0))
    let opened = ContinuousClock.now
    try await engine.close()
    print("cold start (no snapshot, every debtor decided): \(seconds(opened - started)) s; "
          + "writing the snapshot at close: \(seconds(ContinuousClock.now - opened)) s")
}

/// When the engine in `engineBox` restored ready decisions without their reasons (snapshot rows written by a
/// version that did not keep them), re-decides those debtors, writes them to the snapshot and restarts the engine:
/// the lease benchmark then measures a restart from a snapshot of the current format, whose first lease call
/// does not re-decide every debtor it takes.
func refreshSnapshotReasons() async throws {
    guard let engine = engineBox.value, engine.restoredWithoutReasons > 0 else { return }
    let started = ContinuousClock.now
    let count = await engine.redecideRestoredWithoutReasons()
    let configuration = engine.configuration
    try await engine.close()
    engineBox.value = try await Engine.open(
        configuration: configuration, clock: VirtualClock(start: t0), policy: ContactPolicy(), logger: logger)
    print("snapshot: \(count) ready debtors had no saved reasons (rows of an older format); re-decided, saved and "
          + "restarted in \(seconds(ContinuousClock.now - started)) s")
}

/// CPU seconds (user + system) this process has used so far: a figure that does not depend on how many other
/// processes share the cores.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// Anonymous resident memory (heap; without file pages such as a memory-mapped database), from /proc.
func anonymousResidentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = text.split(separator: "\n").first(where: { $0.hasPrefix("RssAnon:") })
    else { return 0 }
    return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
}

func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
}

func openEngine(
    _ directory: String, clock: VirtualClock, verbose: Bool = false,
    leaseDurability: StoreConfiguration.Durability? = nil
) async throws -> Engine {
    var configuration = EngineConfiguration(dataDirectory: directory)
    configuration.leaseTTL = 600
    configuration.leaseDurability = leaseDurability
    var log = logger
    if verbose { log.logLevel = .info }  // prints the recovery phases
    return try await Engine.open(configuration: configuration, clock: clock, policy: ContactPolicy(), logger: log)
}

/// For profiling: when TAGIH_BENCH_PHASE_FILE is set, appends a line to it as a measured phase starts or ends
/// (a profiler attached to the benchmark process can record just those phases).
func markPhase(_ text: String) {
    guard let path = environment["TAGIH_BENCH_PHASE_FILE"] else { return }
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    let line = Array((text + " \(now.tv_sec).\(String(now.tv_nsec + 1_000_000_000).dropFirst())\n").utf8)
    let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    if fd >= 0 {
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }
}

/// The median time of one `fdatasync` of an 8 KiB write in `directory`, in milliseconds: what one durable commit
/// costs at least on this disk at this moment (fsynced leases and the SQL hopper are bound by it).
func fsyncMilliseconds(in directory: String) -> Double {
    let path = directory + "/fsync-probe"
    let fd = open(path, O_WRONLY | O_CREAT, 0o644)
    guard fd >= 0 else { return .nan }
    defer {
        close(fd)
        unlink(path)
    }
    let block = [UInt8](repeating: 120, count: 8192)
    var times: [Double] = []
    for i in 0..<50 {
        _ = block.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(i % 16) * 8192) }
        let started = ContinuousClock.now
        fdatasync(fd)
        times.append(seconds(ContinuousClock.now - started) * 1e3)
    }
    return times.sorted()[times.count / 2]
}

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

/// The phone number of each of the ingestion benchmark's 200,000 debtors (computed once, before it is timed).
let ingestPhones = (0..<200_000).map { syntheticDebtor($0).phones[0].number }

/// Shared between a benchmark's setup and its closure (benchmarks run one after the other).
final class Box<T>: @unchecked Sendable {
    var value: T?
}
let engineBox = Box<Engine>()

let benchmarks: @Sendable () -> Void = {
    // 1. Restart to ready: open the engine on the large store (load records, replay the log, decide every
    //    debtor); resident memory per debtor is the RSS delta over the open, divided by the debtor count.
    Benchmark(
        "Restart to ready + resident bytes per debtor (\(debtorCount) debtors)",
        configuration: Benchmark.Configuration(
            metrics: [.wallClock, .custom("bytes per debtor", polarity: .prefersSmaller, useScalingFactor: false),
                      .custom("seconds to ready", polarity: .prefersSmaller, useScalingFactor: false)],
            timeUnits: .milliseconds, warmupIterations: 0, scalingFactor: .one, maxDuration: .seconds(900),
            maxIterations: 1),
        closure: { benchmark in
            let before = residentBytes()
            let anonymousBefore = anonymousResidentBytes()
            let cpuBefore = cpuSeconds()
            let started = ContinuousClock.now
            let engine = try await openEngine(largeDirectory, clock: VirtualClock(start: t0), verbose: true)
            let elapsed = ContinuousClock.now - started
            let after = residentBytes()
            let count = await engine.count()
            let perDebtor = (after - before) / max(1, count)
            benchmark.measurement(.custom("bytes per debtor", polarity: .prefersSmaller, useScalingFactor: false),
                                  perDebtor)
            benchmark.measurement(.custom("seconds to ready", polarity: .prefersSmaller, useScalingFactor: false),
                                  Int(seconds(elapsed).rounded()))
            let queues = await engine.queueCounts()
            print("restart: \(count) debtors ready in \(seconds(elapsed)) s using \(cpuSeconds() - cpuBefore) CPU s; "
                  + "RSS \(before >> 20) → \(after >> 20) MiB (\(perDebtor) B/debtor); anonymous RSS "
                  + "\((anonymousResidentBytes() - anonymousBefore) / max(1, count)) B/debtor; queues \(queues)")
            try await engine.close()
        },
        setup: {
            try await prepareStore(largeDirectory, debtorCount)
            try await prepareSnapshot(largeDirectory, debtorCount)
        })

    // 2. Lease throughput from the engine alone: dialers of 100 leases each, 8 at a time, on the large store.
    //    Every grant is logged (group commit) before the lease is returned: fsynced (the default), or, in the
    //    second run, committed without its own fsync (`leaseDurability = .normal`: survives a process crash).
    for durability in [StoreConfiguration.Durability.full, .normal] {
        Benchmark(
            "Lease throughput (\(debtorCount) debtors, batches of 100, 8 concurrent dialers, grants "
                + (durability == .full ? "fsynced)" : "without fsync)"),
            configuration: Benchmark.Configuration(
                metrics: [.wallClock, .custom("debtors leased per second", polarity: .prefersLarger, useScalingFactor: false)],
                timeUnits: .milliseconds, warmupIterations: 0, scalingFactor: .one, maxDuration: .seconds(600),
                maxIterations: 3),
            closure: { benchmark in
                let engine = engineBox.value!
                let target = min(400_000, debtorCount / 5)
                let fsync = fsyncMilliseconds(in: largeDirectory)
                benchmark.startMeasurement()
                markPhase("lease start")
                let cpuBefore = cpuSeconds()
                let commitsBefore = await engine.store.commitStatistics()
                let timesBefore = await engine.store.commitTimings()
                let started = ContinuousClock.now
                let leased = await withTaskGroup(of: Int.self) { group in
                    for dialer in 0..<8 {
                        group.addTask {
                            var total = 0
                            while total < target / 8 {
                                let got = await engine.lease(100, holder: "dialer-\(dialer)").count
                                if got == 0 { break }
                                total += got
                            }
                            return total
                        }
                    }
                    return await group.reduce(0, +)
                }
                let elapsed = seconds(ContinuousClock.now - started)
                let cpu = cpuSeconds() - cpuBefore
                markPhase("lease end")
                benchmark.measurement(.custom("debtors leased per second", polarity: .prefersLarger, useScalingFactor: false),
                                      Int(Double(leased) / elapsed))
                print("lease (\(durability)): \(leased) debtors in \(elapsed) s = \(Int(Double(leased) / elapsed))/s; "
                      + "\(cpu) CPU s (\(Double(Int(cpu * 1e8 / Double(max(1, leased)))) / 100) CPU µs per lease); "
                      + "fdatasync median \(Double(Int(fsync * 1000)) / 1000) ms just before; "
                      + "commits \(await engine.store.commitStatistics())")
                let commits = await engine.store.commitStatistics()
                let times = await engine.store.commitTimings()
                let transactions = max(1, commits.transactions - commitsBefore.transactions)
                func ms(_ d: Duration) -> Double { (seconds(d) * 1e5 / Double(transactions)).rounded() / 100 }
                print("  \(transactions) grant transactions, \((commits.requests - commitsBefore.requests) * 100 / transactions) "
                      + "leases each; per transaction \(ms(times.total - timesBefore.total)) ms: to the writer "
                      + "\(ms(times.toWriter - timesBefore.toWriter)) ms, inserting \(ms(times.inserting - timesBefore.inserting)) "
                      + "ms, COMMIT \(ms(times.committing - timesBefore.committing)) ms")
                benchmark.stopMeasurement()
                for dialer in 0..<8 { await engine.releaseLeases(heldBy: "dialer-\(dialer)") }
            },
            setup: {
                try await prepareStore(largeDirectory, debtorCount)
                engineBox.value = try await openEngine(
                    largeDirectory, clock: VirtualClock(start: t0), leaseDurability: durability)
                try await refreshSnapshotReasons()
            },
            teardown: {
                try await engineBox.value?.close()
                engineBox.value = nil
            })
    }

    // 3. The VICIdial-style SQL hopper on the same SQLite data: refill 100 at a time (SELECT … ORDER BY … LIMIT,
    //    then UPDATE), 8 concurrent dialers.
    Benchmark(
        "SQL hopper baseline (\(debtorCount) debtors, refills of 100)",
        configuration: Benchmark.Configuration(
            metrics: [.wallClock, .custom("debtors leased per second", polarity: .prefersLarger, useScalingFactor: false)],
            timeUnits: .milliseconds, warmupIterations: 0, scalingFactor: .one, maxDuration: .seconds(600),
            maxIterations: 3),
        closure: { benchmark in
            let store = try await Store.open(configuration: StoreConfiguration(directory: largeDirectory), logger: logger)
            let hopper = try await SQLHopper.prepare(store: store)
            let offsets = [-5, -6, -7, -8, 0]
            print("hopper plan: \(try await hopper.plan(offsets: offsets)); "
                  + "fdatasync median \(Double(Int(fsyncMilliseconds(in: largeDirectory) * 1000)) / 1000) ms")
            benchmark.startMeasurement()
            let started = ContinuousClock.now
            let deadline = started + .seconds(20)
            let leased = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        var total = 0
                        while ContinuousClock.now < deadline && total < 200_000 {
                            let got = try await hopper.refill(100, offsets: offsets, now: t0).count
                            if got == 0 { break }  // the list is exhausted: stop the clock, do not spin to the deadline
                            total += got
                        }
                        return total
                    }
                }
                return try await group.reduce(0, +)
            }
            let elapsed = seconds(ContinuousClock.now - started)
            benchmark.stopMeasurement()
            benchmark.measurement(.custom("debtors leased per second", polarity: .prefersLarger, useScalingFactor: false),
                                  Int(Double(leased) / elapsed))
            print("hopper: \(leased) debtors in \(elapsed) s = \(Int(Double(leased) / elapsed))/s")
            try await hopper.reset()
            try await store.close()
        },
        setup: { try await prepareStore(largeDirectory, debtorCount) })

    // 4. Durable ingestion: 32 streams each sending batches of 100 outcomes (group commit, synchronous=FULL),
    //    acknowledged after the commit and applied to the shards; 200,000 debtors.
    let ingestDirectory = benchRoot + "/ingest-\(UUID().uuidString)"
    Benchmark(
        "Durable ingestion (32 streams × batches of 100 outcomes, synchronous=FULL)",
        configuration: Benchmark.Configuration(
            metrics: [.wallClock, .custom("outcomes per second", polarity: .prefersLarger, useScalingFactor: false)],
            timeUnits: .milliseconds, warmupIterations: 0, scalingFactor: .one, maxDuration: .seconds(600),
            maxIterations: 3),
        closure: { benchmark in
            let engine = engineBox.value!
            let round = UUID().uuidString.prefix(8)
            let perStream = 10_000
            let outcomes: [Outcome] = [.noAnswer, .busy, .voicemail, .noAnswer, .rightParty, .noAnswer, .abandoned]
            // The number dialed, as a dialer reports it (one not on the record would get a warning in its ack).
            let phones = ingestPhones
            let started = ContinuousClock.now
            let cpuBefore = cpuSeconds()
            let applied = try await withThrowingTaskGroup(of: Int.self) { group in
                for stream in 0..<32 {
                    group.addTask {
                        var n = 0
                        var k = 0
                        while k < perStream {
                            let batch = (k..<(k + 100)).map { j -> OutcomeEvent in
                                let d = (stream * 104_729 + j * 7_919) % 200_000
                                return OutcomeEvent(
                                    attempt: "\(round)-\(stream)-\(j)", debtor: "D-\(d)", debt: "A-\(d)", phone: phones[d],
                                    at: t0 - 60, outcome: outcomes[j % outcomes.count])
                            }
                            k += 100
                            n += try await engine.ingest(batch).filter { $0 == .applied }.count
                        }
                        return n
                    }
                }
                return try await group.reduce(0, +)
            }
            let elapsed = seconds(ContinuousClock.now - started)
            let cpu = cpuSeconds() - cpuBefore
            benchmark.stopMeasurement()
            benchmark.measurement(.custom("outcomes per second", polarity: .prefersLarger, useScalingFactor: false),
                                  Int(Double(applied) / elapsed))
            let settleStarted = ContinuousClock.now
            await engine.settle()
            let settle = seconds(ContinuousClock.now - settleStarted)
            print("ingest: \(applied) outcomes acknowledged (durable) in \(elapsed) s = \(Int(Double(applied) / elapsed))/s "
                  + "using \(cpu) CPU s (\(Int(cpu * 1e6 / Double(max(1, applied)))) µs per outcome); "
                  + "re-deciding the touched debtors afterwards took \(settle) s "
                  + "(= \(Int(Double(applied) / (elapsed + settle)))/s including it); "
                  + "commits \(await engine.store.commitStatistics())")
        },
        setup: {
            try await prepareStore(ingestDirectory, 200_000)
            engineBox.value = try await openEngine(ingestDirectory, clock: VirtualClock(start: t0))
        },
        teardown: {
            try await engineBox.value?.close()
            engineBox.value = nil
            try? FileManager.default.removeItem(atPath: ingestDirectory)
        })

    // 5. Decision cost per debtor (ContactPolicy.decide + score), which bounds upsert and restart.
    Benchmark(
        "Decide one debtor (ContactPolicy.decide)",
        configuration: Benchmark.Configuration(
            metrics: [.wallClock, .throughput], timeUnits: .microseconds, scalingFactor: .kilo,
            maxDuration: .seconds(3)),
        closure: { benchmark in
            let policy = ContactPolicy()
            let debtors = (0..<1000).map(syntheticDebtor)
            let history = DebtorHistory()
            for i in benchmark.scaledIterations {
                blackHole(policy.decide(for: debtors[i % 1000], history: history, now: t0))
            }
        })
}
