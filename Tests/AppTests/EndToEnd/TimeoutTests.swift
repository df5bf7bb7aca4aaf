import Balancer
import Foundation
import LMStudioSim
import NIOCore
import Testing

@testable import App

#if canImport(Glibc)
import Glibc
#endif

/// `connection_timeout`, `response_header_timeout` and `read_timeout` (DESIGN.md section 4), each with its effect.
@Suite(.serialized, .endToEnd) struct TimeoutTests {
    @Test func connectionTimeoutFailsOverToTheNextHost() async throws {
        let blackhole = try BlackholeListener()
        defer { blackhole.close() }
        let silent = try await Self.failOverFromUnresponsiveHost(
            at: EndpointURL(scheme: .http, host: "127.0.0.1", port: blackhole.port, basePath: "")
        )
        #expect(silent.status != .healthy)
    }

    /// olla with a backup host and a preferred one at `url` that never completes a connection, made to look
    /// routable as if it had answered its probe and then stopped: a chat goes to the backup once
    /// `connection_timeout` (300 ms) runs out.
    /// - Returns: the preferred host's endpoint, for the caller's own checks.
    static func failOverFromUnresponsiveHost(at url: EndpointURL) async throws -> EndpointRuntime {
        let backup = simHost("backup", models: [SimulatedModel(id: "m")])
        return try await OllaHarness.with(hosts: [backup], waitForHealthy: false) { configuration, _ in
            configuration.proxy.connectionTimeout = .milliseconds(300)
            var silent = configuration.endpoints[0]
            silent.name = "silent"
            silent.priority = 500
            silent.url = url
            silent.checkInterval = .seconds(60)
            configuration.endpoints.append(silent)
        } _: { olla in
            let silent = olla.endpoint("silent")
            try await olla.waitUntil("the backup is healthy and the silent host was probed") {
                olla.endpoint("backup").status == .healthy && silent.status != .unknown
            }
            olla.table.publishModels([HostedModel(id: "m", state: .loaded)], for: silent)
            olla.table.setStatus(.healthy, of: silent)
            let clock = ContinuousClock()
            let started = clock.now
            let answer = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("m"))
            let elapsed = clock.now - started
            #expect(answer.status == .ok)
            #expect(answer.headers.first(name: "X-Olla-Endpoint") == "backup")
            #expect(elapsed >= .milliseconds(290))
            #expect(elapsed < .seconds(3))
            return silent
        }
    }

    @Test func responseHeaderTimeoutFailsOverAndMarksTheHostDown() async throws {
        let hosts = [
            simHost("stuck", models: [SimulatedModel(id: "m")]),
            simHost("backup", models: [SimulatedModel(id: "m")]),
        ]
        try await OllaHarness.with(hosts: hosts) { configuration, _ in
            configuration.proxy.responseHeaderTimeout = .milliseconds(300)
            configuration.endpoints[0].priority = 500
        } _: { olla in
            try await olla.host("stuck").updateFaults { $0.hang = .inference }
            let answer = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("m"))
            #expect(answer.status == .ok)
            #expect(answer.headers.first(name: "X-Olla-Endpoint") == "backup")
            #expect(olla.endpoint("stuck").health.lastError?.contains("response_header_timeout") == true)
        }
    }

    @Test func readTimeoutCutsASilentStreamWithAnErrorEvent() async throws {
        let slow = simHost("slow", models: [SimulatedModel(id: "m")], tokens: 5, tokenDelay: .seconds(2))
        try await OllaHarness.with(hosts: [slow]) { configuration, _ in
            configuration.proxy.readTimeout = .milliseconds(300)
        } _: { olla in
            let answer = try await olla.stream("/olla/lmstudio/v1/chat/completions", json: chatBody("m", stream: true))
            #expect(answer.status == .ok)
            let events = answer.events
            #expect(!events.contains("[DONE]"))
            #expect(events.last?.contains("\"type\":\"upstream_error\"") == true)
            #expect(answer.parts.last!.at - answer.startedAt < .seconds(2))
        }
    }
}

/// A listening socket that never accepts, with its one-slot accept queue already full: a connect to it
/// neither succeeds nor is refused, as with a host that went silent.
final class BlackholeListener: Sendable {
    let port: Int
    private let descriptors: [Int32]

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                guard bind(listener, raw, length) == 0, listen(listener, 0) == 0,
                    getsockname(listener, raw, &length) == 0
                else { throw POSIXError(.EADDRINUSE) }
            }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        // Fill the accept queue: connections that complete but are never accepted.
        var fillers: [Int32] = []
        for _ in 0..<4 {
            let filler = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            var target = address
            _ = withUnsafePointer(to: &target) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(filler, $0, length) }
            }
            fillers.append(filler)
        }
        descriptors = [listener] + fillers
    }

    func close() {
        for descriptor in descriptors { _ = Glibc.close(descriptor) }
    }
}
