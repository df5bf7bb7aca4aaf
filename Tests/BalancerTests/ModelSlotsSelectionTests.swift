import NIOConcurrencyHelpers
import Testing

@testable import Balancer

/// Slots per (host, model) and one load at a time (DESIGN.md 6.7), through ``RoutingTable`` and its queue.
@Suite struct ModelSlotsSelectionTests {
    /// A model loaded on an LM Studio 0.4 host with `slots` slots.
    func loaded(_ id: String = "m", slots: Int?) -> HostedModel {
        HostedModel(id: id, state: .loaded, slots: slots)
    }

    func acquire(_ table: RoutingTable, _ model: String = "m") -> Placement? {
        guard let set = table.candidates(model) else { return nil }
        if case .granted(let placement) = table.acquire(
            set,
            excluding: EndpointSet(),
            strategy: table.snapshot.strategy
        ) {
            return placement
        }
        return nil
    }

    func isFull(_ table: RoutingTable, _ model: String = "m") -> Bool {
        guard let set = table.candidates(model) else { return false }
        if case .full = table.acquire(set, excluding: EndpointSet(), strategy: table.snapshot.strategy) { return true }
        return false
    }

    @Test func hostWithTheMostFreeSlotsWinsInsideATier() {
        let table = healthyTable(
            [endpoint("small"), endpoint("big")],
            models: ["small": [loaded(slots: 2)], "big": [loaded(slots: 4)]]
        )
        // big: 4 free, then 3, then 2 (a tie with small, broken by fewest in flight: small).
        #expect(acquire(table)?.endpoint.name == "big")
        #expect(acquire(table)?.endpoint.name == "big")
        #expect(acquire(table)?.endpoint.name == "small")
        let big = table.snapshot.endpoint(named: "big")!
        #expect(table.placement(big).slots.inFlight.load(ordering: .relaxed) == 2)
    }

    @Test func freeSlotsRankAfterLoadedStateAndPriority() {
        let table = healthyTable(
            [endpoint("cold"), endpoint("warm"), endpoint("low", priority: 10)],
            models: [
                "cold": [HostedModel(id: "m", state: .notLoaded)],
                "warm": [loaded(slots: 1)],
                "low": [loaded(slots: 8)],
            ]
        )
        #expect(acquire(table)?.endpoint.name == "warm")
        // warm is out of slots: the not-loaded host of the same tier comes before the lower tier.
        #expect(acquire(table)?.endpoint.name == "cold")
        #expect(acquire(table)?.endpoint.name == "low")
    }

    @Test func hostWithUnknownSlotsCountsOneFreeSlotWhileIdle() {
        // An LM Studio 0.3 host (no slots reported) next to a 0.4 host with two.
        let table = healthyTable(
            [endpoint("old"), endpoint("new")],
            models: ["old": [loaded(slots: nil)], "new": [loaded(slots: 2)]]
        )
        #expect(acquire(table)?.endpoint.name == "new")
        // Now one free slot each: fewest in flight decides.
        #expect(acquire(table)?.endpoint.name == "old")
        // new has one free slot, old none (something runs there), though old has no limit.
        #expect(acquire(table)?.endpoint.name == "new")
        // new is full; old has no limit but max_concurrency.
        #expect(acquire(table)?.endpoint.name == "old")
        #expect(acquire(table)?.endpoint.name == "old")
    }

    @Test func hostWithAFullModelIsSkippedWhileAnotherHasASlot() {
        let table = healthyTable(
            [endpoint("a", priority: 200), endpoint("b")],
            models: ["a": [loaded(slots: 1)], "b": [loaded(slots: 1)]]
        )
        #expect(acquire(table)?.endpoint.name == "a")
        #expect(acquire(table)?.endpoint.name == "b")
        #expect(isFull(table))
        let a = table.snapshot.endpoint(named: "a")!
        #expect(a.inFlight.load(ordering: .relaxed) == 1, "a refused request leaves nothing taken")
    }

    @Test func slotsOfOneModelDoNotLimitAnotherModelOnTheSameHost() {
        let table = healthyTable([endpoint("a")], models: ["a": [loaded("m", slots: 1), loaded("n", slots: 1)]])
        #expect(acquire(table, "m") != nil)
        #expect(isFull(table, "m"))
        #expect(acquire(table, "n") != nil)
        #expect(table.snapshot.endpoints[0].inFlight.load(ordering: .relaxed) == 2)
    }

    @Test func everyModelSlotFullQueuesAndTheFirstWaiterGetsTheSlotFreed() {
        let table = healthyTable(
            [endpoint("a"), endpoint("b")],
            models: ["a": [loaded(slots: 1)], "b": [loaded(slots: 1)]]
        )
        let set = table.candidates("m")!
        let first = acquire(table)!
        let second = acquire(table)!
        let grants = AdmissionQueueTests.Grants()
        for name in ["w1", "w2"] {
            guard
                case .queued = table.enqueue(
                    set,
                    excluding: EndpointSet(),
                    strategy: .priority,
                    grant: grants.grant(name)
                )
            else {
                Issue.record("expected \(name) to wait")
                return
            }
        }
        table.release(second, outcome: nil)
        #expect(grants.all == ["w1@\(second.endpoint.name)"])
        #expect(second.slots.inFlight.load(ordering: .relaxed) == 1, "handed over, never freed")
        #expect(isFull(table), "a new arrival cannot take a slot ahead of w2")
        table.release(first, outcome: nil)
        #expect(grants.all == ["w1@\(second.endpoint.name)", "w2@\(first.endpoint.name)"])
        #expect(table.queue.count == 0)
    }

    @Test func placeOnAFullHostGoesToAWaiterForAnotherModel() {
        // The host is the limit (max_concurrency 1); the waiter wants another model, which has slots free.
        let table = healthyTable(
            [endpoint("a", maxConcurrency: 1)],
            models: ["a": [loaded("m", slots: 2), loaded("n", slots: 2)]]
        )
        let running = acquire(table, "m")!
        let grants = AdmissionQueueTests.Grants()
        _ = table.enqueue(
            table.candidates("n")!,
            excluding: EndpointSet(),
            strategy: .priority,
            grant: grants.grant("n")
        )
        #expect(grants.all.isEmpty)
        table.release(running, outcome: nil)
        #expect(grants.all == ["n@a"])
        #expect(running.slots.inFlight.load(ordering: .relaxed) == 0)
        #expect(table.placement(table.snapshot.endpoints[0], "n").slots.inFlight.load(ordering: .relaxed) == 1)
        #expect(table.snapshot.endpoints[0].inFlight.load(ordering: .relaxed) == 1)
    }

    @Test func modelThatIsNotLoadedTakesOneRequestAtATimePerHost() {
        let table = healthyTable(
            [endpoint("a"), endpoint("b")],
            models: ["a": [HostedModel(id: "m", state: .notLoaded)], "b": [HostedModel(id: "m", state: .notLoaded)]]
        )
        let first = acquire(table)
        let second = acquire(table)
        #expect(first != nil && second != nil && first?.endpoint !== second?.endpoint)
        #expect(isFull(table), "a third request waits rather than start a duplicate load")
    }

    @Test func requestsGoWhereTheModelIsLoadedWhileAnotherHostLoadsIt() {
        let table = healthyTable(
            [endpoint("cold", priority: 200), endpoint("warm")],
            models: ["cold": [HostedModel(id: "m", state: .notLoaded)], "warm": [HostedModel(id: "m", state: .loaded)]]
        )
        #expect(acquire(table)?.endpoint.name == "cold")
        for _ in 0..<3 {
            #expect(acquire(table)?.endpoint.name == "warm")
        }
    }

    @Test func queuedRequestStartsWhenAProbeReportsTheModelLoaded() {
        let table = healthyTable([endpoint("a")], models: ["a": [HostedModel(id: "m", state: .notLoaded)]])
        let set = table.candidates("m")!
        let loading = acquire(table)!
        let grants = AdmissionQueueTests.Grants()
        _ = table.enqueue(set, excluding: EndpointSet(), strategy: .priority, grant: grants.grant("w1"))
        _ = table.enqueue(set, excluding: EndpointSet(), strategy: .priority, grant: grants.grant("w2"))
        #expect(grants.all.isEmpty)
        // The probe after the load: four slots, and the waiters' candidates (of the older snapshot) see them.
        let a = table.snapshot.endpoints[0]
        table.publishModels([loaded(slots: 4)], for: a)
        #expect(grants.all == ["w1@a", "w2@a"])
        #expect(loading.slots.inFlight.load(ordering: .relaxed) == 3)
        #expect(table.placement(a).slots === loading.slots, "one counter per (host, model) across snapshots")
    }

    @Test func responseHeadOfTheLoadingRequestAsksForAProbeOfItsHost() {
        let table = healthyTable(
            [endpoint("cold"), endpoint("warm")],
            models: ["cold": [HostedModel(id: "m", state: .notLoaded)], "warm": [loaded(slots: 4)]]
        )
        let probed = NIOLockedValueBox<[String]>([])
        table.onModelLoad { endpoint in probed.withLockedValue { $0.append(endpoint.name) } }
        let cold = table.placement(table.snapshot.endpoint(named: "cold")!)
        let warm = table.placement(table.snapshot.endpoint(named: "warm")!)
        table.responseHeadArrived(for: warm)
        #expect(probed.withLockedValue { $0 }.isEmpty)
        table.responseHeadArrived(for: cold)
        #expect(probed.withLockedValue { $0 } == ["cold"])
        // Once the host reports it loaded, further heads ask for nothing.
        table.publishModels([loaded(slots: 4)], for: cold.endpoint)
        table.responseHeadArrived(for: cold)
        #expect(probed.withLockedValue { $0 } == ["cold"])
    }

    @Test func slotsShrinkingBelowTheRequestsInFlightHoldNewOnesBack() {
        let table = healthyTable([endpoint("a")], models: ["a": [loaded(slots: 4)]])
        let held = (0..<3).compactMap { _ in acquire(table) }
        #expect(held.count == 3)
        table.publishModels([loaded(slots: 2)], for: table.snapshot.endpoints[0])
        #expect(isFull(table))
        let grants = AdmissionQueueTests.Grants()
        _ = table.enqueue(
            table.candidates("m")!,
            excluding: EndpointSet(),
            strategy: .priority,
            grant: grants.grant("w")
        )
        // 3 running of 2: the first to finish leaves 2, still no room.
        table.release(held[0], outcome: nil)
        #expect(grants.all.isEmpty)
        table.release(held[1], outcome: nil)
        #expect(grants.all == ["w@a"])
    }

    @Test func modelSlotCountsAreExactUnderConcurrency() async {
        let table = healthyTable(
            [endpoint("a", maxConcurrency: 6), endpoint("b")],
            models: ["a": [loaded(slots: 3)], "b": [loaded(slots: 5)]]
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
                            let now = placement.slots.inFlight.load(ordering: .relaxed)
                            precondition(now >= 1 && now <= placement.slots.limit)
                            table.release(placement, outcome: nil)
                        }
                    }
                }
            }
        }
        for endpoint in table.snapshot.endpoints {
            #expect(endpoint.inFlight.load(ordering: .relaxed) == 0)
            #expect(table.placement(endpoint).slots.inFlight.load(ordering: .relaxed) == 0)
        }
    }
}
