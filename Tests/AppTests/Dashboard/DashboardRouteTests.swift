import Balancer
import Foundation
import LMStudioSim
import NIOHTTP1
import Testing

@testable import App
@testable import Proxy

/// `/internal/ui/` and `/internal/stats/traffic` over real sockets (DESIGN.md 6.10): what is served, with which
/// headers, to whom, and that the traffic figures move with the traffic.
@Suite(.endToEnd) struct DashboardRouteTests {
    static let oneHost = [simHost("studio-a", models: [SimulatedModel(id: "qwen2.5-7b-instruct")])]

    @Test func pageScriptAndStylesheetAreServedWithTheirTypesAndAContentSecurityPolicy() async throws {
        try await OllaHarness.with(hosts: Self.oneHost) { olla in
            for (path, type) in [
                ("/internal/ui/", "text/html; charset=utf-8"),
                ("/internal/ui/dashboard.js", "text/javascript; charset=utf-8"),
                ("/internal/ui/dashboard.css", "text/css; charset=utf-8"),
            ] {
                let answer = try await olla.request(.GET, path)
                #expect(answer.status == .ok, "\(path)")
                #expect(answer.headers.first(name: "Content-Type") == type, "\(path)")
                #expect(answer.headers.first(name: "Content-Security-Policy") == DashboardRoutes.contentSecurityPolicy)
                #expect(answer.headers.first(name: "X-Content-Type-Options") == "nosniff")
                #expect(answer.body.readableBytes > 1000, "\(path) has its content")
            }
            let page = try await olla.request(.GET, "/internal/ui/").text
            #expect(page.contains("<script src=\"dashboard.js\" defer></script>"))
            #expect(page.contains("<link rel=\"stylesheet\" href=\"dashboard.css\">"))
            // script-src 'self' would refuse an inline script: the page must have none, and no CDN either.
            #expect(!page.contains("<script>"))
            #expect(!page.contains("http://") && !page.contains("https://"))
            let script = try await olla.request(.GET, "/internal/ui/dashboard.js").text
            #expect(!script.contains("innerHTML"), "values reach the page as text only")

            let policy = DashboardRoutes.contentSecurityPolicy
            #expect(policy.contains("default-src 'none'") && policy.contains("script-src 'self'"))

            let redirect = try await RawHTTPConnection.exchange(
                port: olla.port,
                "GET /internal/ui HTTP/1.1\r\nHost: olla\r\nConnection: close\r\n\r\n"
            )
            #expect(redirect.hasPrefix("HTTP/1.1 301"), "\(redirect)")
            #expect(redirect.lowercased().contains("\r\nlocation: /internal/ui/\r\n"), "\(redirect)")

            #expect(try await olla.request(.POST, "/internal/ui/", body: "{}").status == .methodNotAllowed)
            #expect(try await olla.request(.GET, "/internal/ui/nothing-here").status == .notFound)
        }
    }

    @Test func disabledDashboardIsNotFoundAndItsDataStays() async throws {
        try await OllaHarness.with(hosts: Self.oneHost) { configuration, _ in
            configuration.dashboard.enabled = false
        } _: { olla in
            for path in ["/internal/ui/", "/internal/ui", "/internal/ui/dashboard.js", "/internal/ui/dashboard.css"] {
                let answer = try await olla.request(.GET, path)
                #expect(answer.status == .notFound, "\(path)")
                #expect(AccessControlTests.errorCode(answer) == "not_found", "\(path): \(answer.text)")
            }
            // The figures are olla's status data, like /internal/status: only the page goes.
            #expect(try await olla.request(.GET, "/internal/stats/traffic").status == .ok)
        }
    }

    @Test func dashboardRoutesRefuseClientsThatAreNotLoopback() throws {
        let outsider = ClientAddress(ip: "10.0.0.7", isLoopback: false)
        let local = ClientAddress(ip: "127.0.0.1", isLoopback: true)
        for path in [
            "/internal/ui/", "/internal/ui/dashboard.js", "/internal/ui/dashboard.css", "/internal/stats/traffic",
        ] {
            let refused = try AccessControlTests.answer(path, from: outsider, loopbackOnly: true)
            #expect(refused.status == .forbidden, "\(path)")
            #expect(refused.code == "forbidden", "\(path)")
            #expect(try AccessControlTests.answer(path, from: local, loopbackOnly: true).status == .ok, "\(path)")
            #expect(try AccessControlTests.answer(path, from: outsider, loopbackOnly: false).status == .ok, "\(path)")
        }
    }

    static func traffic(_ olla: OllaHarness) async throws -> [String: Any] {
        try await olla.request(.GET, "/internal/stats/traffic").json()
    }

    @Test func trafficCountsProxiedRequestsFailoversAndTimeToFirstByteButNotItsOwnPolls() async throws {
        let hosts = [
            simHost("studio-a", models: [SimulatedModel(id: "qwen2.5-7b-instruct")]),
            simHost("studio-b", models: [SimulatedModel(id: "qwen2.5-7b-instruct")]),
        ]
        try await OllaHarness.with(hosts: hosts) { configuration, _ in
            configuration.endpoints[0].priority = 200
            configuration.endpoints[1].maxConcurrency = 3
            // No probe between the kill below and the request that finds studio-a down: that request fails over.
            for index in configuration.endpoints.indices { configuration.endpoints[index].checkInterval = .seconds(60) }
        } _: { olla in
            for _ in 0..<4 {
                #expect(
                    try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("qwen2.5-7b-instruct"))
                        .status == .ok
                )
            }
            try await olla.host("studio-a").updateFaults { $0.refuseConnections = true }
            let moved = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("qwen2.5-7b-instruct"))
            #expect(moved.headers.first(name: "X-Olla-Endpoint") == "studio-b")

            var report: [String: Any] = [:]
            try await olla.waitUntil("the sampler has seen the five chats and the failover", timeout: .seconds(5)) {
                report = try await Self.traffic(olla)
                let window = report["window"] as? [String: Any]
                return window?["requests"] as? Int == 5 && window?["failovers"] as? Int == 1
            }
            let window = try #require(report["window"] as? [String: Any])
            let p50 = try #require(window["ttfb_p50_ms"] as? Double)
            let p95 = try #require(window["ttfb_p95_ms"] as? Double)
            #expect(p50 > 0 && p50 <= p95)
            #expect(window["mid_stream_cuts"] as? Int == 0)
            #expect(window["server_errors"] as? Int == 0)
            // Affinity is on by default and the five chats are one conversation: a miss (or repin), then hits.
            #expect((window["affinity_hits"] as? Int ?? 0) >= 3, "\(window)")

            let endpoints = try #require(report["endpoints"] as? [[String: Any]])
            #expect(endpoints.map { $0["name"] as? String } == ["studio-a", "studio-b"])
            #expect(endpoints.map { $0["requests"] as? Int } == [4, 1])
            #expect(endpoints.map { $0["max_concurrency"] as? Int } == [0, 3])

            let series = try #require(report["series"] as? [String: Any])
            let times = try #require(series["time"] as? [Double])
            #expect(!times.isEmpty)
            for name in [
                "requests_per_second", "ttfb_p50_ms", "failovers", "mid_stream_cuts", "queue_depth", "in_flight",
            ] {
                #expect((series[name] as? [Any])?.count == times.count, "\(name)")
            }
            let byEndpoint = try #require(series["requests_per_second_by_endpoint"] as? [String: [Double]])
            #expect(byEndpoint.keys.sorted() == ["studio-a", "studio-b"])
            #expect(report["config_file"] is NSNull, "the harness runs on no file")
            #expect((report["uptime_seconds"] as? Int).map { $0 >= 0 } == true)

            // The dashboard polls olla: those answers are olla's own, not traffic to a host.
            for _ in 0..<10 { _ = try await Self.traffic(olla) }
            let samples = olla.application.trafficSampler.history.samples.count
            try await olla.waitUntil("two more samples are taken", timeout: .seconds(5)) {
                olla.application.trafficSampler.history.samples.count
                    >= min(samples + 2, TrafficHistory.defaultCapacity)
            }
            let later = try #require(try await Self.traffic(olla)["window"] as? [String: Any])
            #expect(later["requests"] as? Int == 5)
        }
    }
}
