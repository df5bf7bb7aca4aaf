import Testing

@testable import Balancer

@Suite struct EndpointSelectorTests {
    let model = [HostedModel(id: "m", state: .loaded)]

    @Test func highestPriorityTierWins() {
        let table = healthyTable(
            [endpoint("low", priority: 10), endpoint("high", priority: 200), endpoint("mid", priority: 100)],
            models: ["low": model, "high": model, "mid": model]
        )
        for _ in 0..<5 {
            #expect(table.choose("m") == "high")
        }
    }

    @Test func loadedHostBeforeNotLoadedInsideATier() {
        let table = healthyTable(
            [endpoint("cold"), endpoint("warm")],
            models: ["cold": [HostedModel(id: "m", state: .notLoaded)], "warm": [HostedModel(id: "m", state: .loaded)]]
        )
        #expect(table.choose("m") == "warm")
        #expect(table.choose("m") == "warm")
    }

    @Test func higherPriorityNotLoadedStillBeatsLowerPriorityLoaded() {
        let table = healthyTable(
            [endpoint("cold", priority: 200), endpoint("warm", priority: 100)],
            models: ["cold": [HostedModel(id: "m", state: .notLoaded)], "warm": [HostedModel(id: "m", state: .loaded)]]
        )
        #expect(table.choose("m") == "cold")
    }

    @Test func fewestInFlightInsideATier() {
        let table = healthyTable([endpoint("a"), endpoint("b")], models: ["a": model, "b": model])
        // Each acquire keeps its slot, so the next goes to the other host.
        let first = table.choose("m")
        let second = table.choose("m")
        #expect(first != nil && second != nil && first != second)
        let a = table.snapshot.endpoints[0]
        let b = table.snapshot.endpoints[1]
        #expect(a.inFlight.load(ordering: .relaxed) == 1 && b.inFlight.load(ordering: .relaxed) == 1)
    }

    @Test func tiesAreBrokenRoundRobin() {
        let table = healthyTable(
            [endpoint("a"), endpoint("b"), endpoint("c")],
            models: ["a": model, "b": model, "c": model]
        )
        var seen: [String: Int] = [:]
        for _ in 0..<30 {
            let name = table.choose("m")!
            seen[name, default: 0] += 1
            table.release(table.placement(table.snapshot.endpoint(named: name)!), outcome: nil)
        }
        #expect(seen.count == 3)
        #expect(seen.values.allSatisfy { $0 >= 5 })
    }

    @Test func hostAtMaxConcurrencySpillsToAnyTier() {
        let table = healthyTable(
            [endpoint("big", priority: 200, maxConcurrency: 1), endpoint("small", priority: 10)],
            models: ["big": model, "small": model]
        )
        #expect(table.choose("m") == "big")
        #expect(table.choose("m") == "small")
        table.release(table.placement(table.snapshot.endpoint(named: "big")!), outcome: nil)
        #expect(table.choose("m") == "big")
    }

    @Test func everyCandidateFullIsFullNotUnavailable() {
        let table = healthyTable([endpoint("a", maxConcurrency: 1)], models: ["a": model])
        let set = table.candidates("m")!
        #expect(table.choose("m") == "a")
        guard case .full = table.acquire(set, excluding: EndpointSet(), strategy: .priority) else {
            Issue.record("expected full")
            return
        }
    }

    @Test func unhealthyAndTriedHostsAreSkipped() {
        let table = healthyTable([endpoint("a", priority: 200), endpoint("b")], models: ["a": model, "b": model])
        var tried = EndpointSet()
        tried.insert(table.snapshot.endpoint(named: "a")!.ordinal)
        #expect(table.choose("m", excluding: tried) == "b")
        table.setStatus(.unhealthy, of: table.snapshot.endpoint(named: "b")!)
        guard case .unavailable = table.acquire(table.candidates("m")!, excluding: tried, strategy: .priority) else {
            Issue.record("expected unavailable")
            return
        }
    }

    @Test func leastConnectionsIgnoresPriority() {
        let table = healthyTable(
            [endpoint("high", priority: 200), endpoint("low", priority: 1)],
            models: ["high": model, "low": model],
            strategy: .leastConnections
        )
        #expect(table.choose("m") != nil)
        #expect(table.choose("m") != nil)
        #expect(table.snapshot.endpoints.allSatisfy { $0.inFlight.load(ordering: .relaxed) == 1 })
    }

    @Test func roundRobinIgnoresPriorityAndLoad() {
        let table = healthyTable(
            [endpoint("high", priority: 200), endpoint("low", priority: 1)],
            models: ["high": [HostedModel(id: "m", state: .loaded)], "low": [HostedModel(id: "m", state: .notLoaded)]],
            strategy: .roundRobin
        )
        var seen: [String: Int] = [:]
        for _ in 0..<20 {
            let name = table.choose("m")!
            seen[name, default: 0] += 1
            table.release(table.placement(table.snapshot.endpoint(named: name)!), outcome: nil)
        }
        #expect(seen["high"] == 10 && seen["low"] == 10)
    }

    @Test func inFlightCountsAreExactUnderConcurrency() async {
        let table = healthyTable(
            [endpoint("a", maxConcurrency: 8), endpoint("b", maxConcurrency: 8)],
            models: ["a": model, "b": model]
        )
        let set = table.candidates("m")!
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<2_000 {
                        if case .granted(let placement) = table.acquire(
                            set,
                            excluding: EndpointSet(),
                            strategy: .priority
                        ) {
                            let now = placement.endpoint.inFlight.load(ordering: .relaxed)
                            precondition(now <= 8 && now >= 1)
                            table.release(placement, outcome: nil)
                        }
                    }
                }
            }
        }
        #expect(table.snapshot.endpoints.allSatisfy { $0.inFlight.load(ordering: .relaxed) == 0 })
    }
}
