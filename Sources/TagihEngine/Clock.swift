import Foundation
import Synchronization
import TagihCore

/// Where the engine reads the current instant: the wall clock in `serve`, a virtual clock in tests and simulation.
public protocol EngineClock: Sendable {
    /// The current instant.
    func now() -> UnixSeconds
}

/// The system's real-time clock.
public struct WallClock: EngineClock {
    /// Creates the wall clock.
    public init() {}
    /// The current instant, truncated to whole seconds.
    public func now() -> UnixSeconds {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UnixSeconds(ts.tv_sec)
    }
}

/// A clock that only moves when told to; tests and the simulator advance it, then call ``Engine/tick()``.
///
/// Isolation: thread-safe (a mutex guards the instant).
public final class VirtualClock: EngineClock {
    private let instant: Mutex<UnixSeconds>

    /// Creates a clock standing at `start`.
    public init(start: UnixSeconds) { instant = Mutex(start) }

    /// The current virtual instant.
    public func now() -> UnixSeconds { instant.withLock { $0 } }

    /// Moves the clock forward by `seconds` (a negative value is ignored: time never runs backwards).
    public func advance(by seconds: Int64) { instant.withLock { $0 += max(0, seconds) } }

    /// Sets the clock to `time` if that is later than now.
    public func set(_ time: UnixSeconds) { instant.withLock { $0 = max($0, time) } }
}
