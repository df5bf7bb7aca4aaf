import Foundation
import LMStudioSim
import NIOHTTP1
import Testing

/// The five endpoints answer in LM Studio's shapes, naming the host that answered.
@Suite struct EndpointTests {
    static let models = [
        SimulatedModel(id: chatModel),
        SimulatedModel(id: "text-embedding-nomic-embed-text-v1.5", type: .embeddings, state: .notLoaded),
        SimulatedModel(id: "lmstudio-community/qwen2-vl-7b-instruct", type: .vlm, state: .notLoaded),
    ]

    func withHost<T>(
        _ configuration: SimulatorConfiguration = SimulatorConfiguration(name: "sim-a", models: models),
        _ body: (LMStudioSimulator) async throws -> T
    ) async throws -> T {
        try await LMStudioSimulator.withRunning(configuration: configuration, body)
    }

    @Test func listsModelsInLMStudiosOpenAIShape() async throws {
        try await withHost { host in
            let response = try await exchange(port: host.port, .GET, "/v1/models")
            #expect(response.status == .ok)
            #expect(response.headers["X-Sim-Host"] == ["sim-a"])
            let json = try response.json()
            #expect(json["object"] as? String == "list")
            let data = try #require(json["data"] as? [[String: Any]])
            #expect(data.map { $0["id"] as? String } == Self.models.map(\.id))
            #expect(data.allSatisfy { $0["object"] as? String == "model" })
            #expect(data.allSatisfy { $0["owned_by"] as? String == "organization_owner" })
        }
    }

    @Test func listsModelsWithTypeStateAndContextOnAPIv0() async throws {
        try await withHost { host in
            let response = try await exchange(port: host.port, .GET, "/api/v0/models")
            let data = try #require(try response.json()["data"] as? [[String: Any]])
            #expect(data.count == 3)
            let embedding = try #require(data.first { $0["id"] as? String == "text-embedding-nomic-embed-text-v1.5" })
            #expect(embedding["type"] as? String == "embeddings")
            #expect(embedding["state"] as? String == "not-loaded")
            #expect(embedding["max_context_length"] as? Int == 2048)
            #expect(embedding["publisher"] as? String == "nomic-ai")
            #expect(embedding["arch"] as? String == "nomic-bert")
            let vision = try #require(data.first { $0["type"] as? String == "vlm" })
            #expect(vision["publisher"] as? String == "lmstudio-community")
            #expect(vision["arch"] as? String == "qwen2_vl")
            let chat = try #require(data.first { $0["id"] as? String == chatModel })
            #expect(chat["state"] as? String == "loaded")
            #expect(chat["compatibility_type"] as? String == "gguf")
            #expect(chat["quantization"] as? String == "Q4_K_M")
            #expect(chat["object"] as? String == "model")
        }
    }

    @Test func answersChatCompletionNamingHostAndModel() async throws {
        try await withHost { host in
            let response = try await exchange(port: host.port, .POST, "/v1/chat/completions", body: chatBody())
            #expect(response.status == .ok)
            #expect(response.headers["X-Sim-Host"] == ["sim-a"])
            #expect(response.headers["Content-Type"].first?.hasPrefix("application/json") == true)
            let json = try response.json()
            #expect(json["object"] as? String == "chat.completion")
            #expect(json["model"] as? String == chatModel)
            #expect(json["system_fingerprint"] as? String == "sim-a")
            let choice = try #require((json["choices"] as? [[String: Any]])?.first)
            let message = try #require(choice["message"] as? [String: Any])
            #expect(message["role"] as? String == "assistant")
            #expect(
                message["content"] as? String
                    == "Hello from sim-a. token1 token2 token3 token4 token5 token6 token7 token8"
            )
            #expect(choice["finish_reason"] as? String == "stop")
            let usage = try #require(json["usage"] as? [String: Any])
            #expect(usage["completion_tokens"] as? Int == 8)
            #expect(
                usage["total_tokens"] as? Int
                    == (usage["prompt_tokens"] as? Int ?? -100) + (usage["completion_tokens"] as? Int ?? -100)
            )
        }
    }

    @Test func smallerMaxTokensOrNPredictShortensTheAnswer() async throws {
        try await withHost { host in
            let short = try await exchange(port: host.port, .POST, "/v1/chat/completions", body: chatBody(maxTokens: 2))
            let choice = try #require((try short.json()["choices"] as? [[String: Any]])?.first)
            #expect((choice["message"] as? [String: Any])?["content"] as? String == "Hello from sim-a. token1 token2")
            let body = #"{"model":"\#(chatModel)","prompt":"Once","n_predict":3,"max_tokens":500}"#
            let completion = try await exchange(port: host.port, .POST, "/v1/completions", body: body)
            let json = try completion.json()
            #expect(json["object"] as? String == "text_completion")
            #expect(json["model"] as? String == chatModel)
            #expect(json["system_fingerprint"] as? String == "sim-a")
            let text = (json["choices"] as? [[String: Any]])?.first?["text"] as? String
            #expect(text == "Hello from sim-a. token1 token2 token3")
            #expect((json["usage"] as? [String: Any])?["completion_tokens"] as? Int == 3)
        }
    }

    @Test func answersEmbeddingsWithSmallDeterministicVectors() async throws {
        try await withHost { host in
            let body = #"{"model":"text-embedding-nomic-embed-text-v1.5","input":["alpha","beta","alpha"]}"#
            let first = try await exchange(port: host.port, .POST, "/v1/embeddings", body: body)
            let second = try await exchange(port: host.port, .POST, "/v1/embeddings", body: body)
            #expect(first.status == .ok)
            let json = try first.json()
            #expect(json["object"] as? String == "list")
            #expect(json["model"] as? String == "text-embedding-nomic-embed-text-v1.5")
            let data = try #require(json["data"] as? [[String: Any]])
            #expect(data.count == 3)
            let vectors = data.map { ($0["embedding"] as? [Double]) ?? [] }
            #expect(vectors.allSatisfy { $0.count == 8 && $0.allSatisfy { (-1...1).contains($0) } })
            #expect(vectors[0] == vectors[2])
            #expect(vectors[0] != vectors[1])
            #expect(data.map { $0["index"] as? Int } == [0, 1, 2])
            #expect(first.body == second.body)
        }
    }

    @Test func answersAModelThatIsNotLoadedAsJustInTimeLoadingWould() async throws {
        try await withHost { host in
            let body = chatBody(model: "lmstudio-community/qwen2-vl-7b-instruct")
            let response = try await exchange(port: host.port, .POST, "/v1/chat/completions", body: body)
            #expect(response.status == .ok)
            #expect(try response.json()["model"] as? String == "lmstudio-community/qwen2-vl-7b-instruct")
        }
    }

    @Test func rejectsUnknownModelAndInvalidJSONWithOpenAIErrorEnvelope() async throws {
        try await withHost { host in
            let unknown = try await exchange(
                port: host.port,
                .POST,
                "/v1/chat/completions",
                body: chatBody(model: "gpt-9")
            )
            #expect(unknown.status == .badRequest)
            let error = try #require(try unknown.json()["error"] as? [String: Any])
            #expect((error["message"] as? String)?.contains("\"gpt-9\"") == true)
            #expect(error["type"] as? String == "invalid_request_error")
            #expect(error["param"] as? String == "model")
            #expect(unknown.headers["X-Sim-Host"] == ["sim-a"])

            let invalid = try await exchange(port: host.port, .POST, "/v1/embeddings", body: #"{"model": "#)
            #expect(invalid.status == .badRequest)
            #expect((try invalid.json()["error"] as? [String: Any])?["message"] is String)

            let wrongType = try await exchange(port: host.port, .POST, "/v1/completions", body: #"{"model":42}"#)
            #expect(wrongType.status == .badRequest)
        }
    }

    @Test func noModelsLoadedFaultAnswersLMStudiosExact400() async throws {
        try await withHost { host in
            try await host.updateFaults { $0.noModelsLoaded = true }
            let response = try await exchange(port: host.port, .POST, "/v1/chat/completions", body: chatBody())
            #expect(response.status == .badRequest)
            let expected =
                #"{"error":{"message":"No models loaded. Please load a model in the developer page or use "#
                + #"the 'lms load' command.","type":"invalid_request_error","param":"model","code":null}}"#
            #expect(response.body == expected)
            try await host.updateFaults { $0.noModelsLoaded = false }
            let after = try await exchange(port: host.port, .POST, "/v1/chat/completions", body: chatBody())
            #expect(after.status == .ok)
        }
    }

    @Test func unknownPathsAndMethodsAnswer200WithLMStudiosError() async throws {
        try await withHost { host in
            let root = try await exchange(port: host.port, .GET, "/")
            #expect(root.status == .ok)
            #expect(root.body == #"{"error":"Unexpected endpoint or method. (GET /)"}"#)
            let path = try await exchange(port: host.port, .GET, "/v1/responses?x=1")
            #expect(path.body == #"{"error":"Unexpected endpoint or method. (GET /v1/responses)"}"#)
            let method = try await exchange(port: host.port, .GET, "/v1/chat/completions")
            #expect(method.status == .ok)
            #expect(method.body == #"{"error":"Unexpected endpoint or method. (GET /v1/chat/completions)"}"#)
            #expect(host.stats.requestsByRoute["other"] == 3)
        }
    }

    @Test func requiresTheBearerTokenWhenOneIsConfigured() async throws {
        let configuration = SimulatorConfiguration(name: "locked", authToken: "s3cret")
        try await withHost(configuration) { host in
            let missing = try await exchange(port: host.port, .GET, "/v1/models")
            #expect(missing.status == .unauthorized)
            #expect(try missing.json()["error"] is [String: Any])
            let wrong = try await exchange(
                port: host.port,
                .POST,
                "/v1/chat/completions",
                headers: [("Authorization", "Bearer nope")],
                body: chatBody()
            )
            #expect(wrong.status == .unauthorized)
            let right = try await exchange(
                port: host.port,
                .GET,
                "/v1/models",
                headers: [("Authorization", "Bearer s3cret")]
            )
            #expect(right.status == .ok)
            let control = try await exchange(port: host.port, .GET, "/_sim/stats")
            #expect(control.status == .ok)
        }
    }

    @Test func keepsConnectionsAliveAndAnswersPipelinedRequestsInOrder() async throws {
        try await withHost { host in
            let connection = try await TestConnection.open(port: host.port)
            connection.send(.GET, "/v1/models")
            connection.send(.POST, "/v1/chat/completions", body: chatBody(maxTokens: 1))
            connection.send(.GET, "/nowhere")
            let first = try await connection.response()
            let second = try await connection.response()
            let third = try await connection.response()
            #expect(try first.json()["object"] as? String == "list")
            #expect(try second.json()["object"] as? String == "chat.completion")
            #expect(third.body.contains("GET /nowhere"))
            #expect(!connection.isClosed)
            await connection.close()
            #expect(host.stats.connectionsAccepted == 1)
            #expect(host.stats.requests == 3)
            #expect(host.stats.completed == 3)
        }
    }

    @Test func escapesHostNameAndModelIDInJSON() async throws {
        let name = #"sim "quoted" \ back"#
        let model = SimulatedModel(id: #"odd"model\id"#)
        try await withHost(SimulatorConfiguration(name: name, models: [model])) { host in
            let body = #"{"model":"odd\"model\\id","stream":false}"#
            let response = try await exchange(port: host.port, .POST, "/v1/chat/completions", body: body)
            let json = try response.json()
            #expect(json["model"] as? String == model.id)
            #expect(json["system_fingerprint"] as? String == name)
            let listed = try await exchange(port: host.port, .GET, "/v1/models")
            #expect(((try listed.json()["data"] as? [[String: Any]])?.first?["id"] as? String) == model.id)
            let streamBody = #"{"model":"odd\"model\\id","stream":true}"#
            let streamed = try await exchange(port: host.port, .POST, "/v1/chat/completions", body: streamBody)
            let chunks = streamed.events.dropLast().compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.data.utf8)) as? [String: Any]
            }
            #expect(chunks.count == 10)
            #expect(
                chunks.allSatisfy { $0["model"] as? String == model.id && $0["system_fingerprint"] as? String == name }
            )
        }
    }

    @Test func answers413ToABodyOverTheLimit() async throws {
        try await withHost(SimulatorConfiguration(name: "small", maxBodySize: 1024)) { host in
            let big = #"{"model":"\#(chatModel)","pad":"\#(String(repeating: "x", count: 4096))"}"#
            let response = try await exchange(port: host.port, .POST, "/v1/chat/completions", body: big)
            #expect(response.status == .payloadTooLarge)
        }
    }
}
