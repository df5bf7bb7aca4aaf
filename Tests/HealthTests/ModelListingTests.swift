import Balancer
import Testing

@testable import Health

@Suite struct ModelListingTests {
    private func parse(_ json: String, from path: String = "/api/v0/models") -> ModelListing {
        ModelListing(parsing: Array(json.utf8), from: path)
    }

    @Test func parsesLMStudioApiV0ListWithStateAndDetails() throws {
        let listing = parse(
            """
            {"object":"list","data":[
              {"id":"qwen2-vl-7b-instruct","object":"model","type":"vlm","publisher":"mlx-community",
               "arch":"qwen2_vl","compatibility_type":"mlx","quantization":"4bit","state":"not-loaded",
               "max_context_length":32768},
              {"id":"meta-llama-3.1-8b-instruct","object":"model","type":"llm","publisher":"lmstudio-community",
               "arch":"llama","compatibility_type":"gguf","quantization":"Q4_K_M","state":"loaded",
               "max_context_length":131072}]}
            """
        )
        guard case .models(let models) = listing else {
            Issue.record("expected models, got \(listing)")
            return
        }
        #expect(
            models == [
                HostedModel(
                    id: "qwen2-vl-7b-instruct",
                    state: .notLoaded,
                    type: "vlm",
                    maxContextLength: 32768,
                    publisher: "mlx-community",
                    arch: "qwen2_vl",
                    compatibilityType: "mlx",
                    quantization: "4bit"
                ),
                HostedModel(
                    id: "meta-llama-3.1-8b-instruct",
                    state: .loaded,
                    type: "llm",
                    maxContextLength: 131072,
                    publisher: "lmstudio-community",
                    arch: "llama",
                    compatibilityType: "gguf",
                    quantization: "Q4_K_M"
                ),
            ]
        )
    }

    @Test func parsesOpenAIListWithUnknownState() {
        // Exactly what LM Studio answers on /v1/models (lmstudio-real.md).
        let body =
            #"{"data":[{"id":"qwen2.5-7b-instruct","object":"model","owned_by":"organization_owner"}],"#
            + #""object":"list"}"#
        let listing = parse(body, from: "/v1/models")
        #expect(
            listing == .models([HostedModel(id: "qwen2.5-7b-instruct", state: .unknown, ownedBy: "organization_owner")])
        )
    }

    @Test func parsesReferenceOpenAIShapeWithRootAndContextLength() {
        let listing = parse(
            """
            {"object":"list","data":[{"id":"TheBloke/phi-3-mini-4k-instruct-GGUF/phi-3-mini-4k-instruct.Q4_K_M.gguf",
              "object":"model","created":1705334400,"owned_by":"TheBloke","permission":[],"root":"phi-3-mini",
              "parent":null,"max_context_length":4096}]}
            """,
            from: "/v1/models"
        )
        #expect(
            listing
                == .models([
                    HostedModel(
                        id: "TheBloke/phi-3-mini-4k-instruct-GGUF/phi-3-mini-4k-instruct.Q4_K_M.gguf",
                        maxContextLength: 4096,
                        ownedBy: "TheBloke",
                        root: "phi-3-mini"
                    )
                ])
        )
    }

    @Test func parsesReferenceLegacyModelsShapeWithEngineContextLength() {
        let listing = parse(
            """
            {"models":[
              {"id":"phi-3-mini","object":"model","owned_by":"microsoft","permission":[],
               "engines":{"chat_completions":{"context_length":4096,"max_tokens":4096,"tokenizer":"phi-3"}}},
              {"id":"gemma-2b","object":"model","owned_by":"google","permission":[],
               "engines":{"completions":{"context_length":8192,"max_tokens":8192,"tokenizer":"gemma"}}},
              {"id":"nomic-embed-text","object":"model","owned_by":"nomic-ai",
               "engines":{"embeddings":{"context_length":2048}}}]}
            """
        )
        #expect(
            listing
                == .models([
                    HostedModel(id: "phi-3-mini", maxContextLength: 4096, ownedBy: "microsoft"),
                    HostedModel(id: "gemma-2b", maxContextLength: 8192, ownedBy: "google"),
                    HostedModel(
                        id: "nomic-embed-text",
                        type: "embeddings",
                        maxContextLength: 2048,
                        ownedBy: "nomic-ai"
                    ),
                ])
        )
    }

    @Test func parsesLMStudioApiV1ModelsWithLoadedInstances() {
        let listing = parse(
            """
            {"models":[{"type":"llm","publisher":"qwen","key":"qwen/qwen3-4b","display_name":"Qwen3 4B",
              "architecture":"qwen3","quantization":{"name":"Q4_K_M","bits_per_weight":4.8},
              "loaded_instances":[{"id":"qwen/qwen3-4b","config":{"context_length":4096,"parallel":4}}],
              "max_context_length":32768,"format":"gguf"},
             {"type":"embeddings","publisher":"nomic-ai","key":"nomic-embed","loaded_instances":[],
              "max_context_length":2048,"format":"gguf"}]}
            """,
            from: "/api/v1/models"
        )
        #expect(
            listing
                == .models([
                    HostedModel(
                        id: "qwen/qwen3-4b",
                        state: .loaded,
                        type: "llm",
                        maxContextLength: 32768,
                        publisher: "qwen",
                        arch: "qwen3",
                        compatibilityType: "gguf",
                        quantization: "Q4_K_M",
                        displayName: "Qwen3 4B",
                        slots: 4,
                        loadedInstances: [LoadedInstance(id: "qwen/qwen3-4b", contextLength: 4096, parallel: 4)]
                    ),
                    HostedModel(
                        id: "nomic-embed",
                        state: .notLoaded,
                        type: "embeddings",
                        maxContextLength: 2048,
                        publisher: "nomic-ai",
                        compatibilityType: "gguf",
                        loadedInstances: []
                    ),
                ])
        )
    }

    @Test func prefersTheDataArrayWhenBothShapesArePresent() {
        // olla's own /api/v0/models carries both keys, so an olla in front of another olla works.
        let listing = parse(#"{"object":"list","data":[{"id":"a","state":"loaded"}],"models":[{"id":"b"}]}"#)
        #expect(listing == .models([HostedModel(id: "a", state: .loaded)]))
    }

    @Test func emptyListIsAListNotAnError() {
        #expect(parse(#"{"object":"list","data":[]}"#) == .models([]))
    }

    @Test func recognisesLMStudioUnknownEndpointAnswer() {
        #expect(parse(#"{"error":"Unexpected endpoint or method. (GET /api/v0/models)"}"#) == .unknownEndpoint)
    }

    @Test func otherErrorBodyIsMalformedWithItsMessage() {
        let listing = parse(#"{"error":{"message":"Invalid API key","type":"invalid_request_error"}}"#)
        #expect(listing == .malformed("model list from /api/v0/models is an error: Invalid API key"))
    }

    @Test(arguments: [
        (#"{"object":"list","data":[{"id":"a"},"#, "model list from /api/v0/models is not valid JSON"),
        ("", "model list from /api/v0/models is not valid JSON"),
        ("<html>OK</html>", "model list from /api/v0/models is not valid JSON"),
        ("[1,2]", "model list from /api/v0/models is not a JSON object"),
        (#"{"object":"list"}"#, "model list from /api/v0/models has no data array"),
        (#"{"data":{"id":"a"}}"#, "model list from /api/v0/models has no data array"),
        (
            #"{"data":[{"id":"a"},{"object":"model"}]}"#,
            "model list from /api/v0/models has an entry without an id (entry 2)"
        ),
        (#"{"data":["a"]}"#, "model list from /api/v0/models has an entry without an id (entry 1)"),
        (#"{"data":[{"id":""}]}"#, "model list from /api/v0/models has an entry without an id (entry 1)"),
    ])
    func rejectsBodiesThatAreNotModelLists(body: String, reason: String) {
        #expect(parse(body) == .malformed(reason))
    }

    @Test func ignoresWrongTypesOfOptionalFields() {
        let listing = parse(#"{"data":[{"id":"a","state":"warming","max_context_length":"big","type":7}]}"#)
        #expect(listing == .models([HostedModel(id: "a", state: .unknown)]))
    }
}
