import Foundation
import LMStudioSim
import NIOHTTP1
import Testing

/// Streamed answers: one event per token on the configured clock, and what happens when a client
/// leaves or waits for the one slot of a host that serves a request at a time.
@Suite struct StreamingTests {
    @Test func streamsOneEventPerTokenWithTheConfiguredDelays() async throws {
        let configuration = SimulatorConfiguration(
            name: "sim-s",
            tokensPerAnswer: 5,
            tokenDelay: .milliseconds(50),
            timeToFirstToken: .milliseconds(20)
        )
        try await LMStudioSimulator.withRunning(configuration: configuration) { host in
            let connection = try await TestConnection.open(port: host.port)
            let sent = ContinuousClock.now
            connection.send(.POST, "/v1/chat/completions", body: chatBody(stream: true))
            let response = try await connection.response()
            await connection.close()
            #expect(response.status == .ok)
            #expect(response.complete)
            #expect(response.headers["Content-Type"] == ["text/event-stream"])
            #expect(response.headers["Transfer-Encoding"] == ["chunked"])
            #expect(response.headers["X-Sim-Host"] == ["sim-s"])
            let events = response.events
            // The greeting with the role, five tokens, the closing event, [DONE].
            #expect(events.count == 8)
            #expect(events.last?.data == "[DONE]")
            let chunks = try events.dropLast().map { event in
                try #require(try JSONSerialization.jsonObject(with: Data(event.data.utf8)) as? [String: Any])
            }
            let deltas = chunks.map { ($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any] }
            #expect(deltas.first??["role"] as? String == "assistant")
            #expect(deltas.first??["content"] as? String == "Hello from sim-s.")
            #expect(deltas[1]?["content"] as? String == " token1")
            #expect(deltas[5]?["content"] as? String == " token5")
            #expect(deltas.last??.isEmpty == true)
            let finishReasons = chunks.map { ($0["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String }
            #expect(finishReasons.last == "stop")
            #expect(finishReasons.dropLast().allSatisfy { $0 == nil })
            #expect(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
            #expect(chunks.allSatisfy { $0["model"] as? String == chatModel })
            #expect(chunks.allSatisfy { $0["system_fingerprint"] as? String == "sim-s" })
            // 20 ms to the first event, then five tokens 50 ms apart: the host cannot be done before 270 ms.
            // The client may notice an event late (the machine is shared), so the spacing has slack.
            let firstEvent = try #require(events.first).at
            let lastEvent = try #require(events.last).at
            #expect(firstEvent - sent >= .milliseconds(18))
            #expect(lastEvent - sent >= .milliseconds(268))
            #expect(lastEvent - firstEvent >= .milliseconds(150))
        }
    }

    @Test func streamsTextCompletionsInTheirOwnShape() async throws {
        try await LMStudioSimulator.withRunning(
            configuration: SimulatorConfiguration(name: "sim-t", tokensPerAnswer: 2)
        ) { host in
            let body = #"{"model":"\#(chatModel)","prompt":"Once","stream":true}"#
            let response = try await exchange(port: host.port, .POST, "/v1/completions", body: body)
            let events = response.events
            #expect(events.count == 5)
            #expect(events.last?.data == "[DONE]")
            let texts = events.dropLast().map { event -> String? in
                let json = try? JSONSerialization.jsonObject(with: Data(event.data.utf8)) as? [String: Any]
                #expect(json?["object"] as? String == "text_completion")
                return (json?["choices"] as? [[String: Any]])?.first?["text"] as? String
            }
            #expect(texts == ["Hello from sim-t.", " token1", " token2", ""])
        }
    }

    @Test func countsAClientThatLeavesMidStreamAndStopsProducing() async throws {
        let configuration = SimulatorConfiguration(name: "sim-d", tokensPerAnswer: 40, tokenDelay: .milliseconds(25))
        try await LMStudioSimulator.withRunning(configuration: configuration) { host in
            let connection = try await TestConnection.open(port: host.port)
            connection.send(.POST, "/v1/chat/completions", body: chatBody(stream: true))
            #expect(await eventually { (connection.partialResponse?.events.count ?? 0) >= 2 })
            #expect(host.stats.inFlight == 1)
            await connection.close()
            #expect(await eventually { host.stats.clientDisconnects == 1 })
            #expect(host.stats.inFlight == 0)
            #expect(host.stats.completed == 0)
        }
    }

    @Test func countsAClientThatLeavesWhileWaitingForTheFirstToken() async throws {
        let configuration = SimulatorConfiguration(name: "sim-w", timeToFirstToken: .seconds(30))
        try await LMStudioSimulator.withRunning(configuration: configuration) { host in
            let connection = try await TestConnection.open(port: host.port)
            connection.send(.POST, "/v1/chat/completions", body: chatBody())
            #expect(await eventually { host.stats.inFlight == 1 })
            await connection.close()
            #expect(await eventually { host.stats.clientDisconnects == 1 && host.stats.inFlight == 0 })
        }
    }

    @Test func withOneSlotASecondRequestStartsOnlyAfterTheFirstEnds() async throws {
        let configuration = SimulatorConfiguration(
            name: "sim-1",
            tokensPerAnswer: 3,
            tokenDelay: .milliseconds(100),
            maxConcurrentRequests: 1
        )
        try await LMStudioSimulator.withRunning(configuration: configuration) { host in
            let first = try await TestConnection.open(port: host.port)
            let second = try await TestConnection.open(port: host.port)
            let firstSent = ContinuousClock.now
            first.send(.POST, "/v1/chat/completions", body: chatBody(stream: true))
            #expect(await eventually { host.stats.inFlight == 1 })
            second.send(.POST, "/v1/chat/completions", body: chatBody(stream: true))
            #expect(await eventually { host.stats.queued == 1 })
            // Queued requests wait: no head before the first answer is over.
            #expect(!second.hasSeenHead)
            let firstResponse = try await first.response()
            let secondResponse = try await second.response()
            await first.close()
            await second.close()
            // The first answer takes 300 ms (3 tokens, 100 ms apart) and the second starts after it. The
            // two connections are read on different threads, so their arrival times get some slack.
            let firstEnd = try #require(firstResponse.events.last).at
            let secondStart = try #require(secondResponse.events.first).at
            #expect(secondStart - firstSent >= .milliseconds(295))
            #expect(secondStart >= firstEnd - .milliseconds(50))
            #expect(secondResponse.complete && secondResponse.events.last?.data == "[DONE]")
            let stats = host.stats
            #expect(stats.maxInFlightSeen == 1)
            #expect(stats.queued == 0 && stats.inFlight == 0)
            #expect(stats.completed == 2)
        }
    }

    @Test func aQueuedClientThatLeavesGivesUpItsPlace() async throws {
        let configuration = SimulatorConfiguration(
            name: "sim-q",
            timeToFirstToken: .milliseconds(1500),  // long enough that the queue holds while the test looks
            maxConcurrentRequests: 1
        )
        try await LMStudioSimulator.withRunning(configuration: configuration) { host in
            let first = try await TestConnection.open(port: host.port)
            let leaver = try await TestConnection.open(port: host.port)
            let third = try await TestConnection.open(port: host.port)
            first.send(.POST, "/v1/chat/completions", body: chatBody())
            #expect(await eventually { host.stats.inFlight == 1 })
            leaver.send(.POST, "/v1/chat/completions", body: chatBody())
            #expect(await eventually { host.stats.queued == 1 })
            third.send(.POST, "/v1/chat/completions", body: chatBody())
            #expect(await eventually { host.stats.queued == 2 })
            await leaver.close()
            #expect(await eventually { host.stats.queued == 1 && host.stats.clientDisconnects == 1 })
            #expect(try await first.response().status == .ok)
            #expect(try await third.response().status == .ok)
            await first.close()
            await third.close()
            #expect(host.stats.completed == 2)
            #expect(host.stats.maxInFlightSeen == 1)
        }
    }
}
