import Balancer
import Foundation
import LMStudioSim
import NIOCore
import NIOHTTP1
import Testing

@testable import App

/// The headers of DESIGN.md section 5, both ways.
@Suite(.serialized, .endToEnd) struct HeaderTests {
    @Test func clientCredentialsAndHopByHopHeadersAreStrippedAndForwardingHeadersAdded() async throws {
        var secured = simHost("studio-a", models: [SimulatedModel(id: "qwen2.5-7b-instruct")])
        secured.authToken = "host-secret"
        try await OllaHarness.with(hosts: [secured]) { configuration, hosts in
            configuration.endpoints[0].auth = .bearer(token: "host-secret")
        } _: { olla in
            let answer = try await olla.post(
                "/olla/lmstudio/v1/chat/completions",
                json: chatBody("qwen2.5-7b-instruct"),
                headers: [
                    ("Authorization", "Bearer client-key"),
                    ("Cookie", "session=1"),
                    ("X-Api-Key", "k"),
                    ("Connection", "keep-alive, X-Private-Hop"),
                    ("X-Private-Hop", "secret"),
                    ("X-Forwarded-For", "203.0.113.7"),
                    ("X-Custom", "kept"),
                    ("Proxy-Authorization", "Basic abc"),
                    // Every length of Proxy-* name: 9 letters once slipped through a switch on the length.
                    ("Proxy-Foo", "1"),
                    ("Proxy-Ab", "2"),
                    ("Proxy-Something-Long", "3"),
                ]
            )
            #expect(answer.status == .ok)
            let received = try #require(olla.host("studio-a").recordedRequests.last { $0.method == "POST" })
            #expect(received.headerValues("Authorization") == ["Bearer host-secret"])
            #expect(received.headerValues("Cookie").isEmpty)
            #expect(received.headerValues("X-Api-Key").isEmpty)
            #expect(received.headerValues("X-Private-Hop").isEmpty)
            #expect(received.headerValues("Proxy-Authorization").isEmpty)
            for name in ["Proxy-Foo", "Proxy-Ab", "Proxy-Something-Long"] {
                #expect(received.headerValues(name).isEmpty, "\(name) reached the host")
            }
            #expect(received.headerValues("X-Custom") == ["kept"])
            #expect(received.headerValues("Host") == ["127.0.0.1:\(olla.host("studio-a").port)"])
            #expect(received.headerValues("X-Forwarded-For") == ["203.0.113.7, 127.0.0.1"])
            #expect(received.headerValues("X-Forwarded-Host") == ["127.0.0.1:\(olla.port)"])
            #expect(received.headerValues("X-Forwarded-Proto") == ["http"])
            let id = try #require(answer.headers.first(name: "X-Olla-Request-ID"))
            #expect(received.headerValues("X-Olla-Request-ID") == [id])
        }
    }

    @Test func everyProxiedAnswerCarriesTheOllaHeaders() async throws {
        try await OllaHarness.with(hosts: [simHost("studio-a", models: [SimulatedModel(id: "qwen2.5-7b-instruct")])]) {
            olla in
            let answer = try await olla.post(
                "/olla/lmstudio/v1/chat/completions",
                json: chatBody("qwen2.5-7b-instruct"),
                headers: [("X-Request-ID", "my-trace-42")]
            )
            #expect(answer.headers.first(name: "X-Olla-Request-ID") == "my-trace-42")
            #expect(answer.headers.first(name: "X-Olla-Endpoint") == "studio-a")
            #expect(answer.headers.first(name: "X-Olla-Model") == "qwen2.5-7b-instruct")
            #expect(answer.headers.first(name: "X-Olla-Backend-Type") == "lm-studio")
            let time = try #require(answer.headers.first(name: "X-Olla-Response-Time"))
            #expect(time.hasSuffix("ms") && Int(time.dropLast(2)) != nil)

            // A request id that is too long or not printable is replaced.
            let long = String(repeating: "x", count: 129)
            let replaced = try await olla.post(
                "/olla/lmstudio/v1/chat/completions",
                json: chatBody("qwen2.5-7b-instruct"),
                headers: [("X-Request-ID", long)]
            )
            #expect(replaced.headers.first(name: "X-Olla-Request-ID") != long)

            // Errors olla makes itself carry the request id, and the others once a model is known.
            let unknown = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("nope"))
            #expect(unknown.headers.first(name: "X-Olla-Request-ID") != nil)
        }
    }

    @Test func streamedAnswerEndsWithAResponseTimeTrailerWhenAsked() async throws {
        try await OllaHarness.with(hosts: [simHost("studio-a", models: [SimulatedModel(id: "m")], tokens: 3)]) { olla in
            let raw = try await RawHTTPConnection.exchange(
                port: olla.port,
                "POST /olla/lmstudio/v1/chat/completions HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nContent-Type: application/json\r\nContent-Length: \(chatBody("m", stream: true).utf8.count)\r\nConnection: close\r\n\r\n\(chatBody("m", stream: true))"
            )
            #expect(raw.contains("Trailer: X-Olla-Response-Time") || raw.contains("trailer: X-Olla-Response-Time"))
            #expect(
                raw.range(
                    of: "\r\n0\r\nX-Olla-Response-Time: \\d+ms\r\n\r\n",
                    options: [.regularExpression, .caseInsensitive]
                ) != nil
            )
        }
    }
}
