import Balancer
import NIOCore
import NIOPosix
import Prometheus
import Testing

@testable import App
@testable import Proxy

/// The counts kept per event loop (``OllaMetrics``, ``TallyRow``): exact however many loops record at once, and
/// written in the very format swift-prometheus writes.
struct LoopTallyTests {
    /// Durations that land in the first bucket, on a bound, between bounds and past the last one.
    static let durations: [Int64] = [1_000_000, 25_000_000, 30_000_000, 2_000_000_000, 400_000_000_000]
    static let overheads: [Int64] = [3_000, 10_000, 70_000, 30_000_000]

    static func record(_ index: Int, endpoint: String?, status: Int = 200) -> RequestRecord {
        var record = RequestRecord.local(
            requestID: "r\(index)",
            method: "POST",
            path: "/v1/chat/completions",
            status: status,
            durationNanoseconds: durations[index % durations.count],
            bytesIn: 0,
            bytesOut: 0
        )
        record.endpoint = endpoint
        record.model = endpoint == nil ? nil : "qwen"
        record.isLocal = endpoint == nil
        record.timeToHeadNanoseconds = endpoint == nil ? nil : durations[(index + 1) % durations.count]
        record.overheadNanoseconds = endpoint == nil ? nil : overheads[index % overheads.count]
        record.queueNanoseconds = durations[(index + 2) % durations.count]
        record.affinity = endpoint == nil ? nil : (index % 3 == 0 ? .hit : .miss)
        return record
    }

    /// Records `perLoop` requests on each of two event loops at the same time; returns every record.
    static func recordOnTwoLoops(_ metrics: OllaMetrics, perLoop: Int) async throws -> [RequestRecord] {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let loops = [group.next(), group.next()]
        #expect(loops[0] !== loops[1])
        let records = (0..<perLoop).map { index in
            record(index, endpoint: index % 5 == 4 ? nil : (index % 2 == 0 ? "studio-a" : "studio-b"))
        }
        let done = loops.map { loop in
            loop.submit { for record in records { metrics.requestFinished(record) } }
        }
        for future in done { try await future.get() }
        try await group.shutdownGracefully()
        return records + records
    }

    @Test func countsFromTwoLoopsAtOnceAreExactInTheExposition() async throws {
        let metrics = OllaMetrics(table: RoutingTable(configuration: OllaConfiguration()))
        let records = try await Self.recordOnTwoLoops(metrics, perLoop: 20_000)
        let exposition = try PrometheusExposition(parsing: metrics.exposition())

        // The same records, one at a time, into swift-prometheus' own metrics: the numbers to match.
        let registry = PrometheusCollectorRegistry()
        for record in records {
            let endpoint = record.endpoint ?? ""
            registry.makeCounter(
                name: "olla_requests_total",
                labels: [("endpoint", endpoint), ("model", record.model ?? ""), ("status", String(record.status))]
            ).increment()
            let labels = [("endpoint", endpoint)]
            registry.makeDurationHistogram(
                name: "olla_request_duration_seconds",
                labels: labels,
                buckets: OllaMetrics.durationBuckets
            ).recordNanoseconds(record.durationNanoseconds)
            if let timeToHead = record.timeToHeadNanoseconds {
                registry.makeDurationHistogram(
                    name: "olla_time_to_first_byte_seconds",
                    labels: labels,
                    buckets: OllaMetrics.durationBuckets
                ).recordNanoseconds(timeToHead)
            }
            if let overhead = record.overheadNanoseconds {
                registry.makeDurationHistogram(
                    name: "olla_proxy_overhead_seconds",
                    buckets: OllaMetrics.overheadBuckets
                )
                .recordNanoseconds(overhead)
            }
            if !record.isLocal {
                registry.makeDurationHistogram(name: "olla_queue_wait_seconds", buckets: OllaMetrics.durationBuckets)
                    .recordNanoseconds(record.queueNanoseconds)
            }
            if let outcome = record.affinity, let endpoint = record.endpoint {
                registry.makeCounter(
                    name: "olla_sticky_sessions_total",
                    labels: [("endpoint", endpoint), ("outcome", outcome.rawValue)]
                ).increment()
            }
        }
        let expected = try PrometheusExposition(parsing: registry.emitToString())

        let names: Set<String> = [
            "olla_requests_total", "olla_request_duration_seconds", "olla_time_to_first_byte_seconds",
            "olla_proxy_overhead_seconds", "olla_queue_wait_seconds", "olla_sticky_sessions_total",
        ]
        let counted = exposition.samples.filter { names.contains(Self.family(of: $0.name)) }
        #expect(counted.count == expected.samples.count)
        let ours = Set(counted.map(Self.line))
        let theirs = Set(expected.samples.map(Self.line))
        #expect(ours == theirs, "only ours: \(ours.subtracting(theirs)), only theirs: \(theirs.subtracting(ours))")
        for name in names { #expect(exposition.types[name] == expected.types[name], "\(name)") }
        #expect(
            exposition.value("olla_requests_total", ["endpoint": "studio-a", "model": "qwen", "status": "200"])
                == 16_000
        )
        #expect(exposition.value("olla_request_duration_seconds_count", ["endpoint": ""]) == 8_000)
    }

    @Test func histogramLinesAreWrittenAsSwiftPrometheusWritesThem() async throws {
        let metrics = OllaMetrics(table: RoutingTable(configuration: OllaConfiguration()))
        _ = try await Self.recordOnTwoLoops(metrics, perLoop: 5)
        let registry = PrometheusCollectorRegistry()
        let overhead = registry.makeDurationHistogram(
            name: "olla_proxy_overhead_seconds",
            buckets: OllaMetrics.overheadBuckets,
            help: "Time spent in olla per proxied request before it left for the host (no queue, no connect)"
        )
        for index in 0..<5 where index % 5 != 4 {
            for _ in 0..<2 { overhead.recordNanoseconds(Self.overheads[index % Self.overheads.count]) }
        }
        let theirs = registry.emitToString()
        let ours = metrics.exposition()
        #expect(ours.contains(theirs), "ours:\n\(ours)\ntheirs:\n\(theirs)")
    }

    @Test func theDashboardsTotalsReadTheLoopsCounts() async throws {
        let metrics = OllaMetrics(table: RoutingTable(configuration: OllaConfiguration()))
        let records = try await Self.recordOnTwoLoops(metrics, perLoop: 1_000)
        let totals = metrics.trafficTotals()
        let proxied = records.filter { $0.endpoint != nil }
        #expect(totals.proxied == proxied.count)
        #expect(totals.proxiedByEndpoint["studio-a"] == proxied.filter { $0.endpoint == "studio-a" }.count)
        #expect(totals.firstByteCount == proxied.count)
        #expect(totals.affinityHits == proxied.filter { $0.affinity == .hit }.count)
    }

    private static func family(of name: String) -> String {
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            return String(name.dropLast(suffix.count))
        }
        return name
    }

    private static func line(_ sample: PrometheusExposition.Sample) -> String {
        let labels = sample.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return "\(sample.name){\(labels.joined(separator: ","))} \(sample.value)"
    }
}
