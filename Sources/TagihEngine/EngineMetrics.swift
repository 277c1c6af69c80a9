import Metrics

/// The engine's metrics, created once per engine (bounded dimensions: result and kind, never a debtor id).
/// Exported by whatever metrics backend the executable bootstraps (Prometheus at `/metrics` in `serve`).
/// An engine that does not export them (a simulation inside the serving process) records into no-ops, so that
/// its millions of simulated leases do not show up as the service's.
struct EngineMetrics: Sendable {
    let eventsApplied: Counter
    let eventsDuplicate: Counter
    let eventsRejected: Counter
    let debtorsUpserted: Counter
    let leasesGranted: Counter
    let leasesExpired: Counter
    let leasesReleased: Counter
    let leaseBatch: Recorder

    init(exported: Bool = true) {
        let factory: any MetricsFactory = exported ? MetricsSystem.factory : NOOPMetricsHandler.instance
        eventsApplied = Counter(label: "tagih_engine_events_total", dimensions: [("result", "applied")], factory: factory)
        eventsDuplicate = Counter(
            label: "tagih_engine_events_total", dimensions: [("result", "duplicate")], factory: factory)
        eventsRejected = Counter(label: "tagih_engine_events_total", dimensions: [("result", "rejected")], factory: factory)
        debtorsUpserted = Counter(label: "tagih_engine_debtors_upserted_total", factory: factory)
        leasesGranted = Counter(label: "tagih_engine_leases_total", dimensions: [("kind", "granted")], factory: factory)
        leasesExpired = Counter(label: "tagih_engine_leases_total", dimensions: [("kind", "expired")], factory: factory)
        leasesReleased = Counter(label: "tagih_engine_leases_total", dimensions: [("kind", "released")], factory: factory)
        leaseBatch = Recorder(label: "tagih_engine_lease_batch_size", aggregate: true, factory: factory)
    }
}
