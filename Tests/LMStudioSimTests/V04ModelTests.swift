import Foundation
import LMStudioSim
import NIOHTTP1
import Testing

/// LM Studio 0.4's model side: `/api/v1/models`, loads and unloads, and just-in-time loading with its
/// duplicate instances.
@Suite struct V04ModelTests {
    static let embedding = "text-embedding-nomic-embed-text-v1.5"

    @Test func listsModelsWithLoadedInstancesAndParallelOnAPIv1() async throws {
        let models = [
            SimulatedModel(id: "qwen/qwen3-4b", parallel: 2),
            SimulatedModel(id: Self.embedding, type: .embeddings, state: .notLoaded),
        ]
        try await LMStudioSimulator.withRunning(configuration: v04Configuration(name: "v1-list", models: models)) {
            host in
            let response = try await exchange(port: host.port, .GET, "/api/v1/models")
            #expect(response.status == .ok)
            let listed = try #require(try response.json()["models"] as? [[String: Any]])
            #expect(listed.map { $0["key"] as? String } == ["qwen/qwen3-4b", Self.embedding])
            let qwen = listed[0]
            #expect(qwen["type"] as? String == "llm")
            #expect(qwen["publisher"] as? String == "qwen")
            #expect(qwen["display_name"] as? String == "Qwen3 4B")
            #expect(qwen["params_string"] as? String == "4B")
            #expect(qwen["architecture"] as? String == "qwen3")
            #expect(qwen["format"] as? String == "gguf")
            #expect(qwen["max_context_length"] as? Int == 32768)
            #expect((qwen["quantization"] as? [String: Any])?["name"] as? String == "Q4_K_M")
            #expect((qwen["capabilities"] as? [String: Any])?["vision"] as? Bool == false)
            let instances = try #require(qwen["loaded_instances"] as? [[String: Any]])
            #expect(instances.count == 1)
            #expect(instances[0]["id"] as? String == "qwen/qwen3-4b")
            let config = try #require(instances[0]["config"] as? [String: Any])
            #expect(config["parallel"] as? Int == 2)
            #expect(config["context_length"] as? Int == 4096)
            #expect((listed[1]["loaded_instances"] as? [Any])?.isEmpty == true)
            // The default is LM Studio's 4.
            #expect(SimulatedModel(id: "x").parallel == 4)
        }
    }

    @Test func aThreeDotThreeHostAnswersAPIv1RoutesAsUnexpectedEndpoints() async throws {
        try await LMStudioSimulator.withRunning(configuration: SimulatorConfiguration(name: "old")) { host in
            let models = try await exchange(port: host.port, .GET, "/api/v1/models")
            #expect(models.status == .ok)
            #expect(models.body == #"{"error":"Unexpected endpoint or method. (GET /api/v1/models)"}"#)
            for path in ["/api/v1/chat", "/v1/responses", "/v1/messages", "/api/v1/models/load"] {
                let answer = try await exchange(port: host.port, .POST, path, body: #"{"model":"x","input":"hi"}"#)
                #expect(answer.status == .ok)
                #expect(answer.body == #"{"error":"Unexpected endpoint or method. (POST \#(path))"}"#)
            }
            #expect(host.stats.loadsByModel.isEmpty)
            #expect(try await simStats(port: host.port)["max_concurrency_by_model"] as? [String: Int] == [:])
        }
    }

    @Test func loadAddsAnInstanceEvenWhenLoadedAndUnloadRemovesIt() async throws {
        let configuration = v04Configuration(name: "loads", loadTime: .milliseconds(50))
        try await LMStudioSimulator.withRunning(configuration: configuration) { host in
            let port = host.port
            let started = ContinuousClock.now
            let (loaded, json) = try await postJSON(
                port: port,
                "/api/v1/models/load",
                #"{"model":"\#(chatModel)","context_length":8192,"parallel":3}"#
            )
            #expect(ContinuousClock.now - started >= .milliseconds(50))
            #expect(loaded.status == .ok)
            #expect(json["instance_id"] as? String == "\(chatModel):2")
            #expect(json["status"] as? String == "loaded")
            #expect(json["type"] as? String == "llm")
            #expect(json["load_time_seconds"] as? Double == 0.05)
            #expect(try await loadedInstanceIDs(port: port, model: chatModel) == [chatModel, "\(chatModel):2"])
            let v0 = try await exchange(port: port, .GET, "/api/v0/models").json()
            let v0Entries = try #require(v0["data"] as? [[String: Any]])
            #expect(v0Entries.map { $0["id"] as? String } == [chatModel, "\(chatModel):2"])
            #expect(v0Entries.allSatisfy { $0["state"] as? String == "loaded" })
            #expect(host.stats.loadsByModel == [chatModel: 1])

            // A request may name the instance.
            let (named, _) = try await postJSON(port: port, "/v1/chat/completions", chatBody(model: "\(chatModel):2"))
            #expect(named.status == .ok)
            #expect(named.headers["x-sim-instance"] == ["\(chatModel):2"])

            let (unloaded, unloadJSON) = try await postJSON(
                port: port,
                "/api/v1/models/unload",
                #"{"instance_id":"\#(chatModel):2"}"#
            )
            #expect(unloaded.status == .ok)
            #expect(unloadJSON["instance_id"] as? String == "\(chatModel):2")
            #expect(try await loadedInstanceIDs(port: port, model: chatModel) == [chatModel])
            let again = try await exchange(
                port: port,
                .POST,
                "/api/v1/models/unload",
                body: #"{"instance_id":"\#(chatModel):2"}"#
            )
            #expect(again.status == .notFound)
            let unknown = try await exchange(port: port, .POST, "/api/v1/models/load", body: #"{"model":"gpt-9"}"#)
            #expect(unknown.status == .notFound)
            #expect((try unknown.json()["error"] as? [String: Any])?["code"] as? String == "model_not_found")

            // Unloading the last instance makes the model not-loaded everywhere.
            _ = try await exchange(
                port: port,
                .POST,
                "/api/v1/models/unload",
                body: #"{"instance_id":"\#(chatModel)"}"#
            )
            #expect(host.models.first?.state == .notLoaded)
            let v0After = try await exchange(port: port, .GET, "/api/v0/models").json()
            #expect((v0After["data"] as? [[String: Any]])?.first?["state"] as? String == "not-loaded")
        }
    }

    @Test func concurrentFirstRequestsEachLoadAnInstanceOfTheirOwn() async throws {
        let models = [SimulatedModel(id: chatModel, state: .notLoaded)]
        // Long enough for all eight to arrive while the first load runs, even on a busy machine.
        let configuration = v04Configuration(name: "jit", models: models, loadTime: .seconds(1))
        try await LMStudioSimulator.withRunning(configuration: configuration) { host in
            let port = host.port
            let answers = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        try await exchange(port: port, .POST, "/v1/chat/completions", body: chatBody())
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.allSatisfy { $0.status == .ok })
            let expected = [chatModel] + (2...8).map { "\(chatModel):\($0)" }
            #expect(Set(answers.compactMap { $0.headers["x-sim-instance"].first }) == Set(expected))
            let stats = try await simStats(port: port)
            #expect(stats["loads_by_model"] as? [String: Int] == [chatModel: 8])
            #expect(try await loadedInstanceIDs(port: port, model: chatModel) == expected)
            let v0 = try await exchange(port: port, .GET, "/api/v0/models").json()
            #expect((v0["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == expected)
        }
    }

    @Test func oneFirstRequestLoadsOnceAndLaterRequestsUseThatInstance() async throws {
        let models = [SimulatedModel(id: chatModel, state: .notLoaded)]
        let configuration = v04Configuration(name: "jit-one", models: models, loadTime: .milliseconds(100))
        try await LMStudioSimulator.withRunning(configuration: configuration) { host in
            let port = host.port
            #expect(try await loadedInstanceIDs(port: port, model: chatModel).isEmpty)
            let started = ContinuousClock.now
            let first = try await exchange(
                port: port,
                .POST,
                "/api/v1/chat",
                body: #"{"model":"\#(chatModel)","input":"hi"}"#
            )
            #expect(first.status == .ok)
            #expect(ContinuousClock.now - started >= .milliseconds(100))
            let later = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for _ in 0..<5 {
                    group.addTask { try await exchange(port: port, .POST, "/v1/chat/completions", body: chatBody()) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(later.allSatisfy { $0.status == .ok && $0.headers["x-sim-instance"] == [chatModel] })
            #expect(host.stats.loadsByModel == [chatModel: 1])
            #expect(try await loadedInstanceIDs(port: port, model: chatModel) == [chatModel])
            #expect(host.models.first?.state == .loaded)
        }
    }

    @Test func loadTimeIsSettableAtRunTime() async throws {
        let models = [SimulatedModel(id: chatModel, state: .notLoaded)]
        try await LMStudioSimulator.withRunning(configuration: v04Configuration(name: "jit-rt", models: models)) {
            host in
            let port = host.port
            let settings = try await exchange(port: port, .POST, "/_sim/settings", body: #"{"load_time_ms":150}"#)
            #expect(settings.status == .ok)
            #expect(try settings.json()["load_time_ms"] as? Int == 150)
            #expect(host.tuning.loadTime == .milliseconds(150))
            let started = ContinuousClock.now
            #expect(try await exchange(port: port, .POST, "/v1/chat/completions", body: chatBody()).status == .ok)
            #expect(ContinuousClock.now - started >= .milliseconds(150))
            // Switching the model off and on through the control API is not a load.
            #expect(host.setModelState(id: chatModel, to: .notLoaded))
            #expect(try await loadedInstanceIDs(port: port, model: chatModel).isEmpty)
            #expect(host.setModelState(id: chatModel, to: .loaded))
            #expect(try await loadedInstanceIDs(port: port, model: chatModel) == [chatModel])
            #expect(host.stats.loadsByModel == [chatModel: 1])
        }
    }

    @Test func autoEvictMakesAJustInTimeLoadUnloadThePreviousOne() async throws {
        let models = [
            SimulatedModel(id: "model-a", state: .notLoaded), SimulatedModel(id: "model-b", state: .notLoaded),
        ]
        try await LMStudioSimulator.withRunning(configuration: v04Configuration(name: "evict", models: models)) {
            host in
            let port = host.port
            _ = try await exchange(port: port, .POST, "/v1/chat/completions", body: chatBody(model: "model-a"))
            _ = try await exchange(port: port, .POST, "/v1/chat/completions", body: chatBody(model: "model-b"))
            // Off by default: both stay.
            #expect(host.models.map(\.state) == [.loaded, .loaded])
            let switched = try await exchange(port: port, .POST, "/_sim/settings", body: #"{"auto_evict":true}"#)
            #expect(try switched.json()["auto_evict"] as? Bool == true)
            _ = try await exchange(port: port, .POST, "/api/v1/models/unload", body: #"{"instance_id":"model-a"}"#)
            _ = try await exchange(port: port, .POST, "/v1/chat/completions", body: chatBody(model: "model-a"))
            #expect(host.models.map(\.state) == [.loaded, .notLoaded])
            #expect(try await loadedInstanceIDs(port: port, model: "model-b").isEmpty)
            #expect(host.stats.loadsByModel == ["model-a": 2, "model-b": 1])
        }
    }

    @Test func aClientLeavingDuringALoadLeavesTheLoadToComplete() async throws {
        let models = [SimulatedModel(id: chatModel, state: .notLoaded)]
        let configuration = v04Configuration(name: "jit-gone", models: models, loadTime: .milliseconds(150))
        try await LMStudioSimulator.withRunning(configuration: configuration) { host in
            let connection = try await TestConnection.open(port: host.port)
            connection.send(.POST, "/v1/chat/completions", body: chatBody())
            #expect(await eventually { host.stats.loadsByModel[chatModel] == 1 })
            await connection.close()
            #expect(
                await eventually { (try? await loadedInstanceIDs(port: host.port, model: chatModel)) == [chatModel] }
            )
            #expect(await eventually { host.stats.inProgressByModel[chatModel, default: 0] == 0 })
            #expect(try await exchange(port: host.port, .POST, "/v1/chat/completions", body: chatBody()).status == .ok)
            #expect(host.stats.loadsByModel == [chatModel: 1])
        }
    }
}
