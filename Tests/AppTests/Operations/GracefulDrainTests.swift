import Foundation
import LMStudioSim
import NIOHTTP1
import Testing

@testable import App

#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM (DESIGN.md 6.6): stop accepting, let requests and streams in flight finish up to
/// `server.shutdown_timeout`, then exit 0. olla runs as the built executable; the hosts run here.
@Suite(.endToEnd) struct GracefulDrainTests {
    static let model = "qwen2.5-7b-instruct"

    /// Whether a new TCP connection to `port` is refused.
    static func refusesConnections(port: Int) async -> Bool {
        guard let connection = try? await RawHTTPConnection.connect(port: port) else { return true }
        await connection.close()
        return false
    }

    @Test func sigtermLetsAStreamFinishRefusesNewConnectionsAndExitsZero() async throws {
        let host = simHost(
            "sim-a",
            models: [SimulatedModel(id: Self.model)],
            tokens: 20,
            tokenDelay: .milliseconds(100)
        )
        try await withScratchDirectory { directory in
            try await withSimulators([host]) { hosts in
                let file = directory.appendingPathComponent("endpoints.yaml")
                try configurationFile(hosts: hosts).write(to: file, atomically: true, encoding: .utf8)
                try await OllaProcess.with(["--config", file.path, "--port", "0"], in: directory) { olla in
                    let port = try await olla.listeningPort()
                    try await olla.waitUntilServing(port: port, hosts: 1)
                    let url = "http://127.0.0.1:\(port)/olla/lmstudio/v1/chat/completions"

                    async let stream = streamChat(url, model: Self.model)
                    try await OllaHarness.waitUntil("sim-a streams") { hosts[0].stats.inFlight == 1 }
                    olla.send(signal: SIGTERM)
                    try await OllaHarness.waitUntil("olla stops accepting", timeout: .seconds(3)) {
                        await Self.refusesConnections(port: port)
                    }
                    #expect(olla.isRunning, "still draining while new connections are refused")
                    #expect(hosts[0].stats.inFlight == 1, "the stream still runs while new connections are refused")

                    let streamed = try await stream
                    let clock = ContinuousClock()
                    let streamEnded = clock.now
                    #expect(streamed.status == .ok)
                    #expect(streamed.events.last == "[DONE]", "the stream completes: \(streamed.text.suffix(300))")
                    let status = try await olla.waitForExit(timeout: .seconds(5))
                    #expect(status == 0, "\(olla.errorOutput)")
                    #expect(clock.now - streamEnded < .seconds(2), "exits soon after the last stream ended")
                    #expect(olla.output.contains("draining"), "\(olla.output)")
                }
            }
        }
    }

    @Test func shutdownTimeoutCutsALongerStreamAndStillExitsZero() async throws {
        let host = simHost(
            "sim-a",
            models: [SimulatedModel(id: Self.model)],
            tokens: 50,
            tokenDelay: .milliseconds(100)
        )
        try await withScratchDirectory { directory in
            try await withSimulators([host]) { hosts in
                let file = directory.appendingPathComponent("endpoints.yaml")
                let text = configurationFile(hosts: hosts, server: "shutdown_timeout: 1s")
                try text.write(to: file, atomically: true, encoding: .utf8)
                try await OllaProcess.with(["--config", file.path, "--port", "0"], in: directory) { olla in
                    let port = try await olla.listeningPort()
                    try await olla.waitUntilServing(port: port, hosts: 1)
                    let url = "http://127.0.0.1:\(port)/olla/lmstudio/v1/chat/completions"

                    async let stream = streamChat(url, model: Self.model)
                    try await OllaHarness.waitUntil("sim-a streams") { hosts[0].stats.inFlight == 1 }
                    let clock = ContinuousClock()
                    let signalled = clock.now
                    olla.send(signal: SIGTERM)
                    let status = try await olla.waitForExit(timeout: .seconds(5))
                    let exitedAfter = clock.now - signalled
                    #expect(status == 0, "\(olla.errorOutput)")
                    #expect(exitedAfter >= .milliseconds(900), "waits shutdown_timeout: \(exitedAfter)")
                    #expect(exitedAfter < .seconds(2.5), "then cuts the stream: \(exitedAfter)")

                    let streamed = try await stream
                    #expect(streamed.status == .ok)
                    #expect(!streamed.events.contains("[DONE]"), "the 5 s stream was cut")
                    #expect(streamed.events.count > 3, "after running for a while: \(streamed.events.count) events")
                    #expect(olla.output.contains("drain timed out"), "\(olla.output)")
                }
            }
        }
    }

    @Test func sigintWithOnlyAnIdleKeptAliveConnectionExitsAtOnce() async throws {
        let host = simHost("sim-a", models: [SimulatedModel(id: Self.model)])
        try await withScratchDirectory { directory in
            try await withSimulators([host]) { hosts in
                let file = directory.appendingPathComponent("endpoints.yaml")
                try configurationFile(hosts: hosts).write(to: file, atomically: true, encoding: .utf8)
                try await OllaProcess.with(["--config", file.path, "--port", "0"], in: directory) { olla in
                    let port = try await olla.listeningPort()
                    try await olla.waitUntilServing(port: port, hosts: 1)
                    // An SDK client keeps its connection open between requests; that must not hold up a shutdown
                    // for the whole shutdown_timeout (30 s by default).
                    let idle = try await RawHTTPConnection.connect(port: port)
                    try await idle.send("GET /internal/health HTTP/1.1\r\nHost: olla\r\n\r\n")
                    try await OllaHarness.waitUntil("the health answer arrives") { idle.text.contains("healthy") }

                    let clock = ContinuousClock()
                    let signalled = clock.now
                    olla.send(signal: SIGINT)
                    let status = try await olla.waitForExit(timeout: .seconds(10))
                    #expect(status == 0, "\(olla.errorOutput)")
                    #expect(clock.now - signalled < .seconds(2), "exited after \(clock.now - signalled)")
                    try await OllaHarness.waitUntil("the idle connection is closed") { idle.isClosed }
                }
            }
        }
    }
}
