import Foundation
import LMStudioSim
import NIOCore
import Testing

@testable import App

/// Answers olla gives before it has read a whole request (DESIGN.md 6.5), and the bound on the request bytes it
/// holds at once (`max_buffered_body`, DESIGN.md section 4).
@Suite(.serialized, .endToEnd) struct EarlyAnswerTests {
    static let model = "qwen2.5-7b-instruct"

    static var script: String {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("scripts/early_answer_check.py").path
    }

    static let pythonAvailable: Bool = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import http.client"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }()

    /// A client that sends its whole request before reading (Python's http.client) gets the 431 or 413 instead
    /// of a connection reset: olla reads and drops the rest of the request before it closes.
    @Test(.enabled(if: pythonAvailable, "python3 is not installed"))
    func aClientStillSendingReadsTheEarlyAnswerInsteadOfAReset() async throws {
        try await OllaHarness.with(hosts: [simHost("studio-a", models: [SimulatedModel(id: Self.model)])]) {
            configuration,
            _ in
            configuration.server.maxHeaderSize = 4096
            configuration.server.maxBodySize = 64 * 1024
        } _: { olla in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", Self.script, "127.0.0.1", "\(olla.port)", "10"]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            try await olla.waitUntil("the script finishes", timeout: .seconds(120)) { !process.isRunning }
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(text.contains("431 answered=10 reset=0"), "\(text)")
            #expect(text.contains("413 answered=10 reset=0"), "\(text)")
            #expect(process.terminationStatus == 0, "\(text)")
        }
    }

    /// A head that could not be parsed is logged with the time since it arrived, not since the process started.
    @Test func theLogLineOfA431HasItsOwnDuration() async throws {
        try await withSimulators([simHost("a", models: [SimulatedModel(id: Self.model)])]) { hosts in
            try await withScratchDirectory { directory in
                let file = directory.appendingPathComponent("endpoints.yaml")
                let server = "request_limits:\n  max_header_size: 1KB"
                try configurationFile(hosts: hosts, server: server).write(to: file, atomically: true, encoding: .utf8)
                let port = try await unusedPort()
                let arguments = [
                    "--config", file.path, "--port", "\(port)", "--log-format", "json", "--log-level", "info",
                ]
                try await OllaProcess.with(arguments, in: directory) { olla in
                    try await olla.waitUntilServing(port: port, hosts: 1)
                    let raw = try await RawHTTPConnection.exchange(
                        port: port,
                        "GET /version HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "z", count: 2048))\r\n\r\n"
                    )
                    #expect(raw.hasPrefix("HTTP/1.1 431"))
                    var line: [String: Any]?
                    try await OllaHarness.waitUntil("the 431 is logged") {
                        line = LogOutputTests.jsonLines(olla.output).first {
                            $0["msg"] as? String == "request" && $0["status"] as? String == "431"
                        }
                        return line != nil
                    }
                    let duration = try #require((line?["duration_ms"] as? String).flatMap { Double($0) })
                    #expect(duration >= 0 && duration < 5000, "duration_ms=\(duration)")
                }
            }
        }
    }

    /// 16 clients each send 8 MB of a 9 MB body and stop: with `max_buffered_body: 48MB` the bodies that would
    /// go past it get 503 `overloaded` with `Retry-After` at once, and olla's peak memory stays far below the
    /// 128 MB offered (without the bound it holds all of them).
    @Test func bodiesHeldAtOnceStayUnderMaxBufferedBody() async throws {
        try await withSimulators([simHost("a", models: [SimulatedModel(id: Self.model)])]) { hosts in
            try await withScratchDirectory { directory in
                let file = directory.appendingPathComponent("endpoints.yaml")
                let server = "request_limits:\n  max_buffered_body: 48MB\n  max_body_size: 16MB"
                try configurationFile(hosts: hosts, server: server).write(to: file, atomically: true, encoding: .utf8)
                let port = try await unusedPort()
                try await OllaProcess.with(["--config", file.path, "--port", "\(port)"], in: directory) { olla in
                    try await olla.waitUntilServing(port: port, hosts: 1)
                    let before = try #require(Self.peakResidentBytes(of: olla.pid))
                    let part = String(repeating: " ", count: 8 * 1024 * 1024)
                    var clients: [RawHTTPConnection] = []
                    defer { for client in clients { Task { await client.close() } } }
                    for _ in 0..<16 {
                        let client = try await RawHTTPConnection.connect(port: port)
                        clients.append(client)
                        // A refused client sees olla's write side close while it still sends; NIO's client then
                        // fails the rest of its write (a client such as Python's http.client keeps sending).
                        try? await client.send(
                            "POST /olla/lmstudio/v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                                + "Content-Type: application/json\r\nContent-Length: \(9 * 1024 * 1024)\r\n\r\n{" + part
                        )
                    }
                    try await OllaHarness.waitUntil("every refused client has its answer", timeout: .seconds(30)) {
                        let answered = clients.filter { $0.text.hasPrefix("HTTP/1.1 503") }
                        return answered.count >= 16 - 6
                    }
                    let refused = clients.filter { $0.text.hasPrefix("HTTP/1.1 503") }
                    #expect(refused.count >= 10 && refused.count <= 11, "\(refused.count) refused")
                    for client in refused {
                        #expect(client.text.contains("\"code\":\"overloaded\""))
                        #expect(client.text.contains("Retry-After: "))
                    }
                    let after = try #require(Self.peakResidentBytes(of: olla.pid))
                    let grown = after - before
                    #expect(grown < 96 * 1024 * 1024, "peak memory grew by \(grown / 1024 / 1024) MB")
                    // Held bodies are given back when their clients go: a 12 MB body fits again.
                    for client in clients { await client.close() }
                    clients.removeAll()
                    let large = chatBody(
                        Self.model,
                        extra: "\"pad\":\"\(String(repeating: "p", count: 12 * 1024 * 1024))\""
                    )
                    try await OllaHarness.waitUntil("a 12 MB body is served", timeout: .seconds(20)) {
                        // Refused (and cut) while olla still counts bodies of clients that are going.
                        let answer = try? await fetch(
                            .POST,
                            "http://127.0.0.1:\(port)/olla/lmstudio/v1/chat/completions",
                            headers: [("Content-Type", "application/json")],
                            body: large
                        )
                        return answer?.status == .ok
                    }
                }
            }
        }
    }

    /// `VmHWM` of /proc/<pid>/status: the most memory the process has held at once.
    static func peakResidentBytes(of pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let digits = line.split(separator: " ").compactMap { Int($0) }
            return digits.first.map { $0 * 1024 }
        }
        return nil
    }
}
