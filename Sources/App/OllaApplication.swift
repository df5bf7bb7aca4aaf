import AsyncHTTPClient
import Balancer
import Health
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import Proxy
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// One running olla: the routing table, the proxy server, the health checker, and the services that reload
/// and drain them. The command line and the end-to-end tests both start olla through this type.
final class OllaApplication: Sendable {
    let table: RoutingTable
    let services: ProxyServices
    let server: HTTPServer
    let health: HealthChecker
    let logger: Logger
    /// Samples the traffic counters once a second for the dashboard.
    let trafficSampler: TrafficSampler
    private let httpClient: HTTPClient
    private let source: ConfigurationSource
    /// The sink to write in batches while serving, when the command line set one up.
    private let logSink: LogSink?
    private let eventLoopGroup: any EventLoopGroup
    private let group: NIOLockedValueBox<ServiceGroup?> = NIOLockedValueBox(nil)
    private let reloads = NIOLockedValueBox(ReloadState())

    /// Where the configuration comes from, and the command-line values that win over it.
    struct ConfigurationSource: Sendable {
        /// The file re-read on reload; nil when the built-in default is used.
        var path: String?
        var host: String?
        var port: Int?
        var environment: [String: String]

        /// The configuration with the command line's overrides applied.
        func applyingOverrides(_ configuration: OllaConfiguration) -> OllaConfiguration {
            var configuration = configuration
            if let host { configuration.server.host = host }
            if let port { configuration.server.port = port }
            return configuration
        }
    }

    private struct ReloadState {
        var lastModification: Int = 0
        var count = 0
    }

    private init(
        table: RoutingTable,
        services: ProxyServices,
        server: HTTPServer,
        health: HealthChecker,
        trafficSampler: TrafficSampler,
        httpClient: HTTPClient,
        logger: Logger,
        source: ConfigurationSource,
        logSink: LogSink?,
        eventLoopGroup: any EventLoopGroup
    ) {
        self.table = table
        self.services = services
        self.server = server
        self.health = health
        self.trafficSampler = trafficSampler
        self.httpClient = httpClient
        self.logger = logger
        self.source = source
        self.logSink = logSink
        self.eventLoopGroup = eventLoopGroup
    }

    /// Binds the listening socket and prepares everything; nothing is probed or served until ``run(handlingSignals:)``.
    /// - Throws: when the address cannot be bound.
    static func start(
        configuration loaded: OllaConfiguration,
        source: ConfigurationSource,
        logger: Logger,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logOutput: RequestLog.DirectOutput? = nil,
        extraObservers: [any RequestObserver] = []
    ) async throws -> OllaApplication {
        let configuration = source.applyingOverrides(loaded)
        let table = RoutingTable(configuration: configuration)
        let metrics = OllaMetrics(table: table)
        let statusRoutes = StatusRoutes(table: table, metrics: { metrics.exposition() })
        let traffic = TrafficHistory()
        let dashboard = DashboardRoutes(
            history: traffic,
            configurationFile: source.path,
            startedAt: statusRoutes.startedAt
        )
        let router = OllaRouter(listings: ModelListings(), status: statusRoutes, dashboard: dashboard)
        let observer = ObserverFanOut(
            observers: [RequestLog(logger: logger, direct: logOutput), metrics] + extraObservers
        )
        let (tls, tlsContext) = try UpstreamTLS.make(environment: source.environment, logger: logger)
        let services = ProxyServices(
            table: table,
            router: router,
            observer: observer,
            eventLoopGroup: eventLoopGroup,
            tlsContext: tlsContext
        )
        statusRoutes.connectionCount.withLockedValue { $0 = { services.openConnections } }
        let server = try await HTTPServer.bind(
            host: configuration.server.host,
            port: configuration.server.port,
            group: eventLoopGroup,
            services: services
        )
        // A probe gives up after its check_timeout, but the client's connection attempt lives on until the
        // client's own connect timeout, and shutdown waits for it: keep that bound near the probes' own.
        var probeClient = HealthChecker.httpClientConfiguration
        let longestCheck = configuration.endpoints.map(\.checkTimeout).max() ?? .seconds(2)
        probeClient.timeout.connect = .init(min(max(longestCheck, .seconds(1)), .seconds(10)))
        probeClient.tlsConfiguration = tls
        let httpClient = HTTPClient(eventLoopGroupProvider: .shared(eventLoopGroup), configuration: probeClient)
        let health = HealthChecker(table: table, httpClient: httpClient, logger: logger)
        let application = OllaApplication(
            table: table,
            services: services,
            server: server,
            health: health,
            trafficSampler: TrafficSampler(history: traffic) { metrics.trafficTotals() },
            httpClient: httpClient,
            logger: logger,
            source: source,
            logSink: logOutput?.sink,
            eventLoopGroup: eventLoopGroup
        )
        application.reloads.withLockedValue { $0.lastModification = Self.modificationTime(of: source.path) }
        return application
    }

    /// The port olla listens on.
    var port: Int { server.port }

    /// Serves until a graceful shutdown (SIGTERM/SIGINT when `handlingSignals`, or ``shutdown()``), then
    /// drains in-flight requests for up to `server.shutdown_timeout` and stops the probes.
    func run(handlingSignals: Bool) async throws {
        var services: [any Service] = [health, DrainOnShutdown(application: self), trafficSampler]
        services.append(ReloadWatcher(application: self, handlingSignals: handlingSignals))
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services.map { .init(service: $0) },
                gracefulShutdownSignals: handlingSignals ? [.sigterm, .sigint] : [],
                logger: logger
            )
        )
        self.group.withLockedValue { $0 = group }
        defer { self.group.withLockedValue { $0 = nil } }
        // Log lines are written in batches while serving: one system call per 50 ms, not one per request.
        let flusher = logSink.map { sink in
            sink.startBatching()
            return eventLoopGroup.next().scheduleRepeatedTask(initialDelay: .milliseconds(50), delay: .milliseconds(50))
            { _ in
                sink.flush()
            }
        }
        defer {
            flusher?.cancel()
            logSink?.stopBatching()
        }
        do {
            try await group.run()
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
        try await httpClient.shutdown()
    }

    /// Starts a graceful shutdown, as SIGTERM does.
    func shutdown() async {
        if let group = group.withLockedValue({ $0 }) {
            await group.triggerGracefulShutdown()
        } else {
            await server.stopAccepting()
            try? await httpClient.shutdown()
        }
    }

    /// The result of a reload.
    enum ReloadOutcome: Sendable, Equatable {
        case applied(added: [String], removed: [String])
        case refused([String])
        case unchanged
    }

    /// Re-reads the configuration file; an invalid one is refused and the old one keeps serving
    /// (DESIGN.md 6.6).
    @discardableResult
    func reload() -> ReloadOutcome {
        // SIGHUP and the file watcher may ask at the same moment: one reload at a time.
        reloading.withLock { reloadNow() }
    }

    private let reloading = NIOLock()

    private func reloadNow() -> ReloadOutcome {
        guard let path = source.path else {
            logger.info("reload: no configuration file, nothing to re-read")
            return .unchanged
        }
        // The version read now is the one the file watcher need not read again.
        let modification = Self.modificationTime(of: path)
        reloads.withLockedValue { $0.lastModification = modification }
        let result = ConfigurationLoader.load(contentsOfFile: path, environment: source.environment)
        for warning in result.warnings {
            logger.warning("reload: \(warning)")
        }
        guard let loaded = result.configuration else {
            let reasons = result.errors.map(\.description)
            for reason in reasons {
                logger.error("reload refused, keeping the running configuration: \(reason)")
            }
            return .refused(reasons)
        }
        let configuration = source.applyingOverrides(loaded)
        let current = table.snapshot.configuration
        if configuration.server.host != current.server.host || configuration.server.port != current.server.port {
            logger.warning("reload: a new server.host or server.port takes effect only after a restart")
        }
        let changes = table.apply(configuration)
        health.reconcile()
        services.closeIdleUpstreamConnections(to: changes.retired)
        let added = changes.added.map(\.name)
        let removed = changes.removed.map(\.name)
        reloads.withLockedValue { $0.count += 1 }
        logger.info(
            "configuration reloaded",
            metadata: [
                "endpoints": .stringConvertible(configuration.endpoints.count),
                "added": .string(added.joined(separator: ",")),
                "removed": .string(removed.joined(separator: ",")),
            ]
        )
        return .applied(added: added, removed: removed)
    }

    /// Reloads when the file's modification time changed since the last look.
    func reloadIfFileChanged() {
        let now = Self.modificationTime(of: source.path)
        let changed = reloads.withLockedValue { state -> Bool in
            guard now != 0, now != state.lastModification else { return false }
            state.lastModification = now
            return true
        }
        if changed {
            logger.info("configuration file changed on disk", metadata: ["path": .string(source.path ?? "")])
            reload()
        }
    }

    /// Nanoseconds since 1970 of a file's last change, 0 when there is no file.
    static func modificationTime(of path: String?) -> Int {
        guard let path else { return 0 }
        var info = stat()
        guard stat(path, &info) == 0 else { return 0 }
        return Int(info.st_mtim.tv_sec) * 1_000_000_000 + Int(info.st_mtim.tv_nsec)
    }
}

/// Waits for the graceful shutdown, then drains the server (DESIGN.md 6.6).
private struct DrainOnShutdown: Service {
    let application: OllaApplication

    func run() async throws {
        try? await gracefulShutdown()
        let timeout = application.table.snapshot.configuration.server.shutdownTimeout
        application.logger.info("shutting down: draining in-flight requests", metadata: ["timeout": "\(timeout)"])
        let cut = await application.server.drain(timeout: timeout)
        if cut > 0 {
            application.logger.warning("drain timed out; closed \(cut) connections")
        }
    }
}

/// Reloads on SIGHUP and when the configuration file changes on disk (checked every second).
private struct ReloadWatcher: Service {
    let application: OllaApplication
    let handlingSignals: Bool

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                if handlingSignals {
                    group.addTask {
                        for await _ in await UnixSignalsSequence(trapping: .sighup) {
                            application.logger.info("SIGHUP: reloading the configuration")
                            application.reload()
                        }
                    }
                }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(1))
                        if !Task.isCancelled { application.reloadIfFileChanged() }
                    }
                }
            }
        }
    }
}
