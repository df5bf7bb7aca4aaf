import Testing

@testable import LMStudioSim

/// The 0.4 state machines without sockets: instances and slots, the prompt cache's choice of slot, the response
/// store, and the `parallel=N` model option.
@Suite struct InstancePoolTests {
    typealias Pool = InstancePool<String>

    static func acquire(
        _ pool: inout Pool,
        _ exchangeID: Int,
        model: String = "m",
        instance: String? = nil,
        prompt: String = "",
        parallel: Int = 2
    ) -> Pool.Acquisition {
        pool.acquire(
            modelID: model,
            instanceID: instance,
            parallel: parallel,
            contextLength: 4096,
            exchangeID: exchangeID,
            prompt: Array(prompt.utf8),
            waiter: "w\(exchangeID)"
        )
    }

    @Test func concurrentFirstRequestsEachStartALoadAndLaterOnesShareTheFirstInstance() throws {
        var pool = Pool()
        var serials: [Int] = []
        for exchange in 1...3 {
            guard case .load(let serial, _) = Self.acquire(&pool, exchange) else {
                Issue.record("request \(exchange) should have started a load")
                return
            }
            serials.append(serial)
        }
        #expect(pool.loads == ["m": 3])
        #expect(pool.listing.isEmpty)
        for (exchange, serial) in zip(1...3, serials) {
            let loaded = pool.completeLoad(serial: serial, exchangeID: exchange, prompt: [])
            let grant = try #require(loaded)
            #expect(grant.instanceID == (exchange == 1 ? "m" : "m:\(exchange)"))
        }
        #expect(pool.listing["m"]?.map(\.id) == ["m", "m:2", "m:3"])
        // Later requests go to the first instance, and wait there when it is full.
        guard case .run(let grant) = Self.acquire(&pool, 4) else {
            Issue.record("the first instance has a free slot")
            return
        }
        #expect(grant.instanceID == "m")
        guard case .wait = Self.acquire(&pool, 5) else {
            Issue.record("the first instance is full")
            return
        }
        #expect(pool.waiting == ["m": 1])
        #expect(pool.maxConcurrency == ["m": 4])
        let next = pool.leave(exchangeID: 4, modelID: "m")
        let (waiter, handed) = try #require(next)
        #expect(waiter == "w5" && handed.instanceID == "m")
        #expect(pool.waiting.isEmpty)
        #expect(pool.inProgress == ["m": 4])
    }

    @Test func aLeavingWaiterLosesItsPlaceAndANamedInstanceIsServed() throws {
        var pool = Pool()
        pool.ensureLoaded(modelID: "m", parallel: 1, contextLength: 4096)
        pool.ensureLoaded(modelID: "m", parallel: 1, contextLength: 4096)
        #expect(pool.listing["m"]?.count == 1)
        _ = pool.startLoad(modelID: "m", parallel: 1, contextLength: 8192)
        _ = pool.completeLoad(serial: 2, exchangeID: nil, prompt: [])
        #expect(
            pool.listing["m"] == [
                InstanceListing(id: "m", contextLength: 4096, parallel: 1),
                InstanceListing(id: "m:2", contextLength: 8192, parallel: 1),
            ]
        )
        guard case .run = Self.acquire(&pool, 1, parallel: 1) else { return #expect(Bool(false)) }
        guard case .wait = Self.acquire(&pool, 2, parallel: 1) else { return #expect(Bool(false)) }
        guard case .run(let named) = Self.acquire(&pool, 3, instance: "m:2", parallel: 1) else {
            return #expect(Bool(false))
        }
        #expect(named.instanceID == "m:2")
        let gaveUp = pool.leave(exchangeID: 2, modelID: "m")
        #expect(gaveUp == nil)
        let finished = pool.leave(exchangeID: 1, modelID: "m")
        #expect(finished == nil)
        #expect(pool.inProgress == ["m": 1])
    }

    @Test func unloadingHandsWaitersBackAndMoreSlotsServeThem() throws {
        var pool = Pool()
        pool.ensureLoaded(modelID: "m", parallel: 1, contextLength: 4096)
        _ = Self.acquire(&pool, 1, parallel: 1)
        _ = Self.acquire(&pool, 2, parallel: 1)
        _ = Self.acquire(&pool, 3, parallel: 1)
        let served = pool.setParallel(modelID: "m", 2)
        #expect(served.map(\.0) == ["w2"])
        #expect(pool.listing["m"]?.first?.parallel == 2)
        // Fewer slots never take a busy one away.
        let fewer = pool.setParallel(modelID: "m", 1)
        #expect(fewer.isEmpty)
        #expect(pool.listing["m"]?.first?.parallel == 2)
        let none = pool.unload(instanceID: "m:2")
        #expect(none == nil)
        let waiters = pool.unload(instanceID: "m")
        #expect(waiters == ["w3"])
        #expect(pool.inProgress == ["m": 0])
        #expect(pool.listing.isEmpty)
        // A request that ends on an unloaded instance changes nothing.
        let late = pool.leave(exchangeID: 1, modelID: "m")
        #expect(late == nil)
        #expect(pool.inProgress == ["m": 0])
    }

    @Test func thePromptCacheTakesTheFreeSlotWithTheLongestCommonPrefix() throws {
        var pool = Pool()
        pool.promptCache = true
        pool.ensureLoaded(modelID: "m", parallel: 2, contextLength: 4096)
        let alpha = String(repeating: "a", count: 400)
        let beta = String(repeating: "b", count: 400)
        _ = Self.acquire(&pool, 1, prompt: alpha)
        _ = Self.acquire(&pool, 2, prompt: beta)
        _ = pool.leave(exchangeID: 1, modelID: "m")
        _ = pool.leave(exchangeID: 2, modelID: "m")
        #expect(pool.cacheMisses == 2 && pool.tokensProcessed == 200)
        guard case .run(let grant) = Self.acquire(&pool, 3, prompt: beta + "cc") else { return #expect(Bool(false)) }
        #expect(grant.promptTokens == 101 && grant.reusedTokens == 100 && grant.processedTokens == 1)
        #expect(pool.cacheHits == 1 && pool.tokensReused == 100)
        // Less than half cached is a miss, though the cached part still counts as reused.
        guard case .run(let partial) = Self.acquire(&pool, 4, prompt: String(alpha.prefix(100)) + beta) else {
            return #expect(Bool(false))
        }
        #expect(partial.reusedTokens == 25)
        #expect(pool.cacheMisses == 3)
        pool.resetCounters()
        #expect(pool.cacheHits == 0 && pool.tokensReused == 0 && pool.maxConcurrency == ["m": 2])
    }

    @Test func autoEvictUnloadsOtherJustInTimeModelsOnly() throws {
        var pool = Pool()
        pool.autoEvict = true
        pool.ensureLoaded(modelID: "configured", parallel: 1, contextLength: 4096)
        guard case .load(let first, _) = Self.acquire(&pool, 1, model: "a", parallel: 1) else {
            return #expect(Bool(false))
        }
        _ = pool.completeLoad(serial: first, exchangeID: nil, prompt: [])
        guard case .run = Self.acquire(&pool, 2, model: "a", parallel: 1) else { return #expect(Bool(false)) }
        guard case .wait = Self.acquire(&pool, 3, model: "a", parallel: 1) else { return #expect(Bool(false)) }
        guard case .load(_, let evicted) = Self.acquire(&pool, 4, model: "b") else { return #expect(Bool(false)) }
        #expect(evicted == ["w3"])
        #expect(pool.listing.keys.sorted() == ["configured"])
        #expect(pool.loads == ["a": 1, "b": 1])
    }

    @Test func theResponseStoreKeepsTheNewest() {
        var store = ResponseStore(limit: 2)
        for turn in 1...3 {
            store.store(id: "r\(turn)", .init(model: "m", turn: turn, transcript: []))
        }
        #expect(store.count == 2)
        #expect(store.conversation(id: "r1") == nil)
        #expect(store.conversation(id: "r3")?.turn == 3)
    }

    @Test func readsParallelInTheModelSyntax() throws {
        let model = try SimulatedModel(argument: "qwen/qwen3-4b:parallel=2")
        #expect(model.id == "qwen/qwen3-4b" && model.parallel == 2 && model.state == .loaded)
        let full = try SimulatedModel(argument: "q:2:not-loaded:8192:parallel=1")
        #expect(full.id == "q:2" && full.parallel == 1 && full.maxContextLength == 8192)
        #expect(try SimulatedModel(argument: "q").parallel == 4)
        #expect(throws: ModelArgumentError.self) { try SimulatedModel(argument: "q:parallel=0") }
        #expect(throws: ModelArgumentError.self) { try SimulatedModel(argument: "q:parallel=x") }
    }
}
