import AsyncHTTPClient
import Balancer
import Foundation
import LMStudioSim
import Logging
import NIOCore
import NIOHTTP1
import Testing

@testable import App

/// A running olla in front of simulated LM Studio hosts, all on loopback ports, for end-to-end tests.
final class OllaHarness: Sendable {
    let application: OllaApplication
    let hosts: [LMStudioSimulator]
    let client: HTTPClient
    private let run: Task<Void, any Error>

    var port: Int { application.port }
    var baseURL: String { "http://127.0.0.1:\(port)" }
    var table: RoutingTable { application.table }

    private init(application: OllaApplication, hosts: [LMStudioSimulator], client: HTTPClient) {
        self.application = application
        self.hosts = hosts
        self.client = client
        self.run = Task { try await application.run(handlingSignals: false) }
    }

    /// Silent, unless OLLA_TEST_LOG is set (then olla's log goes to stderr at that level).
    static let quietLogger: Logger = {
        guard let level = ProcessInfo.processInfo.environment["OLLA_TEST_LOG"].flatMap(Logger.Level.init(rawValue:))
        else {
            return Logger(label: "olla-test", factory: { _ in SwiftLogNoOpLogHandler() })
        }
        var logger = Logger(label: "olla-test", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = level
        return logger
    }()

    /// The endpoint configuration olla uses for a simulated host: fast probes so tests stay short.
    static func endpoint(
        for host: LMStudioSimulator,
        priority: Int = 100,
        maxConcurrency: Int = 0,
        checkInterval: Duration = .seconds(1),
        // Generous: the whole suite runs at once on two cores in a debug build, and a probe of a healthy
        // simulated host must not time out there.
        checkTimeout: Duration = .milliseconds(900)
    ) -> EndpointConfiguration {
        EndpointConfiguration(
            name: host.name,
            url: EndpointURL(scheme: .http, host: "127.0.0.1", port: host.port, basePath: ""),
            priority: priority,
            checkInterval: checkInterval,
            checkTimeout: checkTimeout,
            maxConcurrency: maxConcurrency
        )
    }

    /// Starts the hosts and olla, waits until every host is probed healthy (unless `waitForHealthy` is
    /// false), runs `body`, and stops everything, also when `body` throws.
    static func with<Result>(
        hosts configurations: [SimulatorConfiguration],
        waitForHealthy: Bool = true,
        environment: [String: String] = [:],
        configure: (inout OllaConfiguration, [LMStudioSimulator]) -> Void = { _, _ in },
        _ body: (OllaHarness) async throws -> Result
    ) async throws -> Result {
        var hosts: [LMStudioSimulator] = []
        do {
            for configuration in configurations {
                let host = LMStudioSimulator(configuration: configuration)
                try await host.start()
                hosts.append(host)
            }
        } catch {
            for host in hosts { try? await host.stop() }
            throw error
        }
        var configuration = OllaConfiguration()
        configuration.server.host = "127.0.0.1"
        configuration.server.port = 0
        configuration.endpoints = hosts.map { endpoint(for: $0) }
        configure(&configuration, hosts)
        let source = OllaApplication.ConfigurationSource(path: nil, host: nil, port: nil, environment: environment)
        let application: OllaApplication
        do {
            application = try await OllaApplication.start(
                configuration: configuration,
                source: source,
                logger: quietLogger
            )
        } catch {
            for host in hosts { try? await host.stop() }
            throw error
        }
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.timeout.connect = .seconds(5)
        clientConfiguration.decompression = .disabled
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        let harness = OllaHarness(application: application, hosts: hosts, client: client)
        do {
            if waitForHealthy {
                try await harness.waitUntil("every host is healthy") {
                    harness.table.snapshot.endpoints.allSatisfy { $0.status == .healthy }
                }
            }
            let result = try await body(harness)
            await harness.stop()
            return result
        } catch {
            await harness.stop()
            throw error
        }
    }

    func stop() async {
        await application.shutdown()
        _ = try? await run.value
        try? await client.shutdown()
        for host in hosts { try? await host.stop() }
    }

    func host(_ name: String) -> LMStudioSimulator {
        hosts.first { $0.name == name }!
    }

    func endpoint(_ name: String) -> EndpointRuntime {
        table.snapshot.endpoint(named: name)!
    }

    /// Polls `condition` every 20 ms until it holds or `timeout` passes.
    func waitUntil(
        _ what: String,
        timeout: Duration = .seconds(10),
        _ condition: () async throws -> Bool
    ) async throws {
        try await OllaHarness.waitUntil(what, timeout: timeout, condition)
    }

    static func waitUntil(
        _ what: String,
        timeout: Duration = .seconds(10),
        _ condition: () async throws -> Bool
    ) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while clock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        if try await condition() { return }
        throw WaitTimeout(description: "timed out after \(timeout) waiting until \(what)")
    }

    struct WaitTimeout: Error, CustomStringConvertible {
        let description: String
    }

    // MARK: Requests

    /// A whole response.
    struct Response: Sendable {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var body: ByteBuffer

        var text: String { String(buffer: body) }

        func json() throws -> [String: Any] {
            let object = try JSONSerialization.jsonObject(with: Data(body.readableBytesView))
            guard let dictionary = object as? [String: Any] else { throw JSONShapeError(text: text) }
            return dictionary
        }
    }

    struct JSONShapeError: Error {
        let text: String
    }

    /// Sends a request to olla and reads the whole answer.
    func request(
        _ method: HTTPMethod = .GET,
        _ path: String,
        headers: [(String, String)] = [],
        body: String? = nil,
        timeout: Duration = .seconds(30)
    ) async throws -> Response {
        try await send(
            method,
            url: baseURL + path,
            headers: headers,
            body: body.map { ByteBuffer(string: $0) },
            timeout: timeout
        )
    }

    /// Sends a request with a JSON body to olla.
    func post(_ path: String, json: String, headers: [(String, String)] = []) async throws -> Response {
        try await request(.POST, path, headers: [("Content-Type", "application/json")] + headers, body: json)
    }

    func send(
        _ method: HTTPMethod,
        url: String,
        headers: [(String, String)] = [],
        body: ByteBuffer? = nil,
        timeout: Duration = .seconds(30)
    ) async throws -> Response {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(body) }
        let response = try await client.execute(request, timeout: .init(timeout))
        let collected = try await response.body.collect(upTo: 64 * 1024 * 1024)
        return Response(status: response.status, headers: response.headers, body: collected)
    }

    /// A streamed answer, each part with the time it arrived.
    struct Streamed: Sendable {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var parts: [(at: ContinuousClock.Instant, bytes: ByteBuffer)]
        var startedAt: ContinuousClock.Instant

        var text: String { parts.map { String(buffer: $0.bytes) }.joined() }
        /// `data:` payloads of the SSE events, in order.
        var events: [String] {
            text.components(separatedBy: "\n\n").compactMap { event in
                event.hasPrefix("data: ") ? String(event.dropFirst(6)) : nil
            }
        }
    }

    /// Posts and reads the answer part by part, stopping after `maxParts` parts when given (the connection
    /// is then dropped, as a client that goes away).
    func stream(
        _ path: String,
        json: String,
        maxParts: Int? = nil,
        headers: [(String, String)] = []
    ) async throws -> Streamed {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: json))
        let clock = ContinuousClock()
        let started = clock.now
        let response = try await client.execute(request, timeout: .seconds(60))
        var parts: [(at: ContinuousClock.Instant, bytes: ByteBuffer)] = []
        for try await part in response.body {
            parts.append((clock.now, part))
            if let maxParts, parts.count >= maxParts { break }
        }
        return Streamed(status: response.status, headers: response.headers, parts: parts, startedAt: started)
    }
}

/// A chat request body for `model`.
func chatBody(_ model: String, stream: Bool = false, extra: String = "") -> String {
    let more = extra.isEmpty ? "" : ",\(extra)"
    return
        "{\"model\":\"\(model)\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],\"stream\":\(stream)\(more)}"
}

/// A simulated host with the given models (all loaded unless a state is given).
func simHost(
    _ name: String,
    models: [SimulatedModel],
    tokens: Int = 4,
    tokenDelay: Duration = .zero,
    maxConcurrent: Int = 0
) -> SimulatorConfiguration {
    SimulatorConfiguration(
        name: name,
        models: models,
        tokensPerAnswer: tokens,
        tokenDelay: tokenDelay,
        maxConcurrentRequests: maxConcurrent
    )
}
