import Foundation
import LMStudioSim
import NIOHTTP1
import Testing

/// LM Studio 0.4's generating routes: `/api/v1/chat`, `/v1/responses` (with stored conversations) and
/// `/v1/messages`, plain and streamed.
@Suite struct V04ConversationTests {
    func withHost<T>(
        _ configuration: SimulatorConfiguration = v04Configuration(name: "sim-a"),
        _ body: (LMStudioSimulator) async throws -> T
    ) async throws -> T {
        try await LMStudioSimulator.withRunning(configuration: configuration, body)
    }

    static let expectedText = "Hello from sim-a. Turn 1. token1 token2 token3 token4 token5 token6 token7 token8"

    // MARK: /api/v1/chat

    @Test func apiV1ChatAnswersWithOutputStatsAndAResponseID() async throws {
        try await withHost { host in
            let (response, json) = try await postJSON(
                port: host.port,
                "/api/v1/chat",
                #"{"model":"\#(chatModel)","input":"Hi","system_prompt":"Be brief."}"#
            )
            #expect(response.status == .ok)
            #expect(response.headers["X-Sim-Host"] == ["sim-a"])
            #expect(response.headers["x-sim-instance"] == [chatModel])
            #expect(json["model_instance_id"] as? String == chatModel)
            let output = try #require(json["output"] as? [[String: Any]])
            #expect(output.count == 1)
            #expect(output[0]["type"] as? String == "message")
            #expect(output[0]["content"] as? String == Self.expectedText)
            let stats = try #require(json["stats"] as? [String: Any])
            #expect(stats["total_output_tokens"] as? Int == 8)
            #expect((stats["input_tokens"] as? Int ?? 0) > 0)
            #expect(stats["tokens_per_second"] is Double)
            #expect(stats["time_to_first_token_seconds"] is Double)
            #expect((json["response_id"] as? String)?.hasPrefix("resp_") == true)
            #expect(host.stats.requestsByRoute["POST /api/v1/chat"] == 1)
        }
    }

    @Test func apiV1ChatStreamsLMStudiosEventsEndingWithTheResponseID() async throws {
        try await withHost { host in
            let response = try await exchange(
                port: host.port,
                .POST,
                "/api/v1/chat",
                body: #"{"model":"\#(chatModel)","input":"Hi","stream":true}"#
            )
            #expect(response.status == .ok && response.complete)
            #expect(response.headers["Content-Type"] == ["text/event-stream"])
            let events = response.namedEvents
            let names = events.map(\.name)
            #expect(
                names
                    == [
                        "chat.start", "prompt_processing.start", "prompt_processing.progress",
                        "prompt_processing.end", "message.start",
                    ] + Array(repeating: "message.delta", count: 9) + ["message.end", "chat.end"]
            )
            #expect(events.allSatisfy { $0.data["type"] as? String == $0.name })
            #expect(events[0].data["model_instance_id"] as? String == chatModel)
            let text = events.filter { $0.name == "message.delta" }.compactMap { $0.data["content"] as? String }
                .joined()
            #expect(text == Self.expectedText)
            let result = try #require(events.last?.data["result"] as? [String: Any])
            #expect((result["response_id"] as? String)?.hasPrefix("resp_") == true)
            #expect((result["output"] as? [[String: Any]])?.first?["content"] as? String == text)
            #expect(!response.body.contains("[DONE]"))
        }
    }

    @Test func apiV1ChatContinuesAConversationAndStoreFalseIsNotKept() async throws {
        try await withHost { host in
            let port = host.port
            let (_, first) = try await postJSON(port: port, "/api/v1/chat", #"{"model":"\#(chatModel)","input":"One"}"#)
            let id = try #require(first["response_id"] as? String)
            let (_, second) = try await postJSON(
                port: port,
                "/api/v1/chat",
                #"{"model":"\#(chatModel)","input":"Two","previous_response_id":"\#(id)"}"#
            )
            let content = (second["output"] as? [[String: Any]])?.first?["content"] as? String
            #expect(content?.hasPrefix("Hello from sim-a. Turn 2.") == true)
            let (_, unstored) = try await postJSON(
                port: port,
                "/api/v1/chat",
                #"{"model":"\#(chatModel)","input":"Three","store":false}"#
            )
            #expect(unstored["response_id"] == nil)
            #expect(host.stats.storedResponses == 2)
        }
    }

    // MARK: /v1/responses

    @Test func responsesContinueAStoredConversationOnlyOnTheHostThatHoldsIt() async throws {
        try await withHost { host in
            try await LMStudioSimulator.withRunning(configuration: v04Configuration(name: "sim-b")) { other in
                let port = host.port
                let (first, firstJSON) = try await postJSON(
                    port: port,
                    "/v1/responses",
                    #"{"model":"\#(chatModel)","input":"Hello"}"#
                )
                #expect(first.status == .ok)
                let id = try #require(firstJSON["id"] as? String)
                #expect(id.hasPrefix("resp_"))
                #expect(firstJSON["object"] as? String == "response")
                #expect(firstJSON["status"] as? String == "completed")
                #expect(firstJSON["model"] as? String == chatModel)
                #expect(firstJSON["previous_response_id"] is NSNull)
                let item = try #require((firstJSON["output"] as? [[String: Any]])?.first)
                #expect(item["type"] as? String == "message" && item["role"] as? String == "assistant")
                #expect((item["id"] as? String)?.hasPrefix("msg_") == true)
                let part = try #require((item["content"] as? [[String: Any]])?.first)
                #expect(part["type"] as? String == "output_text")
                #expect(part["text"] as? String == Self.expectedText)
                let usage = try #require(firstJSON["usage"] as? [String: Any])
                #expect(usage["output_tokens"] as? Int == 8)

                let continued = #"{"model":"\#(chatModel)","input":"More","previous_response_id":"\#(id)"}"#
                let (second, secondJSON) = try await postJSON(port: port, "/v1/responses", continued)
                #expect(second.status == .ok)
                #expect(secondJSON["previous_response_id"] as? String == id)
                #expect(Self.text(of: secondJSON)?.hasPrefix("Hello from sim-a. Turn 2.") == true)
                let secondID = try #require(secondJSON["id"] as? String)
                #expect(secondID != id)
                let third = #"{"model":"\#(chatModel)","input":"Again","previous_response_id":"\#(secondID)"}"#
                #expect(
                    Self.text(of: try await postJSON(port: port, "/v1/responses", third).1)?.contains("Turn 3.") == true
                )

                // The other host never saw the conversation.
                let elsewhere = try await exchange(port: other.port, .POST, "/v1/responses", body: continued)
                #expect(elsewhere.status == .badRequest)
                let expected =
                    #"{"error":{"message":"Previous response with id '\#(id)' not found.","#
                    + #""type":"invalid_request_error","param":"previous_response_id","#
                    + #""code":"previous_response_not_found"}}"#
                #expect(elsewhere.body == expected)
                #expect(elsewhere.headers["X-Sim-Host"] == ["sim-b"])
            }
        }
    }

    @Test func anUnknownOrUnstoredPreviousResponseIsOpenAIs400() async throws {
        try await withHost { host in
            let port = host.port
            let unknown = try await exchange(
                port: port,
                .POST,
                "/v1/responses",
                body: #"{"model":"\#(chatModel)","input":"x","previous_response_id":"resp_x"}"#
            )
            #expect(unknown.status == .badRequest)
            #expect(
                unknown.body
                    == #"{"error":{"message":"Previous response with id 'resp_x' not found.","type":"invalid_request_error","#
                    + #""param":"previous_response_id","code":"previous_response_not_found"}}"#
            )
            let (_, unstored) = try await postJSON(
                port: port,
                "/v1/responses",
                #"{"model":"\#(chatModel)","input":"x","store":false}"#
            )
            #expect(unstored["store"] as? Bool == false)
            let id = try #require(unstored["id"] as? String)
            let continued = try await exchange(
                port: port,
                .POST,
                "/v1/responses",
                body: #"{"model":"\#(chatModel)","input":"x","previous_response_id":"\#(id)"}"#
            )
            #expect(continued.status == .badRequest)

            // Storing switched off for the whole host, then on again.
            _ = try await exchange(port: port, .POST, "/_sim/settings", body: #"{"store_responses":false}"#)
            let (_, off) = try await postJSON(port: port, "/v1/responses", #"{"model":"\#(chatModel)","input":"x"}"#)
            #expect(off["store"] as? Bool == false)
            #expect(host.stats.storedResponses == 0)
            _ = try await exchange(port: port, .POST, "/_sim/settings", body: #"{"store_responses":true}"#)
            _ = try await postJSON(port: port, "/v1/responses", #"{"model":"\#(chatModel)","input":"x"}"#)
            #expect(host.stats.storedResponses == 1)
        }
    }

    @Test func theResponseStoreForgetsTheOldestBeyondItsLimit() async throws {
        try await withHost(v04Configuration(name: "sim-a", responseStoreLimit: 2)) { host in
            let port = host.port
            var ids: [String] = []
            for _ in 0..<3 {
                let (_, json) = try await postJSON(
                    port: port,
                    "/v1/responses",
                    #"{"model":"\#(chatModel)","input":"x"}"#
                )
                ids.append(try #require(json["id"] as? String))
            }
            #expect(try await simStats(port: port)["stored_responses"] as? Int == 2)
            let statuses = try await ids.asyncMap { id in
                try await exchange(
                    port: port,
                    .POST,
                    "/v1/responses",
                    body: #"{"model":"\#(chatModel)","input":"y","previous_response_id":"\#(id)","store":false}"#
                ).status
            }
            #expect(statuses == [.badRequest, .ok, .ok])
        }
    }

    @Test func responsesStreamOpenAIsEventsWithTheIDInResponseCreated() async throws {
        try await withHost { host in
            let response = try await exchange(
                port: host.port,
                .POST,
                "/v1/responses",
                body: #"{"model":"\#(chatModel)","input":[{"role":"user","content":"Hi"}],"stream":true}"#
            )
            #expect(response.status == .ok && response.complete)
            let events = response.namedEvents
            #expect(
                events.map(\.name)
                    == [
                        "response.created", "response.in_progress", "response.output_item.added",
                        "response.content_part.added",
                    ] + Array(repeating: "response.output_text.delta", count: 9)
                    + [
                        "response.output_text.done", "response.content_part.done", "response.output_item.done",
                        "response.completed",
                    ]
            )
            #expect(events.map { $0.data["sequence_number"] as? Int } == Array(0..<events.count))
            let created = try #require(events.first?.data["response"] as? [String: Any])
            let id = try #require(created["id"] as? String)
            #expect(id.hasPrefix("resp_") && created["status"] as? String == "in_progress")
            let deltas = events.filter { $0.name == "response.output_text.delta" }.compactMap {
                $0.data["delta"] as? String
            }
            #expect(deltas.joined() == Self.expectedText)
            let completed = try #require(events.last?.data["response"] as? [String: Any])
            #expect(completed["id"] as? String == id)
            #expect(completed["status"] as? String == "completed")
            #expect(Self.text(of: completed) == Self.expectedText)
            #expect(!response.body.contains("[DONE]"))

            // A streamed answer can be continued like a plain one.
            let (next, json) = try await postJSON(
                port: host.port,
                "/v1/responses",
                #"{"model":"\#(chatModel)","input":"And?","previous_response_id":"\#(id)"}"#
            )
            #expect(next.status == .ok)
            #expect(Self.text(of: json)?.contains("Turn 2.") == true)
        }
    }

    /// The official `openai` Python SDK's types require `usage.input_tokens_details` (`cached_tokens`,
    /// `cache_write_tokens`), `usage.output_tokens_details` and the text events' `logprobs` (without them its
    /// objects hold None where its types promise a value).
    @Test func responsesCarryTheFieldsOpenAIsSDKRequires() async throws {
        let configuration = v04Configuration(name: "sim-a", promptCache: true)
        try await withHost(configuration) { host in
            let (first, plain) = try await postJSON(
                port: host.port,
                "/v1/responses",
                #"{"model":"\#(chatModel)","input":"Tell me a long story about a lighthouse keeper."}"#
            )
            #expect(first.status == .ok)
            let usage = try #require(plain["usage"] as? [String: Any])
            let firstDetails = try #require(usage["input_tokens_details"] as? [String: Any])
            #expect(firstDetails["cached_tokens"] as? Int == 0)
            // With the prompt cache on, the slot caches the whole prompt it processed.
            #expect(firstDetails["cache_write_tokens"] as? Int == usage["input_tokens"] as? Int)
            #expect((usage["output_tokens_details"] as? [String: Any])?["reasoning_tokens"] as? Int == 0)
            let id = try #require(plain["id"] as? String)

            // The next turn's prompt starts with the conversation so far, which the slot has cached.
            let response = try await exchange(
                port: host.port,
                .POST,
                "/v1/responses",
                body: #"{"model":"\#(chatModel)","input":"And?","stream":true,"previous_response_id":"\#(id)"}"#
            )
            #expect(response.status == .ok && response.complete)
            let events = response.namedEvents
            let textEvents = events.filter {
                $0.name == "response.output_text.delta" || $0.name == "response.output_text.done"
            }
            #expect(textEvents.count == 10)
            #expect(textEvents.allSatisfy { ($0.data["logprobs"] as? [Any])?.isEmpty == true })
            let completed = try #require(events.last?.data["response"] as? [String: Any])
            let streamedUsage = try #require(completed["usage"] as? [String: Any])
            let details = try #require(streamedUsage["input_tokens_details"] as? [String: Any])
            let cached = try #require(details["cached_tokens"] as? Int)
            let inputTokens = try #require(streamedUsage["input_tokens"] as? Int)
            #expect(cached > 0 && cached < inputTokens)
            #expect(details["cache_write_tokens"] as? Int == inputTokens - cached)
            #expect((streamedUsage["output_tokens_details"] as? [String: Any])?["reasoning_tokens"] as? Int == 0)
        }
    }

    // MARK: /v1/messages

    @Test func messagesAnswerInAnthropicsShape() async throws {
        try await withHost { host in
            let (response, json) = try await postJSON(
                port: host.port,
                "/v1/messages",
                #"{"model":"\#(chatModel)","max_tokens":1024,"messages":[{"role":"user","content":"Hi"}]}"#
            )
            #expect(response.status == .ok)
            #expect((json["id"] as? String)?.hasPrefix("msg_") == true)
            #expect(json["type"] as? String == "message")
            #expect(json["role"] as? String == "assistant")
            #expect(json["model"] as? String == chatModel)
            let content = try #require(json["content"] as? [[String: Any]])
            #expect(content.count == 1)
            #expect(content[0]["type"] as? String == "text")
            #expect(
                content[0]["text"] as? String
                    == "Hello from sim-a. token1 token2 token3 token4 token5 token6 token7 token8"
            )
            #expect(json["stop_reason"] as? String == "end_turn")
            #expect(json["stop_sequence"] is NSNull)
            let usage = try #require(json["usage"] as? [String: Any])
            #expect(usage["output_tokens"] as? Int == 8 && (usage["input_tokens"] as? Int ?? 0) > 0)

            let (_, short) = try await postJSON(
                port: host.port,
                "/v1/messages",
                #"{"model":"\#(chatModel)","max_tokens":2,"messages":[{"role":"user","content":"Hi"}]}"#
            )
            #expect(short["stop_reason"] as? String == "max_tokens")
        }
    }

    @Test func messagesStreamTheEventsAnthropicsSDKExpects() async throws {
        try await withHost { host in
            let response = try await exchange(
                port: host.port,
                .POST,
                "/v1/messages",
                body:
                    #"{"model":"\#(chatModel)","max_tokens":3,"stream":true,"messages":[{"role":"user","content":"Hi"}]}"#
            )
            #expect(response.status == .ok && response.complete)
            let events = response.namedEvents
            #expect(
                events.map(\.name)
                    == ["message_start", "content_block_start", "ping"]
                    + Array(repeating: "content_block_delta", count: 4)
                    + ["content_block_stop", "message_delta", "message_stop"]
            )
            let message = try #require(events[0].data["message"] as? [String: Any])
            #expect((message["id"] as? String)?.hasPrefix("msg_") == true)
            #expect((message["content"] as? [Any])?.isEmpty == true)
            #expect(message["stop_reason"] is NSNull)
            let text = events.compactMap { ($0.data["delta"] as? [String: Any])?["text"] as? String }.joined()
            #expect(text == "Hello from sim-a. token1 token2 token3")
            let delta = try #require(events[events.count - 2].data["delta"] as? [String: Any])
            #expect(delta["stop_reason"] as? String == "max_tokens")
            #expect((events[events.count - 2].data["usage"] as? [String: Any])?["output_tokens"] as? Int == 3)
            #expect(!response.body.contains("[DONE]"))
        }
    }

    @Test func messagesAcceptTheTokenAsXAPIKey() async throws {
        var configuration = v04Configuration(name: "locked")
        configuration.authToken = "s3cret"
        try await withHost(configuration) { host in
            let body = #"{"model":"\#(chatModel)","max_tokens":8,"messages":[{"role":"user","content":"Hi"}]}"#
            let missing = try await exchange(port: host.port, .POST, "/v1/messages", body: body)
            #expect(missing.status == .unauthorized)
            let wrong = try await exchange(
                port: host.port,
                .POST,
                "/v1/messages",
                headers: [("x-api-key", "no")],
                body: body
            )
            #expect(wrong.status == .unauthorized)
            let right = try await exchange(
                port: host.port,
                .POST,
                "/v1/messages",
                headers: [("x-api-key", "s3cret")],
                body: body
            )
            #expect(right.status == .ok)
        }
    }

    // MARK: Bad input and faults

    @Test func malformedBodiesGetLMStudioLike400sAndTheHostKeepsServing() async throws {
        try await withHost { host in
            let port = host.port
            let cases: [(String, String)] = [
                ("/api/v1/chat", #"{"model": "#),
                ("/api/v1/chat", "[]"),
                ("/api/v1/chat", ""),
                ("/api/v1/chat", #"{"model":42,"input":"x"}"#),
                ("/api/v1/chat", #"{"model":"\#(chatModel)"}"#),
                ("/api/v1/chat", #"{"model":"\#(chatModel)","input":5}"#),
                ("/api/v1/chat", #"{"model":"\#(chatModel)","input":"x","stream":"yes"}"#),
                ("/v1/responses", #"{"model":"\#(chatModel)","input":"x","previous_response_id":7}"#),
                ("/v1/responses", #"{"model":"\#(chatModel)","input":"x","store":"no"}"#),
                ("/v1/responses", #"{"model":"\#(chatModel)","input":"x","max_output_tokens":"many"}"#),
                ("/v1/responses", "\u{0}\u{1}garbage"),
                ("/v1/messages", #"{"model":"\#(chatModel)","messages":"Hi"}"#),
                ("/v1/messages", #"{"model":"\#(chatModel)","max_tokens":8}"#),
                ("/api/v1/models/load", #"{"model":"#),
                ("/api/v1/models/load", #"{"context_length":4096}"#),
                ("/api/v1/models/load", #"{"model":"\#(chatModel)","context_length":-1}"#),
                ("/api/v1/models/unload", "null"),
                ("/api/v1/models/unload", #"{"instance_id":3}"#),
            ]
            for (path, body) in cases {
                let response = try await exchange(port: port, .POST, path, body: body)
                #expect(response.status == .badRequest, "\(path) \(body)")
                let error = try response.json()["error"] as? [String: Any]
                #expect(error?["message"] is String, "\(path) \(body)")
            }
            let unknownModel = try await exchange(
                port: port,
                .POST,
                "/v1/responses",
                body: #"{"model":"gpt-9","input":"x"}"#
            )
            #expect(unknownModel.status == .badRequest)
            #expect((try unknownModel.json()["error"] as? [String: Any])?["code"] as? String == "model_not_found")
            #expect(try await exchange(port: port, .POST, "/api/v1/chat", body: #"{"input":"x"}"#).status == .ok)
            #expect(host.stats.inProgressByModel[chatModel] == 0)
            #expect(try await loadedInstanceIDs(port: port, model: chatModel) == [chatModel])
        }
    }

    @Test func faultsCoverTheNewRoutes() async throws {
        try await withHost { host in
            let port = host.port
            try await host.updateFaults { $0.errorStatus = 503 }
            #expect(
                try await exchange(port: port, .POST, "/v1/responses", body: #"{"model":"\#(chatModel)","input":"x"}"#)
                    .status == .serviceUnavailable
            )
            #expect(try await exchange(port: port, .GET, "/api/v1/models").status == .ok)
            try await host.updateFaults {
                $0.errorStatus = nil
                $0.modelsStatus = 500
            }
            #expect(try await exchange(port: port, .GET, "/api/v1/models").status == .internalServerError)
            try await host.updateFaults {
                $0.modelsStatus = nil
                $0.hang = .inference
            }
            let hung = try await TestConnection.open(port: port)
            hung.send(.POST, "/v1/messages", body: #"{"model":"\#(chatModel)","max_tokens":4,"messages":[]}"#)
            #expect(await !eventually(within: .milliseconds(200)) { hung.hasSeenHead })
            try await host.updateFaults { $0.hang = nil }
            #expect(try await hung.response().status == .ok)
            await hung.close()
            try await host.updateFaults { $0.dropAfterChunks = 2 }
            let cut = try await exchange(
                port: port,
                .POST,
                "/api/v1/chat",
                body: #"{"model":"\#(chatModel)","input":"x","stream":true}"#
            )
            #expect(!cut.complete)
            #expect(await eventually { host.stats.droppedStreams == 1 && host.stats.inProgressByModel[chatModel] == 0 })
        }
    }

    static func text(of response: [String: Any]) -> String? {
        let item = (response["output"] as? [[String: Any]])?.first
        return (item?["content"] as? [[String: Any]])?.first?["text"] as? String
    }
}
