import NIOConcurrencyHelpers
import Testing

@testable import Balancer

@Suite struct AdmissionQueueTests {
    let model = [HostedModel(id: "m", state: .loaded)]

    /// Records grants in the order they happen.
    final class Grants: Sendable {
        let order = NIOLockedValueBox<[String]>([])
        func grant(_ name: String) -> AdmissionQueue.Grant {
            { placement in self.order.withLockedValue { $0.append("\(name)@\(placement.endpoint.name)") } }
        }
        var all: [String] { order.withLockedValue { $0 } }
    }

    func queued(_ result: AdmissionQueue.Enqueued) -> UInt64? {
        if case .queued(let ticket) = result { return ticket }
        return nil
    }

    @Test func waitersAreGrantedInArrivalOrder() {
        let table = healthyTable([endpoint("a", maxConcurrency: 1)], models: ["a": model])
        let set = table.candidates("m")!
        let a = table.snapshot.endpoints[0]
        #expect(table.choose("m") == "a")
        let grants = Grants()
        for name in ["first", "second", "third"] {
            #expect(
                queued(table.enqueue(set, excluding: EndpointSet(), strategy: .priority, grant: grants.grant(name)))
                    != nil
            )
        }
        #expect(table.queue.count == 3)
        table.release(table.placement(a), outcome: nil)
        #expect(grants.all == ["first@a"])
        table.release(table.placement(a), outcome: nil)
        table.release(table.placement(a), outcome: nil)
        #expect(grants.all == ["first@a", "second@a", "third@a"])
        #expect(a.inFlight.load(ordering: .relaxed) == 1)
    }

    @Test func slotFreedByAFinishingRequestGoesToTheFirstWaiterNotToANewArrival() {
        let table = healthyTable([endpoint("a", maxConcurrency: 1)], models: ["a": model])
        let set = table.candidates("m")!
        let a = table.snapshot.endpoints[0]
        #expect(table.choose("m") == "a")
        let grants = Grants()
        _ = table.enqueue(set, excluding: EndpointSet(), strategy: .priority, grant: grants.grant("waiting"))
        // The slot goes to the waiter without being freed: at no moment could a new request take it.
        #expect(table.queue.handOver(slotOf: table.placement(a)) == .whole)
        #expect(grants.all == ["waiting@a"])
        #expect(a.inFlight.load(ordering: .relaxed) == 1)
        #expect(table.queue.handOver(slotOf: table.placement(a)) == .none, "nobody waits any more")
        // And through release, which a finishing request calls.
        _ = table.enqueue(set, excluding: EndpointSet(), strategy: .priority, grant: grants.grant("next"))
        table.release(table.placement(a), outcome: nil)
        #expect(grants.all == ["waiting@a", "next@a"])
        #expect(a.inFlight.load(ordering: .relaxed) == 1)
        #expect(table.queue.count == 0)
        #expect(table.choose("m") == nil)
    }

    @Test func slotOfAHostThatWentDownIsNotHandedToAWaiter() {
        let table = healthyTable(
            [endpoint("a", maxConcurrency: 1), endpoint("b", maxConcurrency: 1)],
            models: ["a": model, "b": model]
        )
        let set = table.candidates("m")!
        let a = table.snapshot.endpoint(named: "a")!
        #expect(table.choose("m") != nil)
        #expect(table.choose("m") != nil)
        let grants = Grants()
        _ = table.enqueue(set, excluding: EndpointSet(), strategy: .priority, grant: grants.grant("waiting"))
        table.setStatus(.offline, of: a)
        table.release(table.placement(a), outcome: nil)
        #expect(grants.all.isEmpty)
        #expect(a.inFlight.load(ordering: .relaxed) == 0)
        #expect(table.queue.count == 1)
    }

    @Test func queueIsBoundedByMaxQueue() {
        let table = healthyTable([endpoint("a", maxConcurrency: 1)], models: ["a": model], maxQueue: 2)
        let set = table.candidates("m")!
        #expect(table.choose("m") == "a")
        let grants = Grants()
        #expect(
            queued(table.enqueue(set, excluding: EndpointSet(), strategy: .priority, grant: grants.grant("1"))) != nil
        )
        #expect(
            queued(table.enqueue(set, excluding: EndpointSet(), strategy: .priority, grant: grants.grant("2"))) != nil
        )
        guard case .full = table.enqueue(set, excluding: EndpointSet(), strategy: .priority, grant: grants.grant("3"))
        else {
            Issue.record("expected full")
            return
        }
    }

    @Test func waiterThatLeavesIsNotGranted() {
        let table = healthyTable([endpoint("a", maxConcurrency: 1)], models: ["a": model])
        let set = table.candidates("m")!
        let a = table.snapshot.endpoints[0]
        #expect(table.choose("m") == "a")
        let grants = Grants()
        let leaving = queued(
            table.enqueue(set, excluding: EndpointSet(), strategy: .priority, grant: grants.grant("leaving"))
        )!
        _ = table.enqueue(set, excluding: EndpointSet(), strategy: .priority, grant: grants.grant("staying"))
        #expect(table.queue.cancel(ticket: leaving))
        #expect(!table.queue.cancel(ticket: leaving))
        table.release(table.placement(a), outcome: nil)
        #expect(grants.all == ["staying@a"])
    }

    @Test func slotFreedWhileEnqueueingIsTakenAtOnce() {
        let table = healthyTable([endpoint("a", maxConcurrency: 1)], models: ["a": model])
        let set = table.candidates("m")!
        guard
            case .granted(let placement) = table.enqueue(
                set,
                excluding: EndpointSet(),
                strategy: .priority,
                grant: { _ in }
            )
        else {
            Issue.record("expected an immediate grant")
            return
        }
        #expect(placement.endpoint.name == "a")
    }

    @Test func recoveringHostGetsNoMoreThanItsMaxConcurrency() {
        let table = healthyTable(
            [endpoint("a", maxConcurrency: 1), endpoint("b", maxConcurrency: 2)],
            models: ["a": model, "b": model]
        )
        let set = table.candidates("m")!
        let b = table.snapshot.endpoint(named: "b")!
        table.setStatus(.offline, of: b)
        #expect(table.choose("m") == "a")
        let grants = Grants()
        for index in 0..<5 {
            _ = table.enqueue(set, excluding: EndpointSet(), strategy: .priority, grant: grants.grant("w\(index)"))
        }
        table.setStatus(.healthy, of: b)
        #expect(grants.all == ["w0@b", "w1@b"])
        #expect(b.inFlight.load(ordering: .relaxed) == 2)
        #expect(table.queue.count == 3)
    }

    @Test func stateKeepsFifoAcrossHosts() {
        var state = AdmissionQueueState<String>(capacity: 4)
        let table = healthyTable(
            [endpoint("a"), endpoint("b")],
            models: ["a": model, "b": [HostedModel(id: "other")]]
        )
        let onlyA = table.candidates("m")!
        let onlyB = table.candidates("other")!
        _ = state.append(candidates: onlyA, excluded: EndpointSet(), waiter: "x")
        _ = state.append(candidates: onlyB, excluded: EndpointSet(), waiter: "y")
        _ = state.append(candidates: onlyA, excluded: EndpointSet(), waiter: "z")
        let b = table.snapshot.endpoint(named: "b")!
        #expect(state.takeFirst(usable: table.placement(b, "other"))?.0.waiter == "y")
        #expect(state.entries.map(\.waiter) == ["x", "z"])
    }
}
