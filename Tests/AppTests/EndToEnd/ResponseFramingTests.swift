import Foundation
import LMStudioSim
import Testing

@testable import App

/// The framing olla writes itself now that heads and bodies go out as bytes (no NIO response encoder): an answer
/// to `HEAD` has no body, `100 Continue` comes before the answer, an HTTP/1.0 client gets a stream without chunks,
/// and an HTTP/1.1 client gets chunks that decode to the host's body.
@Suite(.serialized, .endToEnd) struct ResponseFramingTests {
    static let hosts = [simHost("studio-a", models: [SimulatedModel(id: "m")], tokens: 3)]

    @Test func answersToHeadHaveNoBodyAndTheConnectionGoesOn() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            // A proxied HEAD (the host's answer has a length but no body), a local HEAD, then a GET that closes.
            let raw = try await RawHTTPConnection.exchange(
                port: olla.port,
                "HEAD /olla/lmstudio/v1/models/m HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "HEAD /internal/health HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "GET /internal/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            let answers = raw.components(separatedBy: "HTTP/1.1 ").dropFirst()
            #expect(answers.count == 3, "\(raw)")
            let heads = Array(answers)
            // Nothing after the empty line of either HEAD answer, though the local one says its length.
            #expect(heads.count == 3 && heads[0].hasSuffix("\r\n\r\n") && heads[1].hasSuffix("\r\n\r\n"), "\(raw)")
            #expect(heads.count == 3 && heads[1].lowercased().contains("content-length: 20\r\n"), "\(raw)")
            #expect(raw.hasSuffix("{\"status\":\"healthy\"}"), "\(raw)")
        }
    }

    @Test func expectContinueGetsTheInterimAnswerBeforeTheBody() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            let body = chatBody("m")
            let connection = try await RawHTTPConnection.connect(port: olla.port)
            try await connection.send(
                "POST /olla/lmstudio/v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + "Expect: 100-continue\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n"
            )
            try await OllaHarness.waitUntil("100 Continue arrives") { connection.text.contains("\r\n\r\n") }
            #expect(connection.text == "HTTP/1.1 100 Continue\r\n\r\n")
            try await connection.send(body)
            try await OllaHarness.waitUntil("the answer ends") { connection.isClosed }
            #expect(connection.text.hasPrefix("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"), "\(connection.text)")
            await connection.close()
        }
    }

    @Test func anHTTP10ClientGetsTheStreamWithoutChunksUntilTheClose() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            let body = chatBody("m", stream: true)
            let raw = try await RawHTTPConnection.exchange(
                port: olla.port,
                "POST /olla/lmstudio/v1/chat/completions HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
            )
            #expect(raw.hasPrefix("HTTP/1.0 200 OK\r\n"), "\(raw)")
            #expect(!raw.lowercased().contains("transfer-encoding"), "\(raw)")
            #expect(raw.lowercased().contains("connection: close\r\n"), "\(raw)")
            let parts = raw.components(separatedBy: "\r\n\r\n")
            #expect(parts.count >= 2 && parts[1].hasPrefix("data: {"), "\(raw)")
            #expect(raw.hasSuffix("data: [DONE]\n\n"), "\(raw)")
        }
    }

    @Test func aStreamToAnHTTP11ClientIsChunksThatDecodeToTheHostsEvents() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            let body = chatBody("m", stream: true)
            let raw = try await RawHTTPConnection.exchange(
                port: olla.port,
                "POST /olla/lmstudio/v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
            )
            let split = try #require(raw.range(of: "\r\n\r\n"), "\(raw)")
            #expect(raw[..<split.lowerBound].lowercased().contains("transfer-encoding: chunked"), "\(raw)")
            // Decode the chunks: each is `<hex>\r\n<bytes>\r\n`, the last `0\r\n\r\n`.
            var rest = Array(raw[split.upperBound...].utf8)
            var decoded: [UInt8] = []
            var sawLast = false
            while let lineEnd = rest.firstIndex(of: UInt8(ascii: "\r")) {
                let size = try #require(Int(String(decoding: rest[..<lineEnd], as: UTF8.self), radix: 16), "\(raw)")
                rest.removeFirst(lineEnd + 2)
                if size == 0 {
                    sawLast = rest == Array("\r\n".utf8)
                    break
                }
                decoded += rest[..<size]
                #expect(Array(rest[size..<(size + 2)]) == Array("\r\n".utf8))
                rest.removeFirst(size + 2)
            }
            #expect(sawLast, "\(raw)")
            let events = String(decoding: decoded, as: UTF8.self)
            #expect(events.hasPrefix("data: {"), "\(events)")
            #expect(events.hasSuffix("data: [DONE]\n\n"), "\(events)")
        }
    }
}
