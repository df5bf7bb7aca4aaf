/// The timings and switches of a simulated host that can change while it runs (`/_sim/settings`).
///
/// Loads, stored responses and the prompt cache only matter on an LM Studio 0.4 host (`SimulatorAPI.v0_4`).
public struct SimulatorTuning: Sendable, Equatable {
    /// The time before the first token (prompt processing); with the prompt cache on, the base to which
    /// the cost of the uncached prompt tokens is added.
    public var timeToFirstToken: Duration
    /// How long loading a model takes (just in time or through `/api/v1/models/load`).
    public var loadTime: Duration
    /// Whether `/v1/responses` and `/api/v1/chat` answers are kept for `previous_response_id`.
    public var storesResponses: Bool
    /// Whether each slot remembers its last prompt, so that a request sharing its prefix skips that part.
    public var promptCache: Bool
    /// With the prompt cache on: the time to process one prompt token the slot had not cached.
    public var promptTokenCost: Duration
    /// Whether a just-in-time load unloads the models that earlier just-in-time loads brought in (LM Studio's
    /// auto-evict, on by default there; off here unless asked for, so that tests see only the loads they make).
    public var autoEvict: Bool

    /// Creates a tuning; everything is off or zero by default, and responses are stored.
    public init(
        timeToFirstToken: Duration = .zero,
        loadTime: Duration = .zero,
        storesResponses: Bool = true,
        promptCache: Bool = false,
        promptTokenCost: Duration = .zero,
        autoEvict: Bool = false
    ) {
        self.timeToFirstToken = timeToFirstToken
        self.loadTime = loadTime
        self.storesResponses = storesResponses
        self.promptCache = promptCache
        self.promptTokenCost = promptTokenCost
        self.autoEvict = autoEvict
    }
}
