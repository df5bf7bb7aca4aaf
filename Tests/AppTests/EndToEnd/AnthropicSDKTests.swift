import Foundation
import LMStudioSim
import Testing

@testable import App

/// The official `anthropic` Python SDK, pointed at olla (`base_url` = `.../olla/lmstudio`; the SDK appends
/// `/v1/messages`) in front of LM Studio 0.4 hosts: `messages.create` and `messages.stream` work. Runs when
/// Python has the `anthropic` package (`.ci/run` installs it).
@Suite(.serialized, .endToEnd) struct AnthropicSDKTests {
    static let model = "qwen2.5-7b-instruct"

    @Test(.enabled(if: PythonSDKScript.hasModule("anthropic"), "the anthropic Python package is not installed"))
    func officialSDKWorksThroughOlla() async throws {
        let hosts = ["studio-a", "studio-b"].map { name in
            var host = simHost(name, models: [SimulatedModel(id: Self.model)], tokens: 5)
            host.api = .v0_4
            return host
        }
        try await OllaHarness.with(hosts: hosts) { configuration, hosts in
            // Few probes, so the hosts' recorded requests (the last 64) still hold every call afterwards.
            configuration.endpoints = hosts.map { OllaHarness.endpoint(for: $0, checkInterval: .seconds(60)) }
        } _: { olla in
            let outcome = try await PythonSDKScript.run(
                "anthropic_sdk_check.py",
                ["\(olla.baseURL)/olla/lmstudio", Self.model]
            )
            #expect(outcome.status == 0, "\(outcome.output)")
            #expect(outcome.output.contains("messages stream:") && outcome.output.contains("messages text_stream:"))

            // Four calls, each reaching a host once as `/v1/messages` (no retries, nothing else).
            let calls = olla.hosts.flatMap(\.recordedRequests).filter { $0.method == "POST" }
            #expect(calls.map(\.uri) == Array(repeating: "/v1/messages", count: 4), "\(calls.map(\.uri))")
            let counted = olla.hosts.map { $0.stats.requestsByRoute["POST /v1/messages", default: 0] }.reduce(0, +)
            #expect(counted == 4)
            for call in calls {
                // The SDK's version header reaches the host; its API key, a client credential, does not.
                #expect(!call.headerValues("anthropic-version").isEmpty)
                #expect(call.headerValues("x-api-key").isEmpty)
            }
        }
    }
}
