import Foundation
import LMStudioSim
import NIOHTTP1
import Testing

@testable import App

/// What the `olla` executable writes to stdout (DESIGN.md 6.6): one line per request, in the format and
/// above the level of the command line, and a warning for each failover with the request's id.
@Suite(.endToEnd) struct LogOutputTests {
    static let model = "qwen2.5-7b-instruct"

    /// Two hosts, `a` preferred by priority.
    static func configuration(_ hosts: [LMStudioSimulator]) -> String {
        var text = "server:\n  host: 127.0.0.1\ndiscovery:\n  static:\n    endpoints:\n"
        for (host, priority) in zip(hosts, [200, 100]) {
            text += "      - name: \(host.name)\n        url: http://127.0.0.1:\(host.port)\n"
            text += "        priority: \(priority)\n        check_interval: 30s\n        check_timeout: 2s\n"
        }
        return text
    }

    static func jsonLines(_ output: String) -> [[String: Any]] {
        output.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
    }

    static func chat(_ port: Int, requestID: String) async throws -> OllaHarness.Response {
        try await fetch(
            .POST,
            "http://127.0.0.1:\(port)/olla/lmstudio/v1/chat/completions",
            headers: [("Content-Type", "application/json"), ("X-Request-ID", requestID)],
            body: chatBody(model)
        )
    }

    @Test func jsonFormatWritesARequestLineAndAFailoverWarningWithTheRequestID() async throws {
        let hosts = [
            simHost("a", models: [SimulatedModel(id: Self.model)]),
            simHost("b", models: [SimulatedModel(id: Self.model)]),
        ]
        try await withSimulators(hosts) { hosts in
            try await withScratchDirectory { directory in
                let file = directory.appendingPathComponent("endpoints.yaml")
                try Self.configuration(hosts).write(to: file, atomically: true, encoding: .utf8)
                // The start-up line that tells a test the port is not text here: give olla a port.
                let port = try await unusedPort()
                let arguments = [
                    "--config", file.path, "--port", "\(port)", "--log-format", "json", "--log-level", "info",
                ]
                try await OllaProcess.with(arguments, in: directory) { olla in
                    try await olla.waitUntilServing(port: port, hosts: 2)
                    try await hosts[0].updateFaults { $0.refuseConnections = true }

                    let answer = try await Self.chat(port, requestID: "log-test-1")
                    #expect(answer.status == .ok)
                    #expect(answer.headers.first(name: "X-Olla-Endpoint") == "b")

                    var request: [String: Any]?
                    var failover: [String: Any]?
                    try await OllaHarness.waitUntil("the request and failover lines are written") {
                        let lines = Self.jsonLines(olla.output)
                        request = lines.first {
                            $0["msg"] as? String == "request" && $0["id"] as? String == "log-test-1"
                        }
                        failover = lines.first { $0["msg"] as? String == "failover" }
                        return request != nil && failover != nil
                    }
                    let line = try #require(request)
                    #expect(line["level"] as? String == "info")
                    #expect(line["method"] as? String == "POST")
                    #expect(line["path"] as? String == "/olla/lmstudio/v1/chat/completions")
                    #expect(line["model"] as? String == Self.model)
                    #expect(line["endpoint"] as? String == "b")
                    #expect(line["status"] as? String == "200")
                    #expect(line["failovers"] as? String == "1")
                    #expect(line["duration_ms"] is String && line["bytes_in"] is String && line["bytes_out"] is String)
                    let warning = try #require(failover)
                    #expect(warning["level"] as? String == "warning")
                    #expect(warning["id"] as? String == "log-test-1")
                    #expect(warning["endpoint"] as? String == "a")
                    #expect((warning["reason"] as? String)?.isEmpty == false)
                }
            }
        }
    }

    @Test func levelAboveInfoWritesNoRequestLines() async throws {
        try await withSimulators([simHost("a", models: [SimulatedModel(id: Self.model)])]) { hosts in
            try await withScratchDirectory { directory in
                let file = directory.appendingPathComponent("endpoints.yaml")
                try configurationFile(hosts: hosts).write(to: file, atomically: true, encoding: .utf8)
                // Without info lines there is no start-up line to learn the port from: give olla one.
                let port = try await unusedPort()
                let arguments = ["--config", file.path, "--port", "\(port)", "--log-level", "warning"]
                try await OllaProcess.with(arguments, in: directory) { olla in
                    try await olla.waitUntilServing(port: port, hosts: 1)
                    for index in 0..<3 {
                        #expect(try await Self.chat(port, requestID: "quiet-\(index)").status == .ok)
                    }
                    _ = try await fetch(.GET, "http://127.0.0.1:\(port)/internal/health")
                    // Stopped, so that every line it would ever write is out.
                    await olla.stop()
                    #expect(!olla.output.contains("quiet-"), "\(olla.output)")
                    #expect(!olla.output.contains(" info "), "\(olla.output)")
                }
            }
        }
    }

    @Test func textFormatIsTheDefaultWithOneLinePerRequest() async throws {
        try await withSimulators([simHost("a", models: [SimulatedModel(id: Self.model)])]) { hosts in
            try await withScratchDirectory { directory in
                let file = directory.appendingPathComponent("endpoints.yaml")
                try configurationFile(hosts: hosts).write(to: file, atomically: true, encoding: .utf8)
                try await OllaProcess.with(["--config", file.path, "--port", "0"], in: directory) { olla in
                    let port = try await olla.listeningPort()
                    try await olla.waitUntilServing(port: port, hosts: 1)
                    for index in 0..<3 {
                        #expect(try await Self.chat(port, requestID: "text-\(index)").status == .ok)
                    }
                    try await OllaHarness.waitUntil("three request lines") {
                        olla.output.split(separator: "\n").filter {
                            $0.contains(" info request ") && $0.contains("id=text-")
                        }
                        .count == 3
                    }
                    let line = try #require(olla.output.split(separator: "\n").first { $0.contains("id=text-0") })
                    for field in [
                        "method=POST", "model=\(Self.model)", "endpoint=a", "status=200", "duration_ms=", "bytes_out=",
                    ] {
                        #expect(line.contains(field), "\(field) in \(line)")
                    }
                }
            }
        }
    }
}
