import Balancer
import Testing

@testable import Health

/// LM Studio 0.4's `/api/v1/models` (DESIGN.md 6.7): slots from `loaded_instances`, and every way the answer
/// can be wrong without the host becoming unusable.
@Suite struct APIv1ModelsTests {
    private func parse(_ json: String) -> ModelListing.Parsed {
        ModelListing.parse(Array(json.utf8), from: "/api/v1/models")
    }

    private func models(_ json: String) -> [HostedModel] {
        if case .models(let models) = parse(json).listing { return models }
        Issue.record("not a model list: \(parse(json).listing)")
        return []
    }

    /// One model entry with the given instances.
    private func entry(_ key: String, instances: String) -> String {
        #"{"models":[{"type":"llm","publisher":"qwen","key":"\#(key)","loaded_instances":[\#(instances)]}]}"#
    }

    @Test func slotsAreTheSumOfTheInstancesParallel() {
        let json = entry(
            "qwen/qwen3-4b",
            instances: #"""
                {"id":"qwen/qwen3-4b","config":{"context_length":4096,"parallel":4}},
                {"id":"qwen/qwen3-4b:2","config":{"context_length":8192,"parallel":2}}
                """#
        )
        let parsed = parse(json)
        #expect(parsed.isModelsArray)
        #expect(parsed.issues.isEmpty)
        let model = models(json)[0]
        #expect(model.state == .loaded)
        #expect(model.slots == 6, "the :2 instance is the same model; its slots count")
        #expect(model.loadedInstances?.map(\.id) == ["qwen/qwen3-4b", "qwen/qwen3-4b:2"])
        #expect(model.loadedInstances?.map(\.contextLength) == [4096, 8192])
    }

    @Test func instanceWithoutParallelCountsOne() {
        let json = entry(
            "nomic-embed",
            instances: #"{"id":"nomic-embed","config":{"context_length":2048}},{"id":"nomic-embed:2"}"#
        )
        #expect(models(json)[0].slots == 2)
        #expect(parse(json).issues.isEmpty)
    }

    @Test func modelWithoutInstancesIsNotLoadedAndHasNoSlots() {
        let model = models(entry("m", instances: ""))[0]
        #expect(model.state == .notLoaded)
        #expect(model.slots == nil)
        #expect(ModelSlots.capacity(for: model) == ModelSlots.loading)
    }

    @Test(arguments: [
        ("-3", 1, "parallel -3 is not a positive integer; counted as 1"),
        ("0", 1, "parallel 0 is not a positive integer; counted as 1"),
        ("2.5", 1, "parallel 2.5 is not a positive integer; counted as 1"),
        ("\"4\"", 1, "parallel is not a number; counted as 1"),
        ("true", 1, "parallel is not a number; counted as 1"),
        ("1025", 1024, "parallel 1025 is over 1024; counted as 1024"),
        ("1e300", 1024, "is over 1024; counted as 1024"),
        ("1024", 1024, nil),
        ("null", 1, nil),
    ])
    func parallelThatIsNotAPlausibleCountIsClampedWithAnIssue(value: String, slots: Int, issue: String?) {
        let json = entry("m", instances: #"{"id":"m","config":{"parallel":\#(value)}}"#)
        #expect(models(json)[0].slots == slots)
        let issues = parse(json).issues
        if let issue {
            #expect(issues.count == 1 && issues[0].hasPrefix("m: ") && issues[0].contains(issue), "\(issues)")
        } else {
            #expect(issues.isEmpty)
        }
    }

    @Test func instanceThatIsNotAnObjectIsLeftOutButTheModelStaysLoaded() {
        let json = entry("m", instances: #""m", 7"#)
        let model = models(json)[0]
        #expect(model.state == .loaded)
        #expect(model.slots == 1)
        #expect(parse(json).issues.count == 2)
    }

    @Test func keepsTheDescriptionOfTheModel() {
        let json = """
            {"models":[{"type":"llm","publisher":"qwen","key":"qwen/qwen3-4b","display_name":"Qwen3 4B",
              "params_string":"4B","size_bytes":2497281312,"loaded_instances":[],
              "capabilities":{"vision":false,"trained_for_tool_use":true,"context":"n/a","count":3}}]}
            """
        let model = models(json)[0]
        #expect(model.displayName == "Qwen3 4B")
        #expect(model.paramsString == "4B")
        #expect(model.sizeBytes == 2_497_281_312)
        #expect(model.capabilities == ["vision": false, "trained_for_tool_use": true], "flags only")
    }

    @Test func lmStudio03AnswerIsTheUnknownEndpoint() {
        let parsed = parse(#"{"error":"Unexpected endpoint or method. (GET /api/v1/models)"}"#)
        #expect(parsed.listing == .unknownEndpoint)
    }

    @Test(arguments: [
        (#"{"models":[{"key":"a","loaded_instances":[]}"#, "is not valid JSON"),
        (#"{"models":{"key":"a"}}"#, "has no data array"),
        (#"{"models":[{"display_name":"no key"}]}"#, "has an entry without an id (entry 1)"),
        ("[]", "is not a JSON object"),
    ])
    func malformedAnswerSaysWhy(body: String, reason: String) {
        guard case .malformed(let text) = parse(body).listing else {
            Issue.record("expected malformed")
            return
        }
        #expect(text == "model list from /api/v1/models \(reason)")
    }
}
