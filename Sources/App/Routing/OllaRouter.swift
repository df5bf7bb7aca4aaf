import Balancer
import NIOCore
import NIOHTTP1
import Proxy

/// The routes of DESIGN.md section 5: which requests are proxied, which are answered from the routing
/// snapshot, and who may call what (API keys, loopback-only internal routes).
struct OllaRouter: RequestRouter {
    /// The three spellings of the LM Studio prefix, identical in every respect.
    static let prefixes = ["/olla/lmstudio", "/olla/lm-studio", "/olla/lm_studio"]

    let listings: ModelListings
    let status: StatusRoutes
    var dashboard = DashboardRoutes()

    func route(_ head: HTTPRequestHead, client: ClientAddress, snapshot: RoutingSnapshot) -> RouteDecision {
        let uri = head.uri
        let server = snapshot.configuration.server
        // The proxied routes first, read off the bytes without copying: they are nearly every request.
        if let rest = Self.afterProviderPrefix(uri) {
            if !server.apiKeys.isEmpty && !Self.isAuthorized(head.headers, keys: server.apiKeys) {
                return Self.error(.unauthorized)
            }
            return providerRoute(head, rest: rest)
        }
        let path = uri.utf8.firstIndex(of: UInt8(ascii: "?")).map { String(uri[..<$0]) } ?? uri

        if path.hasPrefix("/olla/") {
            if !server.apiKeys.isEmpty && !Self.isAuthorized(head.headers, keys: server.apiKeys) {
                return Self.error(.unauthorized)
            }
            if path == "/olla/models" {
                return Self.onlyGet(head, path) { request in listings.ollaModels(request.snapshot) }
            }
            if path.hasPrefix("/olla/models/") {
                let id = Self.percentDecoded(String(path.dropFirst("/olla/models/".count)))
                return Self.onlyGet(head, path) { request in listings.ollaModel(id, request.snapshot) }
            }
            return Self.error(.notFound(path))
        }

        if path.hasPrefix("/internal/") || path == "/version" {
            if server.internalLoopbackOnly && !client.isLoopback {
                return Self.error(.forbidden)
            }
            if path == "/internal/ui" || path.hasPrefix("/internal/ui/") {
                // dashboard.enabled: false removes the page as if it did not exist.
                guard snapshot.configuration.dashboard.enabled, let answer = dashboard.asset(for: path) else {
                    return Self.error(.notFound(path))
                }
                return Self.onlyGet(head, path) { _ in answer }
            }
            switch path {
            case "/internal/health":
                return Self.onlyGet(head, path) { _ in .json(.ok, "{\"status\":\"healthy\"}") }
            case "/internal/status":
                return Self.onlyGet(head, path) { request in status.summary(request.snapshot) }
            case "/internal/status/endpoints":
                return Self.onlyGet(head, path) { request in status.endpoints(request.snapshot) }
            case "/internal/status/models":
                return Self.onlyGet(head, path) { request in status.models(request.snapshot) }
            case "/internal/metrics":
                return Self.onlyGet(head, path) { _ in status.metricsResponse() }
            case "/internal/stats/sticky":
                return Self.onlyGet(head, path) { request in status.sticky(request.snapshot) }
            case "/internal/stats/traffic":
                return Self.onlyGet(head, path) { request in dashboard.traffic(request.snapshot) }
            case "/version":
                return Self.onlyGet(head, path) { _ in status.version() }
            default:
                return Self.error(.notFound(path))
            }
        }
        return Self.error(.notFound(path))
    }

    /// The part of `uri` after one of the three LM Studio prefixes (query included), when it has one.
    static func afterProviderPrefix(_ uri: String) -> Substring? {
        let bytes = uri.utf8
        guard bytes.starts(with: "/olla/lm".utf8) else { return nil }
        for prefix in prefixes {
            guard bytes.starts(with: prefix.utf8) else { continue }
            let rest = uri.utf8.index(uri.startIndex, offsetBy: prefix.utf8.count)
            if rest == uri.endIndex || uri.utf8[rest] == UInt8(ascii: "/") || uri.utf8[rest] == UInt8(ascii: "?") {
                return uri[rest...]
            }
        }
        return nil
    }

    /// Routes under an LM Studio prefix; `rest` is what follows the prefix, query included.
    private func providerRoute(_ head: HTTPRequestHead, rest: Substring) -> RouteDecision {
        let path = rest.utf8.firstIndex(of: UInt8(ascii: "?")).map { rest[..<$0] } ?? rest
        switch path {
        case "/v1/models":
            return Self.onlyGet(head, String(path)) { request in listings.openAIModels(request.snapshot) }
        case "/api/v0/models":
            return Self.onlyGet(head, String(path)) { request in listings.lmStudioModels(request.snapshot) }
        case "/api/v1/models":
            return Self.onlyGet(head, String(path)) { request in listings.lmStudioV1Models(request.snapshot) }
        case "/v1/chat/completions", "/v1/completions", "/v1/embeddings":
            guard head.method == .POST else {
                return Self.error(.methodNotAllowed(head.method, head.uri, allowed: "POST"))
            }
            return .forward(ForwardTarget(upstreamPath: Self.upstreamPath(rest, path: path), requiresJSONBody: true))
        case "/v1/responses", "/api/v1/chat", "/v1/messages":
            guard head.method == .POST else {
                return Self.error(.methodNotAllowed(head.method, head.uri, allowed: "POST"))
            }
            let stateful = path != "/v1/messages"
            return .forward(
                ForwardTarget(upstreamPath: String(rest), requiresJSONBody: true, keepsConversations: stateful)
            )
        default:
            return .forward(
                ForwardTarget(upstreamPath: path.isEmpty ? "/" + rest : String(rest), requiresJSONBody: false)
            )
        }
    }

    /// The path for the host: the inference paths without a query as literals (a `String` made of a longer
    /// `Substring` is an allocation, on every chat).
    private static func upstreamPath(_ rest: Substring, path: Substring) -> String {
        guard path.utf8.count == rest.utf8.count else { return String(rest) }
        switch path {
        case "/v1/chat/completions": return "/v1/chat/completions"
        case "/v1/completions": return "/v1/completions"
        case "/v1/embeddings": return "/v1/embeddings"
        default: return String(rest)
        }
    }

    private static func onlyGet(_ head: HTTPRequestHead, _ path: String, _ route: @escaping LocalRoute) -> RouteDecision
    {
        guard head.method == .GET || head.method == .HEAD else {
            return error(.methodNotAllowed(head.method, path, allowed: "GET"))
        }
        return .respond(route)
    }

    private static func error(_ problem: ProxyError) -> RouteDecision {
        let response = problem.response
        return .respond { _ in response }
    }

    /// Whether `Authorization: Bearer <key>` names one of `keys`, compared in constant time so the time of
    /// a refusal says nothing about how much of a key was right.
    static func isAuthorized(_ headers: HTTPHeaders, keys: [String]) -> Bool {
        guard let value = headers.first(name: "authorization") else { return false }
        let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return false }
        let presented = Array(parts[1].utf8)
        var matched = false
        for key in keys {
            matched = constantTimeEqual(presented, Array(key.utf8)) || matched
        }
        return matched
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        let count = max(a.count, b.count)
        for index in 0..<count {
            let left = index < a.count ? a[index] : 0
            let right = index < b.count ? b[index] : 0
            difference |= left ^ right
        }
        return difference == 0
    }

    /// Decodes `%XX` escapes (model ids with `/` may arrive as `%2F`); invalid escapes stay as they are.
    static func percentDecoded(_ text: String) -> String {
        guard text.contains("%") else { return text }
        var bytes: [UInt8] = []
        let utf8 = Array(text.utf8)
        var index = 0
        while index < utf8.count {
            if utf8[index] == UInt8(ascii: "%"), index + 2 < utf8.count,
                let value = UInt8(String(decoding: utf8[(index + 1)...(index + 2)], as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                index += 3
            } else {
                bytes.append(utf8[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
