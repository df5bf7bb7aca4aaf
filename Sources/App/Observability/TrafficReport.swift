import Foundation

/// `GET /internal/stats/traffic`: rates, time-to-first-byte percentiles and failure counts over the last
/// minutes, computed from the sampler's ring when the dashboard asks (DESIGN.md 6.10).
///
/// Every figure is a difference between two cumulative samples, so the report costs the same however busy
/// olla was. Percentiles are estimated from histogram bucket counts, interpolated inside the bucket as
/// Prometheus' `histogram_quantile` does.
struct TrafficReport {
    /// One endpoint as configured now.
    struct Endpoint {
        var name: String
        var maxConcurrency: Int
    }

    var samples: [TrafficSample]
    var endpoints: [Endpoint]
    /// Samples per chart point: five seconds, so a quiet minute is not a row of zeros and spikes.
    var step = 5
    /// Samples behind the "now" figures.
    var recent = 10

    /// A window between two samples: the figures of everything that happened after `from` up to `to`.
    struct Window {
        let from: TrafficSample
        let to: TrafficSample
        /// The samples after `from`, up to and including `to`, for the gauges' maxima.
        let inside: ArraySlice<TrafficSample>

        var seconds: Double { max(to.elapsed - from.elapsed, 0.001) }
        var proxied: Int { max(to.totals.proxied - from.totals.proxied, 0) }
        var requestsPerSecond: Double { Double(proxied) / seconds }
        var failovers: Int { max(to.totals.failovers - from.totals.failovers, 0) }
        var midStreamCuts: Int { max(to.totals.midStreamCuts - from.totals.midStreamCuts, 0) }
        var serverErrors: Int { max(to.totals.serverErrors - from.totals.serverErrors, 0) }
        var queueDepth: Int { inside.map(\.totals.queueDepth).max() ?? to.totals.queueDepth }
        var inFlight: Int { inside.map(\.totals.inFlight).max() ?? to.totals.inFlight }

        func proxied(by endpoint: String) -> Int {
            max((to.totals.proxiedByEndpoint[endpoint] ?? 0) - (from.totals.proxiedByEndpoint[endpoint] ?? 0), 0)
        }

        /// The difference of an optional counter; nil while olla does not keep it.
        func difference(_ counter: KeyPath<TrafficTotals, Int?>) -> Int? {
            guard let last = to.totals[keyPath: counter] else { return nil }
            return max(last - (from.totals[keyPath: counter] ?? 0), 0)
        }

        /// The `quantile` (0...1) of time to first byte in milliseconds; nil when no request was measured.
        func firstByteMilliseconds(_ quantile: Double) -> Double? {
            let total = to.totals.firstByteCount - from.totals.firstByteCount
            guard total > 0 else { return nil }
            let cumulative = zip(to.totals.firstByteBuckets, from.totals.firstByteBuckets).map { $0 - $1 }
            return TrafficReport.quantile(
                quantile,
                bounds: TrafficTotals.firstByteBounds,
                cumulative: cumulative,
                total: total
            ).map { $0 * 1000 }
        }
    }

    /// The quantile of a histogram given as cumulative counts per upper bound; a rank past the last bound
    /// (the `+Inf` bucket) is reported as the last bound, the most the histogram can say.
    static func quantile(_ quantile: Double, bounds: [Double], cumulative: [Int], total: Int) -> Double? {
        guard total > 0, bounds.count == cumulative.count else { return nil }
        let rank = quantile * Double(total)
        var lowerBound = 0.0
        var lowerCount = 0
        for (bound, count) in zip(bounds, cumulative) {
            if Double(count) >= rank && count > lowerCount {
                let fraction = (rank - Double(lowerCount)) / Double(count - lowerCount)
                return lowerBound + (bound - lowerBound) * min(max(fraction, 0), 1)
            }
            lowerBound = bound
            lowerCount = count
        }
        return bounds.last
    }

    /// The window ending at sample `end` and starting `length` samples before it (or at the oldest).
    private func window(ending end: Int, length: Int) -> Window {
        let start = max(end - length, 0)
        return Window(from: samples[start], to: samples[end], inside: samples[(start + 1)...end])
    }

    /// The chart points, oldest first: windows of ``step`` samples ending at the newest sample.
    var points: [Window] {
        guard samples.count > 1 else { return [] }
        return stride(from: samples.count - 1, through: 1, by: -step).reversed().map { end in
            window(ending: end, length: step)
        }
    }

    /// The report as JSON, with `header` (version, uptime, configuration file) first.
    func document(header: [(String, JSONDocument)]) -> JSONDocument {
        let points = points
        let whole = samples.count > 1 ? window(ending: samples.count - 1, length: samples.count - 1) : nil
        let latest = samples.count > 1 ? window(ending: samples.count - 1, length: recent) : nil
        let withAffinity = samples.last?.totals.affinityHits != nil
        let withSlots = samples.last?.totals.slotWaits != nil

        func number(_ value: Double?) -> JSONDocument {
            value.map { .double(StatusRoutes.rounded($0, places: 3)) } ?? .null
        }
        /// A counter that olla may not keep, per point.
        func counts(_ counter: KeyPath<TrafficTotals, Int?>) -> JSONDocument {
            .array(points.map { .optional($0.difference(counter)) })
        }

        var windowFigures: [(String, JSONDocument)] = [
            ("seconds", number(whole?.seconds ?? 0)),
            ("requests", .int(whole?.proxied ?? 0)),
            ("requests_per_second", number(whole?.requestsPerSecond ?? 0)),
            ("ttfb_p50_ms", number(whole?.firstByteMilliseconds(0.5))),
            ("ttfb_p95_ms", number(whole?.firstByteMilliseconds(0.95))),
            ("failovers", .int(whole?.failovers ?? 0)),
            ("mid_stream_cuts", .int(whole?.midStreamCuts ?? 0)),
            ("server_errors", .int(whole?.serverErrors ?? 0)),
        ]
        if withAffinity { windowFigures.append(("affinity_hits", .optional(whole?.difference(\.affinityHits)))) }
        if withSlots { windowFigures.append(("slot_waits", .optional(whole?.difference(\.slotWaits)))) }

        let endpointList: [JSONDocument] = endpoints.map { endpoint in
            .object([
                ("name", .string(endpoint.name)),
                ("max_concurrency", .int(endpoint.maxConcurrency)),
                ("requests", .int(whole?.proxied(by: endpoint.name) ?? 0)),
                ("requests_per_second", number(latest.map { Double($0.proxied(by: endpoint.name)) / $0.seconds } ?? 0)),
            ])
        }
        let byEndpoint: [(String, JSONDocument)] = endpoints.map { endpoint in
            (
                endpoint.name,
                .array(points.map { number(Double($0.proxied(by: endpoint.name)) / $0.seconds) })
            )
        }
        var series: [(String, JSONDocument)] = [
            ("time", .array(points.map { number($0.to.time) })),
            ("requests_per_second", .array(points.map { number($0.requestsPerSecond) })),
            ("ttfb_p50_ms", .array(points.map { number($0.firstByteMilliseconds(0.5)) })),
            ("ttfb_p95_ms", .array(points.map { number($0.firstByteMilliseconds(0.95)) })),
            ("failovers", .array(points.map { .int($0.failovers) })),
            ("mid_stream_cuts", .array(points.map { .int($0.midStreamCuts) })),
            ("server_errors", .array(points.map { .int($0.serverErrors) })),
            ("queue_depth", .array(points.map { .int($0.queueDepth) })),
            ("in_flight", .array(points.map { .int($0.inFlight) })),
        ]
        if withAffinity { series.append(("affinity_hits", counts(\.affinityHits))) }
        if withSlots { series.append(("slot_waits", counts(\.slotWaits))) }
        series.append(("requests_per_second_by_endpoint", .object(byEndpoint)))

        return .object(
            header + [
                ("sample_interval_seconds", .int(1)),
                ("step_seconds", .int(step)),
                (
                    "now",
                    .object([
                        ("requests_per_second", number(latest?.requestsPerSecond ?? 0)),
                        ("queue_depth", .int(samples.last?.totals.queueDepth ?? 0)),
                        ("in_flight", .int(samples.last?.totals.inFlight ?? 0)),
                    ])
                ),
                ("window", .object(windowFigures)),
                ("endpoints", .array(endpointList)),
                ("series", .object(series)),
            ]
        )
    }
}
