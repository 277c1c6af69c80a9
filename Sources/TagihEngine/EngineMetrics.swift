import Metrics

/// The engine's metrics, created once per engine (bounded dimensions: result and kind, never a debtor id).
/// Exported by whatever metrics backend the executable bootstraps (Prometheus at `/metrics` in `serve`).
struct EngineMetrics: Sendable {
    let eventsApplied = Counter(label: "tagih_engine_events_total", dimensions: [("result", "applied")])
    let eventsDuplicate = Counter(label: "tagih_engine_events_total", dimensions: [("result", "duplicate")])
    let eventsRejected = Counter(label: "tagih_engine_events_total", dimensions: [("result", "rejected")])
    let debtorsUpserted = Counter(label: "tagih_engine_debtors_upserted_total")
    let leasesGranted = Counter(label: "tagih_engine_leases_total", dimensions: [("kind", "granted")])
    let leasesExpired = Counter(label: "tagih_engine_leases_total", dimensions: [("kind", "expired")])
    let leasesReleased = Counter(label: "tagih_engine_leases_total", dimensions: [("kind", "released")])
    let leaseBatch = Recorder(label: "tagih_engine_lease_batch_size", aggregate: true)
}
