import Foundation
import NIOHTTP1
import Testing

@testable import App

/// `olla demo` (README): olla in front of three simulated hosts, driven from its stdin as a user would.
@Suite(.endToEnd) struct DemoCommandTests {
    static func chat(_ base: String) async throws -> OllaHarness.Response {
        try await fetch(
            .POST,
            base + "/olla/lmstudio/v1/chat/completions",
            headers: [("Content-Type", "application/json")],
            body: chatBody("qwen2.5-7b-instruct")
        )
    }

    @Test func demoAnswersFailsOverWhenAHostIsKilledFromItsConsoleAndQuits() async throws {
        let port = try await unusedPort()
        try await withScratchDirectory { directory in
            let arguments = ["demo", "--port", "\(port)", "--token-delay", "5"]
            try await OllaProcess.with(arguments, in: directory, withInput: true) { demo in
                // The demo prints its address on stdout, which is block-buffered when it is not a terminal, and
                // logs no address: find the port among the ones it listens on (its three hosts' and olla's).
                var found: Int?
                try await OllaHarness.waitUntil("the demo's olla and its three hosts are up", timeout: .seconds(15)) {
                    if !demo.isRunning {
                        throw OllaProcess.Exited(status: demo.process.terminationStatus, stderr: demo.errorOutput)
                    }
                    for candidate in demo.listeningPorts {
                        // The demo listens on localhost, which may be ::1 or 127.0.0.1: let the client resolve it.
                        let url = "http://localhost:\(candidate)/internal/status/endpoints"
                        // A simulated host answers unknown paths too (as LM Studio does), but not with this shape.
                        guard let document = try? await fetch(.GET, url, timeout: .seconds(2)).json(),
                            document["total_count"] is Int
                        else { continue }
                        found = candidate
                        return document["healthy_count"] as? Int == 3
                    }
                    return false
                }
                let ollaPort = try #require(found)
                #expect(ollaPort == port, "the demo listens on the port it was given")
                #expect(demo.output.contains("olla demo: olla on"), "the banner is out while the demo runs")
                let base = "http://localhost:\(ollaPort)"
                let first = try await Self.chat(base)
                #expect(first.status == .ok)
                #expect(first.headers.first(name: "X-Olla-Endpoint") == "studio-a")

                demo.type("kill studio-a")
                var after: OllaHarness.Response?
                try await OllaHarness.waitUntil("a chat is answered by another host", timeout: .seconds(5)) {
                    let answer = try await Self.chat(base)
                    after = answer
                    return answer.headers.first(name: "X-Olla-Endpoint") != "studio-a"
                }
                let moved = try #require(after)
                #expect(moved.status == .ok)
                let endpoint = moved.headers.first(name: "X-Olla-Endpoint")
                #expect(endpoint == "studio-b" || endpoint == "studio-c", "\(String(describing: endpoint))")
                // DESIGN.md 6.2: the highest priority tier comes first, loaded or not: studio-b (100) before
                // studio-c (50).
                #expect(endpoint == "studio-b", "failover follows priority before loaded state")

                demo.type("revive studio-a")
                try await OllaHarness.waitUntil("studio-a answers again", timeout: .seconds(10)) {
                    try await Self.chat(base).headers.first(name: "X-Olla-Endpoint") == "studio-a"
                }
                #expect(demo.output.contains("studio-a is back"))

                demo.type("quit")
                let status = try await demo.waitForExit(timeout: .seconds(10))
                #expect(status == 0, "\(demo.errorOutput)")
            }
        }
    }
}
