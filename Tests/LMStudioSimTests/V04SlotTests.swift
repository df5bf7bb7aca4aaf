import Foundation
import LMStudioSim
import NIOHTTP1
import Testing

/// LM Studio 0.4's slots: `parallel` requests per instance at once, the rest waiting inside the host, and the
/// prompt cache of each slot.
@Suite struct V04SlotTests {
    @Test func parallelBoundsConcurrencyAndTheRestWaitInsideTheHost() async throws {
        let configuration = v04Configuration(
            name: "slots",
            models: [SimulatedModel(id: chatModel, parallel: 2)],
            tokensPerAnswer: 10,
            tokenDelay: .milliseconds(100)
        )
        try await LMStudioSimulator.withRunning(configuration: configuration) { host in
            let port = host.port
            let connections = try await (0..<5).asyncMap { _ in try await TestConnection.open(port: port) }
            for connection in connections {
                connection.send(.POST, "/v1/chat/completions", body: chatBody(stream: true))
            }
            #expect(
                await eventually {
                    host.stats.inProgressByModel[chatModel] == 2 && host.stats.waitingByModel[chatModel] == 3
                }
            )
            // Waiting inside the host is unseen by a router: no response head yet for three of them.
            #expect(connections.filter { $0.hasSeenHead }.count <= 2)
            let stats = try await simStats(port: port)
            #expect(stats["in_progress_by_model"] as? [String: Int] == [chatModel: 2])
            #expect(stats["waiting_by_model"] as? [String: Int] == [chatModel: 3])
            for connection in connections {
                let response = try await connection.response(within: .seconds(10))
                #expect(response.status == .ok && response.complete)
                #expect(response.events.last?.data == "[DONE]")
                await connection.close()
            }
            let after = try await simStats(port: port)
            #expect(after["max_concurrency_by_model"] as? [String: Int] == [chatModel: 2])
            #expect(after["in_progress_by_model"] as? [String: Int] == [chatModel: 0])
            #expect(after["completed"] as? Int == 5)
        }
    }

    @Test func parallelChangesAtRunTimeAndWaitersTakeTheNewSlots() async throws {
        let configuration = v04Configuration(
            name: "slots-rt",
            models: [SimulatedModel(id: chatModel, parallel: 1)],
            tokensPerAnswer: 10,
            tokenDelay: .milliseconds(100)
        )
        try await LMStudioSimulator.withRunning(configuration: configuration) { host in
            let port = host.port
            let connections = try await (0..<3).asyncMap { _ in try await TestConnection.open(port: port) }
            for connection in connections {
                connection.send(.POST, "/v1/chat/completions", body: chatBody())
            }
            #expect(await eventually { host.stats.waitingByModel[chatModel] == 2 })
            let changed = try await exchange(
                port: port,
                .POST,
                "/_sim/settings",
                body: #"{"parallel":{"\#(chatModel)":3}}"#
            )
            #expect(changed.status == .ok)
            #expect((try changed.json()["parallel"] as? [String: Int])?[chatModel] == 3)
            #expect(await eventually { host.stats.inProgressByModel[chatModel] == 3 })
            for connection in connections {
                #expect(try await connection.response().status == .ok)
                await connection.close()
            }
            let listing = try await exchange(port: port, .GET, "/api/v1/models").json()
            let instance = ((listing["models"] as? [[String: Any]])?.first?["loaded_instances"] as? [[String: Any]])?
                .first
            #expect((instance?["config"] as? [String: Any])?["parallel"] as? Int == 3)
            #expect(host.stats.maxConcurrencyByModel[chatModel] == 3)

            let unknown = try await exchange(port: port, .POST, "/_sim/settings", body: #"{"parallel":{"nope":2}}"#)
            #expect(unknown.status == .badRequest)
            let zero = try await exchange(
                port: port,
                .POST,
                "/_sim/settings",
                body: #"{"parallel":{"\#(chatModel)":0}}"#
            )
            #expect(zero.status == .badRequest)
            #expect(
                try await exchange(port: port, .POST, "/_sim/settings", body: #"{"slots":1}"#).status == .badRequest
            )
        }
    }

    @Test func clientsLeavingWhileWaitingOrRunningGiveTheirPlacesUp() async throws {
        let configuration = v04Configuration(
            name: "slots-gone",
            models: [SimulatedModel(id: chatModel, parallel: 1)],
            tokensPerAnswer: 100,
            tokenDelay: .milliseconds(100)
        )
        try await LMStudioSimulator.withRunning(configuration: configuration) { host in
            let running = try await TestConnection.open(port: host.port)
            running.send(.POST, "/v1/chat/completions", body: chatBody())
            #expect(await eventually { host.stats.inProgressByModel[chatModel] == 1 })
            let leaving = try await TestConnection.open(port: host.port)
            leaving.send(.POST, "/v1/chat/completions", body: chatBody())
            #expect(await eventually { host.stats.waitingByModel[chatModel] == 1 })
            await leaving.close()
            #expect(await eventually { host.stats.waitingByModel[chatModel, default: 0] == 0 })
            #expect(host.stats.inProgressByModel[chatModel] == 1)
            await running.close()
            #expect(await eventually { host.stats.inProgressByModel[chatModel] == 0 })
            #expect(host.stats.clientDisconnects == 2)
            let next = try await exchange(port: host.port, .POST, "/v1/chat/completions", body: chatBody(maxTokens: 1))
            #expect(next.status == .ok)
        }
    }

    @Test func aRepeatedPrefixIsAPromptCacheHitAndItsFirstTokenComesSooner() async throws {
        let configuration = v04Configuration(
            name: "cache",
            models: [SimulatedModel(id: chatModel, parallel: 1)],
            timeToFirstToken: .milliseconds(5),
            promptCache: true,
            promptTokenCost: .microseconds(200)
        )
        try await LMStudioSimulator.withRunning(configuration: configuration) { host in
            let port = host.port
            let longInput = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 20)
            let (first, firstJSON) = try await postJSON(
                port: port,
                "/api/v1/chat",
                #"{"model":"\#(chatModel)","input":"\#(longInput)"}"#
            )
            #expect(first.status == .ok)
            let firstStats = try #require(firstJSON["stats"] as? [String: Any])
            let firstInput = try #require(firstStats["input_tokens"] as? Int)
            // input_tokens: the serialised input (quotes included) at a token per 4 bytes.
            #expect(firstInput == (longInput.utf8.count + 2 + 3) / 4)
            let firstTTFT = try #require(firstStats["time_to_first_token_seconds"] as? Double)
            #expect(abs(firstTTFT - (0.005 + 0.0002 * Double(firstInput))) < 1e-9)
            var stats = try await simStats(port: port)
            #expect(stats["prompt_cache_hits"] as? Int == 0)
            #expect(stats["prompt_cache_misses"] as? Int == 1)
            #expect(stats["prompt_tokens_processed"] as? Int == firstInput)
            #expect(stats["prompt_tokens_reused"] as? Int == 0)

            // The next turn starts with the whole conversation so far: the slot has most of it cached.
            let responseID = try #require(firstJSON["response_id"] as? String)
            let (second, secondJSON) = try await postJSON(
                port: port,
                "/api/v1/chat",
                #"{"model":"\#(chatModel)","input":"And then?","previous_response_id":"\#(responseID)"}"#
            )
            #expect(second.status == .ok)
            let secondStats = try #require(secondJSON["stats"] as? [String: Any])
            let secondInput = try #require(secondStats["input_tokens"] as? Int)
            stats = try await simStats(port: port)
            #expect(stats["prompt_cache_hits"] as? Int == 1)
            let reused = try #require(stats["prompt_tokens_reused"] as? Int)
            #expect(reused >= firstInput - 1)
            #expect(stats["prompt_tokens_processed"] as? Int == firstInput + secondInput - reused)
            let secondTTFT = try #require(secondStats["time_to_first_token_seconds"] as? Double)
            #expect(abs(secondTTFT - (0.005 + 0.0002 * Double(secondInput - reused))) < 1e-9)
            #expect(secondTTFT < firstTTFT)

            // An unrelated prompt is a miss and pays for every token.
            _ = try await postJSON(port: port, "/v1/chat/completions", chatBody())
            stats = try await simStats(port: port)
            #expect(stats["prompt_cache_misses"] as? Int == 2)
        }
    }

    @Test func theSameMessagesTwiceAreAHitOnTheOpenAIRouteAndTheCacheCanBeSwitchedOff() async throws {
        let configuration = v04Configuration(
            name: "cache-chat",
            models: [SimulatedModel(id: chatModel, parallel: 2)],
            promptCache: true,
            promptTokenCost: .milliseconds(2)
        )
        try await LMStudioSimulator.withRunning(configuration: configuration) { host in
            let port = host.port
            let body =
                #"{"model":"\#(chatModel)","messages":[{"role":"system","content":"\#(String(repeating: "rules ", count: 60))"},"#
                + #"{"role":"user","content":"Hi"}]}"#
            let started = ContinuousClock.now
            #expect(try await exchange(port: port, .POST, "/v1/chat/completions", body: body).status == .ok)
            // The first time every token of the prompt is processed, at 2 ms each.
            let promptTokens = host.stats.promptTokensProcessed
            #expect(promptTokens > 90)
            #expect(ContinuousClock.now - started >= .milliseconds(2 * Int64(promptTokens)))
            #expect(try await exchange(port: port, .POST, "/v1/chat/completions", body: body).status == .ok)
            #expect(host.stats.promptCacheHits == 1 && host.stats.promptCacheMisses == 1)
            // The second time the slot has all of it but the last partial token.
            #expect(host.stats.promptTokensReused >= promptTokens - 1)

            _ = try await exchange(port: port, .POST, "/_sim/settings", body: #"{"prompt_cache":false}"#)
            #expect(host.tuning.promptCache == false)
            #expect(try await exchange(port: port, .POST, "/v1/chat/completions", body: body).status == .ok)
            #expect(host.stats.promptCacheHits == 1 && host.stats.promptCacheMisses == 1)

            let reset = try await exchange(port: port, .DELETE, "/_sim/stats").json()
            #expect(reset["prompt_cache_hits"] as? Int == 0)
        }
    }
}

extension Sequence {
    /// `map` with an async transform, one element after the other.
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self {
            results.append(try await transform(element))
        }
        return results
    }
}
