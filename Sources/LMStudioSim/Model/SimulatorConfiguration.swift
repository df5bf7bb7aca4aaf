/// How a simulated LM Studio host is set up when it starts.
public struct SimulatorConfiguration: Sendable {
    /// The host's name: reported in every answer (`X-Sim-Host`, `system_fingerprint`, the content).
    public var name: String
    /// The address to bind.
    public var host: String
    /// The port to bind; 0 lets the system pick a free one.
    public var port: Int
    /// The models the host has, in listing order.
    public var models: [SimulatedModel]
    /// How many tokens an answer has, unless the request's `max_tokens` or `n_predict` is smaller.
    public var tokensPerAnswer: Int
    /// The time between two tokens.
    public var tokenDelay: Duration
    /// The time before the first token (prompt processing).
    public var timeToFirstToken: Duration
    /// How many inference requests are answered at once; 0 means no limit. Beyond it requests wait in
    /// FIFO order, like an LM Studio host that serves one request at a time.
    public var maxConcurrentRequests: Int
    /// When set, every route except `/_sim/*` needs `Authorization: Bearer <token>`.
    public var authToken: String?
    /// The faults switched on from the start.
    public var faults: SimulatorFaults
    /// The largest request body accepted; larger ones get 413.
    public var maxBodySize: Int
    /// When set, a second listener on this port (0 = any free one) serves only the `/_sim/*` control
    /// routes, and stays up while `refuseConnections` closes the main one.
    public var controlPort: Int?
    /// When set, the main listener speaks https with this certificate (the control listener stays http).
    public var tls: SimulatorTLS? = nil
    /// Which LM Studio generation the host speaks; 0.3 by default.
    public var api: SimulatorAPI
    /// How long a model load takes on a 0.4 host (just in time or through `/api/v1/models/load`).
    public var loadTime: Duration
    /// Whether a 0.4 host keeps its `/v1/responses` and `/api/v1/chat` answers for `previous_response_id`.
    public var storesResponses: Bool
    /// How many responses a 0.4 host keeps; the oldest is forgotten first.
    public var responseStoreLimit: Int
    /// Whether the slots of a 0.4 host remember their last prompt (see `SimulatorTuning.promptCache`).
    public var promptCache: Bool
    /// With the prompt cache on: the time per prompt token that the chosen slot had not cached.
    public var promptTokenCost: Duration
    /// Whether a just-in-time load on a 0.4 host unloads earlier just-in-time models (see `SimulatorTuning`).
    public var autoEvict: Bool

    /// Creates a configuration; everything but the name has a default.
    public init(
        name: String = "lmstudio-sim",
        host: String = "127.0.0.1",
        port: Int = 0,
        models: [SimulatedModel] = [SimulatedModel(id: "qwen2.5-7b-instruct")],
        tokensPerAnswer: Int = 8,
        tokenDelay: Duration = .zero,
        timeToFirstToken: Duration = .zero,
        maxConcurrentRequests: Int = 0,
        authToken: String? = nil,
        faults: SimulatorFaults = .none,
        maxBodySize: Int = 16 * 1024 * 1024,
        controlPort: Int? = nil,
        api: SimulatorAPI = .v0_3,
        loadTime: Duration = .zero,
        storesResponses: Bool = true,
        responseStoreLimit: Int = 1024,
        promptCache: Bool = false,
        promptTokenCost: Duration = .zero,
        autoEvict: Bool = false
    ) {
        self.name = name
        self.host = host
        self.port = port
        self.models = models
        self.tokensPerAnswer = tokensPerAnswer
        self.tokenDelay = tokenDelay
        self.timeToFirstToken = timeToFirstToken
        self.maxConcurrentRequests = maxConcurrentRequests
        self.authToken = authToken
        self.faults = faults
        self.maxBodySize = maxBodySize
        self.controlPort = controlPort
        self.api = api
        self.loadTime = loadTime
        self.storesResponses = storesResponses
        self.responseStoreLimit = responseStoreLimit
        self.promptCache = promptCache
        self.promptTokenCost = promptTokenCost
        self.autoEvict = autoEvict
    }

    /// The part of the configuration that `/_sim/settings` can change later.
    public var tuning: SimulatorTuning {
        SimulatorTuning(
            timeToFirstToken: timeToFirstToken,
            loadTime: loadTime,
            storesResponses: storesResponses,
            promptCache: promptCache,
            promptTokenCost: promptTokenCost,
            autoEvict: autoEvict
        )
    }
}

/// The certificate an https simulated host presents: PEM files, as a TLS-terminating proxy in front of LM Studio
/// would have them.
public struct SimulatorTLS: Sendable, Equatable {
    public var certificateChainPath: String
    public var privateKeyPath: String

    public init(certificateChainPath: String, privateKeyPath: String) {
        self.certificateChainPath = certificateChainPath
        self.privateKeyPath = privateKeyPath
    }
}
