import Balancer
import Foundation
import LMStudioSim
import NIOHTTP1
import Testing

@testable import App

/// `GET /internal/metrics` (DESIGN.md 6.6): Prometheus text that a Prometheus server accepts, with counters that
/// follow the requests and labels bounded by the configuration and the model index.
@Suite(.endToEnd) struct MetricsTests {
    static let model = "qwen2.5-7b-instruct"

    static func scrape(_ olla: OllaHarness) async throws -> PrometheusExposition {
        let answer = try await olla.request(.GET, "/internal/metrics")
        #expect(answer.status == .ok)
        #expect(answer.headers.first(name: "Content-Type")?.hasPrefix("text/plain") == true)
        return try PrometheusExposition(parsing: answer.text)
    }

    static func chat(_ olla: OllaHarness, _ model: String = model) async throws -> OllaHarness.Response {
        try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody(model))
    }

    @Test func metricsAreValidPrometheusTextAndFollowRequestsByEndpointModelAndStatus() async throws {
        let hosts = [
            simHost("studio-a", models: [SimulatedModel(id: Self.model)]),
            simHost("studio-b", models: [SimulatedModel(id: Self.model)]),
        ]
        try await OllaHarness.with(hosts: hosts) { configuration, _ in
            configuration.endpoints[0].priority = 200
        } _: { olla in
            let first = try await Self.scrape(olla)
            #expect(first.value("olla_endpoint_up", ["endpoint": "studio-a"]) == 1)
            #expect(first.value("olla_endpoint_up", ["endpoint": "studio-b"]) == 1)
            #expect(first.value("olla_in_flight_requests", ["endpoint": "studio-a"]) == 0)
            #expect(first.types["olla_endpoint_up"] == "gauge")
            #expect(first.types["olla_in_flight_requests"] == "gauge")

            for _ in 0..<3 { #expect(try await Self.chat(olla).status == .ok) }
            // A case variant is counted under the id the host received, never under the client's spelling.
            #expect(try await Self.chat(olla, "QWEN2.5-7B-Instruct").status == .ok)
            // A name made up by a client is a 404 and must not become a label value (unbounded cardinality).
            #expect(try await Self.chat(olla, "made-up-model-7f3a9").status == .notFound)

            let counted = try await Self.scrape(olla)
            #expect(counted.types["olla_requests_total"] == "counter")
            let labels = ["endpoint": "studio-a", "model": Self.model, "status": "200"]
            #expect(counted.value("olla_requests_total", labels) == 4)
            let notFound = counted.samples(named: "olla_requests_total").filter { $0.labels["status"] == "404" }
            #expect(notFound.map(\.value).reduce(0, +) == 1, "the 404 is counted: \(notFound)")
            #expect(!counted.labelValues.contains("made-up-model-7f3a9"), "\(counted.labelValues)")
            #expect(!counted.labelValues.contains("QWEN2.5-7B-Instruct"), "\(counted.labelValues)")
            #expect(counted.types["olla_request_duration_seconds"] == "histogram")
            #expect(counted.value("olla_request_duration_seconds_count", ["endpoint": "studio-a"]) == 4)
            #expect(counted.value("olla_time_to_first_byte_seconds_count", ["endpoint": "studio-a"]) == 4)
            #expect(counted.types["olla_proxy_overhead_seconds"] == "histogram")
            #expect((counted.value("olla_proxy_overhead_seconds_count") ?? 0) >= 4)

            // A request the host holds shows in the in-flight gauge until it is answered.
            try await olla.host("studio-a").updateFaults { $0.hang = .inference }
            async let held = Self.chat(olla)
            try await olla.waitUntil("the in-flight gauge shows the held request") {
                try await Self.scrape(olla).value("olla_in_flight_requests", ["endpoint": "studio-a"]) == 1
            }
            try await olla.host("studio-a").updateFaults { $0.hang = nil }
            #expect(try await held.status == .ok)
            let released = try await Self.scrape(olla)
            #expect(released.value("olla_in_flight_requests", ["endpoint": "studio-a"]) == 0)
            #expect(released.value("olla_requests_total", labels) == 5)

            // A failover is counted against the host that failed, which is then down.
            try await olla.host("studio-a").updateFaults { $0.refuseConnections = true }
            let moved = try await Self.chat(olla)
            #expect(moved.headers.first(name: "X-Olla-Endpoint") == "studio-b")
            let failedOver = try await Self.scrape(olla)
            #expect(failedOver.value("olla_failovers_total", ["endpoint": "studio-a"]) == 1)
            #expect(failedOver.types["olla_failovers_total"] == "counter")
            #expect(failedOver.value("olla_endpoint_up", ["endpoint": "studio-a"]) == 0)
            #expect(failedOver.value("olla_endpoint_up", ["endpoint": "studio-b"]) == 1)
            #expect(
                failedOver.value("olla_requests_total", ["endpoint": "studio-b", "model": Self.model, "status": "200"])
                    == 1
            )
        }
    }
}

extension MetricsTests {
    @Test func midStreamFailuresAndTheQueueAreCounted() async throws {
        let hosts = [
            // Each answer takes 2 s: time enough, on a loaded machine, to see the second request wait.
            simHost("studio-a", models: [SimulatedModel(id: Self.model)], tokens: 40, tokenDelay: .milliseconds(50))
        ]
        try await OllaHarness.with(hosts: hosts) { configuration, _ in
            configuration.endpoints[0].maxConcurrency = 1
        } _: { olla in
            // One request holds the only slot; a second one waits in the queue meanwhile.
            async let running = Self.chat(olla)
            try await olla.waitUntil("one request runs") {
                olla.endpoint("studio-a").inFlight.load(ordering: .relaxed) == 1
            }
            async let waiting = Self.chat(olla)
            try await olla.waitUntil("the queue gauge shows the waiting request") {
                try await Self.scrape(olla).value("olla_queue_depth", [:]) == 1
            }
            #expect(try await running.status == .ok)
            #expect(try await waiting.status == .ok)
            let queued = try await Self.scrape(olla)
            #expect(queued.value("olla_queue_depth", [:]) == 0)
            #expect(queued.types["olla_queue_wait_seconds"] == "histogram")
            #expect((queued.value("olla_queue_wait_seconds_sum", [:]) ?? 0) > 0.5, "the second request waited")

            try await olla.host("studio-a").updateFaults { $0.dropAfterChunks = 2 }
            let cut = try await olla.stream(
                "/olla/lmstudio/v1/chat/completions",
                json: chatBody(Self.model, stream: true)
            )
            #expect(!cut.events.contains("[DONE]"))
            let after = try await Self.scrape(olla)
            #expect(after.value("olla_midstream_failures_total", ["endpoint": "studio-a"]) == 1)
            #expect(after.types["olla_midstream_failures_total"] == "counter")
        }
    }
}

/// The parser itself: a checker that accepts everything would make the test above pass for nothing.
@Suite(.endToEnd) struct PrometheusExpositionTests {
    static let valid = """
        # HELP requests_total Requests.
        # TYPE requests_total counter
        requests_total{endpoint="a",model="m\\"x\\\\y"} 3
        requests_total{endpoint="b",model=""} 0
        # TYPE latency_seconds histogram
        latency_seconds_bucket{le="0.1"} 1
        latency_seconds_bucket{le="+Inf"} 2
        latency_seconds_sum 0.35
        latency_seconds_count 2
        # TYPE up gauge
        up 1 1700000000000

        """

    @Test func readsSamplesLabelsAndTypes() throws {
        let parsed = try PrometheusExposition(parsing: Self.valid)
        #expect(parsed.value("requests_total", ["endpoint": "a", "model": "m\"x\\y"]) == 3)
        #expect(parsed.value("latency_seconds_count") == 2)
        #expect(parsed.types == ["requests_total": "counter", "latency_seconds": "histogram", "up": "gauge"])
        #expect(parsed.value("up") == 1)
    }

    @Test(arguments: [
        "up 1\n",  // no TYPE
        "# TYPE up gauge\nup{a=b} 1\n",  // unquoted label value
        "# TYPE up gauge\n# TYPE up gauge\nup 1\n",  // two TYPE lines
        "# TYPE up gauge\nup 1\n# TYPE down gauge\ndown 1\nup{x=\"1\"} 1\n",  // a family in two groups
        "# TYPE up gauge\nup 1\nup 2\n",  // the same series twice
        "# TYPE up gauge\nup one\n",  // not a number
        "# TYPE up gauge\nup{a=\"1\",a=\"2\"} 1\n",  // a label twice
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_sum 1\nh_count 2\n",  // no +Inf bucket
        "# TYPE up gauge\nup 1",  // no final line feed
    ])
    func refusesWhatAPrometheusServerRefuses(_ text: String) {
        #expect(throws: PrometheusExposition.FormatError.self) { try PrometheusExposition(parsing: text) }
    }
}
