import Foundation
import LMStudioSim
import NIOCore
import NIOHTTP1
import Testing

@testable import App

/// Every error of DESIGN.md 6.5 with its status and code.
@Suite(.serialized, .endToEnd) struct ErrorTests {
    static let hosts = [
        simHost("studio-a", models: [SimulatedModel(id: "qwen2.5-7b-instruct")]),
        simHost("studio-b", models: [SimulatedModel(id: "meta-llama-3.1-8b-instruct")]),
    ]

    func code(_ response: OllaHarness.Response) throws -> String? {
        try (response.json()["error"] as? [String: Any])?["code"] as? String
    }

    @Test func bodyThatIsNotJSONIs400() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            for body in ["not json", "{\"model\":\"qwen2.5-7b-instruct\",", "[1,2]", "", "{\"model\":\"x\"} trailing"] {
                let answer = try await olla.post("/olla/lmstudio/v1/chat/completions", json: body)
                #expect(answer.status == .badRequest, "\(body)")
                #expect(try code(answer) == "invalid_request")
            }
        }
    }

    @Test func modelThatIsNotAStringIs400() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            let answer = try await olla.post(
                "/olla/lmstudio/v1/chat/completions",
                json: "{\"model\":42,\"messages\":[]}"
            )
            #expect(answer.status == .badRequest)
            #expect(try code(answer) == "invalid_request")
        }
    }

    @Test func unknownModelIs404() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            let answer = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("mistral-7b"))
            #expect(answer.status == .notFound)
            #expect(try code(answer) == "model_not_found")
        }
    }

    @Test func modelWhoseHostsAreDownIs503WithRetryAfter() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            try await olla.host("studio-b").updateFaults { $0.refuseConnections = true }
            try await olla.waitUntil("studio-b is out of rotation") { olla.endpoint("studio-b").status != .healthy }
            let answer = try await olla.post(
                "/olla/lmstudio/v1/chat/completions",
                json: chatBody("meta-llama-3.1-8b-instruct")
            )
            #expect(answer.status == .serviceUnavailable)
            #expect(try code(answer) == "model_unavailable")
            let retry = try #require(answer.headers.first(name: "Retry-After").flatMap { Int($0) })
            #expect(retry >= 1)
            // The other model is still served.
            let other = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("qwen2.5-7b-instruct"))
            #expect(other.status == .ok)
        }
    }

    @Test func bodyOverMaxBodySizeIs413() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { configuration, _ in
            configuration.server.maxBodySize = 1024
        } _: { olla in
            let big = chatBody("qwen2.5-7b-instruct", extra: "\"pad\":\"\(String(repeating: "x", count: 2000))\"")
            let answer = try await olla.post("/olla/lmstudio/v1/chat/completions", json: big)
            #expect(answer.status == .payloadTooLarge)
            #expect(try code(answer) == "request_too_large")
            // Chunked, without a Content-Length: refused while reading.
            let raw = try await RawHTTPConnection.exchange(
                port: olla.port,
                "POST /olla/lmstudio/v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "400\r\n\(String(repeating: "y", count: 1024))\r\n400\r\n\(String(repeating: "y", count: 1024))\r\n"
            )
            #expect(raw.hasPrefix("HTTP/1.1 413"))
        }
    }

    @Test func headersOverMaxHeaderSizeAre431() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { configuration, _ in
            configuration.server.maxHeaderSize = 1024
        } _: { olla in
            let raw = try await RawHTTPConnection.exchange(
                port: olla.port,
                "GET /olla/lmstudio/v1/models HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "z", count: 2048))\r\n\r\n"
            )
            #expect(raw.hasPrefix("HTTP/1.1 431"))
            #expect(raw.contains("request_too_large"))
        }
    }

    @Test func hostsOwnErrorIsPassedThroughUnchanged() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            try await olla.host("studio-a").updateFaults { $0.noModelsLoaded = true }
            let answer = try await olla.post(
                "/olla/lmstudio/v1/chat/completions",
                json: chatBody("qwen2.5-7b-instruct")
            )
            let direct = try await olla.send(
                .POST,
                url: olla.host("studio-a").baseURL + "/v1/chat/completions",
                headers: [("Content-Type", "application/json")],
                body: ByteBuffer(string: chatBody("qwen2.5-7b-instruct"))
            )
            #expect(answer.status == .badRequest)
            #expect(answer.body == direct.body)
            #expect(answer.text.contains("No models loaded"))
            #expect(answer.headers.first(name: "X-Olla-Endpoint") == "studio-a")
        }
    }

    @Test func malformedRequestHeadIs400AndTheConnectionCloses() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            let raw = try await RawHTTPConnection.exchange(port: olla.port, "GARBAGE / HTTP/9.9\r\n\r\n")
            #expect(raw.hasPrefix("HTTP/1.1 400"))
            #expect(raw.contains("invalid_request"))
        }
    }

    @Test func keepAliveAndPipelinedRequestsWork() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            let connection = try await RawHTTPConnection.connect(port: olla.port)
            let body = chatBody("qwen2.5-7b-instruct")
            try await connection.send(
                "GET /internal/health HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "POST /olla/lmstudio/v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
                    + "GET /version HTTP/1.1\r\nHost: x\r\n\r\n"
            )
            try await olla.waitUntil("three answers arrive") {
                connection.text.components(separatedBy: "HTTP/1.1 200 OK").count == 4
            }
            let text = connection.text
            let health = try #require(text.range(of: "\"status\":\"healthy\""))
            let chat = try #require(text.range(of: "chat.completion"))
            let version = try #require(text.range(of: "\"name\":\"olla\""))
            #expect(health.lowerBound < chat.lowerBound && chat.lowerBound < version.lowerBound)
            #expect(!connection.isClosed)
            await connection.close()
        }
    }

    /// Whole requests pipelined before one that cannot be parsed are all answered, in order; then the broken one
    /// gets its 400 and the connection closes.
    @Test func requestsPipelinedBeforeAMalformedOneAreStillAnswered() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            let connection = try await RawHTTPConnection.connect(port: olla.port)
            let body = chatBody("qwen2.5-7b-instruct")
            try await connection.send(
                "POST /olla/lmstudio/v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
                    + "GET /internal/health HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "GET /version HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n"
            )
            try await olla.waitUntil("the connection closes after the 400") { connection.isClosed }
            let text = connection.text
            let chat = try #require(text.range(of: "chat.completion"))
            let health = try #require(text.range(of: "\"status\":\"healthy\""))
            let refusal = try #require(text.range(of: "HTTP/1.1 400 Bad Request"))
            #expect(chat.lowerBound < health.lowerBound && health.lowerBound < refusal.lowerBound)
            #expect(text.components(separatedBy: "HTTP/1.1 200 OK").count == 3)
            #expect(!text.contains("\"name\":\"olla\""), "the malformed request is not answered as /version")
            await connection.close()
        }
    }
}
