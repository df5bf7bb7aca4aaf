import Testing

@testable import Balancer

@Suite struct ModelIndexTests {
    let phi = "TheBloke/phi-3-mini-4k-instruct-GGUF/phi-3-mini-4k-instruct.Q4_K_M.gguf"

    func names(_ resolution: ModelResolution) -> [String] {
        guard case .found(let set) = resolution else { return [] }
        return set.placements.map { "\($0.endpoint.name)=\($0.modelID)" }
    }

    @Test func exactIdFindsEveryHostThatListsIt() {
        let table = healthyTable(
            [endpoint("a"), endpoint("b"), endpoint("c")],
            models: ["a": [HostedModel(id: "qwen")], "b": [HostedModel(id: "llama")], "c": [HostedModel(id: "qwen")]]
        )
        #expect(names(table.snapshot.models.resolve("qwen")) == ["a=qwen", "c=qwen"])
        #expect(names(table.snapshot.models.resolve("llama")) == ["b=llama"])
    }

    @Test func unknownModelIsNotFound() {
        let table = healthyTable([endpoint("a")], models: ["a": [HostedModel(id: "qwen")]])
        guard case .notFound = table.snapshot.models.resolve("mistral") else {
            Issue.record("expected notFound")
            return
        }
    }

    @Test func aliasLeadsToEachHostsOwnId() {
        let table = healthyTable(
            [endpoint("a"), endpoint("b")],
            models: ["a": [HostedModel(id: "phi-3-mini")], "b": [HostedModel(id: "microsoft/phi-3-mini-4k-instruct")]],
            aliases: [ModelAlias(name: "phi", targets: ["phi-3-mini", "microsoft/phi-3-mini-4k-instruct"])]
        )
        #expect(names(table.snapshot.models.resolve("phi")) == ["a=phi-3-mini", "b=microsoft/phi-3-mini-4k-instruct"])
        #expect(table.snapshot.models.entry(id: "phi-3-mini")?.aliases == ["phi"])
    }

    @Test func exactIdWinsOverAlias() {
        let table = healthyTable(
            [endpoint("a"), endpoint("b")],
            models: ["a": [HostedModel(id: "phi")], "b": [HostedModel(id: "phi-3-mini")]],
            aliases: [ModelAlias(name: "phi", targets: ["phi-3-mini"])]
        )
        #expect(names(table.snapshot.models.resolve("phi")) == ["a=phi"])
    }

    @Test func caseInsensitiveIdMatches() {
        let table = healthyTable([endpoint("a")], models: ["a": [HostedModel(id: "Qwen2.5-7B-Instruct")]])
        #expect(names(table.snapshot.models.resolve("qwen2.5-7b-instruct")) == ["a=Qwen2.5-7B-Instruct"])
    }

    @Test func shortFormsMatch() {
        let table = healthyTable(
            [endpoint("a"), endpoint("b")],
            models: [
                "a": [HostedModel(id: phi), HostedModel(id: "lmstudio-community/gemma-2b", root: "gemma")],
                "b": [HostedModel(id: "qwen/qwen3-4b")],
            ]
        )
        let index = table.snapshot.models
        #expect(names(index.resolve("phi-3-mini-4k-instruct")) == ["a=\(phi)"])
        #expect(names(index.resolve("phi-3-mini-4k-instruct.Q4_K_M")) == ["a=\(phi)"])
        #expect(names(index.resolve("qwen3-4b")) == ["b=qwen/qwen3-4b"])
        #expect(names(index.resolve("gemma")) == ["a=lmstudio-community/gemma-2b"])
        #expect(names(index.resolve("GEMMA-2B")) == ["a=lmstudio-community/gemma-2b"])
    }

    @Test func duplicateInstancesAreOneModel() {
        let table = healthyTable(
            [endpoint("a"), endpoint("b")],
            models: ["a": [HostedModel(id: "qwen:2")], "b": [HostedModel(id: "qwen:3")]]
        )
        #expect(names(table.snapshot.models.resolve("qwen")) == ["a=qwen:2", "b=qwen:3"])
        #expect(names(table.snapshot.models.resolve("qwen:3")) == ["b=qwen:3"])
    }

    @Test func shortFormOfTwoModelsIsAmbiguous() {
        let table = healthyTable(
            [endpoint("a"), endpoint("b")],
            models: ["a": [HostedModel(id: "qwen/qwen3-4b")], "b": [HostedModel(id: "lmstudio-community/qwen3-4b")]]
        )
        guard case .ambiguous(let ids) = table.snapshot.models.resolve("qwen3-4b") else {
            Issue.record("expected ambiguous")
            return
        }
        #expect(ids == ["lmstudio-community/qwen3-4b", "qwen/qwen3-4b"])
    }

    @Test func modelsOfAHostThatGoesDownStayKnown() {
        let table = healthyTable([endpoint("a")], models: ["a": [HostedModel(id: "qwen")]])
        table.setStatus(.offline, of: table.snapshot.endpoints[0])
        #expect(names(table.snapshot.models.resolve("qwen")) == ["a=qwen"])
        #expect(table.choose("qwen") == nil)
    }

    @Test func loadedOnAnyHostMergesDetails() {
        let table = healthyTable(
            [endpoint("a"), endpoint("b")],
            models: [
                "a": [HostedModel(id: "m", state: .notLoaded, type: "llm")],
                "b": [HostedModel(id: "m", state: .loaded, maxContextLength: 4096)],
            ]
        )
        let entry = table.snapshot.models.entry(id: "m")
        #expect(entry?.details.state == .loaded)
        #expect(entry?.details.type == "llm")
        #expect(entry?.details.maxContextLength == 4096)
    }
}
