import Balancer
import Yams

extension ConfigurationKeys {
    static let top = ConfigurationKeys(
        read: ["server", "proxy", "discovery", "endpoints", "model_aliases", "logging", "dashboard"],
        ignored: ["model_registry", "engineering"]
    )
    static let server = ConfigurationKeys(
        read: [
            "host", "port", "read_timeout", "idle_timeout", "max_connections", "shutdown_timeout",
            "request_limits", "api_keys", "internal_loopback_only",
        ],
        ignored: ["write_timeout", "request_logging", "rate_limits"]
    )
    static let requestLimits = ConfigurationKeys(read: ["max_body_size", "max_header_size", "max_buffered_body"])
    static let proxy = ConfigurationKeys(
        read: [
            "load_balancer", "connection_timeout", "response_header_timeout", "response_timeout", "read_timeout",
            "max_queue", "queue_timeout", "response_pinning", "sticky_sessions",
        ],
        ignored: ["engine", "profile", "max_retries", "retry_backoff", "stream_buffer_size"]
    )
    static let responsePinning = ConfigurationKeys(read: ["max_entries", "ttl"])
    static let stickySessions = ConfigurationKeys(
        read: ["enabled", "key_sources", "prefix_hash_bytes", "load_factor", "idle_ttl_seconds", "max_sessions"]
    )
    static let discovery = ConfigurationKeys(
        read: ["type", "static"],
        ignored: ["refresh_interval", "model_discovery"]
    )
    static let staticDiscovery = ConfigurationKeys(read: ["endpoints"])
    static let endpoint = ConfigurationKeys(
        read: [
            "name", "url", "type", "priority", "health_check_url", "model_url", "check_interval", "check_timeout",
            "max_concurrency", "auth",
        ]
    )
    static let auth = ConfigurationKeys(read: ["type", "token"])
    static let logging = ConfigurationKeys(read: ["level", "format"], ignored: ["output"])
    static let dashboard = ConfigurationKeys(read: ["enabled"])
}

extension ConfigurationReader {
    /// Reads the whole file; problems are recorded in ``issues`` and the defaults kept where a value was refused.
    mutating func configuration(from root: Node) -> OllaConfiguration {
        var configuration = OllaConfiguration()
        guard case .mapping = root else {
            error(
                "the file must be a map of sections (server, proxy, discovery, ...), found \(root.kindDescription)",
                at: "",
                line: root.line
            )
            return configuration
        }
        guard let top = map(root, at: "", keys: .top) else { return configuration }
        if let section = map(top.value("server"), at: "server", keys: .server) {
            configuration.server = server(from: section)
        }
        if let section = map(top.value("proxy"), at: "proxy", keys: .proxy) {
            configuration.proxy = proxy(from: section)
        }
        configuration.endpoints = endpoints(from: top)
        if let section = map(top.value("model_aliases"), at: "model_aliases", keys: nil) {
            configuration.modelAliases = modelAliases(from: section)
        }
        if let section = map(top.value("logging"), at: "logging", keys: .logging) {
            configuration.logging = logging(from: section)
        }
        if let section = map(top.value("dashboard"), at: "dashboard", keys: .dashboard) {
            if let enabled = bool("enabled", in: section) { configuration.dashboard.enabled = enabled }
        }
        return configuration
    }

    // MARK: server, proxy, logging

    private mutating func server(from section: ConfigurationMap) -> ServerSettings {
        var server = ServerSettings()
        if let host = string("host", in: section) { server.host = host }
        if let port = integer("port", in: section, range: 1...65535) { server.port = port }
        if let timeout = duration("read_timeout", in: section) { server.readTimeout = timeout }
        if let timeout = duration("idle_timeout", in: section) { server.idleTimeout = timeout }
        if let count = integer("max_connections", in: section, range: 1...Int.max) { server.maxConnections = count }
        // 0s is allowed: stop at once on SIGTERM.
        if let timeout = duration("shutdown_timeout", in: section, minimum: .zero) { server.shutdownTimeout = timeout }
        if let keys = strings("api_keys", in: section, of: "API keys") { server.apiKeys = keys }
        if let loopbackOnly = bool("internal_loopback_only", in: section) {
            server.internalLoopbackOnly = loopbackOnly
        }
        let limitsPath = section.path(of: "request_limits")
        if let limits = map(section.value("request_limits"), at: limitsPath, keys: .requestLimits) {
            if let bytes = size("max_body_size", in: limits) { server.maxBodySize = bytes }
            if let bytes = size("max_header_size", in: limits) { server.maxHeaderSize = bytes }
            if let bytes = size("max_buffered_body", in: limits) { server.maxBufferedBody = bytes }
        }
        return server
    }

    private mutating func proxy(from section: ConfigurationMap) -> ProxySettings {
        var proxy = ProxySettings()
        let strategy = value("load_balancer", in: section, expected: "a strategy name") { text in
            LoadBalancerStrategy(configValue: text).map { .success($0) }
                ?? .failure(
                    ValueProblem("unknown load balancer \"\(text)\"; use priority, least-connections or round-robin")
                )
        }
        if let strategy { proxy.loadBalancer = strategy }
        if let timeout = duration("connection_timeout", in: section) { proxy.connectionTimeout = timeout }
        // Olla calls it response_timeout; our name says which part of the response it bounds, and wins.
        let headerTimeout = duration("response_header_timeout", in: section)
        let ollaTimeout = duration("response_timeout", in: section)
        if let timeout = headerTimeout ?? ollaTimeout { proxy.responseHeaderTimeout = timeout }
        if let timeout = duration("read_timeout", in: section) { proxy.readTimeout = timeout }
        if let count = integer("max_queue", in: section, range: 0...Int.max) { proxy.maxQueue = count }
        if let timeout = duration("queue_timeout", in: section) { proxy.queueTimeout = timeout }
        let pinningPath = section.path(of: "response_pinning")
        if let pinning = map(section.value("response_pinning"), at: pinningPath, keys: .responsePinning) {
            if let count = integer("max_entries", in: pinning, range: 1...Int.max) {
                proxy.responsePinning.maxEntries = count
            }
            if let ttl = duration("ttl", in: pinning) { proxy.responsePinning.ttl = ttl }
        }
        let stickyPath = section.path(of: "sticky_sessions")
        if let sticky = map(section.value("sticky_sessions"), at: stickyPath, keys: .stickySessions) {
            proxy.stickySessions = stickySessions(from: sticky)
        }
        return proxy
    }

    private mutating func stickySessions(from section: ConfigurationMap) -> StickySessionSettings {
        var settings = StickySessionSettings()
        if let enabled = bool("enabled", in: section) { settings.enabled = enabled }
        if let names = strings("key_sources", in: section, of: "key sources") {
            var sources: [StickySessionSettings.KeySource] = []
            for name in names {
                guard let source = StickySessionSettings.KeySource(rawValue: name) else {
                    let known = StickySessionSettings.KeySource.allCases.map(\.rawValue).joined(separator: ", ")
                    error(
                        "unknown key source \"\(name)\"; use \(known)",
                        at: section.path(of: "key_sources"),
                        line: section.value("key_sources")?.line
                    )
                    continue
                }
                if !sources.contains(source) { sources.append(source) }
            }
            settings.keySources = sources
        }
        if let bytes = integer("prefix_hash_bytes", in: section, range: 1...1_048_576) {
            settings.prefixHashBytes = bytes
        }
        let factor = value("load_factor", in: section, expected: "a number of at least 1") { text in
            guard let number = Double(text.trimmingCharacters(in: .whitespaces)), number >= 1, number.isFinite else {
                return Result<Double, ValueProblem>.failure(
                    ValueProblem("must be a number of at least 1, such as 1.25")
                )
            }
            return .success(number)
        }
        if let factor { settings.loadFactor = factor }
        if let seconds = integer("idle_ttl_seconds", in: section, range: 1...Int.max) {
            settings.idleTTL = .seconds(seconds)
        }
        if let count = integer("max_sessions", in: section, range: 1...Int.max) { settings.maxSessions = count }
        return settings
    }

    private static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    private mutating func logging(from section: ConfigurationMap) -> LoggingSettings {
        var logging = LoggingSettings()
        let level = value("level", in: section, expected: "a log level") { text -> Result<String, ValueProblem> in
            let lowered = text.lowercased()
            // Olla (Go's slog) spells it warn; swift-log spells it warning.
            let level = lowered == "warn" ? "warning" : lowered
            guard Self.logLevels.contains(level) else {
                let levels = Self.logLevels.joined(separator: ", ")
                return .failure(ValueProblem("unknown log level \"\(text)\"; use one of \(levels)"))
            }
            return .success(level)
        }
        if let level { logging.level = level }
        let format = value("format", in: section, expected: "text or json") { text in
            LoggingSettings.Format(rawValue: text.lowercased()).map { .success($0) }
                ?? .failure(ValueProblem("unknown log format \"\(text)\"; use text or json"))
        }
        if let format { logging.format = format }
        return logging
    }

    // MARK: endpoints

    /// The endpoints of `discovery.static.endpoints` or of the top-level `endpoints:` shorthand.
    private mutating func endpoints(from top: ConfigurationMap) -> [EndpointConfiguration] {
        var staticSection: ConfigurationMap?
        if let discovery = map(top.value("discovery"), at: "discovery", keys: .discovery) {
            // Olla's other discovery types find hosts on their own; olla only reads the list in this file.
            _ = value("type", in: discovery, expected: "static") { text in
                text.lowercased() == "static"
                    ? .success(text)
                    : .failure(ValueProblem("only static discovery is supported, found \"\(text)\""))
            }
            staticSection = map(discovery.value("static"), at: "discovery.static", keys: .staticDiscovery)
        }
        let nestedList = staticSection?.value("endpoints")
        let shorthandList = top.value("endpoints")
        if let nestedList, shorthandList != nil {
            let other = nestedList.line.map { " (line \($0))" } ?? ""
            error(
                "is given both here and as discovery.static.endpoints\(other); keep one list",
                at: "endpoints",
                line: top.keyLine("endpoints")
            )
        }
        var endpoints: [EndpointConfiguration] = []
        if let nestedList {
            endpoints += endpointList(nestedList, at: "discovery.static.endpoints")
        }
        if let shorthandList {
            endpoints += endpointList(shorthandList, at: "endpoints")
        }
        let written = [nestedList, shorthandList].compactMap { $0 }
        let allEmpty = written.allSatisfy { node in
            if case .sequence(let sequence) = node { return sequence.isEmpty }
            return false
        }
        if allEmpty {
            let (path, line) =
                top.contains("endpoints")
                ? ("endpoints", top.keyLine("endpoints"))
                : ("discovery.static.endpoints", staticSection?.keyLine("endpoints"))
            warning("no endpoints are configured; every model request will get 503", at: path, line: line)
        }
        return endpoints
    }

    private mutating func endpointList(_ node: Node, at path: String) -> [EndpointConfiguration] {
        guard let items = list(node, at: path, of: "endpoints") else { return [] }
        var firstLineOfName: [String: Int?] = [:]
        var endpoints: [EndpointConfiguration] = []
        for (index, item) in items.enumerated() {
            if let endpoint = endpoint(item, at: "\(path)[\(index)]", firstLineOfName: &firstLineOfName) {
                endpoints.append(endpoint)
            }
        }
        return endpoints
    }

    /// An endpoint of which only the defaults are read, so they are written once, in the model.
    private static let endpointDefaults = EndpointConfiguration(
        name: "",
        url: EndpointURL(scheme: .http, host: "localhost", port: 1234, basePath: "")
    )

    /// One endpoint of a list.
    /// - Parameter firstLineOfName: the names seen so far in the list, with their lines.
    private mutating func endpoint(
        _ node: Node,
        at path: String,
        firstLineOfName: inout [String: Int?]
    ) -> EndpointConfiguration? {
        if node.isNull {
            error("is empty; an endpoint needs at least a name and a url", at: path, line: node.line)
            return nil
        }
        guard let entry = map(node, at: path, keys: .endpoint) else { return nil }
        let name = string("name", in: entry)
        if entry.value("name") == nil {
            error("is missing; every endpoint needs a unique name", at: entry.path(of: "name"), line: entry.line)
        }
        if let name, Self.hasControlCharacters(name) {
            error(
                "must not contain control characters: it is sent to clients in the X-Olla-Endpoint header",
                at: entry.path(of: "name"),
                line: entry.value("name")?.line
            )
        }
        if let name {
            let line = entry.value("name")?.line
            if let firstLine = firstLineOfName[name] {
                let first = firstLine.map { " (line \($0))" } ?? ""
                error(
                    "\"\(name)\" is already the name of another endpoint\(first); names must be unique",
                    at: entry.path(of: "name"),
                    line: line
                )
            } else {
                firstLineOfName[name] = line
            }
        }
        let url = value("url", in: entry, expected: "a URL such as http://10.0.0.5:1234") { text in
            EndpointURL.parse(text).mapError { ValueProblem($0.description) }
        }
        if entry.value("url") == nil {
            error(
                "is missing; every endpoint needs the host's url, such as http://10.0.0.5:1234",
                at: entry.path(of: "url"),
                line: entry.line
            )
        }
        let type = value("type", in: entry, expected: "an endpoint type") { text in
            EndpointType(configValue: text).map { .success($0) }
                ?? .failure(ValueProblem("unknown endpoint type \"\(text)\"; use lm-studio or openai-compatible"))
        }
        let priority = integer("priority", in: entry, range: 0...Int.max)
        let healthCheckURL = value("health_check_url", in: entry, expected: "a path", Self.path)
        let modelURL = value("model_url", in: entry, expected: "a path", Self.path)
        let checkInterval = duration("check_interval", in: entry, minimum: .seconds(1))
        let checkTimeout = duration("check_timeout", in: entry)
        let maxConcurrency = integer("max_concurrency", in: entry, range: 0...Int.max)
        let auth = self.auth(entry.value("auth"), at: entry.path(of: "auth"))

        let defaults = Self.endpointDefaults
        // Compare only values that were read or defaulted, not ones already refused above.
        let intervalReadable = entry.value("check_interval") == nil || checkInterval != nil
        let timeoutReadable = entry.value("check_timeout") == nil || checkTimeout != nil
        let interval = checkInterval ?? defaults.checkInterval
        let timeout = checkTimeout ?? defaults.checkTimeout
        if intervalReadable, timeoutReadable, timeout >= interval {
            let timeoutText = DurationSyntax.format(timeout) + (checkTimeout == nil ? " (the default)" : "")
            let intervalText = DurationSyntax.format(interval) + (checkInterval == nil ? " (the default)" : "")
            error(
                "must be shorter than check_interval, but \(timeoutText) is not shorter than \(intervalText)",
                at: entry.path(of: "check_timeout"),
                line: entry.value("check_timeout")?.line ?? entry.value("check_interval")?.line
            )
        }

        guard let name, let url else { return nil }
        return EndpointConfiguration(
            name: name,
            url: url,
            type: type ?? defaults.type,
            priority: priority ?? defaults.priority,
            healthCheckURL: healthCheckURL ?? defaults.healthCheckURL,
            modelURL: modelURL ?? defaults.modelURL,
            checkInterval: interval,
            checkTimeout: timeout,
            maxConcurrency: maxConcurrency ?? defaults.maxConcurrency,
            auth: auth
        )
    }

    /// A probe path: relative to the endpoint's url, so it must start with `/`.
    private static func path(_ text: String) -> Result<String, ValueProblem> {
        text.hasPrefix("/")
            ? .success(text)
            : .failure(ValueProblem("must be a path starting with /, such as /v1/models, found \"\(text)\""))
    }

    private mutating func auth(_ node: Node?, at path: String) -> EndpointAuth? {
        guard let section = map(node, at: path, keys: .auth) else { return nil }
        let type = value("type", in: section, expected: "an auth type") { text in
            text.lowercased() == "bearer"
                ? .success(text)
                : .failure(ValueProblem("unknown auth type \"\(text)\"; only bearer is supported"))
        }
        let typeReadable = section.value("type") == nil || type != nil
        let token = string("token", in: section)
        if section.value("token") == nil {
            error("is missing; bearer auth needs a token", at: section.path(of: "token"), line: section.line)
        }
        if let token, Self.hasControlCharacters(token) {
            error(
                "must not contain control characters: it is sent to the host in the Authorization header",
                at: section.path(of: "token"),
                line: section.value("token")?.line
            )
            return nil
        }
        guard typeReadable, let token else { return nil }
        return .bearer(token: token)
    }

    /// Whether a value holds a byte that cannot appear in an HTTP header value (CR and LF above all, which
    /// would let a value end one header and start another).
    static func hasControlCharacters(_ text: String) -> Bool {
        text.utf8.contains { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }
    }

    // MARK: model_aliases

    private mutating func modelAliases(from section: ConfigurationMap) -> [ModelAlias] {
        var aliases: [ModelAlias] = []
        var seen: Set<String> = []
        for entry in section.entries where seen.insert(entry.key).inserted {
            let path = section.path(of: entry.key)
            if entry.key.isEmpty {
                error("has an empty alias name", at: path, line: entry.keyLine)
                continue
            }
            let isEmptyList: Bool
            if case .sequence(let list) = entry.value { isEmptyList = list.isEmpty } else { isEmptyList = false }
            if entry.value.isNull || isEmptyList {
                error("has no model ids; give a list such as [phi-3-mini]", at: path, line: entry.keyLine)
                continue
            }
            guard let targets = strings(entry.key, in: section, of: "model ids") else { continue }
            aliases.append(ModelAlias(name: entry.key, targets: targets))
        }
        return aliases
    }
}
