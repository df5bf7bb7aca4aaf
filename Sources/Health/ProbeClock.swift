/// A clock reduced to what the probes need: the time as a `Duration` since a fixed origin, and a sleep.
///
/// The state machine counts in such durations, which keeps it free of any clock type (and its tests drive it
/// with plain durations).
struct ProbeClock: Sendable {
    /// The time since the origin.
    let now: @Sendable () -> Duration
    /// Sleeps until the given time since the origin; throws when the task is cancelled.
    let sleep: @Sendable (_ until: Duration) async throws -> Void

    /// Wraps a clock, taking its current instant as the origin.
    init<C: Clock>(_ clock: C) where C.Duration == Duration {
        let origin = clock.now
        self.now = { origin.duration(to: clock.now) }
        self.sleep = { deadline in
            try await clock.sleep(until: origin.advanced(by: deadline), tolerance: nil)
        }
    }
}

extension Duration {
    /// The duration in seconds, for wall-clock arithmetic and logs.
    var inSeconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }

    /// The duration in milliseconds.
    var inMilliseconds: Double { inSeconds * 1000 }

    /// Written the way `endpoints.yaml` writes durations: `2s`, `500ms`.
    var configText: String {
        let milliseconds = Int((inMilliseconds).rounded())
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
    }
}
