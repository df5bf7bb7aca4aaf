import Balancer
import Foundation
import LMStudioSim
import NIOHTTP1
import Testing

@testable import App

/// Passive health (DESIGN.md 6.3): a connection error on a real request takes the host out of rotation at once,
/// without waiting for the next probe.
@Suite(.endToEnd) struct PassiveHealthTests {
    @Test func hostThatDiesIsSkippedAndMarkedDownByTheFirstRequestThatFindsIt() async throws {
        let hosts = [
            simHost("studio-a", models: [SimulatedModel(id: "qwen2.5-7b-instruct")]),
            simHost("studio-b", models: [SimulatedModel(id: "qwen2.5-7b-instruct")]),
        ]
        try await OllaHarness.with(hosts: hosts) { configuration, _ in
            configuration.endpoints[0].priority = 200
            // Probes 30 s apart: after the first one, nothing but a real request can notice a host dying (the
            // quick re-probe that a passive failure asks for comes after it, and would find the same).
            for index in configuration.endpoints.indices {
                configuration.endpoints[index].checkInterval = .seconds(30)
            }
        } _: { olla in
            let first = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("qwen2.5-7b-instruct"))
            #expect(first.headers.first(name: "X-Olla-Endpoint") == "studio-a")

            try await olla.host("studio-a").updateFaults { $0.refuseConnections = true }
            let answer = try await olla.post(
                "/olla/lmstudio/v1/chat/completions",
                json: chatBody("qwen2.5-7b-instruct")
            )
            // Read right after the answer, before anything else can run a probe.
            let status = olla.endpoint("studio-a").status
            let health = olla.endpoint("studio-a").health

            #expect(answer.status == .ok)
            #expect(answer.headers.first(name: "X-Olla-Endpoint") == "studio-b")
            #expect(try answer.json()["object"] as? String == "chat.completion")
            #expect(status == .offline, "the dead host is out of rotation as soon as the request found it")
            #expect(health.lastError?.isEmpty == false, "the reason is kept: \(String(describing: health.lastError))")

            let report = try await olla.request(.GET, "/internal/status/endpoints").json()
            let endpoints = report["endpoints"] as? [[String: Any]] ?? []
            let a = try #require(endpoints.first { $0["name"] as? String == "studio-a" })
            #expect(a["status"] as? String == "offline")
            #expect(a["last_error"] is String)
            #expect(report["healthy_count"] as? Int == 1)

            // The next request goes straight to the live host.
            let next = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("qwen2.5-7b-instruct"))
            #expect(next.headers.first(name: "X-Olla-Endpoint") == "studio-b")
        }
    }
}
