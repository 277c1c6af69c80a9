import Metrics
import Synchronization

/// The service's metrics, created once each; labels are bounded (route, code, kind), never ids.
public final class ServiceMetrics: Sendable {
    private let counters = Mutex<[String: Counter]>([:])
    private let sessions = Meter(label: "tagih_dialer_sessions")
    private let leased = Counter(label: "tagih_calls_leased_total")
    /// Calls leased for a stream that closed before it took them; their leases were given back.
    private let undelivered = Counter(label: "tagih_calls_undelivered_total")
    /// Revocations sent to the dialer session holding the lease, and those no open session held.
    private let revokesDelivered = Counter(label: "tagih_revocations_total", dimensions: [("delivered", "true")])
    private let revokesUndelivered = Counter(label: "tagih_revocations_total", dimensions: [("delivered", "false")])
    private let requests = Endpoint.labels.map { Counter(label: "tagih_requests_total", dimensions: [("route", $0)]) }

    private func counter(_ label: String, _ key: String, _ value: String) -> Counter {
        let id = label + "|" + value
        return counters.withLock { cache in
            if let c = cache[id] { return c }
            let c = Counter(label: label, dimensions: [(key, value)])
            cache[id] = c
            return c
        }
    }

    /// The label of the per-batch latency histogram (for bucket configuration).
    public static let lineBatchSecondsLabel = "tagih_line_batch_seconds"
    private let batchTimers = Mutex<[String: (Metrics.Timer, Recorder)]>([:])

    /// One batch of input lines handed to the engine: how long it took (decode to result lines, including the
    /// group commit) and how many lines it carried, by kind (debtor, outcome, payment, clearance).
    func lineBatch(_ kind: String, lines: Int, since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let (timer, size) = batchTimers.withLock { cache in
            if let pair = cache[kind] { return pair }
            let pair = (
                Metrics.Timer(label: Self.lineBatchSecondsLabel, dimensions: [("kind", kind)]),
                Recorder(label: "tagih_line_batch_lines", dimensions: [("kind", kind)], aggregate: true)
            )
            cache[kind] = pair
            return pair
        }
        timer.record(duration: elapsed)
        size.record(lines)
    }

    func request(_ endpoint: Endpoint) { requests[endpoint.kind].increment() }
    func error(_ code: String) { counter("tagih_http_errors_total", "code", code).increment() }
    func lineRejected(_ code: String) { counter("tagih_lines_rejected_total", "code", code).increment() }
    func linesAccepted(_ kind: String) { counter("tagih_lines_accepted_total", "kind", kind).increment() }
    /// An accepted line whose acknowledgement carries a warning from the engine (e.g. `phone_not_on_record`).
    func warning(_ code: String) { counter("tagih_line_warnings_total", "code", code).increment() }
    func duplicate(_ kind: String) { counter("tagih_duplicates_total", "kind", kind).increment() }
    func callsLeased(_ n: Int) { leased.increment(by: n) }
    func undeliveredCalls(_ n: Int) { undelivered.increment(by: n) }
    func revocation(delivered: Bool) { (delivered ? revokesDelivered : revokesUndelivered).increment() }
    func dialerSessions(_ delta: Int) { sessions.increment(by: Double(delta)) }
}
