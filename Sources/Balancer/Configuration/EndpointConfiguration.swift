/// One LM Studio host of `discovery.static.endpoints` (or the top-level `endpoints:` shorthand).
public struct EndpointConfiguration: Sendable, Equatable {
    /// Unique; reported to clients in `X-Olla-Endpoint`.
    public var name: String
    public var url: EndpointURL
    public var type: EndpointType
    /// Higher wins; hosts of equal priority form a tier.
    public var priority: Int
    /// Path probed for liveness (default `/v1/models`).
    public var healthCheckURL: String
    /// Path probed for the model list with state (default `/api/v0/models`).
    public var modelURL: String
    public var checkInterval: Duration
    public var checkTimeout: Duration
    /// Requests at once before the host counts as full; 0 means no limit.
    public var maxConcurrency: Int
    public var auth: EndpointAuth?

    public init(
        name: String,
        url: EndpointURL,
        type: EndpointType = .lmStudio,
        priority: Int = 100,
        healthCheckURL: String = "/v1/models",
        modelURL: String = "/api/v0/models",
        checkInterval: Duration = .seconds(5),
        checkTimeout: Duration = .seconds(2),
        maxConcurrency: Int = 0,
        auth: EndpointAuth? = nil
    ) {
        self.name = name
        self.url = url
        self.type = type
        self.priority = priority
        self.healthCheckURL = healthCheckURL
        self.modelURL = modelURL
        self.checkInterval = checkInterval
        self.checkTimeout = checkTimeout
        self.maxConcurrency = maxConcurrency
        self.auth = auth
    }
}

/// The kind of host; both speak the OpenAI API, only LM Studio has `/api/v0/models`.
public enum EndpointType: String, Sendable, Equatable, CaseIterable {
    case lmStudio = "lm-studio"
    case openAICompatible = "openai-compatible"

    /// Parses the config value, accepting the spellings Olla's profiles use (`lmstudio`, `lm_studio`).
    public init?(configValue: String) {
        switch configValue.lowercased() {
        case "lm-studio", "lmstudio", "lm_studio": self = .lmStudio
        case "openai-compatible", "openai_compatible", "openai": self = .openAICompatible
        default: return nil
        }
    }
}

/// Credentials olla sends to a host (never the client's own, which are stripped).
public enum EndpointAuth: Sendable, Equatable {
    case bearer(token: String)

    /// The value of the `Authorization` header sent to the host.
    public var authorizationHeaderValue: String {
        switch self {
        case .bearer(let token): return "Bearer \(token)"
        }
    }
}

/// A host's base URL, split once at load time so the data path never parses it.
public struct EndpointURL: Sendable, Equatable, CustomStringConvertible {
    public enum Scheme: String, Sendable, Equatable {
        case http
        case https
    }

    public var scheme: Scheme
    /// Host name or address, without brackets for IPv6.
    public var host: String
    public var port: Int
    /// A path prefix to put before every forwarded path, without a trailing `/` ("" for none).
    public var basePath: String

    public init(scheme: Scheme, host: String, port: Int, basePath: String) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.basePath = basePath
    }

    /// The value of the `Host` header for requests to this host (port left out when it is the default).
    public var hostHeader: String {
        let bracketed = host.contains(":") ? "[\(host)]" : host
        let defaultPort = scheme == .http ? 80 : 443
        return port == defaultPort ? bracketed : "\(bracketed):\(port)"
    }

    public var description: String {
        let bracketed = host.contains(":") ? "[\(host)]" : host
        return "\(scheme.rawValue)://\(bracketed):\(port)\(basePath)"
    }

    /// Parses `http(s)://host[:port][/base]`, refusing credentials, queries and fragments.
    /// - Returns: the URL, or a sentence saying what is wrong with it.
    public static func parse(_ text: String) -> Result<EndpointURL, EndpointURLError> {
        let lower = text.lowercased()
        let scheme: Scheme
        let rest: Substring
        if lower.hasPrefix("http://") {
            scheme = .http
            rest = text.dropFirst(7)
        } else if lower.hasPrefix("https://") {
            scheme = .https
            rest = text.dropFirst(8)
        } else {
            return .failure(EndpointURLError("must start with http:// or https://"))
        }
        if rest.contains("?") || rest.contains("#") {
            return .failure(EndpointURLError("must not have a query or fragment"))
        }
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[rest.startIndex..<authorityEnd]
        var basePath = String(rest[authorityEnd...])
        while basePath.hasSuffix("/") { basePath.removeLast() }
        if authority.contains("@") {
            return .failure(EndpointURLError("must not contain credentials (user:pass@); use the endpoint's auth key"))
        }
        if authority.isEmpty {
            return .failure(EndpointURLError("has no host"))
        }
        var host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                return .failure(EndpointURLError("has an unclosed [ in its IPv6 address"))
            }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return .failure(EndpointURLError("has junk after its IPv6 address")) }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[authority.startIndex..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        if host.isEmpty {
            return .failure(EndpointURLError("has no host"))
        }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._:%")
        if !host.allSatisfy({ allowed.contains($0) }) {
            return .failure(EndpointURLError("has an invalid host \"\(host)\""))
        }
        var port = scheme == .http ? 80 : 443
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else {
                return .failure(EndpointURLError("has an invalid port \"\(portText)\" (1-65535)"))
            }
            port = value
        }
        return .success(EndpointURL(scheme: scheme, host: String(host), port: port, basePath: basePath))
    }
}

/// Why a URL was refused; the message completes "url ...".
public struct EndpointURLError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
