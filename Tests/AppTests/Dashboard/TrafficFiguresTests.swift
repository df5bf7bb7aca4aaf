import Testing

@testable import App

/// The dashboard's figures without sockets: reading the metrics' exposition, the ring of samples, and the
/// windows, rates and percentiles made from them.
@Suite struct TrafficFiguresTests {
    @Test func expositionSamplesAreReadWithEscapedLabelValues() throws {
        let line = #"olla_requests_total{endpoint="a \"b\" \\ c",model="x}y, z",status="200"} 7"#
        let sample = try #require(ExpositionReader.sample(line))
        #expect(sample.name == "olla_requests_total")
        #expect(sample.label("endpoint") == #"a "b" \ c"#)
        #expect(sample.label("model") == "x}y, z")
        #expect(sample.label("status") == "200")
        #expect(sample.value == 7)
        #expect(ExpositionReader.sample("olla_queue_depth 3.0")?.value == 3)
        #expect(ExpositionReader.sample(#"broken{endpoint="a} 1"#) == nil)
    }

    @Test func totalsAddUpEndpointsAndLeaveOutOllasOwnAnswers() {
        let text = """
            # HELP olla_requests_total Requests by endpoint, model and status
            # TYPE olla_requests_total counter
            olla_requests_total{endpoint="a",model="m",status="200"} 5
            olla_requests_total{endpoint="a",model="m",status="502"} 1
            olla_requests_total{endpoint="b",model="m",status="200"} 2
            olla_requests_total{endpoint="",model="",status="200"} 40
            olla_requests_total{endpoint="",model="",status="503"} 3
            olla_failovers_total{endpoint="a"} 2
            olla_midstream_failures_total{endpoint="b"} 1
            olla_time_to_first_byte_seconds_bucket{endpoint="a",le="0.005"} 1
            olla_time_to_first_byte_seconds_bucket{endpoint="a",le="0.025"} 4
            olla_time_to_first_byte_seconds_bucket{endpoint="b",le="0.025"} 2
            olla_time_to_first_byte_seconds_bucket{endpoint="a",le="+Inf"} 6
            olla_time_to_first_byte_seconds_bucket{endpoint="b",le="+Inf"} 2
            """
        let totals = TrafficTotals(exposition: text, queueDepth: 4, inFlight: 2)
        #expect(totals.proxiedByEndpoint == ["a": 6, "b": 2])
        #expect(totals.proxied == 8)
        #expect(totals.serverErrors == 4, "the host's 502 and olla's own 503s")
        #expect(totals.failovers == 2)
        #expect(totals.midStreamCuts == 1)
        #expect(totals.firstByteBuckets[0] == 1)
        #expect(totals.firstByteBuckets[1] == 6)
        #expect(totals.firstByteCount == 8)
        #expect(totals.queueDepth == 4 && totals.inFlight == 2)
        #expect(totals.affinityHits == nil && totals.slotWaits == nil)
    }

    @Test func quantileIsInterpolatedInsideItsBucket() {
        // 10 requests: 4 up to 10 ms, 6 more up to 20 ms.
        let bounds = [0.01, 0.02, 0.04]
        #expect(TrafficReport.quantile(0.2, bounds: bounds, cumulative: [4, 10, 10], total: 10) == 0.005)
        let median = TrafficReport.quantile(0.5, bounds: bounds, cumulative: [4, 10, 10], total: 10)!
        #expect(abs(median - (0.01 + 0.01 / 6)) < 1e-12)
        #expect(
            TrafficReport.quantile(0.95, bounds: bounds, cumulative: [0, 0, 1], total: 2) == 0.04,
            "+Inf: the last bound"
        )
        #expect(TrafficReport.quantile(0.5, bounds: bounds, cumulative: [0, 0, 0], total: 0) == nil)
    }

    @Test func ringKeepsTheNewestSamplesOldestFirst() {
        var ring = TrafficRing(capacity: 3)
        for second in 0..<5 {
            ring.append(TrafficSample(time: Double(second), elapsed: Double(second), totals: TrafficTotals()))
        }
        #expect(ring.samples.map(\.time) == [2, 3, 4])
    }

    @Test func pointsAreFiveSecondWindowsEndingAtTheNewestSample() throws {
        var samples: [TrafficSample] = []
        for second in 0...12 {
            var totals = TrafficTotals()
            totals.proxiedByEndpoint = ["a": second * 2]
            totals.queueDepth = second == 9 ? 7 : 0
            samples.append(TrafficSample(time: 1000 + Double(second), elapsed: Double(second), totals: totals))
        }
        let report = TrafficReport(samples: samples, endpoints: [.init(name: "a", maxConcurrency: 0)])
        let points = report.points
        #expect(points.map(\.to.time) == [1002, 1007, 1012])
        #expect(points.map(\.requestsPerSecond) == [2, 2, 2])
        #expect(points.map(\.queueDepth) == [0, 0, 7], "the most queued inside each window")
        #expect(points.map { $0.proxied(by: "a") } == [4, 10, 10])
    }
}
