import Balancer
import Foundation
import LMStudioSim
import NIOCore
import Testing

@testable import App

/// olla's own limits on slow or greedy clients (README, design notes): `server.read_timeout`,
/// `server.idle_timeout` and `server.max_connections`. 413 and 431 are pinned in EndToEnd/ErrorTests.swift.
@Suite(.endToEnd) struct ClientLimitTests {
    static let hosts = [simHost("studio-a", models: [SimulatedModel(id: "qwen2.5-7b-instruct")])]
    static let chatHead =
        "POST /olla/lmstudio/v1/chat/completions HTTP/1.1\r\nHost: olla\r\nContent-Type: application/json\r\n"
    static let health = "GET /internal/health HTTP/1.1\r\nHost: olla\r\n\r\n"

    /// Sends `body` a few bytes at a time, `pause` apart, until it is all sent or the server closed.
    static func trickle(_ body: String, pieces: Int, pause: Duration, on connection: RawHTTPConnection) async {
        let bytes = Array(body.utf8)
        let size = max(1, bytes.count / pieces)
        var offset = 0
        while offset < bytes.count, !connection.isClosed {
            let end = min(bytes.count, offset + size)
            try? await connection.send(String(decoding: bytes[offset..<end], as: UTF8.self))
            offset = end
            if offset < bytes.count { try? await Task.sleep(for: pause) }
        }
    }

    @Test func readTimeoutCutsAClientThatSendsItsBodyTooSlowlyWith408() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { configuration, _ in
            configuration.server.readTimeout = .milliseconds(600)
        } _: { olla in
            let body = chatBody("qwen2.5-7b-instruct")
            let connection = try await RawHTTPConnection.connect(port: olla.port)
            let clock = ContinuousClock()
            let started = clock.now
            try await connection.send(Self.chatHead + "Content-Length: \(body.utf8.count)\r\n\r\n")
            // 20 pieces 200 ms apart: 4 s for the whole body, far past the 600 ms allowed.
            async let trickling: Void = Self.trickle(body, pieces: 20, pause: .milliseconds(200), on: connection)
            try await olla.waitUntil("olla cuts the slow client", timeout: .seconds(5)) { connection.isClosed }
            let elapsed = clock.now - started
            await trickling
            #expect(connection.text.hasPrefix("HTTP/1.1 408"), "\(connection.text)")
            #expect(connection.text.contains("request_timeout"))
            #expect(elapsed >= .milliseconds(550), "not before read_timeout: \(elapsed)")
            #expect(elapsed < .seconds(3), "at read_timeout, not at the end of the body: \(elapsed)")
            #expect(olla.host("studio-a").stats.requestsByRoute["POST /v1/chat/completions"] == nil)
        }
    }

    @Test func readTimeoutLeavesAClientThatSendsItsBodyInTime() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { configuration, _ in
            configuration.server.readTimeout = .seconds(2)
        } _: { olla in
            let body = chatBody("qwen2.5-7b-instruct")
            let connection = try await RawHTTPConnection.connect(port: olla.port)
            try await connection.send(Self.chatHead + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n")
            await Self.trickle(body, pieces: 3, pause: .milliseconds(150), on: connection)
            try await olla.waitUntil("the answer arrives") { connection.isClosed }
            #expect(connection.text.hasPrefix("HTTP/1.1 200"), "\(connection.text)")
            #expect(connection.text.contains("chat.completion"))
        }
    }

    @Test func idleTimeoutCutsAClientThatSendsHalfAHeadAndStops() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { configuration, _ in
            configuration.server.idleTimeout = .milliseconds(500)
            configuration.server.readTimeout = .seconds(30)
        } _: { olla in
            let clock = ContinuousClock()
            let half = try await RawHTTPConnection.connect(port: olla.port)
            let started = clock.now
            try await half.send("GET /internal/health HTTP/1.1\r\nHost: olla\r\nX-Half-")
            try await olla.waitUntil("olla closes the half-sent request", timeout: .seconds(5)) { half.isClosed }
            let elapsed = clock.now - started
            #expect(elapsed >= .milliseconds(450), "not before idle_timeout: \(elapsed)")
            #expect(elapsed < .seconds(3), "\(elapsed)")

            // A kept-alive connection with nothing more to ask is closed after the same time.
            let kept = try await RawHTTPConnection.connect(port: olla.port)
            try await kept.send(Self.health)
            try await olla.waitUntil("the health answer arrives") { kept.text.contains("{\"status\":\"healthy\"}") }
            let answered = clock.now
            try await olla.waitUntil("olla closes the idle connection", timeout: .seconds(5)) { kept.isClosed }
            // `answered` is when the polling loop saw the answer, which on a loaded machine can be well after
            // it arrived: only "not at once" is certain from this side.
            #expect(clock.now - answered >= .milliseconds(200), "\(clock.now - answered)")
        }
    }

    @Test func maxConnectionsClosesTheConnectionOverTheLimitAtOnce() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { configuration, _ in
            configuration.server.maxConnections = 2
        } _: { olla in
            let first = try await RawHTTPConnection.connect(port: olla.port)
            let second = try await RawHTTPConnection.connect(port: olla.port)
            for connection in [first, second] {
                try await connection.send(Self.health)
                try await olla.waitUntil("an admitted connection is answered") {
                    connection.text.contains("{\"status\":\"healthy\"}")
                }
            }
            let third = try await RawHTTPConnection.connect(port: olla.port)
            try await olla.waitUntil("the third connection is closed at once", timeout: .seconds(1)) { third.isClosed }
            #expect(third.text.isEmpty)
            // The two admitted connections still work.
            try await first.send(Self.health)
            try await olla.waitUntil("the first connection answers again") {
                first.text.components(separatedBy: "{\"status\":\"healthy\"}").count == 3
            }
            #expect(!second.isClosed)

            // Once one closes, there is room again.
            await first.close()
            try await olla.waitUntil("olla counts the closed connection") {
                olla.application.services.openConnections == 1
            }
            let fourth = try await RawHTTPConnection.connect(port: olla.port)
            try await fourth.send(Self.health)
            try await olla.waitUntil("a new connection is admitted") { fourth.text.contains("healthy") }
            await second.close()
            await fourth.close()
        }
    }
}
