import Balancer
import LMStudioSim
import NIOHTTP1
import Testing

@testable import App

/// Which host answers, through olla in front of simulated hosts (DESIGN.md 6.2): each rule of the priority
/// strategy, `max_concurrency` spill-over, and the two strategies that ignore priority.
@Suite(.serialized, .endToEnd) struct SelectionTests {
    static let route = "/olla/lmstudio/v1/chat/completions"

    /// A host whose full answer takes about a second (20 tokens, 50 ms apart); `max_tokens: 1` makes it quick.
    static func host(_ name: String, state: SimulatedModel.State = .loaded) -> SimulatorConfiguration {
        simHost(name, models: [SimulatedModel(id: "m", state: state)], tokens: 20, tokenDelay: .milliseconds(50))
    }

    static let quick = chatBody("m", extra: "\"max_tokens\":1")

    /// Sends `count` quick requests one after another and returns the hosts that answered, in order.
    static func answeringHosts(_ olla: OllaHarness, count: Int) async throws -> [String] {
        var hosts: [String] = []
        for _ in 0..<count {
            let answer = try await olla.post(route, json: quick)
            #expect(answer.status == .ok)
            hosts.append(answer.headers.first(name: "X-Olla-Endpoint") ?? "-")
        }
        return hosts
    }

    /// Hosts "high" (priority 200) and "low" (100) under the given strategy.
    static func withHighAndLow(
        strategy: LoadBalancerStrategy = .priority,
        highMaxConcurrency: Int = 0,
        _ body: (OllaHarness) async throws -> Void
    ) async throws {
        try await OllaHarness.with(hosts: [host("high"), host("low")]) { configuration, _ in
            configuration.proxy.loadBalancer = strategy
            configuration.endpoints[0].priority = 200
            configuration.endpoints[0].maxConcurrency = highMaxConcurrency
            configuration.endpoints[1].priority = 100
        } _: { olla in
            try await body(olla)
        }
    }

    static func inFlight(_ olla: OllaHarness, _ name: String) -> Int {
        olla.endpoint(name).inFlight.load(ordering: .relaxed)
    }

    @Test func higherPriorityTierTakesEveryRequest() async throws {
        try await OllaHarness.with(hosts: [Self.host("low"), Self.host("high")]) { configuration, _ in
            configuration.endpoints[0].priority = 100
            configuration.endpoints[1].priority = 200
        } _: { olla in
            let answered1 = try await Self.answeringHosts(olla, count: 6)
            #expect(answered1 == Array(repeating: "high", count: 6))
            #expect(olla.host("low").stats.requestsByRoute["POST /v1/chat/completions"] == nil)
        }
    }

    @Test func hostWithTheModelLoadedWinsInsideATier() async throws {
        try await OllaHarness.with(hosts: [Self.host("cold", state: .notLoaded), Self.host("warm")]) { olla in
            let answered2 = try await Self.answeringHosts(olla, count: 6)
            #expect(answered2 == Array(repeating: "warm", count: 6))
        }
    }

    @Test func hostWithFewerRequestsInFlightWinsInsideATier() async throws {
        // Requests without an affinity key are placed so; with one (every chat has messages), rendezvous hashing
        // places them (AffinityTests).
        try await OllaHarness.with(hosts: [Self.host("a"), Self.host("b")]) { configuration, _ in
            configuration.proxy.stickySessions.enabled = false
        } _: { olla in
            // Without load the two take turns (round-robin after the other rules).
            let answered3 = try await Self.answeringHosts(olla, count: 4)
            #expect(Set(answered3) == ["a", "b"])
            async let slow = olla.post(Self.route, json: chatBody("m"))
            try await olla.waitUntil("the slow request runs") {
                Self.inFlight(olla, "a") + Self.inFlight(olla, "b") == 1
            }
            let idle = Self.inFlight(olla, "a") == 0 ? "a" : "b"
            let answered4 = try await Self.answeringHosts(olla, count: 4)
            #expect(answered4 == Array(repeating: idle, count: 4))
            let busy = try await slow
            #expect(busy.status == .ok)
            #expect(busy.headers.first(name: "X-Olla-Endpoint") != idle)
        }
    }

    @Test func fullHostOfTheHigherTierSpillsOverToTheLowerOne() async throws {
        try await Self.withHighAndLow(highMaxConcurrency: 1) { olla in
            async let slow = olla.post(Self.route, json: chatBody("m"))
            try await olla.waitUntil("the slow request holds the high host") { Self.inFlight(olla, "high") == 1 }
            // Neither queued (the high host frees only after a second) nor refused: the lower tier has room.
            let answered5 = try await Self.answeringHosts(olla, count: 3)
            #expect(answered5 == ["low", "low", "low"])
            #expect(try await slow.headers.first(name: "X-Olla-Endpoint") == "high")
            // With room again, the higher tier is back to taking everything.
            try await olla.waitUntil("the high host is free") { Self.inFlight(olla, "high") == 0 }
            let answered6 = try await Self.answeringHosts(olla, count: 2)
            #expect(answered6 == ["high", "high"])
        }
    }

    @Test func roundRobinIgnoresPriority() async throws {
        try await Self.withHighAndLow(strategy: .roundRobin) { olla in
            let hosts = try await Self.answeringHosts(olla, count: 6)
            #expect(hosts.filter { $0 == "high" }.count == 3)
            #expect(hosts.filter { $0 == "low" }.count == 3)
            // Strict turns: never the same host twice in a row.
            #expect(zip(hosts, hosts.dropFirst()).allSatisfy { $0 != $1 })
        }
    }

    @Test func leastConnectionsIgnoresPriorityAndSpreadsConcurrentRequests() async throws {
        try await Self.withHighAndLow(strategy: .leastConnections) { olla in
            async let first = olla.post(Self.route, json: chatBody("m"))
            try await olla.waitUntil("the first request runs") {
                Self.inFlight(olla, "high") + Self.inFlight(olla, "low") == 1
            }
            async let second = olla.post(Self.route, json: chatBody("m"))
            try await olla.waitUntil("the second request runs") {
                Self.inFlight(olla, "high") + Self.inFlight(olla, "low") == 2
            }
            // The priority strategy would have put both on "high"; least-connections puts one on each.
            #expect(Self.inFlight(olla, "high") == 1 && Self.inFlight(olla, "low") == 1)
            let answers = try await [first, second]
            #expect(Set(answers.compactMap { $0.headers.first(name: "X-Olla-Endpoint") }) == ["high", "low"])
        }
    }

    @Test func priorityStrategyKeepsConcurrentRequestsOnTheHigherTier() async throws {
        try await Self.withHighAndLow { olla in
            async let first = olla.post(Self.route, json: chatBody("m"))
            async let second = olla.post(Self.route, json: chatBody("m"))
            try await olla.waitUntil("both requests run") { Self.inFlight(olla, "high") == 2 }
            #expect(Self.inFlight(olla, "low") == 0)
            let answers = try await [first, second]
            #expect(answers.allSatisfy { $0.headers.first(name: "X-Olla-Endpoint") == "high" })
        }
    }
}
