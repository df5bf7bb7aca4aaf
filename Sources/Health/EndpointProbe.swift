import AsyncHTTPClient
import Balancer

/// One probe of one host: `GET health_check_url`, then `GET model_url` (falling back to `/v1/models` when
/// the host has no such route), then, for an LM Studio host, `GET /api/v1/models` (LM Studio 0.4's list with
/// slots, DESIGN.md 6.7); the whole of it bounded by `check_timeout`.
struct EndpointProbe: Sendable {
    /// How a probe ended.
    enum Result: Sendable {
        /// The host answered and listed models; `latency` is the time the whole probe took.
        case healthy(ModelDiscovery, latency: Duration)
        /// The host failed; the reason is a short sentence for logs and `/internal/status/endpoints`.
        case failed(EndpointHealth.StateMachine.Failure, reason: String)
    }

    /// The largest body read from a host (a model list of thousands of models is well below it).
    static let bodyLimit = 10 * 1024 * 1024
    /// The OpenAI route every LM Studio version serves, listing model ids without state.
    static let openAIModelsPath = "/v1/models"
    /// LM Studio 0.4's model list, with loaded instances and their `parallel` slots.
    static let apiV1ModelsPath = "/api/v1/models"
    /// How much earlier than the probe's deadline the HTTP client gives up waiting for a response head
    /// (at most a tenth of `check_timeout`).
    static let clientDeadlineMargin: Duration = .milliseconds(50)

    let configuration: EndpointConfiguration
    let httpClient: HTTPClient
    let clock: ProbeClock

    /// Runs the probe; never throws, a failure is a result.
    func run() async -> Result {
        let start = clock.now()
        let deadline = start + configuration.checkTimeout
        do {
            let discovery = try await withDeadline(deadline) { try await self.discover(deadline: deadline) }
            return .healthy(discovery, latency: clock.now() - start)
        } catch let failure as Failure {
            return .failed(failure.kind, reason: failure.reason)
        } catch {
            return .failed(.offline, reason: Self.reason(for: error, timeout: configuration.checkTimeout))
        }
    }

    private func discover(deadline: Duration) async throws -> ModelDiscovery {
        let healthPath = Self.path(configuration.healthCheckURL)
        let health = try await get(healthPath, deadline: deadline)
        guard (200..<300).contains(health.status) else {
            throw Failure(.unhealthy, "HTTP \(health.status) from \(healthPath)")
        }
        // A 200 from LM Studio does not prove the path exists (it answers 200 to unknown paths).
        let healthListing = ModelListing(parsing: health.body, from: healthPath)
        if case .unknownEndpoint = healthListing {
            throw Failure(.unhealthy, "\(healthPath) is not served by the host (\"Unexpected endpoint or method\")")
        }
        let listed = try await listModels(health: health, healthPath: healthPath, deadline: deadline)
        // `/v1/models` carries what the richer list lacks (the reference shape's `root`); merged by id.
        var openAI: [HostedModel]?
        if healthPath == Self.openAIModelsPath, case .models(let models) = healthListing {
            openAI = models
        }
        let apiV1 = configuration.type == .lmStudio ? try await apiV1Models(deadline: deadline) : .notAsked
        return ModelDiscovery(listed: listed, openAI: openAI, apiV1: apiV1)
    }

    private func listModels(
        health: (status: Int, body: [UInt8]),
        healthPath: String,
        deadline: Duration
    ) async throws -> [HostedModel] {
        let modelPath = Self.path(configuration.modelURL)

        let listing = modelPath == healthPath ? health : try await get(modelPath, deadline: deadline)
        if listing.status == 404 {
            return try await fallbackModels(health: health, healthPath: healthPath, deadline: deadline)
        }
        guard (200..<300).contains(listing.status) else {
            throw Failure(.unhealthy, "HTTP \(listing.status) from \(modelPath)")
        }
        switch ModelListing(parsing: listing.body, from: modelPath) {
        case .models(let models):
            return models
        case .unknownEndpoint:
            return try await fallbackModels(health: health, healthPath: healthPath, deadline: deadline)
        case .malformed(let reason):
            throw Failure(.unhealthy, reason)
        }
    }

    /// How `/api/v1/models` answers. Its failures do not fail the probe: a host whose older list is good stays
    /// usable, with its slots unknown and the reason shown. Only the probe's own deadline ends it.
    private func apiV1Models(deadline: Duration) async throws -> ModelDiscovery.APIv1Answer {
        let path = Self.apiV1ModelsPath
        let answer: (status: Int, body: [UInt8])
        do {
            answer = try await get(path, deadline: deadline)
        } catch let failure as Failure {
            return .failed(failure.reason)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            return .failed("\(path): \(Self.reason(for: error, timeout: configuration.checkTimeout))")
        }
        if answer.status == 404 { return .notServed }
        guard (200..<300).contains(answer.status) else {
            return .failed("HTTP \(answer.status) from \(path)")
        }
        let parsed = ModelListing.parse(answer.body, from: path)
        switch parsed.listing {
        case .models(let models) where parsed.isModelsArray:
            return .models(models, issues: parsed.issues)
        case .models:
            return .failed("model list from \(path) has no models array")
        case .unknownEndpoint:
            return .notServed
        case .malformed(let reason):
            return .failed(reason)
        }
    }

    /// The model ids of `/v1/models`, for hosts without `model_url` (LM Studio before 0.3.6, other
    /// OpenAI-compatible servers); reuses the health check's answer when it came from that path.
    private func fallbackModels(
        health: (status: Int, body: [UInt8]),
        healthPath: String,
        deadline: Duration
    ) async throws -> [HostedModel] {
        let path = Self.openAIModelsPath
        let answer = healthPath == path ? health : try await get(path, deadline: deadline)
        guard (200..<300).contains(answer.status) else {
            throw Failure(.unhealthy, "HTTP \(answer.status) from \(path)")
        }
        switch ModelListing(parsing: answer.body, from: path) {
        case .models(let models):
            return models
        case .unknownEndpoint:
            throw Failure(.unhealthy, "the host serves neither \(Self.path(configuration.modelURL)) nor \(path)")
        case .malformed(let reason):
            throw Failure(.unhealthy, reason)
        }
    }

    /// Sends one GET and reads its whole body, bounded by ``bodyLimit``.
    private func get(_ path: String, deadline: Duration) async throws -> (status: Int, body: [UInt8]) {
        var request = HTTPClientRequest(url: configuration.url.description + path)
        request.method = .GET
        request.headers.add(name: "Accept", value: "application/json")
        if let auth = configuration.auth {
            request.headers.add(name: "Authorization", value: auth.authorizationHeaderValue)
        }
        // The client's own deadline covers only the wait for the response head; it fails with the reason of
        // the last connection attempt (refused...), so it gets the time left less a margin that lets it end
        // before `withDeadline`, which bounds the whole probe with a plain "no answer" instead.
        let margin = min(Self.clientDeadlineMargin, configuration.checkTimeout / 10)
        let remaining = max(deadline - clock.now() - margin, .milliseconds(1))
        let response = try await httpClient.execute(request, timeout: .nanoseconds(Self.nanoseconds(remaining)))
        let tooLarge = Failure(.unhealthy, "the answer of \(path) is larger than \(Self.bodyLimit / 1024 / 1024) MB")
        if let length = response.headers.first(name: "content-length").flatMap({ Int($0) }), length > Self.bodyLimit {
            throw tooLarge
        }
        var body: [UInt8] = []
        for try await chunk in response.body {
            body.append(contentsOf: chunk.readableBytesView)
            if body.count > Self.bodyLimit { throw tooLarge }
        }
        return (Int(response.status.code), body)
    }

    /// Runs `operation`, failing with a timeout when `deadline` passes first.
    private func withDeadline<Value: Sendable>(
        _ deadline: Duration,
        _ operation: @escaping @Sendable () async throws -> Value
    ) async throws -> Value {
        let clock = self.clock
        let timeout = Failure(.offline, "no answer within \(configuration.checkTimeout.configText)")
        return try await withThrowingTaskGroup(of: Value?.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await clock.sleep(deadline)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else { throw timeout }
            return value
        }
    }

    /// A failure whose kind and reason are already known (as opposed to a transport error).
    private struct Failure: Error {
        var kind: EndpointHealth.StateMachine.Failure
        var reason: String

        init(_ kind: EndpointHealth.StateMachine.Failure, _ reason: String) {
            self.kind = kind
            self.reason = reason
        }
    }

    /// A short reason for a transport error: what an operator needs, not the error's whole dump.
    static func reason(for error: any Error, timeout: Duration) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .getConnectionFromPoolTimeout:
                return "no answer within \(timeout.configText)"
            case .connectTimeout:
                return "connect timed out"
            case .remoteConnectionClosed:
                return "connection closed by the host"
            default:
                return String(describing: error)
            }
        }
        // NIO's connection errors carry the system's message; the words are the same on every platform.
        let text = String(describing: error)
        let lowered = text.lowercased()
        if lowered.contains("connection refused") { return "connection refused" }
        if lowered.contains("connection reset") { return "connection reset" }
        if lowered.contains("no route to host") { return "no route to host" }
        if error is CancellationError { return "probe cancelled" }
        return text.count > 200 ? String(text.prefix(200)) + "..." : text
    }

    /// A configured path with its leading `/`.
    static func path(_ configured: String) -> String {
        configured.hasPrefix("/") ? configured : "/" + configured
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        let parts = duration.components
        return parts.seconds * 1_000_000_000 + parts.attoseconds / 1_000_000_000
    }
}
