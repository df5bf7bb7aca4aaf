import Foundation
import LMStudioSim
import NIOCore
import NIOHTTP1
import Testing

@testable import App

/// olla in front of `lmstudio-sim --api 0.4` hosts (DESIGN.md 6.7 and 6.9): slots, one load at a time,
/// conversations that stay on their host, the merged `/api/v1/models`, `/v1/messages`, and 0.3 with 0.4.
@Suite(.serialized, .endToEnd) struct LMStudio04Tests {
    static let model = "qwen/qwen3-4b"

    static func host04(
        _ name: String,
        models: [SimulatedModel] = [SimulatedModel(id: model)],
        tokens: Int = 4,
        tokenDelay: Duration = .zero,
        loadTime: Duration = .zero
    ) -> SimulatorConfiguration {
        var configuration = simHost(name, models: models, tokens: tokens, tokenDelay: tokenDelay)
        configuration.api = .v0_4
        configuration.loadTime = loadTime
        return configuration
    }

    static func responsesBody(_ input: String, previous: String? = nil, stream: Bool = false) -> String {
        let previous = previous.map { ",\"previous_response_id\":\"\($0)\"" } ?? ""
        return "{\"model\":\"\(model)\",\"input\":\"\(input)\",\"stream\":\(stream)\(previous)}"
    }

    static func apiChatBody(_ input: String, previous: String? = nil) -> String {
        let previous = previous.map { ",\"previous_response_id\":\"\($0)\"" } ?? ""
        return "{\"model\":\"\(model)\",\"input\":\"\(input)\"\(previous)}"
    }

    // MARK: Slots and loads

    @Test func twelveChatsOverTwoHostsOfFourSlotsNeverPutAFifthOnAHost() async throws {
        let hosts = [
            Self.host04("studio-a", tokens: 10, tokenDelay: .milliseconds(20)),
            Self.host04("studio-b", tokens: 10, tokenDelay: .milliseconds(20)),
        ]
        try await OllaHarness.with(hosts: hosts) { olla in
            try await olla.waitUntil("both hosts report 4 slots") {
                olla.table.snapshot.models.entries.first?.placements.allSatisfy { $0.slots.capacity == 4 } ?? false
            }
            let statuses = try await withThrowingTaskGroup(of: HTTPResponseStatus.self) { group in
                for _ in 0..<12 {
                    group.addTask {
                        try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody(Self.model)).status
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.count == 12 && statuses.allSatisfy { $0 == .ok })
            for name in ["studio-a", "studio-b"] {
                let stats = olla.host(name).stats
                #expect((stats.maxConcurrencyByModel[Self.model] ?? 0) <= 4, "\(name): \(stats.maxConcurrencyByModel)")
                // Requests waiting inside a host for one of its slots count here too: none ever did.
                #expect(stats.maxInFlightSeen <= 4, "\(name) had \(stats.maxInFlightSeen) requests at once")
            }
            let served = ["studio-a", "studio-b"].map {
                olla.host($0).stats.requestsByRoute["POST /v1/chat/completions"] ?? 0
            }
            #expect(served.reduce(0, +) == 12 && served.allSatisfy { $0 >= 4 }, "\(served)")
        }
    }

    @Test func eightFirstRequestsForAnUnloadedModelLoadItOnce() async throws {
        let unloaded = SimulatedModel(id: Self.model, state: .notLoaded)
        let hosts = [Self.host04("studio-a", models: [unloaded], loadTime: .milliseconds(400))]
        try await OllaHarness.with(hosts: hosts) { olla in
            let statuses = try await withThrowingTaskGroup(of: HTTPResponseStatus.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody(Self.model)).status
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0 == .ok }, "\(statuses)")
            #expect(
                olla.host("studio-a").stats.loadsByModel[Self.model] == 1,
                "\(olla.host("studio-a").stats.loadsByModel)"
            )
        }
    }

    // MARK: Conversations

    /// Turns of a `/v1/responses` conversation over three hosts: every turn reaches the host that answered
    /// the first, plain and streamed; once that host is gone, 503 `conversation_unavailable`.
    @Test(arguments: [false, true])
    func responsesConversationStaysOnItsHost(streamed: Bool) async throws {
        let hosts = ["studio-a", "studio-b", "studio-c"].map { Self.host04($0) }
        try await OllaHarness.with(hosts: hosts) { olla in
            var previous: String?
            var home: String?
            for turn in 1...5 {
                let body = Self.responsesBody("turn \(turn)", previous: previous, stream: streamed)
                let (status, endpoint, id) = try await Self.respond(olla, body: body, streamed: streamed)
                #expect(status == .ok, "turn \(turn)")
                if let home { #expect(endpoint == home, "turn \(turn) went to \(endpoint ?? "-")") }
                home = home ?? endpoint
                previous = try #require(id, "turn \(turn) has no response id")
            }
            let holder = try #require(home)
            try await olla.host(holder).updateFaults { $0.refuseConnections = true }
            let gone = try await olla.post(
                "/olla/lmstudio/v1/responses",
                json: Self.responsesBody("turn 6", previous: previous)
            )
            #expect(gone.status == .serviceUnavailable)
            #expect(gone.text.contains("\"code\":\"conversation_unavailable\""), "\(gone.text)")
            #expect(Int(gone.headers.first(name: "Retry-After") ?? "") ?? 0 >= 1)
            // A new conversation does not care.
            let fresh = try await olla.post("/olla/lmstudio/v1/responses", json: Self.responsesBody("hello"))
            #expect(fresh.status == .ok)
            #expect(fresh.headers.first(name: "X-Olla-Endpoint") != holder)
        }
    }

    /// One turn: status, the host that answered, and the response id (from the answer or its
    /// `response.created` event).
    static func respond(
        _ olla: OllaHarness,
        body: String,
        streamed: Bool
    ) async throws -> (HTTPResponseStatus, String?, String?) {
        if streamed {
            let answer = try await olla.stream("/olla/lmstudio/v1/responses", json: body)
            // Events here are `event: <type>` then `data: <json>`.
            let payloads = answer.text.components(separatedBy: "\n").filter { $0.hasPrefix("data: ") }.map {
                $0.dropFirst(6)
            }
            let created = payloads.first { $0.contains("\"response.created\"") }
            let response = created.flatMap { event in
                (try? JSONSerialization.jsonObject(with: Data(event.utf8)) as? [String: Any])?["response"]
                    as? [String: Any]
            }
            #expect(answer.text.contains("response.completed"))
            return (answer.status, answer.headers.first(name: "x-sim-host"), response?["id"] as? String)
        }
        let answer = try await olla.post("/olla/lmstudio/v1/responses", json: body)
        let id = (try? answer.json())?["id"] as? String
        #expect(answer.headers.first(name: "x-sim-host") == answer.headers.first(name: "X-Olla-Endpoint"))
        return (answer.status, answer.headers.first(name: "x-sim-host"), id)
    }

    @Test func apiChatConversationStaysOnItsHost() async throws {
        let hosts = ["studio-a", "studio-b", "studio-c"].map { Self.host04($0) }
        try await OllaHarness.with(hosts: hosts) { olla in
            var previous: String?
            var home: String?
            for turn in 1...5 {
                let answer = try await olla.post(
                    "/olla/lmstudio/api/v1/chat",
                    json: Self.apiChatBody("turn \(turn)", previous: previous)
                )
                #expect(answer.status == .ok, "turn \(turn): \(answer.text)")
                let endpoint = answer.headers.first(name: "x-sim-host")
                if let home { #expect(endpoint == home, "turn \(turn)") }
                home = home ?? endpoint
                previous = try #require(try answer.json()["response_id"] as? String)
            }
            let holder = try #require(home)
            try await olla.host(holder).updateFaults { $0.refuseConnections = true }
            let gone = try await olla.post(
                "/olla/lmstudio/api/v1/chat",
                json: Self.apiChatBody("turn 6", previous: previous)
            )
            #expect(gone.status == .serviceUnavailable)
            #expect(gone.text.contains("conversation_unavailable"))
        }
    }

    /// A conversation another olla (or a restart) saw: olla tries the hosts until one holds it; one that no host
    /// holds gets the host's own refusal.
    @Test func aConversationOllaDoesNotKnowIsFoundByAskingTheHosts() async throws {
        let hosts = ["studio-a", "studio-b", "studio-c"].map { Self.host04($0) }
        try await OllaHarness.with(hosts: hosts) { olla in
            // Started straight at studio-c, behind olla's back.
            let direct = try await fetch(
                .POST,
                olla.host("studio-c").baseURL + "/v1/responses",
                headers: [("Content-Type", "application/json")],
                body: Self.responsesBody("hello")
            )
            let id = try #require(try direct.json()["id"] as? String)
            let answer = try await olla.post(
                "/olla/lmstudio/v1/responses",
                json: Self.responsesBody("again", previous: id)
            )
            #expect(answer.status == .ok, "\(answer.text)")
            #expect(answer.headers.first(name: "X-Olla-Endpoint") == "studio-c")
            // Learned: the next turn goes straight there.
            let next = try #require(try answer.json()["id"] as? String)
            for name in ["studio-a", "studio-b", "studio-c"] { olla.host(name).resetStats() }
            let third = try await olla.post(
                "/olla/lmstudio/v1/responses",
                json: Self.responsesBody("third", previous: next)
            )
            #expect(third.headers.first(name: "X-Olla-Endpoint") == "studio-c")
            #expect(olla.host("studio-a").stats.requestsByRoute["POST /v1/responses"] == nil)
            #expect(olla.host("studio-b").stats.requestsByRoute["POST /v1/responses"] == nil)

            let unknown = try await olla.post(
                "/olla/lmstudio/v1/responses",
                json: Self.responsesBody("lost", previous: "resp_nobodyhasthis")
            )
            #expect(unknown.status == .badRequest)
            #expect(unknown.text.contains("previous_response_not_found"), "\(unknown.text)")
        }
    }

    // MARK: Listings and other routes

    @Test func apiV1ModelsIsMergedOverTheHosts() async throws {
        let hosts = [
            Self.host04("studio-a", models: [SimulatedModel(id: Self.model), SimulatedModel(id: "only-on-a")]),
            Self.host04("studio-b", models: [SimulatedModel(id: Self.model, parallel: 2)]),
        ]
        try await OllaHarness.with(hosts: hosts) { olla in
            let answer = try await olla.request(.GET, "/olla/lmstudio/api/v1/models")
            #expect(answer.status == .ok)
            let models = try #require(try answer.json()["models"] as? [[String: Any]])
            let keys = models.compactMap { $0["key"] as? String }
            #expect(keys.sorted() == ["only-on-a", Self.model].sorted(), "\(keys)")
            let shared = try #require(models.first { $0["key"] as? String == Self.model })
            let instances = try #require(shared["loaded_instances"] as? [[String: Any]])
            let parallel = instances.compactMap { ($0["config"] as? [String: Any])?["parallel"] as? Int }
            #expect(parallel.sorted() == [2, 4], "\(instances)")
        }
    }

    @Test func anthropicMessagesPassThroughPlainAndStreamed() async throws {
        try await OllaHarness.with(hosts: [Self.host04("studio-a")]) { olla in
            let body =
                "{\"model\":\"\(Self.model)\",\"max_tokens\":64,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"
            let plain = try await olla.post("/olla/lmstudio/v1/messages", json: body)
            #expect(plain.status == .ok)
            let message = try plain.json()
            #expect(message["type"] as? String == "message")
            #expect(message["role"] as? String == "assistant")
            #expect(plain.headers.first(name: "X-Olla-Endpoint") == "studio-a")
            let streamedBody = body.dropLast() + ",\"stream\":true}"
            let streamed = try await olla.stream("/olla/lmstudio/v1/messages", json: String(streamedBody))
            #expect(streamed.status == .ok)
            for event in ["message_start", "content_block_delta", "message_stop"] {
                #expect(streamed.text.contains("event: \(event)"), "\(event) missing")
            }
        }
    }

    @Test func a03HostAndA04HostServeSideBySide() async throws {
        let hosts = [
            simHost("old", models: [SimulatedModel(id: "only-on-old")]),
            Self.host04("new", models: [SimulatedModel(id: "only-on-new", parallel: 2)]),
        ]
        try await OllaHarness.with(hosts: hosts) { olla in
            for (model, host) in [("only-on-old", "old"), ("only-on-new", "new")] {
                let answer = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody(model))
                #expect(answer.status == .ok)
                #expect(answer.headers.first(name: "X-Olla-Endpoint") == host)
            }
            let status = try await olla.request(.GET, "/internal/status/endpoints")
            let endpoints = try #require(try status.json()["endpoints"] as? [[String: Any]])
            let api = Dictionary(
                uniqueKeysWithValues: endpoints.map { ($0["name"] as? String ?? "", $0["api"] as? String) }
            )
            #expect(api["old"] == "0.3" && api["new"] == "0.4", "\(api)")
        }
    }
}
