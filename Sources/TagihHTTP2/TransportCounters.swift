import Synchronization

/// A snapshot of a server's transport counters, for the service to publish as metrics.
///
/// All values are totals since the server was created, except the ones named `current…`.
public struct HTTP2ServerMetrics: Sendable, Hashable {
    /// Connections accepted.
    public var connectionsAccepted: Int
    /// Connections open now.
    public var currentConnections: Int
    /// Connections closed because the peer broke the protocol or a limit (rapid reset,
    /// CONTINUATION flood, flow-control or framing errors).
    public var connectionsClosedForMisbehaviour: Int
    /// Streams (requests) started.
    public var streamsOpened: Int
    /// Streams open now.
    public var currentStreams: Int
    /// Bytes read from sockets.
    public var bytesReceived: Int
    /// Bytes written to sockets.
    public var bytesSent: Int
    /// Response body bytes queued by writers and not yet taken by nghttp2, summed over all streams now.
    public var currentPendingOutboundBytes: Int
    /// The largest number of pending outbound bytes any single stream ever held.
    /// Bounded by `streamHighWaterMark` plus the size of one `write`.
    public var peakStreamPendingBytes: Int
    /// Writers suspended now because their stream is above the high-water mark.
    public var currentSuspendedWriters: Int
    /// Inbound NDJSON lines rejected for exceeding the maximum line length.
    public var linesTooLong: Int
}

/// Lock-free counters shared by every connection of one server (or one client).
final class TransportCounters: Sendable {
    let connectionsAccepted = Atomic<Int>(0)
    let currentConnections = Atomic<Int>(0)
    let connectionsClosedForMisbehaviour = Atomic<Int>(0)
    let streamsOpened = Atomic<Int>(0)
    let currentStreams = Atomic<Int>(0)
    let bytesReceived = Atomic<Int>(0)
    let bytesSent = Atomic<Int>(0)
    let currentPendingOutboundBytes = Atomic<Int>(0)
    let peakStreamPendingBytes = Atomic<Int>(0)
    let currentSuspendedWriters = Atomic<Int>(0)
    let linesTooLong = Atomic<Int>(0)

    init() {}

    func raisePeak(_ value: Int) {
        var current = peakStreamPendingBytes.load(ordering: .relaxed)
        while value > current {
            let (exchanged, original) = peakStreamPendingBytes.compareExchange(
                expected: current,
                desired: value,
                ordering: .relaxed
            )
            if exchanged { return }
            current = original
        }
    }

    var snapshot: HTTP2ServerMetrics {
        HTTP2ServerMetrics(
            connectionsAccepted: connectionsAccepted.load(ordering: .relaxed),
            currentConnections: currentConnections.load(ordering: .relaxed),
            connectionsClosedForMisbehaviour: connectionsClosedForMisbehaviour.load(ordering: .relaxed),
            streamsOpened: streamsOpened.load(ordering: .relaxed),
            currentStreams: currentStreams.load(ordering: .relaxed),
            bytesReceived: bytesReceived.load(ordering: .relaxed),
            bytesSent: bytesSent.load(ordering: .relaxed),
            currentPendingOutboundBytes: currentPendingOutboundBytes.load(ordering: .relaxed),
            peakStreamPendingBytes: peakStreamPendingBytes.load(ordering: .relaxed),
            currentSuspendedWriters: currentSuspendedWriters.load(ordering: .relaxed),
            linesTooLong: linesTooLong.load(ordering: .relaxed)
        )
    }
}
