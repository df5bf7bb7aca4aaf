/// What a simulated host has seen since it started or since its stats were last reset.
///
/// Control routes (`/_sim/*`) are never counted.
public struct SimulatorStats: Sendable, Equatable {
    /// Requests received.
    public var requests: Int
    /// Requests received by route: `"GET /v1/models"`, `"GET /api/v0/models"`,
    /// `"POST /v1/chat/completions"`, `"POST /v1/completions"`, `"POST /v1/embeddings"`, or `"other"`.
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
        ]
    }
}
