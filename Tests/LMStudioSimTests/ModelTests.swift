import Testing

@testable import LMStudioSim

/// The pure parts: model defaults, the command line's model syntax, the admission queue.
@Suite struct ModelTests {
    @Test func derivesDescriptiveFieldsFromTheID() {
        let qwen = SimulatedModel(id: "qwen2.5-7b-instruct")
        #expect(qwen.type == .llm && qwen.state == .loaded && qwen.maxContextLength == 32768)
        #expect(qwen.arch == "qwen2" && qwen.publisher == "lmstudio-community")
        #expect(qwen.compatibilityType == "gguf" && qwen.quantization == "Q4_K_M")
        let mlx = SimulatedModel(id: "mlx-community/Llama-3.2-3B-Instruct-8bit")
        #expect(mlx.publisher == "mlx-community" && mlx.compatibilityType == "mlx" && mlx.quantization == "8bit")
        #expect(mlx.arch == "llama")
        #expect(SimulatedModel(id: "phi-3-mini.Q8_0.gguf").quantization == "Q8_0")
        #expect(SimulatedModel(id: "nomic-embed", type: .embeddings).maxContextLength == 2048)
    }

    @Test func readsTheCommandLineModelSyntax() throws {
        let plain = try SimulatedModel(argument: "qwen2.5-7b-instruct")
        #expect(plain == SimulatedModel(id: "qwen2.5-7b-instruct"))
        let full = try SimulatedModel(argument: "text-embedding-nomic-embed-text-v1.5:embeddings:not-loaded:2048")
        #expect(full.id == "text-embedding-nomic-embed-text-v1.5")
        #expect(full.type == .embeddings && full.state == .notLoaded && full.maxContextLength == 2048)
        let duplicate = try SimulatedModel(argument: "qwen2.5-7b-instruct:2:not-loaded")
        #expect(duplicate.id == "qwen2.5-7b-instruct:2" && duplicate.state == .notLoaded)
        #expect(try SimulatedModel(argument: "model:2").id == "model:2")
        #expect(throws: ModelArgumentError.self) { try SimulatedModel(argument: "x:llm:huge") }
        #expect(throws: ModelArgumentError.self) { try SimulatedModel(argument: ":llm") }
    }

    @Test func admissionQueueServesInArrivalOrder() {
        var queue = AdmissionQueue<String>(limit: 1)
        let admitted = [
            queue.enter(id: 1, waiter: "first"), queue.enter(id: 2, waiter: "second"),
            queue.enter(id: 3, waiter: "third"),
        ]
        #expect(admitted == [true, false, false])
        #expect(queue.waitingCount == 2)
        let next = queue.leave()
        #expect(next == "second")
        #expect(queue.active == 1)
        let cancelled = [queue.cancel(id: 3), queue.cancel(id: 3)]
        #expect(cancelled == [true, false])
        let none = queue.leave()
        #expect(none == nil)
        #expect(queue.active == 0)
        let fourth = queue.enter(id: 4, waiter: "fourth")
        #expect(fourth)
    }

    @Test func admissionQueueWithoutLimitNeverQueues() {
        var queue = AdmissionQueue<String>(limit: 0)
        let admitted = (0..<100).map { queue.enter(id: $0, waiter: "w") }
        #expect(admitted.allSatisfy { $0 })
        #expect(queue.active == 100 && queue.waitingCount == 0)
        let next = queue.leave()
        #expect(next == nil)
        #expect(queue.active == 99)
    }

    @Test func aNewArrivalDoesNotOvertakeTheQueue() {
        var queue = AdmissionQueue<String>(limit: 2)
        let admitted = [
            queue.enter(id: 1, waiter: "a"), queue.enter(id: 2, waiter: "b"), queue.enter(id: 3, waiter: "c"),
        ]
        #expect(admitted == [true, true, false])
        let next = queue.leave()
        #expect(next == "c")
        let late = queue.enter(id: 4, waiter: "d")
        #expect(!late)
    }
}
