import ArgumentParser
import Foundation
import TagihCore
import TagihSim

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Simulate a collections floor on a synthetic world and compare scheduling strategies.",
        discussion: """
            The world hides per-debtor answer curves, base contact rates, wrong numbers and promise keeping; \
            strategies learn only from outcomes. The same inputs and seed give the same report.

            Example: tagih simulate --debtors 100000 --start 2026-12-01 --days 30 --agents 50 --seed 7 --report out
            """
    )

    @Option(help: """
        Debtor NDJSON file (line protocol v1); a line that is not a valid debtor stops the run before it starts.
        """)
    var population: String?

    // `.unconditional`: `--debtors -1` and `--days -1` reach the checks below ("must be at least 1") instead of
    // ArgumentParser's "Missing value" (it takes "-1" for an option).
    @Option(parsing: .unconditional,
            help: "Generate a synthetic population of N debtors (default 10000 when --population is absent).")
    var debtors: Int?

    /// What a simulated debtor takes at least (world, strategies, engine; 1.4 KB measured for a 1-day run of all
    /// three strategies, 5 KB for 30 days): the floor `--debtors` is checked against physical memory with.
    static let bytesPerDebtor = 1_500

    @Option(help: "First simulated day, YYYY-MM-DD (midnight in the floor zone).")
    var start: String

    @Option(parsing: .unconditional, help: "Days to simulate.")
    var days: Int = 30

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Agents on the floor; a list such as 50,100,200 prints the agents curve. They work two shifts in the floor's "
            + "zone: half Mon-Sat 08:00-16:30, half Mon-Fri 12:30-21:00 (the floor is closed on Sundays)."))
    var agents: String = "50"

    @Option(parsing: .unconditional, help: "Seed of the world and the run.")
    var seed: UInt64 = 1

    @Option(help: "tagih, baseline, earliest or all.")
    var strategy: String = "all"

    @Option(help: "Dialer mode: preview, progressive or predictive.")
    var dialer: String = "predictive"

    @Option(help: "Archetype mix, for example day-worker=0.5,at-home=0.25,shift=0.15,never=0.10.")
    var mix: String?

    @Option(help: "The floor's IANA zone (shifts are in this zone).")
    var floorZone: String = "America/New_York"

    @Option(help: "What drives the tagih strategy: engine (the real Engine, virtual clock) or policy (ContactPolicy directly, faster).")
    var backend: String = "engine"

    @Option(help: ArgumentHelp(
        "Policy backend: tagih calls now only when now is worth at least this share of the best time ahead "
            + "(0...1)."))
    var tagihThreshold: Double = 0.5

    @Option(help: ArgumentHelp(
        "Engine gate (tagih on the engine): hold a debtor worth less now than this share of its value at its "
            + "best time until then (never a debtor not yet called); 0 turns the gate off.",
        valueName: "share"))
    var holdBelow: Double = 0.7

    @Option(help: ArgumentHelp(
        "Engine gate: only this share of the debtors it flags, the lowest by value at their best time, is held "
            + "(0...1).",
        valueName: "share"))
    var holdShare: Double = 0.6

    @Option(help: ArgumentHelp(
        "Write every attempt of the first strategy (and the first agents count) as an outcome line to FILE, in time "
            + "order. FILE must not exist. It is written as FILE.partial and renamed when the run completes: a run "
            + "stopped half-way leaves FILE.partial."))
    var attemptLog: String?

    @Option(help: "Write report.json, days.csv and report.html into DIR (new, or without a report in it).")
    var report: String?

    @Flag(help: "Print the report JSON on stdout.")
    var json = false

    func run() async throws { try await reportingUsageErrors(execute) }

    private func execute() async throws {
        let agentCounts = try agents.split(separator: ",").map { part -> Int in
            guard let n = Int(part.trimmingCharacters(in: .whitespaces)), n > 0 else {
                throw ValidationError("--agents takes positive integers, for example 50 or 50,100,200")
            }
            return n
        }
        if let repeated = agentCounts.first(where: { n in agentCounts.filter { $0 == n }.count > 1 }) {
            throw ValidationError("--agents lists \(repeated) twice: give each count once")
        }
        let kinds: [StrategyKind]
        if strategy == "all" {
            kinds = [.tagih, .baseline, .earliest]
        } else if let k = StrategyKind(rawValue: strategy) {
            kinds = [k]
        } else {
            throw ValidationError("--strategy must be tagih, baseline, earliest or all")
        }
        guard let mode = DialerMode(rawValue: dialer) else {
            throw ValidationError("--dialer must be preview, progressive or predictive")
        }
        guard ZoneDatabase.system.zone(named: floorZone) != nil, let zone = TimeZone(identifier: floorZone) else {
            throw ValidationError("--floor-zone '\(floorZone)' is not an IANA zone such as America/New_York")
        }
        guard LineDecoder.isPlaceZone(floorZone) else {
            throw ValidationError("--floor-zone '\(floorZone)' is a fixed offset, not a place: give the IANA zone of "
                + "the floor (such as America/New_York), whose daylight saving time its shifts follow")
        }
        guard let startTime = Self.midnight(start, zone: zone) else {
            throw ValidationError("--start must be a real date YYYY-MM-DD (for example 2026-12-01), not \(start)")
        }
        guard (1...366).contains(days) else { throw ValidationError("--days must be 1...366, not \(days)") }
        if population != nil, debtors != nil {
            throw ValidationError("give --population FILE or --debtors N, not both")
        }
        var config = SimulationConfiguration(start: startTime)
        config.days = days
        config.seed = seed
        config.dialer = mode
        config.floorZone = floorZone
        guard (0...1).contains(tagihThreshold) else {
            throw ValidationError("--tagih-threshold takes a share in 0...1, not \(tagihThreshold)")
        }
        config.tagihThreshold = tagihThreshold
        guard (0...1).contains(holdBelow), (0...1).contains(holdShare) else {
            throw ValidationError("--hold-below and --hold-share take a share in 0...1")
        }
        config.holdBelowShareOfBest = holdBelow > 0 ? holdBelow : nil
        config.holdShare = holdShare
        guard let b = SimulationBackend(rawValue: backend) else {
            throw ValidationError("--backend must be engine or policy")
        }
        config.backend = b
        if let mix {
            do {
                config.world.mix = try WorldConfiguration.parseMix(mix)
            } catch {
                throw ValidationError("--mix: \(error)")
            }
        }
        // The outputs are checked before any work: a run of minutes is not thrown away for a path, and no file
        // is overwritten.
        if let attemptLog, FileManager.default.fileExists(atPath: attemptLog) {
            throw ValidationError(
                "--attempt-log \(attemptLog) exists; a simulation never overwrites a file: give a new path")
        }
        if let attemptLog, FileManager.default.fileExists(atPath: AttemptLogFile.partialPath(attemptLog)) {
            throw ValidationError(
                "\(AttemptLogFile.partialPath(attemptLog)) exists (the log of a run that did not finish); remove it or "
                    + "give a new --attempt-log path")
        }
        if let report {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: report, isDirectory: &isDirectory) {
                guard isDirectory.boolValue else {
                    throw ValidationError("--report \(report) is a file; give a folder (new or empty)")
                }
                let held = (try? FileManager.default.contentsOfDirectory(atPath: report)) ?? []
                if let old = held.first(where: { $0 == "report.json" || $0.hasPrefix("agents-") }) {
                    throw ValidationError(
                        "--report \(report) holds a report already (\(old)); a simulation never overwrites one: "
                            + "give a new folder")
                }
            }
            do {
                try FileManager.default.createDirectory(atPath: report, withIntermediateDirectories: true)
            } catch {
                throw ValidationError("cannot create the --report folder \(report): \(error.localizedDescription)")
            }
            guard access(report, W_OK) == 0 else {
                let reason = String(cString: strerror(errno))
                throw ValidationError("cannot write into the --report folder \(report): \(reason)")
            }
        }

        let debtorRecords: [Debtor]
        if let population {
            guard let data = FileManager.default.contents(atPath: population) else {
                throw ValidationError("cannot read --population \(population)")
            }
            let (read, warnings) = try PopulationReader.parseReportingWarnings(data)
            debtorRecords = read
            // What import and PUT /v1/debtors warn about (an unknown field, a jurisdiction without a rule pack of
            // its own), on stderr: the run goes on, as they accept such lines.
            for (line, w) in warnings.prefix(20) {
                let text = "warning: --population line \(line): \(w.code) \(w.field): \(w.message)\n"
                FileHandle.standardError.write(Data(text.utf8))
            }
            if warnings.count > 20 {
                let text = "warning: … and \(warnings.count - 20) more warnings in --population\n"
                FileHandle.standardError.write(Data(text.utf8))
            }
            guard !debtorRecords.isEmpty else {
                throw ValidationError("--population \(population) holds no debtor lines: nothing to simulate")
            }
        } else {
            guard (debtors ?? 10_000) > 0 else {
                throw ValidationError("--debtors must be at least 1, not \(debtors ?? 0)")
            }
            // A population that cannot fit is refused before it is generated (100M used to crash on allocation).
            let (needed, overflow) = (debtors ?? 10_000).multipliedReportingOverflow(by: Self.bytesPerDebtor)
            let physical = ProcessInfo.processInfo.physicalMemory
            guard !overflow, UInt64(needed) <= physical else {
                let gib = { (bytes: Double) in String(format: "%.1f GiB", bytes / 1_073_741_824) }
                let need = overflow ? "more memory than any machine has" : "at least \(gib(Double(needed)))"
                throw ValidationError(
                    "--debtors \(debtors ?? 0) needs \(need) (about \(Self.bytesPerDebtor) bytes per debtor, more "
                        + "for longer runs); this machine has \(gib(Double(physical))): simulate fewer debtors")
            }
            debtorRecords = SyntheticPopulation.generate(count: debtors ?? 10_000, seed: seed)
        }

        let terminal = isatty(2) != 0
        var reports: [SimulationReport] = []
        for (k, agentCount) in agentCounts.enumerated() {
            config.agents = agentCount
            var log: AttemptLogFile?
            if let attemptLog, k == 0 { log = try AttemptLogFile(path: attemptLog) }
            let label = agentCounts.count > 1 ? "\(agentCount) agents " : ""
            let result = try await SimulationRunner.run(
                population: debtorRecords, configuration: config, strategies: kinds,
                progress: { p in
                    guard terminal else { return }
                    let width = 30
                    let filled = Int(p.fraction * Double(width))
                    let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
                    FileHandle.standardError.write(
                        Data("\r\(label)[\(bar)] \(p.strategy) day \(p.day)/\(p.days) dials \(p.dials) RPC \(p.rightPartyContacts)   ".utf8))
                },
                attempt: log.map { file in { file.append(OutcomeLine.encode($0)) } })
            if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            try log?.close()
            if let dir = report {
                let url = URL(fileURLWithPath: agentCounts.count > 1 ? "\(dir)/agents-\(agentCount)" : dir)
                try ReportWriter.write(result, to: url)
            }
            reports.append(result)
        }

        if json {
            if reports.count == 1 {
                FileHandle.standardOutput.write(ReportWriter.json(reports[0]))
            } else {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                FileHandle.standardOutput.write(try encoder.encode(["curve": reports]))
            }
            FileHandle.standardOutput.write(Data("\n".utf8))
            return
        }
        if reports.count > 1 {
            print("agents  strategy   RPC/agent-h  RPC/dial   collected(USD)  reached  attempted  violations")
            for r in reports {
                for s in r.strategies {
                    print(
                        pad("\(r.agents)", 8) + pad(s.strategy, 11) + pad(f(s.rpcPerAgentHour, 2), 13)
                            + pad(f(s.rpcPerDial * 100, 2) + "%", 11) + pad(f(s.collected, 0), 16)
                            + pad(f(s.penetrationReached * 100, 1) + "%", 9)
                            + pad(f(s.penetrationAttempted * 100, 1) + "%", 11) + "\(s.violations)")
                }
            }
            return
        }
        let r = reports[0]
        print("\(r.debtors) debtors, \(r.days) days from \(r.start), \(r.agents) agents, \(r.dialer) dialer, seed \(r.seed)")
        let header = ["metric"] + r.strategies.map(\.strategy)
        print(header.map { pad($0, $0 == "metric" ? 34 : 14) }.joined())
        let rows: [(String, (StrategyReport) -> String)] = [
            ("dials", { "\($0.dials)" }),
            ("right-party contacts", { "\($0.rightPartyContacts)" }),
            ("RPC per dial", { f($0.rpcPerDial * 100, 2) + "%" }),
            ("RPC per agent-hour", { f($0.rpcPerAgentHour, 2) }),
            ("promises / kept", { "\($0.promises) / \($0.keptPromises)" }),
            ("collected (USD eq.)", { f($0.collected, 0) }),
            ("penetration attempted / reached", { f($0.penetrationAttempted * 100, 0) + "% / " + f($0.penetrationReached * 100, 0) + "%" }),
            ("idle for lack of leads, from day", { $0.exhaustionDay.map { "\($0)" } ?? "never" }),
            ("occupancy", { f($0.occupancy * 100, 1) + "%" }),
            ("abandon rate", { f($0.abandonRate * 100, 2) + "%" }),
            ("counted calls / debt / week", { f($0.countedCallsPerDebtPerWeek, 2) }),
            ("blocked by permission check", { "\($0.blockedCalls)" }),
            ("violations (independent check)", { "\($0.violations)" }),
            ("wall seconds", { f($0.wallSeconds, 1) }),
        ]
        for (label, value) in rows {
            print(pad(label, 34) + r.strategies.map { pad(value($0), 14) }.joined())
        }
        if let c = r.comparison {
            print("tagih vs baseline: RPC/dial \(f(c.rpcPerDialLift * 100, 1))%, collected \(f(c.collectedLift * 100, 1))%")
        }
    }

    static func midnight(_ text: String, zone: TimeZone) -> UnixSeconds? {
        // A real calendar date only (2026-13-01 or 2026-02-30 is an error, as in POST /v1/simulations), not one
        // that `Calendar` would roll over into the next month or year.
        guard let day = CivilTime.parseDate(text) else { return nil }
        let (year, month, dayOfMonth) = CivilTime.date(ofDay: day)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        guard let date = calendar.date(from: DateComponents(year: year, month: month, day: dayOfMonth)) else {
            return nil
        }
        return UnixSeconds(date.timeIntervalSince1970)
    }
}

private func f(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
private func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }

/// A buffered writer of attempt lines.
/// The `--attempt-log` file: written as `PATH.partial` and renamed to `PATH` when the run completes, so that a run
/// stopped half-way (Ctrl-C, a kill) leaves a file whose name says it is incomplete, never one that passes for a
/// whole run's log.
final class AttemptLogFile {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    let path: String
    var partialPath: String { Self.partialPath(path) }

    static func partialPath(_ path: String) -> String { path + ".partial" }

    init(path: String) throws {
        self.path = path
        let partial = Self.partialPath(path)
        // O_EXCL: an earlier interrupted run's partial log is not overwritten either.
        let fd = open(partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw ValidationError("cannot create \(partial) (the --attempt-log while the run lasts): \(reason)")
        }
        handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        buffer.reserveCapacity(1 << 20)
    }

    func append(_ line: String) {
        buffer.append(contentsOf: line.utf8)
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= 1 << 20 {
            handle.write(Data(buffer))
            buffer.removeAll(keepingCapacity: true)
        }
    }

    /// Writes the rest, syncs, and gives the log its name (never replacing a file that appeared there meanwhile).
    func close() throws {
        handle.write(Data(buffer))
        buffer.removeAll()
        try handle.synchronize()
        try handle.close()
        let partial = partialPath
        var named = link(partial, path) == 0
        // A file system without hard links (vfat, some network mounts): rename, after checking the name is free.
        if !named, errno == EPERM || errno == ENOTSUP || errno == EOPNOTSUPP || errno == ENOSYS,
            !FileManager.default.fileExists(atPath: path)
        {
            named = rename(partial, path) == 0
        } else if named {
            unlink(partial)
        }
        guard named else {
            let reason = String(cString: strerror(errno))
            throw ValidationError("the attempt log is complete in \(partial) but cannot be named \(path): \(reason)")
        }
    }
}
