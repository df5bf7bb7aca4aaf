import AsyncHTTPClient
import Balancer
import LMStudioSim
import Logging
import Testing

@testable import Health

/// Short enough to keep the suite fast, long enough for two loaded cores.
let testInterval: Duration = .seconds(1)
let testTimeout: Duration = .milliseconds(800)
/// Extra time allowed on top of a bound, for scheduling on a busy machine.
let slack: Duration = .milliseconds(1500)

struct ConditionTimeout: Error, CustomStringConvertible {
    var description: String
}

/// Polls `condition` until it holds, failing the test when `limit` passes first.
/// - Returns: how long it took.
@discardableResult
func waitUntil(
    _ what: String,
    within limit: Duration,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () -> Bool
) async throws -> Duration {
    let clock = ContinuousClock()
    let start = clock.now
    while !condition() {
        guard clock.now - start < limit else {
            Issue.record("timed out after \(limit) waiting until \(what)", sourceLocation: sourceLocation)
            throw ConditionTimeout(description: what)
        }
        try await Task.sleep(for: .milliseconds(20))
    }
    return clock.now - start
}

/// Starts simulated hosts, runs `body`, and stops them all, also when `body` throws.
func withSimulators<Result>(
    _ configurations: [SimulatorConfiguration],
    _ body: ([LMStudioSimulator]) async throws -> Result
) async throws -> Result {
    var started: [LMStudioSimulator] = []
    do {
        for configuration in configurations {
            let simulator = LMStudioSimulator(configuration: configuration)
            try await simulator.start()
            started.append(simulator)
        }
        let result = try await body(started)
        for simulator in started { try await simulator.stop() }
        return result
    } catch {
        for simulator in started { try? await simulator.stop() }
        throw error
    }
}

/// The endpoint configuration of a simulated host, with the test's short interval and timeout.
func endpoint(
    _ name: String,
    for simulator: LMStudioSimulator,
    interval: Duration = testInterval,
    timeout: Duration = testTimeout,
    auth: EndpointAuth? = nil
) throws -> EndpointConfiguration {
    let url = try EndpointURL.parse(simulator.baseURL).get()
    return EndpointConfiguration(name: name, url: url, checkInterval: interval, checkTimeout: timeout, auth: auth)
}

/// Runs a ``HealthChecker`` over `table` while `body` runs; cancels it and shuts its client down afterwards,
/// also when `body` throws, and checks that `run()` returned.
func withHealthChecker<Result>(
    _ table: RoutingTable,
    clientConfiguration: HTTPClient.Configuration = HealthChecker.httpClientConfiguration,
    _ body: (HealthChecker, LogRecorder) async throws -> Result
) async throws -> Result {
    let recorder = LogRecorder()
    let logger = Logger(label: "health-test") { _ in RecordingLogHandler(recorder: recorder) }
    let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: clientConfiguration)
    let checker = HealthChecker(table: table, httpClient: client, logger: logger)
    let running = Task { try await checker.run() }
    let result: Result
    do {
        result = try await body(checker, recorder)
    } catch {
        running.cancel()
        _ = await running.result
        try? await client.shutdown()
        throw error
    }
    running.cancel()
    _ = await running.result
    try await client.shutdown()
    return result
}

/// The lines a logger received, for checking what is logged and how often.
final class LogRecorder: Sendable {
    private let lines = LockedValue<[(level: Logger.Level, message: String)]>([])

    func append(_ level: Logger.Level, _ message: String) {
        lines.withLock { $0.append((level, message)) }
    }

    /// Messages logged at `info` or above.
    var infoMessages: [String] {
        lines.withLock { $0.filter { $0.level >= .info }.map(\.message) }
    }

    /// How many `info` (or higher) lines contain `text`.
    func infoCount(containing text: String) -> Int {
        infoMessages.filter { $0.contains(text) }.count
    }
}

struct RecordingLogHandler: LogHandler {
    let recorder: LogRecorder
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    func log(event: LogEvent) {
        recorder.append(event.level, event.message.description)
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
}

extension RoutingTable {
    /// A table over the given endpoints with default settings.
    convenience init(endpoints: [EndpointConfiguration]) {
        self.init(configuration: OllaConfiguration(endpoints: endpoints))
    }

    /// The runtime of the endpoint of that name in the current snapshot.
    func runtime(_ name: String) throws -> EndpointRuntime {
        try #require(snapshot.endpoint(named: name))
    }

    /// Whether a model name resolves to a set of hosts that includes `endpoint`.
    func routes(_ model: String, to endpoint: String) -> Bool {
        guard case .found(let candidates) = snapshot.models.resolve(model) else { return false }
        return candidates.placements.contains { $0.endpoint.name == endpoint }
    }
}
