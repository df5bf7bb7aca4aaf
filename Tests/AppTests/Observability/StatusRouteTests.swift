import Balancer
import Foundation
import LMStudioSim
import NIOHTTP1
import Testing

@testable import App

/// `/internal/status/endpoints`, `/internal/status` and `/internal/status/models` (DESIGN.md section 5).
@Suite(.endToEnd) struct StatusRouteTests {
    static let hosts = [
        simHost("studio-a", models: [SimulatedModel(id: "qwen2.5-7b-instruct")]),
        simHost(
            "studio-b",
            models: [
                SimulatedModel(id: "qwen2.5-7b-instruct", state: .notLoaded),
                SimulatedModel(id: "meta-llama-3.1-8b-instruct"),
            ]
        ),
    ]

    static let endpointFields: Set<String> = [
        "name", "url", "type", "status", "priority", "model_count", "in_flight", "request_count", "success_rate",
        "avg_latency_ms", "last_check_at", "next_check_at", "last_error",
        // DESIGN.md 6.7: the API generation and slots, and what discovery passed over.
        "api", "slots", "slots_in_use", "discovery_issue",
    ]

    /// RFC 3339 date-time: `2026-01-31T12:34:56Z`, fractional seconds and a numeric offset allowed.
    static func rfc3339(_ value: Any?) -> Date? {
        guard let text = value as? String,
            text.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})/) != nil
        else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions =
            text.contains(".") ? [.withInternetDateTime, .withFractionalSeconds] : [.withInternetDateTime]
        return formatter.date(from: text)
    }

    static func isNumber(_ value: Any?) -> Bool {
        value is Int || value is Double || value is NSNumber
    }

    struct EndpointStatusDocument {
        var top: [String: Any]
        var byName: [String: [String: Any]]
    }

    static func endpointStatus(_ olla: OllaHarness) async throws -> EndpointStatusDocument {
        let answer = try await olla.request(.GET, "/internal/status/endpoints")
        #expect(answer.status == .ok)
        let top = try answer.json()
        var byName: [String: [String: Any]] = [:]
        for endpoint in top["endpoints"] as? [[String: Any]] ?? [] {
            byName[endpoint["name"] as? String ?? "?"] = endpoint
        }
        return EndpointStatusDocument(top: top, byName: byName)
    }

    @Test func endpointStatusHasEveryFieldOfTheDesignAndCountsMoveWithRequests() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { configuration, _ in
            configuration.endpoints[0].priority = 200
        } _: { olla in
            let before = try await Self.endpointStatus(olla)
            let timestamp = try #require(Self.rfc3339(before.top["timestamp"]), "timestamp: \(before.top)")
            #expect(abs(timestamp.timeIntervalSinceNow) < 5)
            #expect(before.top["total_count"] as? Int == 2)
            #expect(before.top["healthy_count"] as? Int == 2)
            #expect(Set(before.byName.keys) == ["studio-a", "studio-b"])
            for (name, endpoint) in before.byName {
                #expect(Set(endpoint.keys) == Self.endpointFields, "\(name)")
                #expect(endpoint["type"] as? String == "lm-studio", "\(name)")
                #expect(endpoint["status"] as? String == "healthy", "\(name)")
                #expect(endpoint["in_flight"] as? Int == 0, "\(name)")
                // The simulated hosts speak LM Studio 0.3: no slots reported, nothing passed over.
                #expect(endpoint["api"] as? String == "0.3", "\(name)")
                #expect(endpoint["slots"] is NSNull && endpoint["slots_in_use"] as? Int == 0, "\(name)")
                #expect(endpoint["discovery_issue"] is NSNull, "\(name)")
                #expect(endpoint["request_count"] as? Int == 0, "\(name)")
                #expect(Self.isNumber(endpoint["success_rate"]), "\(name)")
                #expect(Self.isNumber(endpoint["avg_latency_ms"]), "\(name)")
                #expect(endpoint["last_error"] is NSNull, "\(name): last_error is null while healthy")
                let lastCheck = try #require(Self.rfc3339(endpoint["last_check_at"]), "\(name): \(endpoint)")
                let nextCheck = try #require(Self.rfc3339(endpoint["next_check_at"]), "\(name): \(endpoint)")
                #expect(nextCheck >= lastCheck, "\(name)")
                #expect(abs(lastCheck.timeIntervalSinceNow) < 5, "\(name)")
            }
            let a = try #require(before.byName["studio-a"])
            let b = try #require(before.byName["studio-b"])
            #expect(a["url"] as? String == "http://127.0.0.1:\(olla.host("studio-a").port)")
            #expect(a["priority"] as? Int == 200)
            #expect(b["priority"] as? Int == 100)
            #expect(a["model_count"] as? Int == 1)
            #expect(b["model_count"] as? Int == 2)

            for _ in 0..<3 {
                let answer = try await olla.post(
                    "/olla/lmstudio/v1/chat/completions",
                    json: chatBody("qwen2.5-7b-instruct")
                )
                #expect(answer.headers.first(name: "X-Olla-Endpoint") == "studio-a")
            }
            let llama = try await olla.post(
                "/olla/lmstudio/v1/chat/completions",
                json: chatBody("meta-llama-3.1-8b-instruct")
            )
            #expect(llama.status == .ok)
            let counted = try await Self.endpointStatus(olla)
            #expect(counted.byName["studio-a"]?["request_count"] as? Int == 3)
            #expect(counted.byName["studio-b"]?["request_count"] as? Int == 1)
            #expect((counted.byName["studio-a"]?["success_rate"] as? Double) == 1.0)
            #expect(((counted.byName["studio-a"]?["avg_latency_ms"] as? Double) ?? 0) > 0)

            // A request the host holds is in flight until it is answered.
            try await olla.host("studio-a").updateFaults { $0.hang = .inference }
            async let held = olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("qwen2.5-7b-instruct"))
            try await olla.waitUntil("studio-a reports one request in flight") {
                try await Self.endpointStatus(olla).byName["studio-a"]?["in_flight"] as? Int == 1
            }
            try await olla.host("studio-a").updateFaults { $0.hang = nil }
            #expect(try await held.status == .ok)
            let after = try await Self.endpointStatus(olla)
            #expect(after.byName["studio-a"]?["in_flight"] as? Int == 0)
            #expect(after.byName["studio-a"]?["request_count"] as? Int == 4)

            // A host that goes down says so, and why.
            try await olla.host("studio-b").updateFaults { $0.refuseConnections = true }
            try await olla.waitUntil("studio-b is reported down") {
                try await Self.endpointStatus(olla).byName["studio-b"]?["status"] as? String != "healthy"
            }
            let down = try await Self.endpointStatus(olla)
            #expect(down.top["healthy_count"] as? Int == 1)
            #expect(down.top["total_count"] as? Int == 2)
            let b2 = try #require(down.byName["studio-b"])
            #expect(b2["status"] as? String == "offline")
            let reason = try #require(b2["last_error"] as? String, "last_error names the reason: \(b2)")
            #expect(!reason.isEmpty)
            #expect(b2["model_count"] as? Int == 2, "models of a host that is down stay known")
            #expect(down.byName["studio-a"]?["last_error"] is NSNull)

            // Back up: healthy again, and the error is gone.
            try await olla.host("studio-b").updateFaults { $0.refuseConnections = false }
            try await olla.waitUntil("studio-b is reported healthy again") {
                try await Self.endpointStatus(olla).byName["studio-b"]?["status"] as? String == "healthy"
            }
            let back = try await Self.endpointStatus(olla)
            #expect(back.byName["studio-b"]?["last_error"] is NSNull, "\(back.byName["studio-b"] ?? [:])")
            #expect(back.top["healthy_count"] as? Int == 2)
        }
    }

    @Test func hostAnsweringAnHTTPErrorIsUnhealthyWithThatErrorAsItsReason() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            try await olla.host("studio-b").updateFaults { $0.modelsStatus = 500 }
            try await olla.waitUntil("studio-b is reported unhealthy") {
                try await Self.endpointStatus(olla).byName["studio-b"]?["status"] as? String == "unhealthy"
            }
            let b = try #require(try await Self.endpointStatus(olla).byName["studio-b"])
            let reason = try #require(b["last_error"] as? String, "\(b)")
            #expect(reason.contains("500"), "the reason names the status the host answered: \(reason)")
        }
    }

    @Test func hostWithAMalformedModelListIsUnhealthyWithTheReason() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            try await olla.host("studio-b").updateFaults { $0.modelsMalformed = true }
            try await olla.waitUntil("studio-b is reported unhealthy") {
                try await Self.endpointStatus(olla).byName["studio-b"]?["status"] as? String == "unhealthy"
            }
            let b = try #require(try await Self.endpointStatus(olla).byName["studio-b"])
            #expect(b["last_error"] as? String == "model list from /api/v0/models is not valid JSON", "\(b)")
            #expect(b["model_count"] as? Int == 2, "the models it listed before stay known")
        }
    }

    @Test func summaryAndModelStatusHaveOllasShapes() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            _ = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("meta-llama-3.1-8b-instruct"))

            let summary = try await olla.request(.GET, "/internal/status")
            #expect(summary.status == .ok)
            let document = try summary.json()
            let endpoints = try #require(document["endpoints"] as? [[String: Any]], "\(summary.text)")
            #expect(Set(endpoints.compactMap { $0["name"] as? String }) == ["studio-a", "studio-b"])
            #expect(endpoints.allSatisfy { $0["status"] as? String == "healthy" })
            let b = try #require(endpoints.first { $0["name"] as? String == "studio-b" })
            #expect(b["requests"] as? Int == 1)
            let system = try #require(document["system"] as? [String: Any], "\(summary.text)")
            #expect(system["status"] as? String == "healthy")
            #expect(system["endpoints_up"] as? String == "2/2")
            #expect(system["total_requests"] as? Int == 1)
            #expect(Self.rfc3339(system["start_time"]) != nil)
            #expect(system["version"] is String)

            let models = try await olla.request(.GET, "/internal/status/models")
            #expect(models.status == .ok)
            let listed = try #require(models.json()["models"] as? [[String: Any]], "\(models.text)")
            var hostsByModel: [String: Set<String>] = [:]
            for model in listed {
                hostsByModel[model["name"] as? String ?? "?"] = Set(model["endpoints"] as? [String] ?? [])
            }
            #expect(
                hostsByModel == [
                    "qwen2.5-7b-instruct": ["studio-a", "studio-b"],
                    "meta-llama-3.1-8b-instruct": ["studio-b"],
                ]
            )
            #expect(try models.json()["total_models"] as? Int == 2)
        }
    }
}

/// A probe reads at most 10 MB of a host's answer (issue 4): a longer model list makes the host unhealthy
/// with that reason, whether the host declares its length or streams it.
@Suite(.serialized, .endToEnd) struct ProbeBodyLimitTests {
    @Test(arguments: [true, false])
    func modelListOverTenMegabytesMakesTheHostUnhealthy(declared: Bool) async throws {
        try await FloodingHost.withRunning(oversizedListing: .init(bytes: 11 * 1024 * 1024, declared: declared)) {
            host in
            try await OllaHarness.with(hosts: [], waitForHealthy: false) { configuration, _ in
                configuration.endpoints = [host.endpoint(named: "huge", checkTimeout: .seconds(4))]
            } _: { olla in
                try await olla.waitUntil("the probe gives up on the answer") {
                    olla.endpoint("huge").status == .unhealthy
                }
                #expect(olla.endpoint("huge").health.lastError == "the answer of /v1/models is larger than 10 MB")
            }
        }
    }
}
