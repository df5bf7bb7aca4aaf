import Balancer
import Foundation
import LMStudioSim
import NIOCore
import Testing

@testable import App

/// Answers stream back part by part as the host produces them (DESIGN.md 6.4).
@Suite(.serialized, .endToEnd) struct StreamingTests {
    @Test func firstChunkArrivesLongBeforeTheLast() async throws {
        let host = simHost("studio-a", models: [SimulatedModel(id: "m")], tokens: 6, tokenDelay: .milliseconds(100))
        try await OllaHarness.with(hosts: [host]) { olla in
            let answer = try await olla.stream("/olla/lmstudio/v1/chat/completions", json: chatBody("m", stream: true))
            #expect(answer.status == .ok)
            #expect(answer.headers.first(name: "Content-Type")?.hasPrefix("text/event-stream") == true)
            let events = answer.events
            #expect(events.last == "[DONE]")
            #expect(events.count >= 7)
            let first = try #require(answer.parts.first).at
            let last = try #require(answer.parts.last).at
            // Six tokens 100 ms apart: the last part comes at least ~500 ms after the first.
            #expect(last - first >= .milliseconds(400))
            // "Long before": the first part comes sooner after the request than the last after the first.
            #expect(first - answer.startedAt < last - first)
            #expect(answer.parts.count >= 5)
        }
    }

    @Test func clientThatLeavesStopsTheHostsWork() async throws {
        let host = simHost("studio-a", models: [SimulatedModel(id: "m")], tokens: 50, tokenDelay: .milliseconds(50))
        try await OllaHarness.with(hosts: [host]) { olla in
            let partial = try await olla.stream(
                "/olla/lmstudio/v1/chat/completions",
                json: chatBody("m", stream: true),
                maxParts: 2
            )
            #expect(partial.parts.count == 2)
            try await olla.waitUntil("the host sees the client leave", timeout: .seconds(3)) {
                olla.host("studio-a").stats.clientDisconnects == 1
            }
            try await olla.waitUntil("olla releases the slot") {
                olla.endpoint("studio-a").inFlight.load(ordering: .relaxed) == 0
            }
            #expect(
                olla.host("studio-a").stats.completed == 0
                    || olla.host("studio-a").stats.requestsByRoute["POST /v1/chat/completions"] == 1
            )
        }
    }

    @Test func plainAnswerKeepsItsContentLength() async throws {
        try await OllaHarness.with(hosts: [simHost("studio-a", models: [SimulatedModel(id: "m")])]) { olla in
            let answer = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("m"))
            #expect(answer.headers.first(name: "Content-Length") == String(answer.body.readableBytes))
        }
    }

    /// A client that stops reading makes olla stop reading the host (DESIGN.md 6.4, a bounded buffer per
    /// stream): the host's writes stall instead of piling up in olla.
    @Test func slowClientPausesReadingFromTheHost() async throws {
        try await FloodingHost.withRunning(chunks: 512, chunkSize: 64 * 1024) { host in
            try await OllaHarness.with(hosts: []) { configuration, _ in
                configuration.endpoints = [host.endpoint(named: "flood")]
            } _: { olla in
                let client = try await RawHTTPConnection.connect(port: olla.port, autoRead: false, receiveBuffer: 4096)
                let body = chatBody("m", stream: true)
                try await client.send(
                    "POST /olla/lmstudio/v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
                )
                client.read()
                try await olla.waitUntil("the head arrived") { client.receivedCount > 0 }
                // 32 MB offered at once. Olla stops reading once its client is not writable, so the host's writes
                // stall after the socket buffers on the way (a few MB) fill; without back-pressure olla would read
                // all of it into its own memory within moments.
                try await olla.waitUntil("the host's writes stall") { host.stalled }
                let written = host.bytesWritten
                #expect(written < 20 * 1024 * 1024, "\(written) of 32 MB left the host")
                #expect(client.receivedCount < 100_000, "the client read once: \(client.receivedCount) bytes")
                await client.close()
                try await olla.waitUntil("the slot is released") {
                    olla.endpoint("flood").inFlight.load(ordering: .relaxed) == 0
                }
            }
        }
    }
}
