public import TagihCore

/// Runs several strategies on the same world and seed and assembles one report.
public enum SimulationRunner {
    /// The time a strategy takes, relative to `baseline` on the same world (measured at 20k × 14 days and at
    /// 1M × 30 days: tagih on the Engine 8–11×, on ContactPolicy 2.3×, earliest 1.0–1.4×).
    static func relativeCost(_ kind: StrategyKind, backend: SimulationBackend) -> Double {
        switch kind {
        case .tagih: backend == .engine ? 9 : 2.3
        case .baseline: 1
        case .earliest: 1.2
        }
    }

    /// Runs `strategies` one after the other on `population`.
    ///
    /// - Parameters:
    ///   - population: the debtor records (for example from `SyntheticPopulation.generate`).
    ///   - configuration: floor, dialer, world and seed.
    ///   - strategies: which strategies to compare; each runs on a fresh copy of the world.
    ///   - progress: called once per simulated day of each strategy, on the caller's task.
    ///   - attempt: when given, receives the attempts of the first strategy in time order.
    /// - Throws: `SimulationError` when the configuration is not valid, or with code `cancelled` when the task was
    ///   cancelled (checked every 5 simulated seconds).
    public static func run(
        population: [Debtor], configuration: SimulationConfiguration, strategies: [StrategyKind],
        progress: (SimulationProgress) -> Void = { _ in }, attempt: ((OutcomeEvent) -> Void)? = nil
    ) async throws(SimulationError) -> SimulationReport {
        guard !strategies.isEmpty else {
            throw SimulationError(code: "invalid_configuration", message: "name at least one strategy")
        }
        let simulation = try Simulation(population: population, configuration: configuration)
        var results: [StrategyReport] = []
        // Progress in proportion to each strategy's expected cost, so that the fraction tells how much is left.
        let costs = strategies.map { relativeCost($0, backend: configuration.backend) }
        let total = costs.reduce(0, +)
        var done = 0.0
        for (k, kind) in strategies.enumerated() {
            results.append(
                try await simulation.run(
                    kind, index: k, of: strategies.count, span: (done / total, costs[k] / total), progress: progress,
                    attempt: k == 0 ? attempt : nil))
            done += costs[k]
        }
        var comparison: SimulationReport.Comparison?
        if let t = results.first(where: { $0.strategy == "tagih" }),
            let b = results.first(where: { $0.strategy == "baseline" })
        {
            func lift(_ a: Double, _ b: Double) -> Double { b > 0 ? a / b - 1 : 0 }
            comparison = .init(
                rpcPerDialLift: lift(t.rpcPerDial, b.rpcPerDial), collectedLift: lift(t.collected, b.collected),
                rpcPerAgentHourLift: lift(t.rpcPerAgentHour, b.rpcPerAgentHour))
        }
        let mixTotal = configuration.world.mix.values.reduce(0, +)
        return SimulationReport(
            start: LocalTime.rfc3339(configuration.start), days: configuration.days, agents: configuration.agents,
            seed: configuration.seed, dialer: configuration.dialer.rawValue, debtors: simulation.debtorCount,
            debts: simulation.debtCount,
            mix: Dictionary(uniqueKeysWithValues: configuration.world.mix.map { ($0.key.rawValue, $0.value / mixTotal) }),
            floorZone: configuration.floorZone, strategies: results, comparison: comparison)
    }
}
