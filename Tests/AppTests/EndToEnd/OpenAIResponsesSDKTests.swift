import Foundation
import LMStudioSim
import Testing

@testable import App

/// The official `openai` Python SDK's Responses API, pointed at olla in front of three LM Studio 0.4 hosts that
/// all have the model: 4-turn conversations continued with `previous_response_id` (plain, streamed, and both in
/// turn) succeed, and every turn reaches the host that holds the conversation (DESIGN.md 6.9). Runs when Python
/// has the `openai` package (`.ci/run` installs it).
@Suite(.serialized, .endToEnd) struct OpenAIResponsesSDKTests {
    static let model = "qwen2.5-7b-instruct"
    static let hostNames = ["studio-a", "studio-b", "studio-c"]
    /// The conversations `scripts/openai_responses_check.py` holds, each of 4 turns.
    static let conversations = ["plain", "streamed", "mixed"]
    static let turns = 4

    @Test(.enabled(if: PythonSDKScript.hasModule("openai"), "the openai Python package is not installed"))
    func conversationsStayOnTheirHost() async throws {
        let hosts = Self.hostNames.map { name in
            var host = simHost(name, models: [SimulatedModel(id: Self.model)], tokens: 5)
            host.api = .v0_4
            return host
        }
        try await OllaHarness.with(hosts: hosts) { configuration, hosts in
            // Few probes, so the hosts' recorded requests (the last 64) still hold every turn afterwards.
            configuration.endpoints = hosts.map { OllaHarness.endpoint(for: $0, checkInterval: .seconds(60)) }
        } _: { olla in
            let outcome = try await PythonSDKScript.run(
                "openai_responses_check.py",
                ["\(olla.baseURL)/olla/lmstudio/v1", Self.model]
            )
            #expect(outcome.status == 0, "\(outcome.output)")
            let summaries = outcome.lines(startingWith: "conversation ")
            try #require(summaries.count == Self.conversations.count, "\(outcome.output)")

            // What the hosts received: every `/v1/responses` request, by host.
            var received: [String: [ResponsesRequest]] = [:]
            for host in olla.hosts {
                received[host.name] = host.recordedRequests.compactMap(ResponsesRequest.init)
            }
            var answeredBy: [String: Int] = [:]
            for summary in summaries {
                // "NAME: HOST ID1 ID2 ID3 ID4"
                let fields = summary.split(separator: " ").map(String.init)
                try #require(fields.count == 2 + Self.turns, "\(summary)")
                let name = String(fields[0].dropLast())
                let holder = fields[1]
                let ids = Array(fields[2...])
                #expect(Self.hostNames.contains(holder), "\(summary)")
                answeredBy[holder, default: 0] += Self.turns
                for turn in 1...Self.turns {
                    let marker = "[\(name) \(turn)]"
                    let carrying = received.mapValues { bodies in
                        bodies.filter { $0.input.contains(marker) }
                    }
                    // Exactly one request of the turn, at the conversation's host: no other host was asked first.
                    let reached = carrying.filter { !$0.value.isEmpty }.mapValues(\.count)
                    #expect(reached == [holder: 1], "turn \(marker) reached \(reached), not only \(holder)")
                    let previous = carrying[holder]?.first?.previousResponseID
                    let expected = turn == 1 ? nil : ids[turn - 2]
                    #expect(previous == expected, "turn \(marker) continued \(previous ?? "nothing")")
                }
            }
            // The stats (never cut short, unlike the recorded requests) agree: no request went anywhere else.
            for host in olla.hosts {
                let count = host.stats.requestsByRoute["POST /v1/responses", default: 0]
                #expect(count == answeredBy[host.name, default: 0], "\(host.name) received \(count) requests")
            }
        }
    }
}

/// What a host received as a `/v1/responses` request: its input and the conversation it continued.
private struct ResponsesRequest: Sendable {
    var input: String
    var previousResponseID: String?

    init?(_ recorded: RecordedRequest) {
        guard recorded.method == "POST", recorded.uri.hasSuffix("/v1/responses"),
            let object = try? JSONSerialization.jsonObject(with: Data(recorded.body)) as? [String: Any]
        else { return nil }
        input = object["input"] as? String ?? ""
        previousResponseID = object["previous_response_id"] as? String
    }
}
