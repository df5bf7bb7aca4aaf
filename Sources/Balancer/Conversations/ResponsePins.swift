import NIOConcurrencyHelpers

/// Which host holds which stateful conversation (DESIGN.md 6.9): the id of each answer of `/v1/responses`
/// (`"id":"resp_..."`) and `/api/v1/chat` (`"response_id"`), and the endpoint that gave it, so that a request
/// naming it in `previous_response_id` goes back to that host.
///
/// Bounded two ways (`proxy.response_pinning`): never more than `max_entries` ids (the oldest is forgotten
/// first), and none older than `ttl`. An id over ``maximumIDLength`` bytes, empty, or with a control
/// character is not learnt: it comes from a host, and olla keeps only what a well-behaved host sends.
///
/// Thread-safe behind one lock, taken once per learnt answer or per request that names an id, never per byte.
public final class ResponsePins: Sendable {
    /// The longest id learnt, in UTF-8 bytes (OpenAI's and LM Studio's ids are about 50).
    public static let maximumIDLength = 256

    private struct Pin {
        var endpoint: String
        var learntAt: Duration
        /// Which entry of the learning order is this pin's (an id learnt again gets a new one).
        var sequence: UInt64
    }

    private struct State {
        var maxEntries: Int
        var ttl: Duration
        var pins: [String: Pin] = [:]
        /// Ids in the order they were learnt, from `head` on; entries whose sequence no longer matches their
        /// pin are stale (the id was learnt again later, or forgotten) and skipped.
        var order: [(id: String, sequence: UInt64)] = []
        var head = 0
        var nextSequence: UInt64 = 0
    }

    private let state: NIOLockedValueBox<State>
    private let now: @Sendable () -> Duration

    /// - Parameters:
    ///   - maxEntries: `max_entries`, at least 1.
    ///   - ttl: `ttl`.
    ///   - now: the time since any fixed origin; tests pass their own.
    public init(
        maxEntries: Int = ResponsePinningSettings().maxEntries,
        ttl: Duration = ResponsePinningSettings().ttl,
        now: (@Sendable () -> Duration)? = nil
    ) {
        self.state = NIOLockedValueBox(State(maxEntries: max(maxEntries, 1), ttl: ttl))
        if let now {
            self.now = now
        } else {
            let origin = ContinuousClock.now
            self.now = { ContinuousClock.now - origin }
        }
    }

    /// A table with the limits of `settings`.
    public convenience init(_ settings: ResponsePinningSettings) {
        self.init(maxEntries: settings.maxEntries, ttl: settings.ttl)
    }

    /// Ids remembered now (expired ones not yet dropped included).
    public var count: Int {
        state.withLockedValue { $0.pins.count }
    }

    /// Whether an id may be learnt: 1 to ``maximumIDLength`` bytes, no control characters.
    public static func isLearnable(_ responseID: String) -> Bool {
        let bytes = responseID.utf8
        guard !bytes.isEmpty, bytes.count <= maximumIDLength else { return false }
        return !bytes.contains { $0 < 0x20 || $0 == 0x7F }
    }

    /// Remembers that `endpoint` holds the conversation of `responseID`.
    /// - Returns: false when the id was refused (see ``isLearnable(_:)``).
    @discardableResult
    public func learn(_ responseID: String, endpoint: String) -> Bool {
        guard Self.isLearnable(responseID) else { return false }
        let time = now()
        state.withLockedValue { state in
            let sequence = state.nextSequence
            state.nextSequence += 1
            state.pins[responseID] = Pin(endpoint: endpoint, learntAt: time, sequence: sequence)
            state.order.append((responseID, sequence))
            Self.trim(&state, now: time)
        }
        return true
    }

    /// The endpoint that holds `responseID`, or nil when olla does not know the id (never learnt, forgotten
    /// for room, or older than `ttl`).
    public func lookup(_ responseID: String) -> String? {
        guard Self.isLearnable(responseID) else { return nil }
        let time = now()
        return state.withLockedValue { state in
            guard let pin = state.pins[responseID] else { return nil }
            guard time - pin.learntAt < state.ttl else {
                state.pins[responseID] = nil
                return nil
            }
            return pin.endpoint
        }
    }

    /// Changes the limits (reload); a smaller `maxEntries` forgets the oldest ids at once.
    public func setLimits(_ settings: ResponsePinningSettings) {
        let time = now()
        state.withLockedValue { state in
            state.maxEntries = max(settings.maxEntries, 1)
            state.ttl = settings.ttl
            Self.trim(&state, now: time)
        }
    }

    /// Forgets the oldest ids while there are more than `maxEntries` or the oldest is expired, and compacts
    /// the learning order once it is mostly stale.
    private static func trim(_ state: inout State, now: Duration) {
        while state.head < state.order.count {
            let (id, sequence) = state.order[state.head]
            guard let pin = state.pins[id], pin.sequence == sequence else {
                state.head += 1
                continue
            }
            guard state.pins.count > state.maxEntries || now - pin.learntAt >= state.ttl else { break }
            state.pins[id] = nil
            state.head += 1
        }
        if state.head > 1024, state.head * 2 > state.order.count {
            state.order.removeFirst(state.head)
            state.head = 0
        }
        // Ids learnt again and again leave stale entries behind a live one; rebuild the order from the pins
        // before those outnumber them, so memory stays bounded by `maxEntries`.
        if state.order.count - state.head > 2 * state.maxEntries + 1024 {
            state.order = state.pins.map { ($0.key, $0.value.sequence) }.sorted { $0.sequence < $1.sequence }
            state.head = 0
        }
    }
}
