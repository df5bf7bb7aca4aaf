import AsyncHTTPClient
import Balancer
import Foundation
import Logging

/// The probe loop of one endpoint: asks its ``StateMachine`` what to do, sleeps or probes, and publishes
/// each result into the ``RoutingTable``.
///
/// Each endpoint has its own loop, so a host that hangs never delays another's probe; the loop runs one
/// probe at a time, so no host is probed twice at once.
final class EndpointHealth: Sendable {
    let runtime: EndpointRuntime
    private let table: RoutingTable
    private let probe: EndpointProbe
    private let clock: ProbeClock
    private let logger: Logger
    private let state: LockedValue<State>

    private struct State: Sendable {
        var machine: StateMachine
        var isStopped = false
        /// The sleep running now; events that move the next probe earlier cancel it.
        var sleep: Task<Void, Never>?
        /// The probe running now; only ``stop()`` cancels it.
        var probe: Task<EndpointProbe.Result, Never>?
    }

    private enum Step {
        case sleep(Task<Void, Never>)
        case probe(Task<EndpointProbe.Result, Never>)
    }

    init(runtime: EndpointRuntime, table: RoutingTable, httpClient: HTTPClient, clock: ProbeClock, logger: Logger) {
        self.runtime = runtime
        self.table = table
        self.probe = EndpointProbe(configuration: runtime.configuration, httpClient: httpClient, clock: clock)
        self.clock = clock
        self.logger = logger
        // A runtime carried over by a reload keeps its status; the first probe is due at once either way.
        let machine = StateMachine(
            interval: runtime.configuration.checkInterval,
            status: runtime.status,
            now: clock.now()
        )
        self.state = LockedValue(State(machine: machine))
    }

    private var name: String { runtime.name }

    /// Probes on schedule until ``stop()`` or until the task is cancelled.
    func run() async {
        while let step = nextStep() {
            switch step {
            case .sleep(let task):
                await withTaskCancellationHandler {
                    await task.value
                } onCancel: {
                    task.cancel()
                }
            case .probe(let task):
                let result = await withTaskCancellationHandler {
                    await task.value
                } onCancel: {
                    task.cancel()
                }
                record(result)
            }
            if Task.isCancelled { break }
        }
        state.withLock { state in
            state.isStopped = true
            state.sleep = nil
            state.probe = nil
        }
    }

    /// Ends the loop: cancels a sleep or a probe in flight; a result that arrives later is dropped.
    func stop() {
        state.withLock { state in
            state.isStopped = true
            state.sleep?.cancel()
            state.probe?.cancel()
        }
    }

    /// Asks for a probe at once, or right after the one that runs.
    func probeNow() {
        let now = clock.now()
        state.withLock { state in
            state.machine.probeRequested(now: now)
            state.sleep?.cancel()
        }
    }

    /// The proxy could not reach the host with a real request; the routing table has already set it
    /// offline. Asks for a quick re-probe so a host that only dropped a connection comes back soon.
    func connectionFailed(reason: String) {
        let now = clock.now()
        let (transition, nextProbeAt) = state.withLock { state -> (StateMachine.Transition?, Duration) in
            let transition = state.machine.connectionFailed(now: now)
            state.sleep?.cancel()
            return (transition, state.machine.nextProbeAt)
        }
        let wallNow = Date().timeIntervalSince1970
        runtime.updateHealth { report in
            report.nextCheckAt = wallNow + (nextProbeAt - now).inSeconds
        }
        if let transition {
            log(transition, reason: reason)
        }
    }

    private func nextStep() -> Step? {
        let now = clock.now()
        return state.withLock { state -> Step? in
            guard !state.isStopped, !Task.isCancelled else { return nil }
            switch state.machine.nextAction(now: now) {
            case .probe:
                let probe = self.probe
                let task = Task { await probe.run() }
                state.probe = task
                return .probe(task)
            case .wait(let deadline):
                let clock = self.clock
                let task = Task<Void, Never> {
                    // Cancelled when the schedule moves earlier or the loop stops; either way, look again.
                    try? await clock.sleep(deadline)
                }
                state.sleep = task
                return .sleep(task)
            case .busy:
                preconditionFailure("the probe loop of \(name) asked what to do while its probe runs")
            }
        }
    }

    private func record(_ result: EndpointProbe.Result) {
        let now = clock.now()
        let recorded = state.withLock { state -> (StateMachine.Transition?, StateMachine)? in
            state.probe = nil
            guard !state.isStopped, !Task.isCancelled else { return nil }
            let transition: StateMachine.Transition?
            switch result {
            case .healthy:
                transition = state.machine.probeSucceeded(now: now)
            case .failed(let failure, _):
                transition = state.machine.probeFailed(failure, now: now)
            }
            return (transition, state.machine)
        }
        guard let (transition, machine) = recorded else { return }

        let wallNow = Date().timeIntervalSince1970
        let nextCheckAt = wallNow + (machine.nextProbeAt - now).inSeconds
        let next = "next in \((machine.nextProbeAt - now).configText)"
        switch result {
        case .healthy(let discovery, let latency):
            let models = discovery.models
            let previousIssue = runtime.health.discoveryIssue
            runtime.updateHealth { report in
                report.lastCheckAt = wallNow
                report.nextCheckAt = nextCheckAt
                report.lastError = nil
                report.probeLatencyMilliseconds = latency.inMilliseconds
                report.consecutiveFailures = 0
                report.api = discovery.api
                report.discoveryIssue = discovery.issueSummary
            }
            if let issue = discovery.issueSummary, issue != previousIssue {
                logger.warning("endpoint \(name): model discovery passed over: \(issue)")
            }
            // Models first, so a request routed the moment the host turns healthy finds them.
            let changed = table.publishModels(models, for: runtime)
            table.setStatus(.healthy, of: runtime)
            let listed = Self.count(models.count, "model")
            if changed {
                logger.info("endpoint \(name): model list changed (\(listed))")
            }
            logger.debug("probe of \(name): healthy in \(latency.configText), \(listed), \(next)")
            if let transition { log(transition, reason: nil) }
        case .failed(let failure, let reason):
            runtime.updateHealth { report in
                report.lastCheckAt = wallNow
                report.nextCheckAt = nextCheckAt
                report.lastError = reason
                report.consecutiveFailures = machine.consecutiveFailures
            }
            table.setStatus(failure.status, of: runtime)
            let failures = Self.count(machine.consecutiveFailures, "failure")
            logger.debug("probe of \(name): \(failure.status) (\(reason)), \(failures) in a row, \(next)")
            if let transition { log(transition, reason: reason) }
        }
    }

    /// `1 model`, `3 models`.
    private static func count(_ number: Int, _ noun: String) -> String {
        number == 1 ? "1 \(noun)" : "\(number) \(noun)s"
    }

    private func log(_ transition: StateMachine.Transition, reason: String?) {
        let because = reason.map { " (\($0))" } ?? ""
        logger.info("endpoint \(name): \(transition.from) -> \(transition.to)\(because)")
    }
}
