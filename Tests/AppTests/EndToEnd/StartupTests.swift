import Balancer
import Foundation
import LMStudioSim
import NIOCore
import Testing

@testable import App

/// Requests that arrive before the hosts' first probe has answered are served once it does, not refused.
@Suite(.serialized, .endToEnd) struct StartupTests {
    @Test func requestBeforeTheFirstProbeAnswersIsServedWhenItDoes() async throws {
        var slow = simHost("studio-a", models: [SimulatedModel(id: "qwen2.5-7b-instruct")])
        // Both listings of the first probe take 150 ms, so the request below arrives while the host is unknown.
        slow.faults = SimulatorFaults(modelsDelay: .milliseconds(150))
        try await OllaHarness.with(hosts: [slow], waitForHealthy: false) { configuration, _ in
            // The wait is bounded by check_timeout; keep it long enough for a loaded test machine.
            configuration.endpoints[0].checkInterval = .seconds(5)
            configuration.endpoints[0].checkTimeout = .seconds(3)
        } _: { olla in
            #expect(olla.endpoint("studio-a").status == .unknown)
            let answer = try await olla.post(
                "/olla/lmstudio/v1/chat/completions",
                json: chatBody("qwen2.5-7b-instruct")
            )
            #expect(answer.status == .ok)
            #expect(answer.headers.first(name: "X-Olla-Endpoint") == "studio-a")
        }
    }

    @Test func unknownModelWhileAHostWasNeverReachedIs503() async throws {
        let hosts = [
            simHost("studio-a", models: [SimulatedModel(id: "qwen2.5-7b-instruct")]),
            simHost("studio-b", models: [SimulatedModel(id: "meta-llama-3.1-8b-instruct")]),
        ]
        try await OllaHarness.with(hosts: hosts, waitForHealthy: false) { configuration, hosts in
            // studio-b is "down since start-up": its URL points at a port nobody listens on.
            configuration.endpoints[1].url.port = 1
        } _: { olla in
            try await olla.waitUntil("both hosts were probed") {
                olla.endpoint("studio-a").status == .healthy && olla.endpoint("studio-b").status == .offline
            }
            let answer = try await olla.post(
                "/olla/lmstudio/v1/chat/completions",
                json: chatBody("meta-llama-3.1-8b-instruct")
            )
            #expect(answer.status == .serviceUnavailable)
            #expect(try (answer.json()["error"] as? [String: Any])?["code"] as? String == "no_healthy_endpoints")
            #expect(answer.headers.first(name: "Retry-After") != nil)
        }
    }

    @Test func unknownModelIsStill404OnceEveryHostWasProbed() async throws {
        var slow = simHost("studio-a", models: [SimulatedModel(id: "qwen2.5-7b-instruct")])
        slow.faults = SimulatorFaults(modelsDelay: .milliseconds(150))
        try await OllaHarness.with(hosts: [slow], waitForHealthy: false) { olla in
            let answer = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("no-such-model"))
            #expect(answer.status == .notFound)
            #expect(try (answer.json()["error"] as? [String: Any])?["code"] as? String == "model_not_found")
        }
    }
}
