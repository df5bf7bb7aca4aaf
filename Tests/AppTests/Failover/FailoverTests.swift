import Balancer
import Foundation
import LMStudioSim
import NIOCore
import NIOHTTP1
import Testing

@testable import App

/// Failover before the first byte reaches the client, and the cut-stream signal after it (DESIGN.md 6.4).
@Suite(.serialized, .endToEnd) struct FailoverTests {
    /// Two hosts with model `m`; `preferred` wins on priority. Probes run once at start-up and then only a
    /// minute later, so what a test sees comes from the request path, not from a probe.
    func withTwoHosts(
        tokens: Int = 4,
        tokenDelay: Duration = .zero,
        _ body: (OllaHarness) async throws -> Void
    ) async throws {
        let hosts = [
            simHost("preferred", models: [SimulatedModel(id: "m")], tokens: tokens, tokenDelay: tokenDelay),
            simHost("backup", models: [SimulatedModel(id: "m")], tokens: tokens, tokenDelay: tokenDelay),
        ]
        try await OllaHarness.with(hosts: hosts) { configuration, _ in
            configuration.endpoints[0].priority = 200
            for index in configuration.endpoints.indices {
                configuration.endpoints[index].checkInterval = .seconds(60)
                configuration.endpoints[index].checkTimeout = .seconds(1)
            }
        } _: { olla in
            try await body(olla)
        }
    }

    @Test func failsOverWhenPreferredHostRefusesConnections() async throws {
        try await withTwoHosts { olla in
            let warm = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("m"))
            #expect(warm.headers.first(name: "X-Olla-Endpoint") == "preferred")
            try await olla.host("preferred").updateFaults { $0.refuseConnections = true }
            let answer = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("m"))
            #expect(answer.status == .ok)
            #expect(answer.headers.first(name: "X-Olla-Endpoint") == "backup")
            #expect(answer.text.contains("backup"))
            let preferred = olla.endpoint("preferred")
            #expect(preferred.status == .offline)
            #expect(preferred.statistics.requestCount == 2)
            #expect(preferred.statistics.successRate == 0.5)
        }
    }

    @Test func failsOverWhenTheHostResetsBeforeTheResponseHead() async throws {
        try await withTwoHosts { olla in
            try await olla.host("preferred").updateFaults { $0.resetInference = true }
            let answer = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("m"))
            #expect(answer.status == .ok)
            #expect(answer.headers.first(name: "X-Olla-Endpoint") == "backup")
            #expect(olla.endpoint("preferred").status == .offline)
            #expect(olla.endpoint("preferred").health.lastError?.contains("closed the connection") == true)
        }
    }

    @Test func failsOverOnA503WithoutMarkingTheHostDown() async throws {
        try await withTwoHosts { olla in
            try await olla.host("preferred").updateFaults { $0.errorStatus = 503 }
            let answer = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("m"))
            #expect(answer.status == .ok)
            #expect(answer.headers.first(name: "X-Olla-Endpoint") == "backup")
            #expect(olla.endpoint("preferred").status == .healthy)
        }
    }

    @Test func otherErrorStatusesArePassedThrough() async throws {
        try await withTwoHosts { olla in
            try await olla.host("preferred").updateFaults { $0.errorStatus = 500 }
            let answer = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("m"))
            #expect(answer.status == .internalServerError)
            #expect(answer.headers.first(name: "X-Olla-Endpoint") == "preferred")
            #expect(answer.text.contains("Simulated failure"))
        }
    }

    @Test func everyCandidateFailingIs503WithRetryAfter() async throws {
        try await withTwoHosts { olla in
            try await olla.host("preferred").updateFaults { $0.resetInference = true }
            try await olla.host("backup").updateFaults { $0.errorStatus = 503 }
            let answer = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("m"))
            #expect(answer.status == .serviceUnavailable)
            let error = try #require(answer.json()["error"] as? [String: Any])
            #expect(error["code"] as? String == "no_healthy_endpoints")
            #expect(answer.headers.first(name: "Retry-After").flatMap { Int($0) }.map { $0 >= 1 } == true)
            // One try per candidate: each host saw the request once.
            #expect(olla.host("backup").stats.requestsByRoute["POST /v1/chat/completions"] == 1)
        }
    }

    @Test func streamCutMidwayEndsWithAnErrorEventAndNoDone() async throws {
        try await withTwoHosts(tokens: 10, tokenDelay: .milliseconds(20)) { olla in
            try await olla.host("preferred").updateFaults { $0.dropAfterChunks = 3 }
            let answer = try await olla.stream("/olla/lmstudio/v1/chat/completions", json: chatBody("m", stream: true))
            #expect(answer.status == .ok)
            #expect(answer.headers.first(name: "X-Olla-Endpoint") == "preferred")
            let events = answer.events
            #expect(!events.contains("[DONE]"))
            let last = try #require(events.last)
            let error = try #require(
                (JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])?["error"] as? [String: Any]
            )
            #expect(error["type"] as? String == "upstream_error")
            #expect(events.count == 4)
        }
    }
}
