import Balancer
import NIOConcurrencyHelpers
import Prometheus
import Proxy

/// olla's Prometheus metrics (`GET /internal/metrics`), fed by the data path's request records and read
/// from the routing table at scrape time (DESIGN.md 6.6).
///
/// Labels are bounded: endpoint names come from the configuration and model ids from the model index
/// (a name a client made up never becomes a label). Each label set's handles are created once and cached,
/// so a request costs a dictionary lookup under a lock, not a registration.
final class OllaMetrics: RequestObserver, Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let table: RoutingTable
    private let handles = NIOLockedValueBox(Handles())

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
        let (counter, duration, firstByte, midStream) = handles.withLockedValue { handles in
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
            guard !endpoint.isEmpty else { return (counter, duration, nil as DurationHistogram?, nil as Counter?) }
            let firstByte = Self.handle(in: &handles.firstByte, endpoint) {
                registry.makeDurationHistogram(
                    name: "olla_time_to_first_byte_seconds",
                    labels: [("endpoint", endpoint)],
                    buckets: Self.durationBuckets,
                    help: "Time from a request's arrival to the host's response head"
                )
            }
            guard record.outcome == .upstreamFailedMidStream else { return (counter, duration, firstByte, nil) }
            let midStream = Self.handle(in: &handles.midStream, endpoint) {
                registry.makeCounter(
                    name: "olla_midstream_failures_total",
                    labels: [("endpoint", endpoint)],
                    help: "Answers cut because the host failed after bytes reached the client"
                )
            }
            return (counter, duration, firstByte, midStream)
        }
        counter.increment()
        duration.recordNanoseconds(record.durationNanoseconds)
        if let firstByte, let timeToHead = record.timeToHeadNanoseconds {
            firstByte.recordNanoseconds(timeToHead)
        }
        midStream?.increment()
        if let outcome = record.affinity, let endpoint = record.endpoint {
            let key = AffinityKey(endpoint: endpoint, outcome: outcome)
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
            counter.increment()
        }
        if let nanoseconds = record.overheadNanoseconds {
            overhead.recordNanoseconds(nanoseconds)
        }
        if !record.isLocal {
            queueWait.recordNanoseconds(record.queueNanoseconds)
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
