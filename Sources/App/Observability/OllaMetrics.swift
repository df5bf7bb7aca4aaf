import Balancer
import NIOConcurrencyHelpers
import NIOPosix
import Prometheus
import Proxy

/// olla's Prometheus metrics (`GET /internal/metrics`), fed by the data path's request records and read
/// from the routing table at scrape time (DESIGN.md 6.6).
///
/// Labels are bounded: endpoint names come from the configuration and model ids from the model index
/// (a name a client made up never becomes a label). What every request counts (`olla_requests_total`, the four
/// duration histograms, `olla_sticky_sessions_total`) is kept per event loop, in ``TallyRow``s that only that
/// loop writes, and added up by the scrape, which writes those families itself in swift-prometheus' format: a
/// request takes no lock (swift-prometheus' histograms take one per observation), makes no atomic
/// read-modify-write, and, while its label set is among the last few its loop saw, hashes no string (DESIGN.md
/// section 2: nothing per request that threads contend for). Scrapes are exact, with nothing to wait for. The
/// rare events (failovers, cut answers) and the gauges stay in swift-prometheus' registry.
final class OllaMetrics: RequestObserver, Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let table: RoutingTable
    private let handles = NIOLockedValueBox(Handles())
    /// Every loop's rows, by family and label set: locked when a loop first uses a label set, and by scrapes.
    private let series = NIOLockedValueBox(Series())
    private let loops = ThreadSpecificVariable<LoopTallies>()

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

    static let requestsName = "olla_requests_total"
    static let requestsHelp = "Requests by endpoint, model and status"
    static let affinityName = "olla_sticky_sessions_total"
    static let affinityHelp =
        "Prompt-cache affinity outcomes (hit, miss, repin, disabled) by the endpoint that answered"
    static let duration = TallyHistogram(
        name: "olla_request_duration_seconds",
        help: "Time from a request's arrival to the end of its answer",
        buckets: durationBuckets
    )
    static let firstByte = TallyHistogram(
        name: "olla_time_to_first_byte_seconds",
        help: "Time from a request's arrival to the host's response head",
        buckets: durationBuckets
    )
    static let overhead = TallyHistogram(
        name: "olla_proxy_overhead_seconds",
        help: "Time spent in olla per proxied request before it left for the host (no queue, no connect)",
        buckets: overheadBuckets
    )
    static let queueWait = TallyHistogram(
        name: "olla_queue_wait_seconds",
        help: "Time proxied requests waited for a host with room",
        buckets: durationBuckets
    )

    /// The registry's handles: gauges and the counters of rare events.
    private struct Handles {
        var failovers: [String: Counter] = [:]
        var midStream: [String: Counter] = [:]
        var inFlight: [String: Gauge] = [:]
        var up: [String: Gauge] = [:]
    }

    /// Every loop's rows of the families counted per request, so that a scrape adds them up.
    private struct Series {
        var overhead: [TallyRow] = []
        var queueWait: [TallyRow] = []
        var requests: [RequestKey: [TallyRow]] = [:]
        /// By endpoint name.
        var durations: [String: [TallyRow]] = [:]
        var firstByte: [String: [TallyRow]] = [:]
        var affinity: [AffinityKey: [TallyRow]] = [:]
    }

    private struct AffinityKey: Hashable {
        var endpoint: String
        var outcome: StickySessions.Outcome
    }

    private struct RequestKey: Hashable {
        // The status first: the cheapest to tell two keys apart.
        var status: Int
        var endpoint: String
        var model: String
    }

    /// What a request with one (endpoint, model, status) counts into, on one loop.
    private struct RequestRows {
        let count: TallyRow
        let duration: TallyRow
        let firstByte: TallyRow?
    }

    /// One event loop's rows, and the label sets it used last, compared before any hashing.
    /// - Important: Only ever used by the thread it belongs to (``ThreadSpecificVariable``).
    private final class LoopTallies: @unchecked Sendable {
        let overhead = TallyRow(count: OllaMetrics.overhead.rowCount)
        let queueWait = TallyRow(count: OllaMetrics.queueWait.rowCount)
        var recentRequests = RecentRows<RequestKey, RequestRows>()
        var requests: [RequestKey: RequestRows] = [:]
        var durations: [String: TallyRow] = [:]
        var firstByte: [String: TallyRow] = [:]
        var recentAffinity = RecentRows<AffinityKey, TallyRow>()
        var affinity: [AffinityKey: TallyRow] = [:]
    }

    init(table: RoutingTable) {
        self.table = table
        queueDepth = registry.makeGauge(name: "olla_queue_depth", help: "Requests waiting for a host with room")
    }

    func requestFinished(_ record: RequestRecord) {
        let loop = loops.currentValue ?? makeLoopTallies()
        let endpoint = record.endpoint ?? ""
        // Only an id from the index (a host was chosen) is a label; a name a client made up never is.
        let model = record.endpoint == nil ? "" : (record.model ?? "")
        let key = RequestKey(status: record.status, endpoint: endpoint, model: model)
        let request = loop.recentRequests.rows(for: key) ?? rows(for: key, on: loop)
        request.count.add(1, at: 0)
        Self.duration.record(record.durationNanoseconds, into: request.duration)
        if let firstByte = request.firstByte, let timeToHead = record.timeToHeadNanoseconds {
            Self.firstByte.record(timeToHead, into: firstByte)
        }
        if record.outcome == .upstreamFailedMidStream, !endpoint.isEmpty {
            // Rare: the registry's counter and lock are good enough.
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
            let row = loop.recentAffinity.rows(for: key) ?? affinityRow(for: key, on: loop)
            row.add(1, at: 0)
        }
        if let nanoseconds = record.overheadNanoseconds {
            Self.overhead.record(nanoseconds, into: loop.overhead)
        }
        if !record.isLocal {
            Self.queueWait.record(record.queueNanoseconds, into: loop.queueWait)
        }
    }

    private func makeLoopTallies() -> LoopTallies {
        let loop = LoopTallies()
        series.withLockedValue { series in
            series.overhead.append(loop.overhead)
            series.queueWait.append(loop.queueWait)
        }
        loops.currentValue = loop
        return loop
    }

    /// A label set's rows on this loop, made (and shown to scrapes) the first time this loop needs them.
    private func rows(for key: RequestKey, on loop: LoopTallies) -> RequestRows {
        let rows: RequestRows
        if let known = loop.requests[key] {
            rows = known
        } else {
            let count = TallyRow(count: 1)
            let duration = loop.durations[key.endpoint] ?? TallyRow(count: Self.duration.rowCount)
            let firstByte =
                key.endpoint.isEmpty
                ? nil : loop.firstByte[key.endpoint] ?? TallyRow(count: Self.firstByte.rowCount)
            series.withLockedValue { series in
                series.requests[key, default: []].append(count)
                if loop.durations[key.endpoint] == nil { series.durations[key.endpoint, default: []].append(duration) }
                if let firstByte, loop.firstByte[key.endpoint] == nil {
                    series.firstByte[key.endpoint, default: []].append(firstByte)
                }
            }
            loop.durations[key.endpoint] = duration
            loop.firstByte[key.endpoint] = firstByte
            rows = RequestRows(count: count, duration: duration, firstByte: firstByte)
            loop.requests[key] = rows
        }
        loop.recentRequests.remember(key, rows)
        return rows
    }

    /// An affinity outcome's row on this loop, made (and shown to scrapes) the first time this loop needs it.
    private func affinityRow(for key: AffinityKey, on loop: LoopTallies) -> TallyRow {
        let row: TallyRow
        if let known = loop.affinity[key] {
            row = known
        } else {
            row = TallyRow(count: 1)
            series.withLockedValue { $0.affinity[key, default: []].append(row) }
            loop.affinity[key] = row
        }
        loop.recentAffinity.remember(key, row)
        return row
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
        return String(decoding: emit(), as: UTF8.self)
    }

    /// olla's traffic counted since it started, for the dashboard's sampler (``TrafficSampler``): read from
    /// the metrics' own exposition, so that requests pay nothing for it.
    func trafficTotals() -> TrafficTotals {
        let inFlight = table.snapshot.endpoints.reduce(0) { $0 + $1.inFlight.load(ordering: .relaxed) }
        return TrafficTotals(exposition: emit(), queueDepth: table.queue.count, inFlight: inFlight)
    }

    /// The registry's families, then those counted per loop, each loop's rows added up now. Label sets are
    /// sorted, so that a scrape reads the same way each time.
    private func emit() -> [UInt8] {
        var buffer = registry.emitToBuffer()
        series.withLockedValue { series in
            if !series.requests.isEmpty {
                buffer.appendFamily(Self.requestsName, type: "counter", help: Self.requestsHelp)
                let keys = series.requests.keys.sorted {
                    ($0.endpoint, $0.model, $0.status) < ($1.endpoint, $1.model, $1.status)
                }
                for key in keys {
                    let rows = series.requests[key] ?? []
                    buffer.appendSample(
                        Self.requestsName,
                        labels: [("endpoint", key.endpoint), ("model", key.model), ("status", String(key.status))],
                        value: rows.reduce(0) { $0 &+ $1.value(at: 0) }
                    )
                }
            }
            for (histogram, byEndpoint) in [(Self.duration, series.durations), (Self.firstByte, series.firstByte)]
            where !byEndpoint.isEmpty {
                let labeled = byEndpoint.sorted { $0.key < $1.key }.map { ([("endpoint", $0.key)], $0.value) }
                histogram.write(labeled, to: &buffer)
            }
            Self.overhead.write([([], series.overhead)], to: &buffer)
            Self.queueWait.write([([], series.queueWait)], to: &buffer)
            if !series.affinity.isEmpty {
                buffer.appendFamily(Self.affinityName, type: "counter", help: Self.affinityHelp)
                let keys = series.affinity.keys.sorted {
                    ($0.endpoint, $0.outcome.rawValue) < ($1.endpoint, $1.outcome.rawValue)
                }
                for key in keys {
                    let rows = series.affinity[key] ?? []
                    buffer.appendSample(
                        Self.affinityName,
                        labels: [("endpoint", key.endpoint), ("outcome", key.outcome.rawValue)],
                        value: rows.reduce(0) { $0 &+ $1.value(at: 0) }
                    )
                }
            }
        }
        return buffer
    }
}
