import Balancer

extension EndpointHealth {
    /// The health decisions for one endpoint (DESIGN.md 6.3), with no I/O and no clock: every event
    /// is given the time it happened, as a `Duration` since any fixed origin.
    ///
    /// - One good probe makes the host healthy; one failed probe takes it out at once.
    /// - A healthy host is probed every `check_interval`, counted from the start of the previous probe.
    /// - A failing host is probed again 1, 2, 4, 8 ... x `check_interval` after the start of the failed
    ///   probe, capped at 60 s (or at the interval itself when that is longer).
    /// - A connection failure reported by the proxy takes the host out and asks for a quick re-probe.
    /// - Never two probes at once: a probe asked for while one runs happens after it.
    struct StateMachine: Sendable, Equatable {
        /// What the driver should do now.
        enum Action: Sendable, Equatable {
            /// Start a probe now; report its end with `probeSucceeded` or `probeFailed`.
            case probe
            /// Nothing until this time (or until another event changes the schedule).
            case wait(until: Duration)
            /// A probe is running; wait for its result.
            case busy
        }

        /// How a probe failed, which decides the status the host gets.
        enum Failure: Sendable, Equatable {
            /// The host answered, with an HTTP error or a body that is not a model list.
            case unhealthy
            /// The host could not be reached: refused, reset, or no answer in time.
            case offline

            var status: EndpointStatus {
                switch self {
                case .unhealthy: return .unhealthy
                case .offline: return .offline
                }
            }
        }

        /// A change of status, reported once per change so it can be logged once.
        struct Transition: Sendable, Equatable {
            var from: EndpointStatus
            var to: EndpointStatus
        }

        /// The longest back-off between two probes of a failing host (unless the interval is longer).
        static let backoffCap: Duration = .seconds(60)
        /// How soon a host is probed after the proxy reports a connection failure to it.
        static let quickProbeDelay: Duration = .milliseconds(200)

        /// `check_interval` of the endpoint.
        let interval: Duration
        private(set) var status: EndpointStatus
        /// Failed probes since the last good one.
        private(set) var consecutiveFailures = 0
        /// When the next probe is due (while a probe runs: the earliest time the next one may start).
        private(set) var nextProbeAt: Duration
        private(set) var isProbing = false
        private var probeStartedAt: Duration = .zero
        /// An earlier probe asked for while one was running, applied when it ends.
        private var requestedProbeAt: Duration?

        /// Creates the state of a host whose first probe is due at once.
        /// - Parameters:
        ///   - interval: the endpoint's `check_interval`.
        ///   - status: the status the host has now (`unknown` for a new one; a reload may carry one over).
        ///   - now: the current time.
        init(interval: Duration, status: EndpointStatus = .unknown, now: Duration) {
            self.interval = interval
            self.status = status
            self.nextProbeAt = now
        }

        /// What to do at `now`; returning `.probe` marks the probe as started.
        mutating func nextAction(now: Duration) -> Action {
            if isProbing { return .busy }
            guard now >= nextProbeAt else { return .wait(until: nextProbeAt) }
            isProbing = true
            probeStartedAt = now
            return .probe
        }

        /// Records a good probe: the host is healthy and probed again one interval after this probe began.
        mutating func probeSucceeded(now: Duration) -> Transition? {
            precondition(isProbing, "a probe ended that was not started")
            isProbing = false
            consecutiveFailures = 0
            schedule(after: interval, now: now)
            return move(to: .healthy)
        }

        /// Records a failed probe: the host leaves rotation and is probed again after the back-off.
        mutating func probeFailed(_ failure: Failure, now: Duration) -> Transition? {
            precondition(isProbing, "a probe ended that was not started")
            isProbing = false
            consecutiveFailures += 1
            schedule(after: backoff(afterFailures: consecutiveFailures), now: now)
            return move(to: failure.status)
        }

        /// Records a connection failure of a real request (the proxy's passive health report).
        ///
        /// The host goes offline at once. While it was thought good, a probe is asked for shortly, so a
        /// host that only dropped one connection comes back fast; a host already failing its probes keeps
        /// its back-off, so a stream of failed requests cannot turn into a stream of probes.
        mutating func connectionFailed(now: Duration) -> Transition? {
            if consecutiveFailures == 0 {
                requestProbe(at: now + Self.quickProbeDelay)
            }
            return move(to: .offline)
        }

        /// Asks for a probe as soon as possible (at once, or right after the one that runs).
        mutating func probeRequested(now: Duration) {
            requestProbe(at: now)
        }

        /// The wait before the probe that follows `failures` failed probes in a row:
        /// 1, 2, 4, 8 ... x interval, capped at 60 s (or at the interval when that is longer).
        func backoff(afterFailures failures: Int) -> Duration {
            let cap = max(Self.backoffCap, interval)
            let doublings = min(max(failures - 1, 0), 20)
            let delay = interval * (1 << doublings)
            return min(delay, cap)
        }

        private mutating func schedule(after delay: Duration, now: Duration) {
            nextProbeAt = max(probeStartedAt + delay, now)
            if let requested = requestedProbeAt {
                nextProbeAt = max(min(nextProbeAt, requested), now)
                requestedProbeAt = nil
            }
        }

        private mutating func requestProbe(at time: Duration) {
            if isProbing {
                requestedProbeAt = min(requestedProbeAt ?? time, time)
            } else {
                nextProbeAt = min(nextProbeAt, time)
            }
        }

        private mutating func move(to status: EndpointStatus) -> Transition? {
            guard status != self.status else { return nil }
            defer { self.status = status }
            return Transition(from: self.status, to: status)
        }
    }
}
