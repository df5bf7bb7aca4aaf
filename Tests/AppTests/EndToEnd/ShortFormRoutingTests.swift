import Balancer
import Foundation
import LMStudioSim
import NIOHTTP1
import Testing

@testable import App

/// Each short form of DESIGN.md 6.1, end to end: a request names the model by it, olla finds the host and
/// rewrites `model` to the id that host listed.
@Suite(.serialized, .endToEnd) struct ShortFormRoutingTests {
    /// Posts a chat for `asked` and checks it reached `host` as `id`.
    func expectRouted(
        _ olla: OllaHarness,
        _ asked: String,
        to host: String,
        as id: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let answer = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody(asked))
        #expect(answer.status == .ok, "\(asked): \(answer.text)", sourceLocation: sourceLocation)
        #expect(answer.headers.first(name: "X-Olla-Endpoint") == host, sourceLocation: sourceLocation)
        #expect(answer.headers.first(name: "X-Olla-Model") == id, sourceLocation: sourceLocation)
    }

    /// A host whose `/v1/models` entries carry `root` (lmstudio-api.md's shape) and which also serves
    /// `/api/v0/models` (without it): the `root` must still lead to the model.
    @Test func rootOfTheOpenAIListingLeadsToTheModelOfAHostThatAlsoServesApiV0() async throws {
        let id = "lmstudio-community/Meta-Llama-3.1-8B-Instruct-GGUF"
        try await ListingHost.withRunning([
            "/v1/models": .json(
                #"{"object":"list","data":[{"id":"\#(id)","object":"model","owned_by":"lmstudio-community","root":"llama-3.1-8b"}]}"#
            ),
            "/api/v0/models": .json(
                #"{"object":"list","data":[{"id":"\#(id)","object":"model","type":"llm","state":"loaded","max_context_length":8192}]}"#
            ),
        ]) { host in
            try await OllaHarness.with(hosts: []) { configuration, _ in
                configuration.endpoints = [host.endpoint(named: "rooted")]
            } _: { olla in
                try await expectRouted(olla, "llama-3.1-8b", to: "rooted", as: id)
                try await expectRouted(olla, "LLAMA-3.1-8B", to: "rooted", as: id)
                // The listing shows it too, with what each route told.
                let listed = try await olla.request(.GET, "/olla/lmstudio/v1/models").json()
                let entry = (listed["data"] as? [[String: Any]])?.first
                #expect(entry?["root"] as? String == "llama-3.1-8b")
                #expect(entry?["max_context_length"] as? Int == 8192)
            }
        }
    }

    @Test func lastPathComponentWithoutGGUFAndQuantisationTagLeadsToTheModel() async throws {
        let id = "bartowski/gemma-2-9b-it-GGUF/gemma-2-9b-it-Q6_K.gguf"
        try await OllaHarness.with(hosts: [simHost("studio-a", models: [SimulatedModel(id: id)])]) { olla in
            for asked in ["gemma-2-9b-it", "gemma-2-9b-it-Q6_K", "gemma-2-9b-it-q6_k.gguf"] {
                try await expectRouted(olla, asked, to: "studio-a", as: id)
            }
        }
    }

    @Test func nameWithoutItsPublisherLeadsToTheModel() async throws {
        let hosts = [simHost("studio-a", models: [SimulatedModel(id: "mlx-community/qwen2.5-coder-7b-instruct")])]
        try await OllaHarness.with(hosts: hosts) { olla in
            try await expectRouted(
                olla,
                "qwen2.5-coder-7b-instruct",
                to: "studio-a",
                as: "mlx-community/qwen2.5-coder-7b-instruct"
            )
        }
    }

    @Test func nameWithoutLMStudiosDuplicateSuffixLeadsToTheInstance() async throws {
        // Only the second instance is listed on studio-b; the plain id on studio-a.
        let hosts = [
            simHost("studio-a", models: [SimulatedModel(id: "qwen2.5-7b-instruct")]),
            simHost("studio-b", models: [SimulatedModel(id: "phi-4:2")]),
        ]
        try await OllaHarness.with(hosts: hosts) { olla in
            try await expectRouted(olla, "phi-4", to: "studio-b", as: "phi-4:2")
            try await expectRouted(olla, "PHI-4", to: "studio-b", as: "phi-4:2")
        }
    }
}
