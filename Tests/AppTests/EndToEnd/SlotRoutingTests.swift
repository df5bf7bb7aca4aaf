import Balancer
import Foundation
import LMStudioSim
import NIOHTTP1
import Testing

@testable import App

/// LM Studio 0.4 hosts (DESIGN.md 6.7) end to end: discovery of slots through `/api/v1/models`, what the status
/// and listings show, and routing that respects slots and loads one model at a time. The hosts are fixed-answer
/// hosts until `lmstudio-sim` speaks 0.4.
@Suite(.serialized, .endToEnd) struct SlotRoutingTests {
    static let key = "qwen/qwen3-4b"

    static func v0(loaded: Bool) -> ListingHost.Answer {
        .json(
            #"{"object":"list","data":[{"id":"\#(key)","object":"model","type":"llm","publisher":"qwen","arch":"qwen3","#
                + #""compatibility_type":"gguf","quantization":"Q4_K_M","state":"\#(loaded ? "loaded" : "not-loaded")","#
                + #""max_context_length":32768}]}"#
        )
    }

    static func v1(parallels: [String]) -> ListingHost.Answer {
        let instances = parallels.enumerated().map { index, parallel in
            let id = index == 0 ? key : "\(key):\(index + 1)"
            return #"{"id":"\#(id)","config":{"context_length":4096,"parallel":\#(parallel)}}"#
        }
        return .json(
            #"{"models":[{"type":"llm","publisher":"qwen","key":"\#(key)","display_name":"Qwen3 4B","#
                + #""architecture":"qwen3","quantization":{"name":"Q4_K_M","bits_per_weight":4.8},"#
                + #""loaded_instances":[\#(instances.joined(separator: ","))],"max_context_length":32768,"format":"gguf","#
                + #""params_string":"4B","capabilities":{"vision":false,"trained_for_tool_use":true}}]}"#
        )
    }

    static let openAI = ListingHost.Answer.json(#"{"object":"list","data":[{"id":"\#(key)","object":"model"}]}"#)

    static func answers(v1: ListingHost.Answer?, loaded: Bool = true) -> [String: ListingHost.Answer] {
        var answers = ["/v1/models": openAI, "/api/v0/models": v0(loaded: loaded)]
        answers["/api/v1/models"] = v1
        return answers
    }

    func statusEntry(_ olla: OllaHarness, _ name: String) async throws -> [String: Any] {
        let status = try await olla.request(.GET, "/internal/status/endpoints").json()
        let endpoints = status["endpoints"] as? [[String: Any]] ?? []
        return try #require(endpoints.first { $0["name"] as? String == name })
    }

    @Test func slotsAndAPIGenerationAreDiscoveredAndShown() async throws {
        try await ListingHost.withRunning(Self.answers(v1: Self.v1(parallels: ["4", "2"]))) { host in
            let old = simHost("studio-old", models: [SimulatedModel(id: Self.key, state: .loaded)])
            try await OllaHarness.with(hosts: [old]) { configuration, _ in
                configuration.endpoints.append(host.endpoint(named: "studio-new"))
            } _: { olla in
                let new = try await statusEntry(olla, "studio-new")
                #expect(new["api"] as? String == "0.4")
                #expect(new["slots"] as? Int == 6)
                #expect(new["slots_in_use"] as? Int == 0)
                #expect(new["discovery_issue"] is NSNull)
                let oldEntry = try await statusEntry(olla, "studio-old")
                #expect(oldEntry["api"] as? String == "0.3")
                #expect(oldEntry["slots"] is NSNull)

                let model = try await olla.request(.GET, "/olla/models/\(Self.key)").json()
                let places = (model["olla"] as? [String: Any])?["availability"] as? [[String: Any]] ?? []
                let byHost = Dictionary(uniqueKeysWithValues: places.map { ($0["endpoint"] as? String ?? "", $0) })
                #expect(byHost["studio-new"]?["slots"] as? Int == 6)
                #expect(byHost["studio-new"]?["api"] as? String == "0.4")
                #expect(byHost["studio-old"]?["slots"] is NSNull)

                // LM Studio 0.4's listing, merged: one entry, the instances of both hosts.
                let listing = try await olla.request(.GET, "/olla/lmstudio/api/v1/models").json()
                let models = try #require(listing["models"] as? [[String: Any]])
                #expect(models.count == 1)
                #expect(models[0]["key"] as? String == Self.key)
                #expect(models[0]["display_name"] as? String == "Qwen3 4B")
                #expect(models[0]["params_string"] as? String == "4B")
                let capabilities = models[0]["capabilities"] as? [String: Any]
                #expect(capabilities?["trained_for_tool_use"] as? Bool == true)
                #expect(capabilities?["vision"] as? Bool == false)
                let instances = models[0]["loaded_instances"] as? [[String: Any]] ?? []
                let parallels = instances.map { ($0["config"] as? [String: Any])?["parallel"] as? Int ?? 0 }
                #expect(instances.map { $0["id"] as? String ?? "" }.sorted() == [Self.key, Self.key, Self.key + ":2"])
                #expect(
                    parallels.sorted() == [1, 2, 4],
                    "4 and 2 from the 0.4 host, 1 for the 0.3 host's loaded model"
                )
            }
        }
    }

    @Test(arguments: [
        ("malformed", ListingHost.Answer.json(#"{"models":[{"key":"#), "is not valid JSON"),
        ("huge", ListingHost.Answer.oversized(11 * 1024 * 1024), "larger than 10 MB"),
        ("error", ListingHost.Answer.json(#"{"error":"Invalid API key"}"#), "Invalid API key"),
    ])
    func badApiV1AnswerKeepsTheHostUsableAndShowsWhy(
        name: String,
        answer: ListingHost.Answer,
        reason: String
    ) async throws {
        try await ListingHost.withRunning(Self.answers(v1: answer)) { host in
            try await OllaHarness.with(hosts: []) { configuration, _ in
                configuration.endpoints = [host.endpoint(named: "studio", checkTimeout: .milliseconds(900))]
            } _: { olla in
                let entry = try await statusEntry(olla, "studio")
                #expect(entry["status"] as? String == "healthy", "\(name)")
                #expect(entry["api"] is NSNull)
                let issue = entry["discovery_issue"] as? String ?? ""
                #expect(issue.contains(reason) && issue.contains("slots unknown"), "\(name): \(issue)")
                let answer = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody(Self.key))
                #expect(answer.status == .ok)
            }
        }
    }

    @Test func absurdParallelIsClampedAndReported() async throws {
        try await ListingHost.withRunning(Self.answers(v1: Self.v1(parallels: ["1000000", "-2"]))) { host in
            try await OllaHarness.with(hosts: []) { configuration, _ in
                configuration.endpoints = [host.endpoint(named: "studio")]
            } _: { olla in
                let entry = try await statusEntry(olla, "studio")
                #expect(entry["api"] as? String == "0.4")
                #expect(entry["slots"] as? Int == 1025, "1024 for the clamped instance, 1 for the negative one")
                let issue = entry["discovery_issue"] as? String ?? ""
                #expect(issue.contains("over 1024") && issue.contains("not a positive integer"), "\(issue)")
            }
        }
    }

    @Test func requestsBeyondAHostsSlotsWaitForTheSlotFreed() async throws {
        let answers = Self.answers(v1: Self.v1(parallels: ["2"]))
        try await ListingHost.withRunning(answers, answerDelay: .milliseconds(300)) { host in
            try await OllaHarness.with(hosts: []) { configuration, _ in
                configuration.endpoints = [host.endpoint(named: "studio")]
            } _: { olla in
                let statuses = try await withThrowingTaskGroup(of: HTTPResponseStatus.self) { group in
                    for _ in 0..<5 {
                        group.addTask {
                            try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody(Self.key)).status
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(statuses.allSatisfy { $0 == .ok }, "\(statuses)")
                let seen = host.state.withLockedValue { ($0.mostAtOnce, $0.chats) }
                #expect(seen.0 == 2, "never more than the host's two slots at once")
                #expect(seen.1 == 5)
            }
        }
    }

    @Test func modelThatIsNotLoadedIsLoadedByOneRequestAndTheHostReprobedAtItsAnswer() async throws {
        try await ListingHost.withRunning(
            Self.answers(v1: Self.v1(parallels: []), loaded: false),
            answerDelay: .milliseconds(400)
        ) { host in
            // The first chat loads the model: from then on the host lists it loaded with four slots.
            host.state.withLockedValue { state in
                state.onChat = { state in
                    state.answers["/api/v1/models"] = SlotRoutingTests.v1(parallels: ["4"])
                    state.answers["/api/v0/models"] = SlotRoutingTests.v0(loaded: true)
                }
            }
            // A long interval: only the re-probe at the first answer can tell olla of the load in time.
            try await OllaHarness.with(hosts: []) { configuration, _ in
                configuration.endpoints = [host.endpoint(named: "studio", checkInterval: .seconds(30))]
            } _: { olla in
                let clock = ContinuousClock()
                let started = clock.now
                let statuses = try await withThrowingTaskGroup(of: HTTPResponseStatus.self) { group in
                    for _ in 0..<4 {
                        group.addTask {
                            try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody(Self.key)).status
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                let elapsed = clock.now - started
                #expect(statuses.allSatisfy { $0 == .ok }, "\(statuses)")
                let seen = host.state.withLockedValue { $0 }
                #expect(seen.chats == 4)
                // One load alone, then the other three together once the probe found four slots.
                #expect(seen.mostAtOnce == 3, "at most one request while loading, then the rest at once")
                #expect(elapsed < .seconds(5), "the re-probe came at the first answer, not after check_interval")
                let entry = try await statusEntry(olla, "studio")
                #expect(entry["slots"] as? Int == 4)
            }
        }
    }
}
