import NIOConcurrencyHelpers

/// The keys of prompt-cache affinity seen lately and the outcome counts that `/internal/stats/sticky` shows
/// (DESIGN.md 6.8). It only says whether a key was seen before (`hit` or `miss`); it never decides a host, so
/// replicas that do not share it still agree on every choice.
///
/// Bounded by `max_sessions`: keys live in two generations of at most half of it each; when the young one is
/// full the old one is dropped (its keys count as evicted) and the young one takes its place. A key seen again
/// moves to the young generation.
public final class StickySessions: Sendable {
    /// What a request's affinity came to, reported in `X-Olla-Sticky-Session`.
    public enum Outcome: String, Sendable {
        case hit
        case miss
        case repin
        case disabled
    }

    /// The counters of `/internal/stats/sticky`.
    public struct Statistics: Sendable, Equatable {
        public var activeSessions = 0
        public var insertions = 0
        public var hits = 0
        public var misses = 0
        public var repins = 0
        public var evictions = 0
    }

    private struct State {
        var settings: StickySessionSettings
        /// Key -> when it was last seen, in seconds of the uptime clock.
        var young: [UInt64: Int64] = [:]
        var old: [UInt64: Int64] = [:]
        var statistics = Statistics()
    }

    private let state: NIOLockedValueBox<State>

    public init(_ settings: StickySessionSettings) {
        state = NIOLockedValueBox(State(settings: settings))
    }

    public var settings: StickySessionSettings { state.withLockedValue { $0.settings } }

    /// Takes new settings (reload); what was seen stays.
    public func setSettings(_ settings: StickySessionSettings) {
        state.withLockedValue { $0.settings = settings }
    }

    /// Records a request placed by affinity, and tells whether it was a hit, a miss or a repin.
    /// - Parameters:
    ///   - firstRanked: the key's first-ranked host took it.
    ///   - now: seconds of a monotonic clock.
    public func record(key: UInt64, firstRanked: Bool, now: Int64) -> Outcome {
        state.withLockedValue { state in
            let ttl = Int64(state.settings.idleTTL.components.seconds)
            let lastSeen = state.young[key] ?? state.old.removeValue(forKey: key)
            let seen = lastSeen.map { now - $0 <= ttl } ?? false
            if lastSeen == nil { state.statistics.insertions += 1 }
            let half = max(1, state.settings.maxSessions / 2)
            if state.young[key] == nil && state.young.count >= half {
                state.statistics.evictions += state.old.count
                state.old = state.young
                state.young = [:]
                state.young.reserveCapacity(half)
            }
            state.young[key] = now
            let outcome: Outcome = firstRanked ? (seen ? .hit : .miss) : .repin
            switch outcome {
            case .hit: state.statistics.hits += 1
            case .miss: state.statistics.misses += 1
            case .repin: state.statistics.repins += 1
            case .disabled: break
            }
            return outcome
        }
    }

    /// The counters now; `activeSessions` counts the keys seen within `idle_ttl_seconds`.
    public func statistics(now: Int64) -> Statistics {
        state.withLockedValue { state in
            let ttl = Int64(state.settings.idleTTL.components.seconds)
            var statistics = state.statistics
            statistics.activeSessions =
                state.young.values.lazy.filter { now - $0 <= ttl }.count
                + state.old.values.lazy.filter { now - $0 <= ttl }.count
            return statistics
        }
    }
}
