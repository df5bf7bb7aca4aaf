import NIOConcurrencyHelpers
import Testing

@testable import Balancer

/// The table of stateful conversations (DESIGN.md 6.9): learn, look up, and its bounds.
@Suite struct ResponsePinsTests {
    /// A clock the test moves by hand.
    final class TestClock: Sendable {
        private let time = NIOLockedValueBox<Duration>(.zero)
        var now: @Sendable () -> Duration { { self.time.withLockedValue { $0 } } }
        func advance(_ by: Duration) { time.withLockedValue { $0 += by } }
    }

    @Test func learntIdLeadsToItsEndpoint() {
        let pins = ResponsePins()
        #expect(pins.lookup("resp_1") == nil)
        #expect(pins.learn("resp_1", endpoint: "studio-a"))
        #expect(pins.learn("resp_2", endpoint: "studio-b"))
        #expect(pins.lookup("resp_1") == "studio-a")
        #expect(pins.lookup("resp_2") == "studio-b")
        #expect(pins.lookup("resp_3") == nil)
    }

    @Test func idLearntAgainMovesToItsNewEndpoint() {
        let pins = ResponsePins()
        pins.learn("resp_1", endpoint: "studio-a")
        pins.learn("resp_1", endpoint: "studio-b")
        #expect(pins.lookup("resp_1") == "studio-b")
        #expect(pins.count == 1)
    }

    @Test func neverHoldsMoreThanMaxEntriesAndForgetsTheOldestFirst() {
        let pins = ResponsePins(maxEntries: 3)
        for index in 1...5 {
            pins.learn("resp_\(index)", endpoint: "e\(index)")
            #expect(pins.count <= 3)
        }
        #expect(pins.lookup("resp_1") == nil && pins.lookup("resp_2") == nil)
        #expect(pins.lookup("resp_3") == "e3" && pins.lookup("resp_5") == "e5")
    }

    @Test func idLearntAgainCountsAsNewForEviction() {
        let pins = ResponsePins(maxEntries: 2)
        pins.learn("a", endpoint: "x")
        pins.learn("b", endpoint: "x")
        pins.learn("a", endpoint: "y")
        pins.learn("c", endpoint: "x")
        #expect(pins.lookup("b") == nil, "b is now the oldest")
        #expect(pins.lookup("a") == "y" && pins.lookup("c") == "x")
    }

    @Test func idsExpireAfterTheTTL() {
        let clock = TestClock()
        let pins = ResponsePins(maxEntries: 10, ttl: .seconds(60), now: clock.now)
        pins.learn("old", endpoint: "a")
        clock.advance(.seconds(30))
        pins.learn("young", endpoint: "b")
        clock.advance(.seconds(29))
        #expect(pins.lookup("old") == "a")
        clock.advance(.seconds(1))
        #expect(pins.lookup("old") == nil)
        #expect(pins.lookup("young") == "b")
        // Learning drops what has expired, so expired ids do not hold memory until they are asked for.
        clock.advance(.seconds(31))
        pins.learn("new", endpoint: "c")
        #expect(pins.count == 1)
    }

    @Test(arguments: [
        "", String(repeating: "r", count: 257), "resp_\n1", "resp\r", "resp\u{7F}", "resp\u{0}", "a\tb",
    ])
    func idsTooLongOrWithControlCharactersAreNotLearnt(id: String) {
        let pins = ResponsePins()
        #expect(!pins.learn(id, endpoint: "a"))
        #expect(pins.count == 0)
        #expect(pins.lookup(id) == nil)
    }

    @Test func idOfExactlyTheMaximumLengthIsLearnt() {
        let pins = ResponsePins()
        let id = String(repeating: "é", count: 128)
        #expect(id.utf8.count == ResponsePins.maximumIDLength)
        #expect(pins.learn(id, endpoint: "a"))
        #expect(pins.lookup(id) == "a")
    }

    @Test func smallerLimitOnReloadForgetsTheOldestAtOnce() {
        let pins = ResponsePins(maxEntries: 10)
        for index in 1...6 { pins.learn("r\(index)", endpoint: "e") }
        var settings = ResponsePinningSettings()
        settings.maxEntries = 2
        pins.setLimits(settings)
        #expect(pins.count == 2)
        #expect(pins.lookup("r5") == "e" && pins.lookup("r6") == "e" && pins.lookup("r4") == nil)
    }

    @Test func learningTheSameIdOverAndOverKeepsTheTableBounded() {
        let pins = ResponsePins(maxEntries: 4)
        pins.learn("first", endpoint: "a")
        for _ in 0..<50_000 { pins.learn("again", endpoint: "b") }
        #expect(pins.count == 2)
        #expect(pins.lookup("first") == "a" && pins.lookup("again") == "b")
        for index in 0..<10 { pins.learn("x\(index)", endpoint: "c") }
        #expect(pins.count == 4)
        #expect(pins.lookup("x9") == "c" && pins.lookup("first") == nil)
    }

    @Test func concurrentLearnersNeverExceedTheBound() async {
        let pins = ResponsePins(maxEntries: 100)
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for index in 0..<2_000 {
                        pins.learn("w\(worker)-\(index)", endpoint: "e\(worker)")
                        _ = pins.lookup("w\(worker)-\(index / 2)")
                    }
                }
            }
        }
        #expect(pins.count == 100)
    }
}

/// The routing table's pin table follows `proxy.response_pinning` across reloads.
@Suite struct RoutingTablePinsTests {
    @Test func reloadAppliesTheNewBoundsAndKeepsWhatFits() {
        var first = configuration([endpoint("a")])
        first.proxy.responsePinning.maxEntries = 10
        let table = RoutingTable(configuration: first)
        for index in 1...5 { table.responsePins.learn("r\(index)", endpoint: "a") }
        var second = first
        second.proxy.responsePinning.maxEntries = 3
        _ = table.apply(second)
        #expect(table.responsePins.count == 3)
        #expect(table.responsePins.lookup("r5") == "a" && table.responsePins.lookup("r2") == nil)
    }
}
