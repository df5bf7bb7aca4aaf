/// The whole configuration of one olla process, as read from `endpoints.yaml` (DESIGN.md section 4).
///
/// Every property has the default of DESIGN.md section 4, so `OllaConfiguration()` is a valid
/// configuration with no endpoints, and ``builtInDefault`` is the one used when no file exists.
public struct OllaConfiguration: Sendable, Equatable {
    public var server: ServerSettings
    public var proxy: ProxySettings
    public var endpoints: [EndpointConfiguration]
    /// `model_aliases`, in the order of the file.
    public var modelAliases: [ModelAlias]
    public var logging: LoggingSettings
    /// `dashboard:`; kept out of the initialiser so that callers need not name it.
    public var dashboard = DashboardSettings()

    public init(
        server: ServerSettings = .init(),
        proxy: ProxySettings = .init(),
        endpoints: [EndpointConfiguration] = [],
        modelAliases: [ModelAlias] = [],
        logging: LoggingSettings = .init()
    ) {
        self.server = server
        self.proxy = proxy
        self.endpoints = endpoints
        self.modelAliases = modelAliases
        self.logging = logging
    }

    /// The configuration used when no file is given and `./endpoints.yaml` does not exist:
    /// one LM Studio host on its default port.
    public static let builtInDefault = OllaConfiguration(
        endpoints: [
            EndpointConfiguration(
                name: "local-lm-studio",
                url: EndpointURL(scheme: .http, host: "localhost", port: 1234, basePath: "")
            )
        ]
    )
}

/// `server:`: where olla listens and the limits it puts on clients.
public struct ServerSettings: Sendable, Equatable {
    public var host: String = "localhost"
    public var port: Int = 40114
    /// `request_limits.max_body_size`: a larger body is refused with 413 while it is read.
    public var maxBodySize: Int = 100 * 1024 * 1024
    /// `request_limits.max_header_size`: a larger request head is refused with 431.
    public var maxHeaderSize: Int = 1024 * 1024
    /// `request_limits.max_buffered_body` (olla's addition): request body bytes held at once over all clients;
    /// a body that would take the total past it is answered 503 `overloaded`.
    public var maxBufferedBody: Int = 1024 * 1024 * 1024
    /// `api_keys`: when not empty, `/olla/*` routes need `Authorization: Bearer <key>`.
    public var apiKeys: [String] = []
    /// `internal_loopback_only`: `/internal/*` and `/version` answer loopback clients only.
    public var internalLoopbackOnly: Bool = true
    /// `shutdown_timeout`: how long in-flight requests may run after SIGTERM.
    public var shutdownTimeout: Duration = .seconds(30)
    /// `read_timeout` (Olla's key): the longest a client may take to send one request head and body,
    /// which cuts slowloris clients.
    public var readTimeout: Duration = .seconds(30)
    /// `idle_timeout`: how long a keep-alive client connection may sit with no request.
    public var idleTimeout: Duration = .seconds(75)
    /// `max_connections`: open client connections at once; more are accepted and closed at once.
    public var maxConnections: Int = 4096

    public init() {}
}

/// How a request picks among the hosts that have its model (DESIGN.md 6.2).
public enum LoadBalancerStrategy: String, Sendable, Equatable, CaseIterable {
    case priority
    case leastConnections = "least-connections"
    case roundRobin = "round-robin"

    /// Parses the config value, accepting Olla's spellings (`least_conn`, `round_robin`) too.
    public init?(configValue: String) {
        switch configValue.lowercased() {
        case "priority": self = .priority
        case "least-connections", "least_connections", "least-conn", "least_conn": self = .leastConnections
        case "round-robin", "round_robin", "roundrobin": self = .roundRobin
        default: return nil
        }
    }
}

/// `proxy:`: how requests are forwarded to hosts.
public struct ProxySettings: Sendable, Equatable {
    public var loadBalancer: LoadBalancerStrategy = .priority
    /// `connection_timeout`: TCP (and TLS) connect to a host.
    public var connectionTimeout: Duration = .seconds(5)
    /// `response_header_timeout` (Olla: `response_timeout`): request sent to response head received.
    /// Long by default because LM Studio may load a model before it answers.
    public var responseHeaderTimeout: Duration = .seconds(600)
    /// `read_timeout`: the longest silence inside a response body.
    public var readTimeout: Duration = .seconds(300)
    /// `max_queue`: requests waiting for a free host; 0 disables the queue.
    public var maxQueue: Int = 256
    public var queueTimeout: Duration = .seconds(30)
    /// `response_pinning`: the table of stateful conversations (DESIGN.md 6.9).
    public var responsePinning = ResponsePinningSettings()
    /// `sticky_sessions`: prompt-cache affinity (DESIGN.md 6.8).
    public var stickySessions = StickySessionSettings()

    public init() {}
}

/// `proxy.response_pinning`: how many answer ids olla remembers, and for how long, to send the next turn of a
/// stateful conversation (`previous_response_id`) to the host that holds it (DESIGN.md 6.9).
/// `proxy.sticky_sessions` (Olla's keys): which requests carry an affinity key and how far affinity may load a
/// host (DESIGN.md 6.8). On by default in olla.
public struct StickySessionSettings: Sendable, Equatable {
    /// Where a request's affinity key comes from, in the order of `key_sources`.
    public enum KeySource: String, Sendable, Equatable, CaseIterable {
        /// `X-Olla-Session-ID`.
        case sessionHeader = "session_header"
        /// The first `prefix_hash_bytes` of `messages` (or `input`, or `prompt`), with the model.
        case prefixHash = "prefix_hash"
        /// The `Authorization` header.
        case authHeader = "auth_header"
        /// The client's address.
        case ip
    }

    public var enabled = true
    public var keySources: [KeySource] = [.sessionHeader, .prefixHash]
    public var prefixHashBytes = 512
    /// A host above `load_factor` x the mean in-flight count of the candidates is skipped.
    public var loadFactor = 1.25
    /// How long a key counts as seen (for hit or miss only; it never decides the host).
    public var idleTTL: Duration = .seconds(600)
    /// Keys remembered as seen at most.
    public var maxSessions = 10_000

    public init() {}
}

public struct ResponsePinningSettings: Sendable, Equatable {
    /// `max_entries`: ids remembered at most; the oldest goes first.
    public var maxEntries: Int = 100_000
    /// `ttl`: how long an id is remembered after it was learnt.
    public var ttl: Duration = .seconds(24 * 3600)

    public init() {}
}

/// `logging:` (Olla's keys); the command line's `--log-level` and `--log-format` win over these.
public struct LoggingSettings: Sendable, Equatable {
    public enum Format: String, Sendable, Equatable {
        case text
        case json
    }

    /// One of swift-log's level names (`trace` ... `critical`); Olla's `warn` is read as `warning`.
    public var level: String = "info"
    public var format: Format = .text

    public init() {}
}

/// One alias of `model_aliases`: a name clients may send, and the ids it stands for, in order of preference.
public struct ModelAlias: Sendable, Equatable {
    public var name: String
    public var targets: [String]

    public init(name: String, targets: [String]) {
        self.name = name
        self.targets = targets
    }
}
