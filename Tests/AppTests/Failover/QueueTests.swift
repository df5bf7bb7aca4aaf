import Balancer
import Foundation
import LMStudioSim
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import Testing

@testable import App

/// Requests wait in a FIFO queue when every host with the model is at its `max_concurrency` (DESIGN.md 6.4).
@Suite(.serialized, .endToEnd) struct QueueTests {
    /// A slow answer: about `tokens` x 50 ms.
    static func slowHost(_ name: String, tokens: Int = 6) -> SimulatorConfiguration {
        simHost(name, models: [SimulatedModel(id: "m")], tokens: tokens, tokenDelay: .milliseconds(50))
    }

    @Test func maxConcurrencyOneOnTwoHostsSpreadsTwoSlowRequests() async throws {
        try await OllaHarness.with(hosts: [Self.slowHost("a"), Self.slowHost("b")]) { configuration, _ in
            for index in configuration.endpoints.indices { configuration.endpoints[index].maxConcurrency = 1 }
        } _: { olla in
            async let first = olla.stream("/olla/lmstudio/v1/chat/completions", json: chatBody("m", stream: true))
            async let second = olla.stream("/olla/lmstudio/v1/chat/completions", json: chatBody("m", stream: true))
            let answers = try await [first, second]
            let hosts = Set(answers.compactMap { $0.headers.first(name: "X-Olla-Endpoint") })
            #expect(hosts == ["a", "b"])
            #expect(answers.allSatisfy { $0.events.last == "[DONE]" })
            #expect(olla.host("a").stats.maxInFlightSeen == 1 && olla.host("b").stats.maxInFlightSeen == 1)
        }
    }

    @Test func queuedRequestsAreServedInArrivalOrder() async throws {
        try await OllaHarness.with(hosts: [Self.slowHost("a", tokens: 10)]) { configuration, _ in
            configuration.endpoints[0].maxConcurrency = 1
        } _: { olla in
            let order = OrderLog()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<4 {
                    group.addTask {
                        let answer = try await olla.post(
                            "/olla/lmstudio/v1/chat/completions",
                            json: chatBody("m", extra: "\"user\":\"r\(index)\"")
                        )
                        #expect(answer.status == .ok)
                        order.append(index)
                    }
                    // Let each one arrive (and queue) before the next: received by the host (running or done)
                    // plus waiting in olla's queue. Each answer takes ~500 ms, so this holds long enough to see.
                    try await olla.waitUntil("request \(index) reached the host or the queue") {
                        let received = olla.host("a").stats.requestsByRoute["POST /v1/chat/completions"] ?? 0
                        return received + olla.table.queue.count == index + 1
                    }
                }
                try await group.waitForAll()
            }
            #expect(order.values == [0, 1, 2, 3])
            #expect(olla.host("a").stats.maxInFlightSeen == 1)
        }
    }

    @Test func fullQueueIsOverloadedAtOnce() async throws {
        try await OllaHarness.with(hosts: [Self.slowHost("a", tokens: 10)]) { configuration, _ in
            configuration.endpoints[0].maxConcurrency = 1
            configuration.proxy.maxQueue = 1
        } _: { olla in
            async let running = olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("m"))
            try await olla.waitUntil("one request runs") { olla.endpoint("a").inFlight.load(ordering: .relaxed) == 1 }
            async let waiting = olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("m"))
            try await olla.waitUntil("one request waits") { olla.table.queue.count == 1 }
            let refused = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("m"))
            #expect(refused.status == .serviceUnavailable)
            #expect(try (refused.json()["error"] as? [String: Any])?["code"] as? String == "overloaded")
            #expect(refused.headers.first(name: "Retry-After") != nil)
            #expect(try await running.status == .ok)
            #expect(try await waiting.status == .ok)
        }
    }

    @Test func queueTimeoutIsOverloaded() async throws {
        try await OllaHarness.with(hosts: [Self.slowHost("a", tokens: 20)]) { configuration, _ in
            configuration.endpoints[0].maxConcurrency = 1
            configuration.proxy.queueTimeout = .milliseconds(300)
        } _: { olla in
            async let running = olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("m"))
            try await olla.waitUntil("one request runs") { olla.endpoint("a").inFlight.load(ordering: .relaxed) == 1 }
            let clock = ContinuousClock()
            let started = clock.now
            let timedOut = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("m"))
            #expect(timedOut.status == .serviceUnavailable)
            #expect(try (timedOut.json()["error"] as? [String: Any])?["code"] as? String == "overloaded")
            #expect(clock.now - started >= .milliseconds(280))
            #expect(olla.table.queue.count == 0)
            #expect(try await running.status == .ok)
        }
    }

    @Test func clientThatLeavesWhileQueuedLeavesTheQueue() async throws {
        try await OllaHarness.with(hosts: [Self.slowHost("a", tokens: 8)]) { configuration, _ in
            configuration.endpoints[0].maxConcurrency = 1
        } _: { olla in
            async let running = olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("m"))
            try await olla.waitUntil("one request runs") { olla.endpoint("a").inFlight.load(ordering: .relaxed) == 1 }
            let leaving = try await RawHTTPConnection.connect(port: olla.port)
            let body = chatBody("m")
            try await leaving.send(
                "POST /olla/lmstudio/v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            )
            try await olla.waitUntil("it waits in the queue") { olla.table.queue.count == 1 }
            await leaving.close()
            try await olla.waitUntil("it left the queue") { olla.table.queue.count == 0 }
            #expect(try await running.status == .ok)
            // The slot it would have had goes to nobody: the host sees exactly one request.
            try await olla.waitUntil("the slot is free") { olla.endpoint("a").inFlight.load(ordering: .relaxed) == 0 }
            #expect(olla.host("a").stats.requestsByRoute["POST /v1/chat/completions"] == 1)
        }
    }
}

/// Records the order in which concurrent requests finished.
final class OrderLog: Sendable {
    private let box = NIOLockedValueBox<[Int]>([])
    func append(_ value: Int) { box.withLockedValue { $0.append(value) } }
    var values: [Int] { box.withLockedValue { $0 } }
}
