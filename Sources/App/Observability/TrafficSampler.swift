import Foundation
import ServiceLifecycle

/// Reads olla's traffic totals once a second into a ``TrafficHistory``, as a service of the application's
/// `ServiceGroup`, so the dashboard's rates cost olla one registry read a second and nothing per request.
struct TrafficSampler: Service {
    let history: TrafficHistory
    let interval: Duration
    /// Reads the totals now (``OllaMetrics/trafficTotals()``).
    let read: @Sendable () -> TrafficTotals

    init(history: TrafficHistory, interval: Duration = .seconds(1), read: @escaping @Sendable () -> TrafficTotals) {
        self.history = history
        self.interval = interval
        self.read = read
    }

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            let clock = ContinuousClock()
            let start = clock.now
            var next = start
            while !Task.isCancelled {
                let elapsed = start.duration(to: clock.now)
                history.record(
                    TrafficSample(
                        time: Date().timeIntervalSince1970,
                        elapsed: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
                        totals: read()
                    )
                )
                // On a fixed grid, so the samples stay a second apart however long a read took; after a stall
                // (a suspended machine) the grid starts again from now rather than catching up in a burst.
                next = next.advanced(by: interval)
                if next < clock.now { next = clock.now.advanced(by: interval) }
                try? await Task.sleep(until: next, clock: clock)
            }
        }
    }
}
