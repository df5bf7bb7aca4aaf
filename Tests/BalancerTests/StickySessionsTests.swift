import Dispatch
import Testing

@testable import Balancer

/// The seen-keys table of prompt-cache affinity (DESIGN.md 6.8): shared by every event loop without a lock, its
/// counters exact however many threads record at once, and bounded by `max_sessions`.
struct StickySessionsTests {
    static func sessions(maxSessions: Int, idleTTL: Duration = .seconds(600)) -> StickySessions {
        var settings = StickySessionSettings()
        settings.maxSessions = maxSessions
        settings.idleTTL = idleTTL
        return StickySessions(settings)
    }

    /// Affinity keys as the data path makes them.
    static func keys(_ prefix: String, _ count: Int) -> [UInt64] {
        (0..<count).map { AffinityHash.hash("\(prefix)-\($0)") }
    }

    @Test func countersAreExactWhenTwoThreadsRecordDistinctKeysAtOnce() {
        let sessions = Self.sessions(maxSessions: 100_000)
        let keys = [Self.keys("left", 500), Self.keys("right", 500)]
        DispatchQueue.concurrentPerform(iterations: 2) { thread in
            for turn in 0..<3 {
                for key in keys[thread] { _ = sessions.record(key: key, firstRanked: turn < 2, now: 10) }
            }
        }
        let statistics = sessions.statistics(now: 10)
        #expect(statistics.misses == 1_000 && statistics.hits == 1_000 && statistics.repins == 1_000)
        #expect(statistics.insertions == 1_000 && statistics.evictions == 0 && statistics.activeSessions == 1_000)
    }

    @Test func aKeyIsInsertedOnceWhenTwoThreadsRecordItAtOnce() {
        let sessions = Self.sessions(maxSessions: 100_000)
        let keys = Self.keys("shared", 2_000)
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
            for key in keys { _ = sessions.record(key: key, firstRanked: true, now: 10) }
        }
        let statistics = sessions.statistics(now: 10)
        // The thread that loses the race for a slot finds the key the other one placed: a hit.
        #expect(statistics.insertions == 2_000 && statistics.misses == 2_000 && statistics.hits == 2_000)
        #expect(statistics.activeSessions == 2_000 && statistics.evictions == 0)
    }

    @Test func countersAreExactWhenTwoThreadsRecordOneKeyAtOnce() {
        let sessions = Self.sessions(maxSessions: 1_000)
        let key = AffinityHash.hash("busy conversation")
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
            for turn in 0..<100_000 { _ = sessions.record(key: key, firstRanked: true, now: Int64(turn / 1_000)) }
        }
        let statistics = sessions.statistics(now: 100)
        #expect(statistics.misses == 1 && statistics.hits == 199_999 && statistics.insertions == 1, "\(statistics)")
    }

    @Test func aKeySeenOnOneThreadIsAHitOnAnother() {
        let sessions = Self.sessions(maxSessions: 1_000)
        let key = AffinityHash.hash("conversation")
        DispatchQueue.global().sync { #expect(sessions.record(key: key, firstRanked: true, now: 5) == .miss) }
        #expect(sessions.record(key: key, firstRanked: true, now: 6) == .hit)
    }

    @Test func theBoundHoldsUnderManyKeysFromTwoThreads() {
        let sessions = Self.sessions(maxSessions: 100)
        let keys = [Self.keys("a", 5_000), Self.keys("b", 5_000)]
        DispatchQueue.concurrentPerform(iterations: 2) { thread in
            for key in keys[thread] { _ = sessions.record(key: key, firstRanked: true, now: 20) }
        }
        let statistics = sessions.statistics(now: 20)
        #expect(statistics.activeSessions <= 100 && statistics.activeSessions >= 50, "\(statistics)")
        #expect(statistics.hits + statistics.misses == 10_000)
        // Each key placed is either still held or was pushed out.
        #expect(statistics.insertions == statistics.activeSessions + statistics.evictions)
        #expect(statistics.evictions >= 9_900)
    }

    @Test func theKeySeenLongestAgoIsTheOneEvicted() {
        // One bucket of four slots.
        let sessions = Self.sessions(maxSessions: 4)
        for key in 1...4 as ClosedRange<UInt64> { _ = sessions.record(key: key, firstRanked: true, now: Int64(key)) }
        // Key 1 is seen again, so key 2 is now the oldest and makes room for key 5.
        #expect(sessions.record(key: 1, firstRanked: true, now: 10) == .hit)
        #expect(sessions.record(key: 5, firstRanked: true, now: 11) == .miss)
        #expect(sessions.record(key: 1, firstRanked: true, now: 12) == .hit)
        #expect(sessions.record(key: 3, firstRanked: true, now: 13) == .hit)
        #expect(sessions.record(key: 2, firstRanked: true, now: 14) == .miss)
        #expect(sessions.statistics(now: 14).evictions == 2)
    }

    @Test func aKeyIdleLongerThanItsTTLIsAMissAgain() {
        let sessions = Self.sessions(maxSessions: 100, idleTTL: .seconds(60))
        #expect(sessions.record(key: 7, firstRanked: true, now: 0) == .miss)
        #expect(sessions.record(key: 7, firstRanked: true, now: 60) == .hit)
        #expect(sessions.record(key: 7, firstRanked: true, now: 121) == .miss)
        #expect(sessions.statistics(now: 121).insertions == 1)
        #expect(sessions.statistics(now: 182).activeSessions == 0)
    }

    @Test func aReloadThatChangesTheBoundKeepsTheCountersAndTheNewBound() {
        let sessions = Self.sessions(maxSessions: 40)
        for key in Self.keys("before", 30) { _ = sessions.record(key: key, firstRanked: true, now: 1) }
        let before = sessions.statistics(now: 1)
        #expect(before.misses == 30 && before.insertions == 30)

        var settings = sessions.settings
        settings.maxSessions = 1_000
        sessions.setSettings(settings)
        let grown = sessions.statistics(now: 1)
        #expect(grown.misses == 30 && grown.insertions == 30 && grown.activeSessions == 0 && grown.evictions == 30)
        for key in Self.keys("after", 800) { _ = sessions.record(key: key, firstRanked: true, now: 2) }
        #expect(sessions.statistics(now: 2).activeSessions > 600)

        settings.maxSessions = 8
        sessions.setSettings(settings)
        for key in Self.keys("small", 200) { _ = sessions.record(key: key, firstRanked: true, now: 3) }
        let shrunk = sessions.statistics(now: 3)
        #expect(shrunk.activeSessions <= 8 && shrunk.misses == 1_030 && shrunk.insertions == 1_030)
        #expect(shrunk.insertions == shrunk.activeSessions + shrunk.evictions)
    }

    @Test func aReloadThatKeepsTheBoundKeepsTheKeys() {
        let sessions = Self.sessions(maxSessions: 100)
        _ = sessions.record(key: 42, firstRanked: true, now: 1)
        var settings = sessions.settings
        settings.loadFactor = 2
        sessions.setSettings(settings)
        #expect(sessions.record(key: 42, firstRanked: true, now: 2) == .hit)
    }
}
