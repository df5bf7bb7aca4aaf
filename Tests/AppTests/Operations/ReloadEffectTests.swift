import Balancer
import Foundation
import LMStudioSim
import Logging
import NIOHTTP1
import Testing

@testable import App

/// What a reload changes besides the host list: listings, status and metrics forget a removed host, and new
/// server settings apply to the next request. olla runs in-process here, reading its configuration from a file.
@Suite(.endToEnd) struct ReloadEffectTests {
    /// Starts olla from `file` (on a free loopback port), runs `body`, and shuts it down, also on failure.
    static func withApplication(
        file: URL,
        _ body: (OllaApplication, String) async throws -> Void
    ) async throws {
        let loaded = ConfigurationLoader.load(contentsOfFile: file.path, environment: [:])
        let configuration = try #require(loaded.configuration, "\(loaded.issues)")
        let source = OllaApplication.ConfigurationSource(path: file.path, host: "127.0.0.1", port: 0, environment: [:])
        let application = try await OllaApplication.start(
            configuration: configuration,
            source: source,
            logger: OllaHarness.quietLogger
        )
        let run = Task { try await application.run(handlingSignals: false) }
        do {
            try await OllaHarness.waitUntil("every host is healthy") {
                application.table.snapshot.endpoints.allSatisfy { $0.status == .healthy }
            }
            try await body(application, "http://127.0.0.1:\(application.port)")
        } catch {
            await application.shutdown()
            _ = try? await run.value
            throw error
        }
        await application.shutdown()
        _ = try? await run.value
    }

    @Test func removedHostDisappearsFromListingsStatusAndMetrics() async throws {
        let hosts = [
            simHost("sim-a", models: [SimulatedModel(id: "qwen2.5-7b-instruct")]),
            simHost("sim-b", models: [SimulatedModel(id: "meta-llama-3.1-8b-instruct")]),
        ]
        try await withScratchDirectory { directory in
            try await withSimulators(hosts) { hosts in
                let file = directory.appendingPathComponent("endpoints.yaml")
                try configurationFile(hosts: hosts).write(to: file, atomically: true, encoding: .utf8)
                try await Self.withApplication(file: file) { application, base in
                    let before = try await PrometheusExposition(parsing: fetch(.GET, base + "/internal/metrics").text)
                    #expect(before.value("olla_endpoint_up", ["endpoint": "sim-a"]) == 1)

                    try configurationFile(hosts: [hosts[1]]).write(to: file, atomically: true, encoding: .utf8)
                    let outcome = application.reload()
                    #expect(outcome == .applied(added: [], removed: ["sim-a"]) || outcome == .unchanged)

                    let models = try await fetch(.GET, base + "/olla/models").json()
                    let ids = (models["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
                    #expect(ids == ["meta-llama-3.1-8b-instruct"], "a removed host's models are gone")
                    let status = try await fetch(.GET, base + "/internal/status/endpoints").json()
                    let names = (status["endpoints"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
                    #expect(names == ["sim-b"])
                    let chat = try await fetch(
                        .POST,
                        base + "/olla/lmstudio/v1/chat/completions",
                        headers: [("Content-Type", "application/json")],
                        body: chatBody("qwen2.5-7b-instruct")
                    )
                    #expect(chat.status == .notFound, "no host has the model any more: \(chat.text)")

                    let after = try await PrometheusExposition(parsing: fetch(.GET, base + "/internal/metrics").text)
                    #expect(after.value("olla_endpoint_up", ["endpoint": "sim-b"]) == 1)
                    // The removed host's gauges go with it: a gauge left at its last value would report it up.
                    #expect(after.value("olla_endpoint_up", ["endpoint": "sim-a"]) == nil, "no series for sim-a")
                    #expect(after.value("olla_in_flight_requests", ["endpoint": "sim-a"]) == nil)
                }
            }
        }
    }

    @Test func reloadAppliesNewServerSettingsToTheNextRequest() async throws {
        let hosts = [simHost("sim-a", models: [SimulatedModel(id: "qwen2.5-7b-instruct")])]
        try await withScratchDirectory { directory in
            try await withSimulators(hosts) { hosts in
                let file = directory.appendingPathComponent("endpoints.yaml")
                try configurationFile(hosts: hosts).write(to: file, atomically: true, encoding: .utf8)
                try await Self.withApplication(file: file) { application, base in
                    #expect(try await fetch(.GET, base + "/olla/models").status == .ok)

                    let guarded = configurationFile(hosts: hosts, server: "api_keys: [rotated-key]")
                    try guarded.write(to: file, atomically: true, encoding: .utf8)
                    let outcome = application.reload()
                    #expect(outcome == .applied(added: [], removed: []) || outcome == .unchanged, "\(outcome)")
                    #expect(application.table.snapshot.configuration.server.apiKeys == ["rotated-key"])

                    let refused = try await fetch(.GET, base + "/olla/models")
                    #expect(refused.status == .unauthorized)
                    let allowed = try await fetch(
                        .GET,
                        base + "/olla/models",
                        headers: [("Authorization", "Bearer rotated-key")]
                    )
                    #expect(allowed.status == .ok)
                    #expect(application.table.snapshot.endpoint(named: "sim-a")?.status == .healthy)
                }
            }
        }
    }
}
