import AsyncHTTPClient
import Foundation
import LMStudioSim
import NIOCore
import NIOHTTP1
import Testing

@testable import App

/// The routes of DESIGN.md section 5, over real sockets, through every prefix.
@Suite(.serialized, .endToEnd) struct ProxyRoutesTests {
    static let hosts = [
        simHost("studio-a", models: [SimulatedModel(id: "qwen2.5-7b-instruct", maxContextLength: 32768)]),
        simHost(
            "studio-b",
            models: [
                SimulatedModel(id: "meta-llama-3.1-8b-instruct", state: .notLoaded),
                SimulatedModel(id: "text-embedding-nomic-embed-text-v1.5", type: .embeddings),
            ]
        ),
    ]

    @Test func everyRouteAnswersUnderEveryPrefix() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            for prefix in OllaRouter.prefixes {
                let models = try await olla.request(.GET, "\(prefix)/v1/models")
                #expect(models.status == .ok)
                let ids = try (models.json()["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
                #expect(
                    Set(ids) == [
                        "qwen2.5-7b-instruct", "meta-llama-3.1-8b-instruct", "text-embedding-nomic-embed-text-v1.5",
                    ]
                )

                let v0 = try await olla.request(.GET, "\(prefix)/api/v0/models").json()
                let data = v0["data"] as? [[String: Any]] ?? []
                #expect(data.count == 3)
                #expect((v0["models"] as? [[String: Any]])?.count == 3)
                let llama = data.first { $0["id"] as? String == "meta-llama-3.1-8b-instruct" }
                #expect(llama?["state"] as? String == "not-loaded")

                let chat = try await olla.post("\(prefix)/v1/chat/completions", json: chatBody("qwen2.5-7b-instruct"))
                #expect(chat.status == .ok)
                #expect(chat.headers.first(name: "X-Olla-Endpoint") == "studio-a")
                #expect(try chat.json()["object"] as? String == "chat.completion")

                let completion = try await olla.post(
                    "\(prefix)/v1/completions",
                    json: "{\"model\":\"meta-llama-3.1-8b-instruct\",\"prompt\":\"The meaning of life is\"}"
                )
                #expect(completion.status == .ok)
                #expect(completion.headers.first(name: "X-Olla-Endpoint") == "studio-b")
                #expect(try completion.json()["object"] as? String == "text_completion")

                let embedding = try await olla.post(
                    "\(prefix)/v1/embeddings",
                    json: "{\"model\":\"text-embedding-nomic-embed-text-v1.5\",\"input\":\"The quick brown fox\"}"
                )
                #expect(embedding.status == .ok)
                #expect(try (embedding.json()["data"] as? [[String: Any]])?.first?["embedding"] is [Any])

                // Any other path goes to a host with the prefix stripped; LM Studio answers 200 to unknown paths.
                let other = try await olla.post(
                    "\(prefix)/v1/responses?trace=1",
                    json: "{\"model\":\"qwen2.5-7b-instruct\"}"
                )
                #expect(other.status == .ok)
                #expect(other.headers.first(name: "X-Olla-Endpoint") == "studio-a")
                let forwarded = olla.host("studio-a").recordedRequests.last { $0.method == "POST" }
                #expect(forwarded?.uri == "/v1/responses?trace=1")
            }
        }
    }

    /// Two hosts share a model, loaded on one of them only; a third host's model disappears while it is down.
    @Test func listingsMergeHealthyHostsWithOneEntryPerModelAndEveryField() async throws {
        let hosts = [
            simHost("a", models: [SimulatedModel(id: "shared", state: .notLoaded, maxContextLength: 4096)]),
            simHost("b", models: [SimulatedModel(id: "shared", state: .loaded, maxContextLength: 4096)]),
            simHost("c", models: [SimulatedModel(id: "only-on-c")]),
        ]
        try await OllaHarness.with(hosts: hosts) { olla in
            let openAI = try await olla.request(.GET, "/olla/lmstudio/v1/models").json()
            #expect(openAI["object"] as? String == "list")
            let data = try #require(openAI["data"] as? [[String: Any]])
            #expect(data.compactMap { $0["id"] as? String }.sorted() == ["only-on-c", "shared"])
            let shared = try #require(data.first { $0["id"] as? String == "shared" })
            #expect(shared["object"] as? String == "model")
            #expect(shared["created"] is Int)
            #expect(shared["owned_by"] is String)
            #expect((shared["permission"] as? [Any])?.isEmpty == true)
            #expect(shared["root"] as? String == "shared")
            #expect(shared["parent"] is NSNull)
            #expect(shared["max_context_length"] as? Int == 4096)

            let v0 = try await olla.request(.GET, "/olla/lmstudio/api/v0/models").json()
            let entries = try #require(v0["data"] as? [[String: Any]])
            #expect(entries.filter { $0["id"] as? String == "shared" }.count == 1)
            let merged = try #require(entries.first { $0["id"] as? String == "shared" })
            #expect(merged["state"] as? String == "loaded", "loaded on one healthy host is loaded")
            for key in ["object", "type", "publisher", "arch", "compatibility_type", "quantization"] {
                #expect(merged[key] != nil, "\(key) in \(merged)")
            }
            #expect(merged["max_context_length"] as? Int == 4096)
            let legacy = try #require(v0["models"] as? [[String: Any]])
            #expect(legacy.compactMap { $0["id"] as? String }.sorted() == ["only-on-c", "shared"])

            // b, the host where it is loaded, goes down: still listed (a has it), now not loaded.
            try await olla.host("b").updateFaults { $0.refuseConnections = true }
            try await olla.host("c").updateFaults { $0.refuseConnections = true }
            try await olla.waitUntil("b and c are out of rotation") {
                !olla.endpoint("b").status.isRoutable && !olla.endpoint("c").status.isRoutable
            }
            let after = try await olla.request(.GET, "/olla/lmstudio/v1/models").json()
            let afterIDs = (after["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
            #expect(afterIDs == ["shared"], "a model only on a host that is down is not listed")
            let afterV0 = try await olla.request(.GET, "/olla/lmstudio/api/v0/models").json()
            let alone = try #require((afterV0["data"] as? [[String: Any]])?.first)
            #expect((afterV0["data"] as? [[String: Any]])?.count == 1)
            #expect(alone["state"] as? String == "not-loaded")
        }
    }

    @Test func wrongMethodIs405AndUnknownRouteIs404InTheEnvelope() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            for prefix in OllaRouter.prefixes {
                for path in ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"] {
                    let wrong = try await olla.request(.GET, prefix + path)
                    #expect(wrong.status == .methodNotAllowed, "GET \(prefix)\(path)")
                    #expect(try (wrong.json()["error"] as? [String: Any])?["code"] as? String == "method_not_allowed")
                    #expect(wrong.headers.first(name: "X-Olla-Request-ID") != nil)
                }
                for path in ["/v1/models", "/api/v0/models"] {
                    let postModels = try await olla.post(prefix + path, json: "{}")
                    #expect(postModels.status == .methodNotAllowed, "POST \(prefix)\(path)")
                }
            }

            for path in ["/nope", "/olla/unknown", "/internal/nothing"] {
                let missing = try await olla.request(.GET, path)
                #expect(missing.status == .notFound, "\(path)")
                #expect(try (missing.json()["error"] as? [String: Any])?["code"] as? String == "not_found")
            }
        }
    }

    @Test func healthAndVersionAnswer() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            let health = try await olla.request(.GET, "/internal/health")
            #expect(health.status == .ok)
            #expect(try health.json()["status"] as? String == "healthy")
            let version = try await olla.request(.GET, "/version").json()
            #expect(version["name"] as? String == "olla")
            #expect(version["version"] is String && version["build"] is String)
        }
    }
}
