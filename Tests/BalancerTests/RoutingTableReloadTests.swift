import Testing

@testable import Balancer

/// ``RoutingTable/apply(_:)``: what a reload keeps, replaces and retires.
@Suite struct RoutingTableReloadTests {
    let model = [HostedModel(id: "m", state: .loaded)]

    @Test func changedSettingsOfTheSameHostKeepItsRequestsInFlightCounted() {
        let table = healthyTable([endpoint("a", maxConcurrency: 1)], models: ["a": model])
        let before = table.snapshot.endpoint(named: "a")!
        #expect(table.choose("m") == "a")

        let changes = table.apply(configuration([endpoint("a", maxConcurrency: 2)]))
        let after = table.snapshot.endpoint(named: "a")!
        #expect(after !== before)
        #expect(changes.kept.map(\.name) == ["a"] && changes.added.isEmpty && changes.removed.isEmpty)
        #expect(changes.retired.count == 1 && changes.retired[0] === before)
        // The request sent before the reload still counts: one more fits under the new limit, not two.
        #expect(after.status == .healthy && before.status == .healthy)
        #expect(before.isRetired && !after.isRetired)
        #expect(after.inFlight.load(ordering: .relaxed) == 1)
        #expect(table.choose("m") == "a")
        #expect(table.choose("m") == nil)
        // It finishes on the runtime it started on, and frees its slot under the new one.
        table.release(table.placement(before), outcome: RequestOutcome(succeeded: true, timeToHeadMicroseconds: 10))
        #expect(after.inFlight.load(ordering: .relaxed) == 1)
        #expect(after.statistics.requestCount == 1)
    }

    @Test func removedHostIsRetiredAndNewOneWaitsForItsFirstProbe() {
        let table = healthyTable([endpoint("a"), endpoint("b", port: 1235)], models: ["a": model, "b": model])
        let b = table.snapshot.endpoint(named: "b")!
        let changes = table.apply(configuration([endpoint("a"), endpoint("c", port: 1236)]))
        #expect(changes.removed.map(\.name) == ["b"])
        #expect(changes.retired.count == 1 && changes.retired[0] === b)
        #expect(changes.added.map(\.name) == ["c"])
        #expect(table.snapshot.endpoint(named: "c")?.status == .unknown)
        for _ in 0..<4 { #expect(table.choose("m") == "a") }
    }

    @Test func requestQueuedBeforeAReloadGetsTheHostsNextFreeSlot() {
        let table = healthyTable([endpoint("a", maxConcurrency: 1)], models: ["a": model])
        let before = table.snapshot.endpoint(named: "a")!
        let set = table.candidates("m")!
        #expect(table.choose("m") == "a")
        let granted = AdmissionQueueTests.Grants()
        _ = table.enqueue(set, excluding: EndpointSet(), strategy: .priority, grant: granted.grant("queued"))

        // Another setting changes; the limit stays.
        _ = table.apply(configuration([endpoint("a", priority: 150, maxConcurrency: 1)]))
        #expect(table.snapshot.endpoint(named: "a") !== before)
        #expect(granted.all.isEmpty, "the host is still full")
        // The request sent before the reload ends: its slot goes to the request queued before the reload.
        table.release(table.placement(before), outcome: nil)
        #expect(granted.all == ["queued@a"])
        #expect(table.snapshot.endpoint(named: "a")!.inFlight.load(ordering: .relaxed) == 1)
    }

    @Test func connectionFailureOnTheRuntimeBeforeAReloadTakesTheHostOut() {
        let table = healthyTable([endpoint("a", maxConcurrency: 1)], models: ["a": model])
        let before = table.snapshot.endpoint(named: "a")!
        _ = table.apply(configuration([endpoint("a", maxConcurrency: 3)]))
        table.reportConnectionFailure(of: before, reason: "connection refused")
        #expect(table.snapshot.endpoint(named: "a")!.status == .offline)
    }
}
