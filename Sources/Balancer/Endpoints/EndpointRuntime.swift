import Atomics
import NIOConcurrencyHelpers

/// One configured endpoint and its live state, shared by the data path, the probes and the status routes.
///
/// The runtime outlives routing snapshots: a reload that keeps an endpoint's name, URL and settings keeps its
/// runtime, and one that changes only its settings gets a successor sharing its counters, so in-flight counts
/// and statistics carry over and requests in flight are not disturbed.
public final class EndpointRuntime: Sendable {
    public let configuration: EndpointConfiguration
    /// Position of this endpoint in the snapshot that created it; stable for its lifetime, used as a
    /// compact key by selection (``EndpointSet``).
    public let ordinal: Int
    /// The `Host` header and the `Authorization` value (when the endpoint has `auth`) of every request
    /// forwarded to this host, made once rather than per request.
    public let hostHeader: String
    public let authorization: String?
    /// The hash of the endpoint's name, its identity in prompt-cache affinity (the same in every olla process).
    public let affinityHash: UInt64

    private let statusValue: ManagedAtomic<EndpointStatus>
    /// Requests sent to this host and not finished yet (including those handed over from the queue).
    public let inFlight: ManagedAtomic<Int>
    let finishedRequests: ManagedAtomic<Int>
    let failedRequests: ManagedAtomic<Int>
    /// Sum of the time to the response head of finished requests, in microseconds.
    let latencyMicroseconds: ManagedAtomic<Int>
    private let healthReport: NIOLockedValueBox<HealthReport>
    private let retiredFlag = ManagedAtomic(false)

    public init(configuration: EndpointConfiguration, ordinal: Int) {
        self.configuration = configuration
        self.ordinal = ordinal
        self.hostHeader = configuration.url.hostHeader
        self.authorization = configuration.auth?.authorizationHeaderValue
        self.affinityHash = AffinityHash.hash(configuration.name)
        self.statusValue = ManagedAtomic(EndpointStatus.unknown)
        self.inFlight = ManagedAtomic(0)
        self.finishedRequests = ManagedAtomic(0)
        self.failedRequests = ManagedAtomic(0)
        self.latencyMicroseconds = ManagedAtomic(0)
        self.healthReport = NIOLockedValueBox(HealthReport())
    }

    /// The runtime of the same host (same name and URL) under changed settings, after a reload: it starts with
    /// the health report of `previous` and shares its status and request counters, so requests still in flight
    /// there count against this one's `max_concurrency` and release their slots here, and requests queued
    /// before the reload (whose candidates name `previous`) can still be given a slot on this host.
    public init(configuration: EndpointConfiguration, succeeding previous: EndpointRuntime) {
        self.configuration = configuration
        self.ordinal = previous.ordinal
        self.hostHeader = configuration.url.hostHeader
        self.authorization = configuration.auth?.authorizationHeaderValue
        self.affinityHash = AffinityHash.hash(configuration.name)
        self.statusValue = previous.statusValue
        self.inFlight = previous.inFlight
        self.finishedRequests = previous.finishedRequests
        self.failedRequests = previous.failedRequests
        self.latencyMicroseconds = previous.latencyMicroseconds
        self.healthReport = NIOLockedValueBox(previous.health)
    }

    public var name: String { configuration.name }

    /// Whether a reload took this runtime out of the snapshot (host removed, or replaced by a successor):
    /// nothing new is sent to it, so a connection it gives back is closed rather than kept idle.
    public var isRetired: Bool {
        retiredFlag.load(ordering: .relaxed)
    }

    func retire() {
        retiredFlag.store(true, ordering: .relaxed)
    }

    /// Current health; read on every request, so an atomic rather than part of the snapshot.
    public var status: EndpointStatus {
        statusValue.load(ordering: .relaxed)
    }

    /// Sets the health; returns the previous value so callers can log transitions once.
    @discardableResult
    public func setStatus(_ status: EndpointStatus) -> EndpointStatus {
        statusValue.exchange(status, ordering: .relaxed)
    }

    /// Whether another request may start here now, given `max_concurrency`.
    @inlinable
    public var hasRoom: Bool {
        let limit = configuration.maxConcurrency
        return limit == 0 || inFlight.load(ordering: .relaxed) < limit
    }

    /// Takes one slot if the host is under its `max_concurrency`.
    /// - Returns: false when the host is full (nothing was taken).
    public func tryAcquire() -> Bool {
        let limit = configuration.maxConcurrency
        if limit == 0 {
            inFlight.wrappingIncrement(ordering: .relaxed)
            return true
        }
        return inFlight.incrementIfBelow(limit)
    }

    /// Gives a slot back without handing it to a queued request; see ``RoutingTable/release(_:outcome:)``.
    func releaseSlot() {
        let previous = inFlight.loadThenWrappingDecrement(ordering: .relaxed)
        precondition(previous > 0, "in-flight count of \(name) went negative")
    }

    /// Counts one finished request for `/internal/status/endpoints`.
    func record(_ outcome: RequestOutcome) {
        finishedRequests.wrappingIncrement(ordering: .relaxed)
        if !outcome.succeeded {
            failedRequests.wrappingIncrement(ordering: .relaxed)
        }
        if let latency = outcome.timeToHeadMicroseconds {
            latencyMicroseconds.wrappingIncrement(by: latency, ordering: .relaxed)
        }
    }

    /// Statistics of finished requests.
    public var statistics: EndpointStatistics {
        let finished = finishedRequests.load(ordering: .relaxed)
        let failed = failedRequests.load(ordering: .relaxed)
        let latency = latencyMicroseconds.load(ordering: .relaxed)
        return EndpointStatistics(
            requestCount: finished,
            successRate: finished == 0 ? 1 : Double(finished - failed) / Double(finished),
            averageLatencyMilliseconds: finished == 0 ? 0 : Double(latency) / Double(finished) / 1000
        )
    }

    /// What the probes last found; written by Health, read by the status routes.
    public var health: HealthReport {
        healthReport.withLockedValue { $0 }
    }

    /// Replaces the probe report.
    public func updateHealth(_ update: (inout HealthReport) -> Void) {
        healthReport.withLockedValue { update(&$0) }
    }
}

/// How a request to an endpoint ended, for its statistics.
public struct RequestOutcome: Sendable {
    /// False when the host failed (connection error, timeout, 5xx, cut stream).
    public var succeeded: Bool
    public var timeToHeadMicroseconds: Int?

    public init(succeeded: Bool, timeToHeadMicroseconds: Int?) {
        self.succeeded = succeeded
        self.timeToHeadMicroseconds = timeToHeadMicroseconds
    }
}

/// Counters of one endpoint, as `/internal/status/endpoints` shows them.
public struct EndpointStatistics: Sendable, Equatable {
    public var requestCount: Int
    public var successRate: Double
    public var averageLatencyMilliseconds: Double
}

/// The probes' view of an endpoint.
public struct HealthReport: Sendable, Equatable {
    /// Wall-clock time of the last finished probe, in seconds since 1970.
    public var lastCheckAt: Double?
    /// Wall-clock time the next probe is due, in seconds since 1970.
    public var nextCheckAt: Double?
    public var lastError: String?
    /// Round-trip time of the last successful probe, in milliseconds.
    public var probeLatencyMilliseconds: Double?
    public var consecutiveFailures: Int = 0
    /// The API generation the last successful probe found; nil before one, or when `/api/v1/models` gave an
    /// answer that tells neither.
    public var api: APIGeneration?
    /// What the last successful probe could not use (a malformed `/api/v1/models`, an absurd `parallel`, two
    /// listings that contradict each other), while the host stayed usable from the rest; nil when all was well.
    public var discoveryIssue: String?

    public init() {}
}
