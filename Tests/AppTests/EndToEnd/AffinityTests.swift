import Foundation
import LMStudioSim
import NIOCore
import NIOHTTP1
import Testing

@testable import App

/// Prompt-cache affinity through olla (DESIGN.md 6.8): the headers a client sees, the stats route, and how
/// affinity composes with pinned conversations, slots and priority.
@Suite(.serialized, .endToEnd) struct AffinityTests {
    static let model = "qwen2.5-7b-instruct"
    static let hosts = ["studio-a", "studio-b", "studio-c"].map { simHost($0, models: [SimulatedModel(id: model)]) }

    /// A chat whose history starts with `conversation`'s own first message, as every turn of it repeats.
    static func turn(_ conversation: Int, _ turn: Int) -> String {
        var messages = "{\"role\":\"system\",\"content\":\"You help with conversation \(conversation).\"}"
        for past in 0..<turn {
            messages += ",{\"role\":\"user\",\"content\":\"Question \(past) of \(conversation)\"}"
            messages += ",{\"role\":\"assistant\",\"content\":\"Answer \(past)\"}"
        }
        messages += ",{\"role\":\"user\",\"content\":\"Question \(turn) of \(conversation)\"}"
        return "{\"model\":\"\(model)\",\"messages\":[\(messages)]}"
    }

    @Test func turnsOfAConversationGoToOneHostAndSayHitAfterTheFirst() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            var hosts = Set<String>()
            for conversation in 0..<12 {
                var home: String?
                for turn in 0..<4 {
                    let answer = try await olla.post(
                        "/olla/lmstudio/v1/chat/completions",
                        json: Self.turn(conversation, turn)
                    )
                    #expect(answer.status == .ok)
                    let endpoint = answer.headers.first(name: "X-Olla-Endpoint")
                    if let home { #expect(endpoint == home, "conversation \(conversation) turn \(turn)") }
                    home = home ?? endpoint
                    #expect(answer.headers.first(name: "X-Olla-Sticky-Session") == (turn == 0 ? "miss" : "hit"))
                    #expect(answer.headers.first(name: "X-Olla-Sticky-Key-Source") == "prefix_hash")
                    #expect(answer.headers.first(name: "X-Olla-Session-ID") == nil)
                }
                hosts.insert(home ?? "")
            }
            // Twelve conversations do not all land on one host.
            #expect(hosts.count >= 2, "\(hosts)")
            let stats = try await olla.request(.GET, "/internal/stats/sticky").json()
            #expect(stats["enabled"] as? Bool == true)
            #expect(stats["hits"] as? Int == 36 && stats["misses"] as? Int == 12 && stats["repins"] as? Int == 0)
            #expect(stats["active_sessions"] as? Int == 12 && stats["insertions"] as? Int == 12)
            let metrics = try await olla.request(.GET, "/internal/metrics").text
            #expect(metrics.contains("olla_sticky_sessions_total{"))
        }
    }

    @Test func aSessionHeaderIsTheKeyAndIsEchoedButAnOverlongOneIsIgnored() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            var homes = Set<String>()
            for turn in 0..<4 {
                // Different bodies, one session: the header decides.
                let answer = try await olla.post(
                    "/olla/lmstudio/v1/chat/completions",
                    json: Self.turn(100 + turn, 0),
                    headers: [("X-Olla-Session-ID", "session-42")]
                )
                homes.insert(answer.headers.first(name: "X-Olla-Endpoint") ?? "")
                #expect(answer.headers.first(name: "X-Olla-Sticky-Key-Source") == "session_header")
                #expect(answer.headers.first(name: "X-Olla-Session-ID") == "session-42")
            }
            #expect(homes.count == 1)
            let long = String(repeating: "s", count: 129)
            let ignored = try await olla.post(
                "/olla/lmstudio/v1/chat/completions",
                json: Self.turn(7, 0),
                headers: [("X-Olla-Session-ID", long)]
            )
            #expect(ignored.headers.first(name: "X-Olla-Sticky-Key-Source") == "prefix_hash")
            #expect(ignored.headers.first(name: "X-Olla-Session-ID") == nil)
            // No messages, input or prompt: no key.
            let bare = try await olla.post("/olla/lmstudio/v1/chat/completions", json: "{\"model\":\"\(Self.model)\"}")
            #expect(bare.headers.first(name: "X-Olla-Sticky-Session") == "disabled")
            #expect(bare.headers.first(name: "X-Olla-Sticky-Key-Source") == nil)
        }
    }

    @Test func withAffinityOffNoHeaderIsSentAndTheStatsSaySo() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { configuration, _ in
            configuration.proxy.stickySessions.enabled = false
        } _: { olla in
            let answer = try await olla.post(
                "/olla/lmstudio/v1/chat/completions",
                json: Self.turn(1, 0),
                headers: [("X-Olla-Session-ID", "s")]
            )
            #expect(answer.status == .ok)
            for name in ["X-Olla-Sticky-Session", "X-Olla-Sticky-Key-Source", "X-Olla-Session-ID"] {
                #expect(answer.headers.first(name: name) == nil, "\(name)")
            }
            #expect(try await olla.request(.GET, "/internal/stats/sticky").text == "{\"enabled\":false}")
        }
    }

    @Test func aDownHostsConversationsRepinAndComeBack() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            let first = try await olla.post("/olla/lmstudio/v1/chat/completions", json: Self.turn(5, 0))
            let home = try #require(first.headers.first(name: "X-Olla-Endpoint"))
            try await olla.host(home).updateFaults { $0.refuseConnections = true }
            let moved = try await olla.post("/olla/lmstudio/v1/chat/completions", json: Self.turn(5, 1))
            #expect(moved.status == .ok)
            #expect(moved.headers.first(name: "X-Olla-Endpoint") != home)
            #expect(moved.headers.first(name: "X-Olla-Sticky-Session") == "repin")
            try await olla.host(home).updateFaults { $0.refuseConnections = false }
            try await olla.waitUntil("\(home) is healthy again", timeout: .seconds(20)) {
                olla.endpoint(home).status == .healthy
            }
            let back = try await olla.post("/olla/lmstudio/v1/chat/completions", json: Self.turn(5, 2))
            #expect(back.headers.first(name: "X-Olla-Endpoint") == home)
            #expect(back.headers.first(name: "X-Olla-Sticky-Session") == "hit")
        }
    }

    /// Affinity chooses only among the hosts selection allows: never a lower priority tier while the top one
    /// has room, never a host with no free slot; a pinned conversation goes to its host whatever the key says.
    @Test func affinityComposesWithPriorityPinsAndSlots() async throws {
        var hosts = ["top-a", "top-b", "low"].map { name -> SimulatorConfiguration in
            var host = simHost(
                name,
                models: [SimulatedModel(id: Self.model, parallel: 1)],
                tokens: 20,
                tokenDelay: .milliseconds(20)
            )
            host.api = .v0_4
            return host
        }
        hosts[0].tokensPerAnswer = 20
        try await OllaHarness.with(hosts: hosts) { configuration, _ in
            configuration.endpoints[2].priority = 10
        } _: { olla in
            try await olla.waitUntil("every host reports its slot") {
                olla.table.snapshot.models.entries.first?.placements.allSatisfy { $0.slots.capacity == 1 } ?? false
            }
            for conversation in 0..<10 {
                let answer = try await olla.post("/olla/lmstudio/v1/chat/completions", json: Self.turn(conversation, 0))
                #expect(answer.headers.first(name: "X-Olla-Endpoint") != "low")
            }
            // Two streams hold both top hosts' only slot: the next request cannot take either.
            async let one = olla.stream("/olla/lmstudio/v1/chat/completions", json: chatBody(Self.model, stream: true))
            async let two = olla.stream("/olla/lmstudio/v1/chat/completions", json: chatBody(Self.model, stream: true))
            try await olla.waitUntil("both top hosts are busy") {
                ["top-a", "top-b"].allSatisfy { olla.endpoint($0).inFlight.load(ordering: .relaxed) == 1 }
            }
            let third = try await olla.post("/olla/lmstudio/v1/chat/completions", json: Self.turn(3, 1))
            #expect(third.headers.first(name: "X-Olla-Endpoint") == "low")
            #expect(third.headers.first(name: "X-Olla-Sticky-Session") == "repin")
            _ = try await (one, two)

            // A conversation pinned to a host goes there, and affinity says it had no say.
            let started = try await olla.post(
                "/olla/lmstudio/v1/responses",
                json: "{\"model\":\"\(Self.model)\",\"input\":\"hello\"}"
            )
            let holder = try #require(started.headers.first(name: "X-Olla-Endpoint"))
            let id = try #require(try started.json()["id"] as? String)
            for turn in 0..<3 {
                let next = try await olla.post(
                    "/olla/lmstudio/v1/responses",
                    json: "{\"model\":\"\(Self.model)\",\"input\":\"turn \(turn)\",\"previous_response_id\":\"\(id)\"}",
                    headers: [("X-Olla-Session-ID", "another-\(turn)")]
                )
                #expect(next.headers.first(name: "X-Olla-Endpoint") == holder)
                #expect(next.headers.first(name: "X-Olla-Sticky-Session") == "disabled")
            }
        }
    }
}
