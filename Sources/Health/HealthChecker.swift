import AsyncHTTPClient
import Balancer
import Logging
import ServiceLifecycle

/// Probes every endpoint of a ``RoutingTable`` on its `check_interval` and publishes health and model
/// lists into it (DESIGN.md 6.3); a long-running service for a `ServiceGroup`.
///
/// Each endpoint is probed by its own task, so a host that hangs never delays another; probes start at
/// once when ``run()`` starts, so requests are served as soon as the first probe answers. Status changes
/// are logged once each, at `info`; every probe is logged at `debug`.
///
/// ```swift
/// let checker = HealthChecker(table: table, httpClient: client, logger: logger)
/// // in a ServiceGroup, or: try await checker.run()
/// // after a reload: _ = table.apply(newConfiguration); checker.reconcile()
/// ```
public final class HealthChecker: Service, Sendable {
    private let table: RoutingTable
    private let httpClient: HTTPClient
    private let logger: Logger
    private let clock: ProbeClock
    private let state = LockedValue(State())

    private struct State: Sendable {
        /// The probe loop of each endpoint of the routing table, by runtime identity.
        var loops: [ObjectIdentifier: EndpointHealth] = [:]
        /// Hands new loops to ``run()``; nil while it does not run.
        var starts: AsyncStream<EndpointHealth>.Continuation?
    }

    /// Creates a checker; nothing is probed until ``run()``.
    /// - Parameters:
    ///   - table: the routing table whose endpoints are probed and which receives the results.
    ///   - httpClient: the client the probes share; the caller owns it and shuts it down after `run()`
    ///     returns. Best made with ``httpClientConfiguration``.
    ///   - logger: receives one `info` line per status change and `debug` lines per probe.
    public init(table: RoutingTable, httpClient: HTTPClient, logger: Logger) {
        self.table = table
        self.httpClient = httpClient
        self.logger = logger
        self.clock = ProbeClock(ContinuousClock())
    }

    /// The client configuration that suits probes: connection attempts are not retried.
    ///
    /// AsyncHTTPClient retries a refused connection with a growing back-off (up to a minute) and makes new
    /// requests to that host wait for it. For probes that means a host that is down is only reported when
    /// `check_timeout` runs out, and, after a long outage, one that came back may be seen late. Without
    /// retries a refused connection fails the probe at once, and every probe tries afresh.
    public static var httpClientConfiguration: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        return configuration
    }

    /// Probes every endpoint until the task is cancelled or a graceful shutdown begins; then returns,
    /// leaving no task behind. Call it once.
    public func run() async throws {
        let (starts, continuation) = AsyncStream.makeStream(of: EndpointHealth.self)
        state.withLock { state in
            state.starts = continuation
            for loop in state.loops.values { continuation.yield(loop) }
        }
        table.onConnectionFailure { [weak self] runtime, reason in
            self?.connectionFailed(of: runtime, reason: reason)
        }
        // A request that loaded a model got its answer: probe now, so the index learns of the load (6.7).
        table.onModelLoad { [weak self] runtime in
            self?.probeNow(runtime)
        }
        reconcile()
        logger.debug("health checks started for \(table.snapshot.endpoints.count) endpoints")

        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                // The stream ends when this task is cancelled; the group then cancels every loop.
                for await loop in starts {
                    group.addTask { await loop.run() }
                }
                group.cancelAll()
            }
        }

        let loops = state.withLock { state in
            state.starts = nil
            defer { state.loops = [:] }
            return Array(state.loops.values)
        }
        continuation.finish()
        for loop in loops { loop.stop() }
        logger.debug("health checks stopped")
    }

    /// Follows the routing table's endpoints after ``RoutingTable/apply(_:)``: starts probing the added
    /// ones (which stay `unknown`, and so take no traffic, until their first good probe) and stops probing
    /// the removed ones; the others keep their schedule.
    public func reconcile() {
        let endpoints = table.snapshot.endpoints
        let (started, stopped) = state.withLock { state -> ([EndpointHealth], [EndpointHealth]) in
            let current = Set(endpoints.map { ObjectIdentifier($0) })
            var stopped: [EndpointHealth] = []
            for (key, loop) in state.loops where !current.contains(key) {
                stopped.append(loop)
                state.loops[key] = nil
            }
            var started: [EndpointHealth] = []
            for runtime in endpoints where state.loops[ObjectIdentifier(runtime)] == nil {
                let loop = EndpointHealth(
                    runtime: runtime,
                    table: table,
                    httpClient: httpClient,
                    clock: clock,
                    logger: logger
                )
                state.loops[ObjectIdentifier(runtime)] = loop
                state.starts?.yield(loop)
                started.append(loop)
            }
            return (started, stopped)
        }
        for loop in stopped {
            loop.stop()
            logger.debug("health checks of \(loop.runtime.name) stopped (endpoint removed or replaced)")
        }
        for loop in started {
            logger.debug("health checks of \(loop.runtime.name) started")
        }
    }

    /// Probes an endpoint as soon as possible: at once, or right after its probe in flight.
    public func probeNow(_ endpoint: EndpointRuntime) {
        loop(of: endpoint)?.probeNow()
    }

    /// Passes a connection failure reported by the proxy to the endpoint's loop, for a quick re-probe.
    private func connectionFailed(of endpoint: EndpointRuntime, reason: String) {
        loop(of: endpoint)?.connectionFailed(reason: reason)
    }

    private func loop(of endpoint: EndpointRuntime) -> EndpointHealth? {
        state.withLock { $0.loops[ObjectIdentifier(endpoint)] }
    }
}
