import Foundation
import LMStudioSim
import NIOHTTP1
import Testing

@testable import App

#if canImport(Glibc)
import Glibc
#endif

/// Reload (DESIGN.md 6.6): SIGHUP or a change of the file; an invalid file is refused and the old configuration
/// keeps serving; requests in flight are not disturbed. olla runs as the built executable; the hosts run here.
@Suite(.endToEnd) struct ReloadTests {
    static let model = "qwen2.5-7b-instruct"

    /// Replaces the file at once (write aside, rename over it), so olla never reads half a file; with
    /// `keepingModificationTime`, the new file keeps the old one's timestamp, so only a signal can tell olla.
    static func replace(_ file: URL, with text: String, keepingModificationTime: Bool = false) throws {
        let aside = file.deletingLastPathComponent().appendingPathComponent(".\(UUID().uuidString).yaml")
        try text.write(to: aside, atomically: false, encoding: .utf8)
        if keepingModificationTime {
            var info = stat()
            #expect(stat(file.path, &info) == 0)
            var times = [info.st_atim, info.st_mtim]
            #expect(utimensat(AT_FDCWD, aside.path, &times, 0) == 0)
        }
        #expect(rename(aside.path, file.path) == 0)
    }

    /// Names of the endpoints olla reports, and how many are healthy.
    static func endpoints(_ base: String) async throws -> (names: [String], healthy: Int) {
        let document = try await fetch(.GET, base + "/internal/status/endpoints").json()
        let names = (document["endpoints"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        return (names.sorted(), document["healthy_count"] as? Int ?? -1)
    }

    static func chat(_ base: String) async throws -> OllaHarness.Response {
        try await fetch(
            .POST,
            base + "/olla/lmstudio/v1/chat/completions",
            headers: [("Content-Type", "application/json")],
            body: chatBody(model)
        )
    }

    @Test func sighupReloadSwapsHostsWithoutCuttingAStream() async throws {
        let hosts = [
            simHost("sim-a", models: [SimulatedModel(id: Self.model)], tokens: 20, tokenDelay: .milliseconds(100)),
            simHost("sim-b", models: [SimulatedModel(id: Self.model)]),
        ]
        try await withScratchDirectory { directory in
            try await withSimulators(hosts) { hosts in
                let (a, b) = (hosts[0], hosts[1])
                let file = directory.appendingPathComponent("endpoints.yaml")
                try configurationFile(hosts: [a]).write(to: file, atomically: true, encoding: .utf8)
                try await OllaProcess.with(["--config", file.path, "--port", "0"], in: directory) { olla in
                    let port = try await olla.listeningPort()
                    try await olla.waitUntilServing(port: port, hosts: 1)
                    let base = "http://127.0.0.1:\(port)"

                    async let stream = streamChat(base + "/olla/lmstudio/v1/chat/completions", model: Self.model)
                    try await OllaHarness.waitUntil("sim-a streams") { a.stats.inFlight == 1 }
                    try Self.replace(file, with: configurationFile(hosts: [b]), keepingModificationTime: true)
                    olla.send(signal: SIGHUP)
                    try await OllaHarness.waitUntil("olla serves sim-b only", timeout: .seconds(5)) {
                        let now = try await Self.endpoints(base)
                        return now.names == ["sim-b"] && now.healthy == 1
                    }
                    let reloadedAt = ContinuousClock.now
                    #expect(a.stats.inFlight == 1, "the stream still runs after the reload")

                    let streamed = try await stream
                    #expect(streamed.status == .ok)
                    #expect(streamed.headers.first(name: "X-Olla-Endpoint") == "sim-a")
                    #expect(streamed.events.last == "[DONE]", "the stream completes: \(streamed.text.suffix(300))")
                    #expect(!streamed.text.contains("upstream_error"))
                    #expect((streamed.parts.last?.at ?? reloadedAt) > reloadedAt)

                    let answer = try await Self.chat(base)
                    #expect(answer.status == .ok)
                    #expect(answer.headers.first(name: "X-Olla-Endpoint") == "sim-b")
                    #expect(olla.output.contains("SIGHUP"), "the log says why it reloaded:\n\(olla.output)")
                    #expect(olla.output.contains("configuration reloaded"))
                    #expect(olla.isRunning)
                }
            }
        }
    }

    @Test func fileChangeIsPickedUpWithoutSignalAndAnInvalidFileIsRefused() async throws {
        let hosts = [
            simHost("sim-a", models: [SimulatedModel(id: Self.model)]),
            simHost("sim-b", models: [SimulatedModel(id: Self.model)]),
        ]
        try await withScratchDirectory { directory in
            try await withSimulators(hosts) { hosts in
                let (a, b) = (hosts[0], hosts[1])
                let file = directory.appendingPathComponent("endpoints.yaml")
                try configurationFile(hosts: [a]).write(to: file, atomically: true, encoding: .utf8)
                try await OllaProcess.with(["--config", file.path, "--port", "0"], in: directory) { olla in
                    let port = try await olla.listeningPort()
                    try await olla.waitUntilServing(port: port, hosts: 1)
                    let base = "http://127.0.0.1:\(port)"

                    // Saved, no signal: picked up within 5 s (DESIGN.md 6.6).
                    let clock = ContinuousClock()
                    let saved = clock.now
                    try Self.replace(file, with: configurationFile(hosts: [a, b]))
                    try await OllaHarness.waitUntil("olla lists both hosts", timeout: .seconds(7)) {
                        try await Self.endpoints(base).names == ["sim-a", "sim-b"]
                    }
                    #expect(clock.now - saved <= .seconds(5), "picked up after \(clock.now - saved)")
                    try await OllaHarness.waitUntil("sim-b is probed healthy") {
                        try await Self.endpoints(base).healthy == 2
                    }

                    // An invalid file is refused, says why, and the running configuration keeps serving.
                    let broken = configurationFile(hosts: [b]).replacingOccurrences(
                        of: "check_interval: 1s",
                        with: "check_interval: soon"
                    )
                    try Self.replace(file, with: broken)
                    olla.send(signal: SIGHUP)
                    try await OllaHarness.waitUntil("olla logs the refusal", timeout: .seconds(5)) {
                        olla.output.contains("reload refused")
                    }
                    let refusal = olla.output.split(separator: "\n").first { $0.contains("reload refused") } ?? ""
                    #expect(refusal.contains("check_interval"), "the log names the key at fault: \(refusal)")
                    #expect(refusal.contains("line "), "and its line: \(refusal)")
                    #expect(olla.isRunning)
                    let still = try await Self.endpoints(base)
                    #expect(still.names == ["sim-a", "sim-b"])
                    #expect(still.healthy == 2)
                    #expect(try await Self.chat(base).status == .ok)
                }
            }
        }
    }
}
