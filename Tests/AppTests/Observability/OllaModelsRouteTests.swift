import Balancer
import Foundation
import LMStudioSim
import NIOHTTP1
import Testing

@testable import App

/// `GET /olla/models` and `GET /olla/models/{id}` (DESIGN.md section 5): which models are where, loaded or not,
/// hosts that are down included.
@Suite(.endToEnd) struct OllaModelsRouteTests {
    /// Three hosts whose models overlap: qwen loaded on a and not on b, llama loaded on b and not on c.
    static let hosts = [
        simHost(
            "studio-a",
            models: [
                SimulatedModel(id: "qwen/qwen3-4b", state: .loaded, maxContextLength: 40960),
                SimulatedModel(id: "text-embedding-nomic-embed-text-v1.5", type: .embeddings),
            ]
        ),
        simHost(
            "studio-b",
            models: [
                SimulatedModel(id: "qwen/qwen3-4b", state: .notLoaded, maxContextLength: 40960),
                SimulatedModel(id: "meta-llama-3.1-8b-instruct", state: .loaded, maxContextLength: 131072),
            ]
        ),
        simHost(
            "studio-c",
            models: [SimulatedModel(id: "meta-llama-3.1-8b-instruct", state: .notLoaded, maxContextLength: 131072)]
        ),
    ]

    static func withOlla(_ body: (OllaHarness) async throws -> Void) async throws {
        try await OllaHarness.with(hosts: hosts) { configuration, _ in
            configuration.modelAliases = [ModelAlias(name: "qwen", targets: ["qwen/qwen3-4b"])]
        } _: { olla in
            // studio-c goes down after its models were indexed: they must stay listed, as down.
            try await olla.host("studio-c").updateFaults { $0.refuseConnections = true }
            try await olla.waitUntil("studio-c is probed down") { olla.endpoint("studio-c").status == .offline }
            try await body(olla)
        }
    }

    /// endpoint -> "state/status" of one entry's `olla.availability`.
    static func availability(_ entry: [String: Any]?) -> [String: String] {
        let places = (entry?["olla"] as? [String: Any])?["availability"] as? [[String: Any]] ?? []
        var result: [String: String] = [:]
        for place in places {
            result[place["endpoint"] as? String ?? "?"] =
                "\(place["state"] as? String ?? "?")/\(place["status"] as? String ?? "?")"
        }
        return result
    }

    @Test func listsEveryModelWithItsHostsLoadedStateAndHealthIncludingHostsThatAreDown() async throws {
        try await Self.withOlla { olla in
            let answer = try await olla.request(.GET, "/olla/models")
            #expect(answer.status == .ok)
            #expect(answer.headers.first(name: "Content-Type")?.hasPrefix("application/json") == true)
            let document = try answer.json()
            #expect(document["object"] as? String == "list")
            let data = try #require(document["data"] as? [[String: Any]])
            #expect(data.count == 3, "one entry per id: \(answer.text)")
            var byID: [String: [String: Any]] = [:]
            for entry in data {
                let id = try #require(entry["id"] as? String)
                byID[id] = entry
                #expect(entry["object"] as? String == "model")
                let olla = try #require(entry["olla"] as? [String: Any], "\(id) has no olla object")
                #expect(olla["type"] is String, "\(id): type")
                #expect(olla["max_context_length"] is Int, "\(id): max_context_length")
                #expect(olla["aliases"] is [String], "\(id): aliases")
                let places = try #require(olla["availability"] as? [[String: Any]], "\(id): availability")
                for place in places {
                    #expect(place["endpoint"] is String && place["state"] is String && place["status"] is String)
                }
            }
            #expect(
                Set(byID.keys) == [
                    "qwen/qwen3-4b", "text-embedding-nomic-embed-text-v1.5", "meta-llama-3.1-8b-instruct",
                ]
            )
            #expect(
                Self.availability(byID["qwen/qwen3-4b"])
                    == ["studio-a": "loaded/healthy", "studio-b": "not-loaded/healthy"]
            )
            #expect(
                Self.availability(byID["meta-llama-3.1-8b-instruct"])
                    == ["studio-b": "loaded/healthy", "studio-c": "not-loaded/offline"]
            )
            #expect(Self.availability(byID["text-embedding-nomic-embed-text-v1.5"]) == ["studio-a": "loaded/healthy"])
            let qwen = try #require(byID["qwen/qwen3-4b"]?["olla"] as? [String: Any])
            #expect(qwen["type"] as? String == "llm")
            #expect(qwen["max_context_length"] as? Int == 40960)
            #expect(qwen["aliases"] as? [String] == ["qwen"])
            let embedding = try #require(byID["text-embedding-nomic-embed-text-v1.5"]?["olla"] as? [String: Any])
            #expect(embedding["type"] as? String == "embeddings")
            #expect(embedding["max_context_length"] as? Int == 2048)
            #expect(embedding["aliases"] as? [String] == [])
        }
    }

    @Test func oneEntryByAnIdWithASlashAndUnknownIdIs404() async throws {
        try await Self.withOlla { olla in
            let list = try await olla.request(.GET, "/olla/models").json()
            let listed = try #require(
                (list["data"] as? [[String: Any]])?.first { $0["id"] as? String == "qwen/qwen3-4b" }
            )
            for path in ["/olla/models/qwen/qwen3-4b", "/olla/models/qwen%2Fqwen3-4b"] {
                let answer = try await olla.request(.GET, path)
                #expect(answer.status == .ok, "\(path)")
                let entry = try answer.json()
                #expect(entry["id"] as? String == "qwen/qwen3-4b", "\(path)")
                #expect(NSDictionary(dictionary: entry).isEqual(to: listed), "\(path) is the entry of the list")
            }
            let down = try await olla.request(.GET, "/olla/models/meta-llama-3.1-8b-instruct").json()
            #expect(Self.availability(down)["studio-c"] == "not-loaded/offline")

            let unknown = try await olla.request(.GET, "/olla/models/no-such/model")
            #expect(unknown.status == .notFound)
            let error = try #require(unknown.json()["error"] as? [String: Any], "\(unknown.text)")
            #expect(error["code"] as? String == "model_not_found")
            #expect((error["message"] as? String)?.contains("no-such/model") == true)
        }
    }
}
