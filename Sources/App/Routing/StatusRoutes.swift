import Balancer
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Proxy

/// `/internal/*` and `/version`: what olla knows about its hosts and itself (DESIGN.md section 5).
struct StatusRoutes: Sendable {
    static let name = "olla"
    static let version = "0.1.0"

    let startedAt = Date()
    let table: RoutingTable
    /// Renders `/internal/metrics`.
    let metrics: @Sendable () -> String
    /// Client connections open now; set once the proxy services exist (they need the router first).
    let connectionCount = NIOLockedValueBox<@Sendable () -> Int>({ 0 })

    private func openConnections() -> Int {
        connectionCount.withLockedValue { $0 }()
    }

    /// `GET /internal/status/endpoints`.
    func endpoints(_ snapshot: RoutingSnapshot) -> LocalResponse {
        let endpoints = snapshot.endpoints
        let modelCounts = Self.modelCounts(snapshot)
        let slots = Self.slots(snapshot)
        let list: [JSONDocument] = endpoints.map { endpoint in
            let health = endpoint.health
            let statistics = endpoint.statistics
            let endpointSlots = slots[endpoint.name]
            return .object([
                ("name", .string(endpoint.name)),
                ("url", .string(endpoint.configuration.url.description)),
                ("type", .string(endpoint.configuration.type.rawValue)),
                ("status", .string(endpoint.status.description)),
                ("priority", .int(endpoint.configuration.priority)),
                ("model_count", .int(modelCounts[endpoint.name] ?? 0)),
                ("in_flight", .int(endpoint.inFlight.load(ordering: .relaxed))),
                ("request_count", .int(statistics.requestCount)),
                ("success_rate", .double(Self.rounded(statistics.successRate, places: 4))),
                ("avg_latency_ms", .double(Self.rounded(statistics.averageLatencyMilliseconds, places: 2))),
                ("last_check_at", .optional(health.lastCheckAt.map(Self.rfc3339))),
                ("next_check_at", .optional(health.nextCheckAt.map(Self.rfc3339))),
                ("last_error", .optional(health.lastError)),
                // DESIGN.md 6.7: the API generation, and the slots of the models the host reports them for.
                ("api", .optional(health.api?.rawValue)),
                ("slots", .optional(endpointSlots?.total)),
                ("slots_in_use", .int(endpointSlots?.inUse ?? 0)),
                ("discovery_issue", .optional(health.discoveryIssue)),
            ])
        }
        return JSONDocument.object([
            ("timestamp", .string(Self.rfc3339(Date().timeIntervalSince1970))),
            ("total_count", .int(endpoints.count)),
            ("healthy_count", .int(endpoints.filter { $0.status.isRoutable }.count)),
            ("endpoints", .array(list)),
        ]).response()
    }

    /// `GET /internal/status`: Olla's summary shape, with `endpoints` and `system`.
    func summary(_ snapshot: RoutingSnapshot) -> LocalResponse {
        let endpoints = snapshot.endpoints
        let healthy = endpoints.filter { $0.status.isRoutable }.count
        let modelCounts = Self.modelCounts(snapshot)
        var totalRequests = 0
        var totalFailures = 0
        let list: [JSONDocument] = endpoints.map { endpoint in
            let statistics = endpoint.statistics
            let failures = Int((Double(statistics.requestCount) * (1 - statistics.successRate)).rounded())
            totalRequests += statistics.requestCount
            totalFailures += failures
            let health = endpoint.health
            return .object([
                ("name", .string(endpoint.name)),
                ("url", .string(endpoint.configuration.url.description)),
                ("status", .string(endpoint.status.description)),
                ("priority", .int(endpoint.configuration.priority)),
                ("connections", .int(endpoint.inFlight.load(ordering: .relaxed))),
                ("requests", .int(statistics.requestCount)),
                ("success_rate", .string(Self.percentage(statistics.requestCount == 0 ? nil : statistics.successRate))),
                ("avg_latency", .string("\(Int(statistics.averageLatencyMilliseconds.rounded()))ms")),
                ("models", .object([("count", .int(modelCounts[endpoint.name] ?? 0))])),
                ("last_check", .optional(health.lastCheckAt.map(Self.rfc3339))),
                ("next_check", .optional(health.nextCheckAt.map(Self.rfc3339))),
                ("issues", .string(health.lastError ?? "")),
            ])
        }
        let ratio = endpoints.isEmpty ? 0 : Double(healthy) / Double(endpoints.count)
        let state = ratio >= 0.8 ? "healthy" : (ratio >= 0.5 ? "degraded" : "critical")
        let successRate = totalRequests == 0 ? nil : Double(totalRequests - totalFailures) / Double(totalRequests)
        return JSONDocument.object([
            ("timestamp", .string(Self.rfc3339(Date().timeIntervalSince1970))),
            (
                "proxy",
                .object([("engine", .string("olla-swift")), ("balancer", .string(snapshot.strategy.rawValue))])
            ),
            ("endpoints", .array(list)),
            (
                "system",
                .object([
                    ("status", .string(state)),
                    ("endpoints_up", .string("\(healthy)/\(endpoints.count)")),
                    ("success_rate", .string(Self.percentage(successRate))),
                    ("total_requests", .int(totalRequests)),
                    ("total_failures", .int(totalFailures)),
                    ("active_connections", .int(openConnections())),
                    ("queued_requests", .int(table.queue.count)),
                    ("uptime", .string(Self.humanDuration(Date().timeIntervalSince(startedAt)))),
                    ("start_time", .string(Self.rfc3339(startedAt.timeIntervalSince1970))),
                    ("version", .string(Self.version)),
                ])
            ),
        ]).response()
    }

    /// `GET /internal/status/models`: Olla's shape, each model with the endpoints that have it.
    func models(_ snapshot: RoutingSnapshot) -> LocalResponse {
        var families: [String: [String]] = [:]
        let models: [JSONDocument] = snapshot.models.entries.map { entry in
            let family = entry.details.arch ?? "unknown"
            families[family, default: []].append(entry.id)
            return .object([
                ("name", .string(entry.id)),
                ("type", .optional(entry.details.type)),
                ("family", .string(family)),
                ("quant", .optional(entry.details.quantization)),
                ("state", .string(entry.placements.contains { $0.state == .loaded } ? "loaded" : "not-loaded")),
                ("endpoints", .array(entry.placements.map { .string($0.endpoint.name) })),
                ("aliases", .array(entry.aliases.map { .string($0) })),
            ])
        }
        let byFamily = families.keys.sorted().map { ($0, JSONDocument.array(families[$0]!.map { .string($0) })) }
        return JSONDocument.object([
            ("timestamp", .string(Self.rfc3339(Date().timeIntervalSince1970))),
            ("total_models", .int(snapshot.models.entries.count)),
            ("total_endpoints", .int(snapshot.endpoints.count)),
            ("total_families", .int(families.count)),
            ("models_by_family", .object(byFamily)),
            ("models", .array(models)),
        ]).response()
    }

    /// `GET /internal/metrics`: Prometheus text format.
    func metricsResponse() -> LocalResponse {
        LocalResponse(
            status: .ok,
            headers: ["Content-Type": "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(string: metrics())
        )
    }

    /// `GET /internal/stats/sticky`: Olla's shape for its sticky sessions, plus olla's `repins`
    /// (DESIGN.md 6.8); `{"enabled":false}` when affinity is off.
    func sticky(_ snapshot: RoutingSnapshot) -> LocalResponse {
        let settings = snapshot.configuration.proxy.stickySessions
        guard settings.enabled else { return JSONDocument.object([("enabled", .bool(false))]).response() }
        // The clock the data path records with.
        let now = Int64(NIODeadline.now().uptimeNanoseconds / 1_000_000_000)
        let statistics = table.stickySessions.statistics(now: now)
        return JSONDocument.object([
            ("enabled", .bool(true)),
            ("active_sessions", .int(statistics.activeSessions)),
            ("insertions", .int(statistics.insertions)),
            ("hits", .int(statistics.hits)),
            ("misses", .int(statistics.misses)),
            ("repins", .int(statistics.repins)),
            ("evictions", .int(statistics.evictions)),
            ("max_sessions", .int(settings.maxSessions)),
            ("idle_ttl_seconds", .int(Int(settings.idleTTL.components.seconds))),
            ("key_sources", .array(settings.keySources.map { .string($0.rawValue) })),
            ("load_factor", .double(settings.loadFactor)),
        ]).response()
    }

    /// `GET /version`.
    func version() -> LocalResponse {
        JSONDocument.object([
            ("name", .string(Self.name)),
            ("version", .string(Self.version)),
            ("build", .string(Self.build)),
        ]).response()
    }

    /// Describes the binary: Swift version and configuration it was compiled with.
    static var build: String {
        #if DEBUG
        let configuration = "debug"
        #else
        let configuration = "release"
        #endif
        #if swift(>=6.3)
        let swift = "swift-6.3"
        #else
        let swift = "swift-6"
        #endif
        return "\(swift)-\(configuration)"
    }

    /// Per endpoint: the sum of the slots its models report (nil when none does, as on LM Studio 0.3) and the
    /// requests in flight for its models.
    private static func slots(_ snapshot: RoutingSnapshot) -> [String: (total: Int?, inUse: Int)] {
        var slots: [String: (total: Int?, inUse: Int)] = [:]
        for entry in snapshot.models.entries {
            for placement in entry.placements {
                var current = slots[placement.endpoint.name] ?? (nil, 0)
                if let reported = placement.slots.reportedSlots { current.total = (current.total ?? 0) + reported }
                current.inUse += placement.slots.inFlight.load(ordering: .relaxed)
                slots[placement.endpoint.name] = current
            }
        }
        return slots
    }

    private static func modelCounts(_ snapshot: RoutingSnapshot) -> [String: Int] {
        var counts: [String: Int] = [:]
        for entry in snapshot.models.entries {
            for placement in entry.placements { counts[placement.endpoint.name, default: 0] += 1 }
        }
        return counts
    }

    static func rfc3339(_ secondsSince1970: Double) -> String {
        Date(timeIntervalSince1970: secondsSince1970).formatted(.iso8601)
    }

    static func rounded(_ value: Double, places: Int) -> Double {
        let scale = pow(10, Double(places))
        return (value * scale).rounded() / scale
    }

    static func percentage(_ fraction: Double?) -> String {
        guard let fraction else { return "N/A" }
        return String(format: "%.1f%%", fraction * 100)
    }

    static func humanDuration(_ seconds: Double) -> String {
        let total = Int(seconds)
        let (hours, minutes, rest) = (total / 3600, (total % 3600) / 60, total % 60)
        return hours > 0 ? "\(hours)h\(minutes)m\(rest)s" : (minutes > 0 ? "\(minutes)m\(rest)s" : "\(rest)s")
    }
}
