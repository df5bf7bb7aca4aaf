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
            // The failed try gave its slot back: no count leaks on either host.
            #expect(preferred.inFlight.load(ordering: .relaxed) == 0)
            #expect(olla.endpoint("backup").inFlight.load(ordering: .relaxed) == 0)
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
            #expect(olla.endpoint("preferred").inFlight.load(ordering: .relaxed) == 0)
        }
    }

    /// Without chunked framing (an HTTP/1.0 client) there is no way to add an event: the answer is cut by
    /// closing the connection, with neither `[DONE]` nor a made-up ending.
    @Test func plainAnswerCutMidwayIsCutByClosingTheConnection() async throws {
        try await withTwoHosts(tokens: 10, tokenDelay: .milliseconds(20)) { olla in
            try await olla.host("preferred").updateFaults { $0.dropAfterChunks = 3 }
            let body = chatBody("m", stream: true)
            let received = try await RawHTTPConnection.exchange(
                port: olla.port,
                "POST /olla/lmstudio/v1/chat/completions HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
            )
            #expect(received.hasPrefix("HTTP/1.0 200"), "\(received.prefix(200))")
            #expect(received.contains("X-Olla-Endpoint: preferred"))
            #expect(received.contains("data: "), "the chunks sent before the cut reached the client")
            #expect(!received.contains("[DONE]"))
            #expect(!received.contains("upstream_error"))
            #expect(olla.endpoint("preferred").inFlight.load(ordering: .relaxed) == 0)
        }
    }

    /// Kept-alive connections to a host are reused: ten requests one after another need one or two new
    /// connections (olla has an event loop per core, each with its own pool), not ten.
    @Test func upstreamConnectionsAreKeptAliveAndReused() async throws {
        try await withTwoHosts { olla in
            #expect(try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("m")).status == .ok)
            let before = olla.host("preferred").stats.connectionsAccepted
            for _ in 0..<10 {
                let answer = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("m"))
                #expect(answer.headers.first(name: "X-Olla-Endpoint") == "preferred")
            }
            let opened = olla.host("preferred").stats.connectionsAccepted - before
            #expect(opened <= 2, "\(opened) new connections for 10 requests")
            #expect(olla.host("preferred").stats.requestsByRoute["POST /v1/chat/completions"] == 11)
        }
    }
}
