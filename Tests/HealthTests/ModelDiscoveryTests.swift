import Balancer
import Testing

@testable import Health

/// How one probe's answers are merged (DESIGN.md 6.1, 6.3, 6.7): details of `/v1/models`, LM Studio 0.4's slots,
/// and answers that contradict each other.
@Suite struct ModelDiscoveryTests {
    let v0 = [
        HostedModel(id: "qwen/qwen3-4b", state: .loaded, type: "llm", arch: "qwen3", quantization: "Q4_K_M"),
        HostedModel(id: "gemma-3-1b", state: .notLoaded, type: "llm"),
    ]

    func v1(_ id: String, slots: Int?, instances: [String] = []) -> HostedModel {
        HostedModel(
            id: id,
            state: slots == nil ? .notLoaded : .loaded,
            publisher: "lmstudio",
            slots: slots,
            loadedInstances: instances.map { LoadedInstance(id: $0, parallel: 1) }
        )
    }

    @Test func rootOfTheOpenAIListIsKeptWhenTheRicherListHasNone() {
        let openAI = [
            HostedModel(id: "qwen/qwen3-4b", ownedBy: "qwen", root: "qwen3-4b"),
            HostedModel(id: "elsewhere", root: "x"),
        ]
        let discovery = ModelDiscovery(listed: v0, openAI: openAI, apiV1: .notServed)
        #expect(discovery.models.map(\.root) == ["qwen3-4b", nil])
        #expect(discovery.models[0].ownedBy == "qwen")
        #expect(discovery.models[0].arch == "qwen3", "the richer list's own details stay")
        #expect(discovery.models.map(\.id) == ["qwen/qwen3-4b", "gemma-3-1b"], "ids only in /v1/models are not added")
        #expect(discovery.api == .v0_3)
        #expect(discovery.issues.isEmpty)
    }

    @Test func lmStudio04ListDecidesStateAndSlotsAndTheOlderOneFillsDetails() {
        let current = [v1("qwen/qwen3-4b", slots: 4), v1("gemma-3-1b", slots: nil)]
        let discovery = ModelDiscovery(listed: v0, openAI: nil, apiV1: .models(current, issues: []))
        #expect(discovery.api == .v0_4)
        #expect(discovery.issues.isEmpty)
        #expect(discovery.models.map(\.id) == ["qwen/qwen3-4b", "gemma-3-1b"])
        #expect(discovery.models.map(\.slots) == [4, nil])
        #expect(discovery.models[0].arch == "qwen3" && discovery.models[0].publisher == "lmstudio")
    }

    @Test func duplicateInstanceOfTheOlderListIsPartOfItsModel() {
        let listed = v0 + [HostedModel(id: "qwen/qwen3-4b:2", state: .loaded)]
        let current = [
            v1("qwen/qwen3-4b", slots: 8, instances: ["qwen/qwen3-4b", "qwen/qwen3-4b:2"]),
            v1("gemma-3-1b", slots: nil),
        ]
        let discovery = ModelDiscovery(listed: listed, openAI: nil, apiV1: .models(current, issues: []))
        #expect(discovery.models.map(\.id) == ["qwen/qwen3-4b", "gemma-3-1b"])
        #expect(discovery.models[0].slots == 8)
        #expect(discovery.issues.isEmpty)
    }

    @Test func contradictionsKeepTheHostUsableAndAreReported() {
        let current = [v1("qwen/qwen3-4b", slots: nil), v1("new-model", slots: 2)]
        let discovery = ModelDiscovery(listed: v0, openAI: nil, apiV1: .models(current, issues: []))
        #expect(discovery.models.map(\.id) == ["qwen/qwen3-4b", "gemma-3-1b", "new-model"])
        #expect(discovery.models[0].state == .notLoaded, "/api/v1/models wins")
        #expect(discovery.models[1].state == .notLoaded && discovery.models[1].slots == nil)
        #expect(
            discovery.issues == [
                "qwen/qwen3-4b is loaded in /api/v0/models but not-loaded in /api/v1/models, which is used",
                "gemma-3-1b is in /api/v0/models but not in /api/v1/models; slots unknown",
                "new-model is in /api/v1/models but not in /api/v0/models",
            ]
        )
        #expect(discovery.issueSummary?.contains("; gemma-3-1b is in") == true)
    }

    @Test func listWithoutStateIsNotContradictedByTheSlots() {
        // A host without /api/v0/models: the ids of /v1/models stand in, with no state to contradict.
        let listed = [HostedModel(id: "qwen/qwen3-4b"), HostedModel(id: "gemma-3-1b")]
        let current = [v1("qwen/qwen3-4b", slots: 4)]
        let discovery = ModelDiscovery(listed: listed, openAI: listed, apiV1: .models(current, issues: []))
        #expect(discovery.issues.isEmpty)
        #expect(discovery.models.map(\.state) == [.loaded, .unknown])
    }

    @Test func failedAnswerKeepsTheOlderListWithTheReason() {
        let discovery = ModelDiscovery(
            listed: v0,
            openAI: nil,
            apiV1: .failed("the answer of /api/v1/models is larger than 10 MB")
        )
        #expect(discovery.models == v0)
        #expect(discovery.api == nil)
        #expect(discovery.issues == ["the answer of /api/v1/models is larger than 10 MB; slots unknown"])
    }

    @Test func parseIssuesAreKeptAndManyAreCounted() {
        let issues = (1...8).map { "m\($0): parallel is not a number; counted as 1" }
        let discovery = ModelDiscovery(listed: [], openAI: nil, apiV1: .models([v1("m", slots: 1)], issues: issues))
        #expect(discovery.issues.count == ModelDiscovery.maximumIssues + 1)
        #expect(discovery.issues.last == "3 more")
    }

    @Test func hostThatIsNotLMStudioIsNotAskedAndHasNoGeneration() {
        let discovery = ModelDiscovery(listed: v0, openAI: nil, apiV1: .notAsked)
        #expect(discovery.api == nil && discovery.issues.isEmpty && discovery.models == v0)
    }
}
