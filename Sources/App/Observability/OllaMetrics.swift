import Balancer
import NIOConcurrencyHelpers
import NIOPosix
import Prometheus
import Proxy

/// olla's Prometheus metrics (`GET /internal/metrics`), fed by the data path's request records and read
/// from the routing table at scrape time (DESIGN.md 6.6).
///
/// Labels are bounded: endpoint names come from the configuration and model ids from the model index
/// (a name a client made up never becomes a label). Each label set's handles are created once, under a lock, and
/// each event loop keeps its own copy of those it used: a request costs no lock of olla's and, when it has the
/// labels of the request before it on its loop (the usual case), not even a hash of them (DESIGN.md section 2:
/// nothing per request that threads contend for). swift-prometheus' counters are atomics; its histograms keep
/// a lock of their own per label set.
final class OllaMetrics: RequestObserver, Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let table: RoutingTable
    private let handles = NIOLockedValueBox(Handles())
    private let loopHandles = ThreadSpecificVariable<LoopHandles>()

    private let overhead: DurationHistogram
    private let queueWait: DurationHistogram
    private let queueDepth: Gauge

    /// Request durations: LM Studio answers take from milliseconds to minutes.
    static let durationBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(300),
    ]
    /// olla's own time per request, expected in microseconds.
    static let overheadBuckets: [Duration] = [
        .microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250),
        .microseconds(500), .milliseconds(1), .milliseconds(5), .milliseconds(25),
    ]

    private struct Handles {
        var requests: [RequestKey: Counter] = [:]
        var durations: [String: DurationHistogram] = [:]
        var firstByte: [String: DurationHistogram] = [:]
        var failovers: [String: Counter] = [:]
        var midStream: [String: Counter] = [:]
        var inFlight: [String: Gauge] = [:]
        var up: [String: Gauge] = [:]
        var affinity: [AffinityKey: Counter] = [:]
    }

    private struct AffinityKey: Hashable {
        var endpoint: String
        var outcome: StickySessions.Outcome
    }

    /// What a request with one (endpoint, model, status) records into.
    private struct RequestHandles {
        let counter: Counter
        let duration: DurationHistogram
        let firstByte: DurationHistogram?
    }

    /// One event loop's copy of the handles it used. Handles are never unregistered, so a copy never goes stale.
    /// - Important: Only ever used by the thread it belongs to (``ThreadSpecificVariable``).
    private final class LoopHandles: @unchecked Sendable {
        var lastKey: RequestKey?
        var last: RequestHandles?
        var requests: [RequestKey: RequestHandles] = [:]
        var lastAffinityKey: AffinityKey?
        var lastAffinity: Counter?
    }

    private struct RequestKey: Hashable {
        var endpoint: String
        var model: String
        var status: Int
    }

    init(table: RoutingTable) {
        self.table = table
        overhead = registry.makeDurationHistogram(
            name: "olla_proxy_overhead_seconds",
            buckets: Self.overheadBuckets,
            help: "Time spent in olla per proxied request before it left for the host (no queue, no connect)"
        )
        queueWait = registry.makeDurationHistogram(
            name: "olla_queue_wait_seconds",
            buckets: Self.durationBuckets,
            help: "Time proxied requests waited for a host with room"
        )
        queueDepth = registry.makeGauge(name: "olla_queue_depth", help: "Requests waiting for a host with room")
    }

    func requestFinished(_ record: RequestRecord) {
        let endpoint = record.endpoint ?? ""
        // Only an id from the index (a host was chosen) is a label; a name a client made up never is.
        let model = record.endpoint == nil ? "" : (record.model ?? "")
        let key = RequestKey(endpoint: endpoint, model: model, status: record.status)
        let loop = loopHandles.currentValue ?? makeLoopHandles()
        let request: RequestHandles
        // Strings of the same storage (the configuration's names, the index's ids) compare without reading them.
        if let last = loop.last, loop.lastKey == key {
            request = last
        } else {
            request = loop.requests[key] ?? sharedHandles(for: key, record: record)
            loop.requests[key] = request
            loop.lastKey = key
            loop.last = request
        }
        request.counter.increment()
        request.duration.recordNanoseconds(record.durationNanoseconds)
        if let firstByte = request.firstByte, let timeToHead = record.timeToHeadNanoseconds {
            firstByte.recordNanoseconds(timeToHead)
        }
        if record.outcome == .upstreamFailedMidStream, !endpoint.isEmpty {
            // Rare: the shared cache is good enough.
            let midStream = handles.withLockedValue { handles in
                Self.handle(in: &handles.midStream, endpoint) {
                    registry.makeCounter(
                        name: "olla_midstream_failures_total",
                        labels: [("endpoint", endpoint)],
                        help: "Answers cut because the host failed after bytes reached the client"
                    )
                }
            }
            midStream.increment()
        }
        if let outcome = record.affinity, let endpoint = record.endpoint {
            let key = AffinityKey(endpoint: endpoint, outcome: outcome)
            if let last = loop.lastAffinity, loop.lastAffinityKey == key {
                last.increment()
            } else {
                let counter = handles.withLockedValue { handles in
                    Self.handle(in: &handles.affinity, key) {
                        registry.makeCounter(
                            name: "olla_sticky_sessions_total",
                            labels: [("endpoint", endpoint), ("outcome", outcome.rawValue)],
                            help:
                                "Prompt-cache affinity outcomes (hit, miss, repin, disabled) by the endpoint that answered"
                        )
                    }
                }
                loop.lastAffinityKey = key
                loop.lastAffinity = counter
                counter.increment()
            }
        }
        if let nanoseconds = record.overheadNanoseconds {
            overhead.recordNanoseconds(nanoseconds)
        }
        if !record.isLocal {
            queueWait.recordNanoseconds(record.queueNanoseconds)
        }
    }

    private func makeLoopHandles() -> LoopHandles {
        let handles = LoopHandles()
        loopHandles.currentValue = handles
        return handles
    }

    /// The handles of a label set, made (registered) the first time any loop needs them.
    private func sharedHandles(for key: RequestKey, record: RequestRecord) -> RequestHandles {
        let endpoint = key.endpoint
        let model = key.model
        return handles.withLockedValue { handles in
            let counter = Self.handle(in: &handles.requests, key) {
                registry.makeCounter(
                    name: "olla_requests_total",
                    labels: [("endpoint", endpoint), ("model", model), ("status", String(record.status))],
                    help: "Requests by endpoint, model and status"
                )
            }
            let duration = Self.handle(in: &handles.durations, endpoint) {
                registry.makeDurationHistogram(
                    name: "olla_request_duration_seconds",
                    labels: [("endpoint", endpoint)],
                    buckets: Self.durationBuckets,
                    help: "Time from a request's arrival to the end of its answer"
                )
            }
            guard !endpoint.isEmpty else { return RequestHandles(counter: counter, duration: duration, firstByte: nil) }
            let firstByte = Self.handle(in: &handles.firstByte, endpoint) {
                registry.makeDurationHistogram(
                    name: "olla_time_to_first_byte_seconds",
                    labels: [("endpoint", endpoint)],
                    buckets: Self.durationBuckets,
                    help: "Time from a request's arrival to the host's response head"
                )
            }
            return RequestHandles(counter: counter, duration: duration, firstByte: firstByte)
        }
    }

    func requestFailedOver(requestID: String, from endpoint: String, reason: String) {
        let counter = handles.withLockedValue { handles in
            Self.handle(in: &handles.failovers, endpoint) {
                registry.makeCounter(
                    name: "olla_failovers_total",
                    labels: [("endpoint", endpoint)],
                    help: "Requests moved to another host, by the host that failed"
                )
            }
        }
        counter.increment()
    }

    /// The handle cached under `key`, made (registered) the first time only.
    private static func handle<Key: Hashable, Handle>(
        in cache: inout [Key: Handle],
        _ key: Key,
        make: () -> Handle
    ) -> Handle {
        if let handle = cache[key] { return handle }
        let handle = make()
        cache[key] = handle
        return handle
    }

    /// The exposition text, with the gauges read from the routing table now.
    func exposition() -> String {
        let snapshot = table.snapshot
        handles.withLockedValue { handles in
            // A host a reload removed is no longer reported at all (rather than frozen at its last value).
            let configured = Set(snapshot.endpoints.map(\.name))
            for (name, gauge) in handles.inFlight where !configured.contains(name) {
                registry.unregisterGauge(gauge)
                handles.inFlight[name] = nil
            }
            for (name, gauge) in handles.up where !configured.contains(name) {
                registry.unregisterGauge(gauge)
                handles.up[name] = nil
            }
            for endpoint in snapshot.endpoints {
                let name = endpoint.name
                let inFlight = Self.handle(in: &handles.inFlight, name) {
                    registry.makeGauge(
                        name: "olla_in_flight_requests",
                        labels: [("endpoint", name)],
                        help: "Requests sent to the host and not finished"
                    )
                }
                inFlight.set(Double(endpoint.inFlight.load(ordering: .relaxed)))
                let up = Self.handle(in: &handles.up, name) {
                    registry.makeGauge(
                        name: "olla_endpoint_up",
                        labels: [("endpoint", name)],
                        help: "1 when the endpoint is healthy and routed, 0 otherwise"
                    )
                }
                up.set(endpoint.status.isRoutable ? 1.0 : 0.0)
            }
        }
        queueDepth.set(Double(table.queue.count))
        return registry.emitToString()
    }

    /// olla's traffic counted since it started, for the dashboard's sampler (``TrafficSampler``): read from
    /// the registry's own exposition, so that requests pay nothing for it.
    func trafficTotals() -> TrafficTotals {
        let inFlight = table.snapshot.endpoints.reduce(0) { $0 + $1.inFlight.load(ordering: .relaxed) }
        return TrafficTotals(exposition: registry.emitToBuffer(), queueDepth: table.queue.count, inFlight: inFlight)
    }

}
