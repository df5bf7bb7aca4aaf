/// What a simulated host has seen since it started or since its stats were last reset.
///
/// Control routes (`/_sim/*`) are never counted.
public struct SimulatorStats: Sendable, Equatable {
    /// Requests received.
    public var requests: Int
    /// Requests received by route: `"GET /v1/models"`, `"GET /api/v0/models"`,
    /// `"POST /v1/chat/completions"`, `"POST /v1/completions"`, `"POST /v1/embeddings"`, on 0.4 also
    /// `"GET /api/v1/models"`, `"POST /api/v1/chat"`, `"POST /v1/responses"`, `"POST /v1/messages"`,
    /// `"POST /api/v1/models/load"`, `"POST /api/v1/models/unload"`; or `"other"`.
    public var requestsByRoute: [String: Int]
    /// Inference requests being answered now (admitted, not finished).
    public var inFlight: Int
    /// The most inference requests answered at once.
    public var maxInFlightSeen: Int
    /// Inference requests waiting for a free slot (see `maxConcurrentRequests`).
    public var queued: Int
    /// Responses sent in full.
    public var completed: Int
    /// Requests whose client closed the connection before the answer was complete.
    public var clientDisconnects: Int
    /// Streamed answers cut by the `dropAfterChunks` fault.
    public var droppedStreams: Int
    /// Connections accepted.
    public var connectionsAccepted: Int
    /// Connections open now.
    public var openConnections: Int
    /// 0.4: the most requests of a model processed at once (holding a slot), by model id.
    public var maxConcurrencyByModel: [String: Int] = [:]
    /// 0.4: requests of a model being processed now (holding a slot), by model id.
    public var inProgressByModel: [String: Int] = [:]
    /// 0.4: requests waiting inside the host for a slot of a busy instance, by model id.
    public var waitingByModel: [String: Int] = [:]
    /// 0.4: instances created by loads (just in time or through `/api/v1/models/load`), by model id.
    public var loadsByModel: [String: Int] = [:]
    /// 0.4 with the prompt cache on: requests whose slot had cached at least half of their prompt.
    public var promptCacheHits = 0
    /// 0.4 with the prompt cache on: requests whose slot had cached less than half of their prompt.
    public var promptCacheMisses = 0
    /// 0.4 with the prompt cache on: prompt tokens processed (not found in the slot's cache).
    public var promptTokensProcessed = 0
    /// 0.4 with the prompt cache on: prompt tokens taken from the slot's cache.
    public var promptTokensReused = 0
    /// 0.4: responses held for `previous_response_id` now.
    public var storedResponses = 0

    /// Creates stats with every count at zero unless given.
    public init(
        requests: Int = 0,
        requestsByRoute: [String: Int] = [:],
        inFlight: Int = 0,
        maxInFlightSeen: Int = 0,
        queued: Int = 0,
        completed: Int = 0,
        clientDisconnects: Int = 0,
        droppedStreams: Int = 0,
        connectionsAccepted: Int = 0,
        openConnections: Int = 0
    ) {
        self.requests = requests
        self.requestsByRoute = requestsByRoute
        self.inFlight = inFlight
        self.maxInFlightSeen = maxInFlightSeen
        self.queued = queued
        self.completed = completed
        self.clientDisconnects = clientDisconnects
        self.droppedStreams = droppedStreams
        self.connectionsAccepted = connectionsAccepted
        self.openConnections = openConnections
    }

    /// The stats as the JSON object `GET /_sim/stats` answers.
    var jsonObject: [String: Any] {
        [
            "requests": requests,
            "requests_by_route": requestsByRoute,
            "in_flight": inFlight,
            "max_in_flight_seen": maxInFlightSeen,
            "queued": queued,
            "completed": completed,
            "client_disconnects": clientDisconnects,
            "dropped_streams": droppedStreams,
            "connections_accepted": connectionsAccepted,
            "open_connections": openConnections,
            "max_concurrency_by_model": maxConcurrencyByModel,
            "in_progress_by_model": inProgressByModel,
            "waiting_by_model": waitingByModel,
            "loads_by_model": loadsByModel,
            "prompt_cache_hits": promptCacheHits,
            "prompt_cache_misses": promptCacheMisses,
            "prompt_tokens_processed": promptTokensProcessed,
            "prompt_tokens_reused": promptTokensReused,
            "stored_responses": storedResponses,
        ]
    }
}
