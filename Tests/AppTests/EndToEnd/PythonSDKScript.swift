import Foundation

/// A script of `scripts/` that drives olla with an official Python SDK, run as a subprocess.
enum PythonSDKScript {
    /// Whether `python3` can import `module` (the SDK tests are skipped when it cannot; `.ci/run` installs them).
    static func hasModule(_ module: String) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import \(module)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    /// The path of `scripts/<name>` in this package.
    static func path(_ name: String) -> String {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("scripts").appendingPathComponent(name).path
    }

    /// What a finished script printed (stdout and stderr together) and how it exited.
    struct Outcome: Sendable {
        var status: Int32
        var output: String

        /// The lines that start with `prefix`, without it.
        func lines(startingWith prefix: String) -> [Substring] {
            output.split(separator: "\n").filter { $0.hasPrefix(prefix) }.map { $0.dropFirst(prefix.count) }
        }
    }

    struct Timeout: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs `python3 scripts/<name> arguments...` and waits for it, at most `timeout`; a script still running
    /// then is terminated and the wait throws. The output goes to a file, so a talkative script cannot block
    /// on a full pipe.
    static func run(_ name: String, _ arguments: [String], timeout: Duration = .seconds(120)) async throws -> Outcome {
        let outputURL = FileManager.default.temporaryDirectory
            .appendingPathComponent("olla-sdk-\(UUID().uuidString).log")
        guard FileManager.default.createFile(atPath: outputURL.path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown)
        }
        defer { try? FileManager.default.removeItem(at: outputURL) }
        let output = try FileHandle(forWritingTo: outputURL)
        defer { try? output.close() }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", path(name)] + arguments
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while process.isRunning && clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            let text = (try? String(contentsOf: outputURL, encoding: .utf8)) ?? ""
            throw Timeout(description: "\(name) still ran after \(timeout); its output:\n\(text)")
        }
        process.waitUntilExit()
        let text = (try? String(contentsOf: outputURL, encoding: .utf8)) ?? ""
        return Outcome(status: process.terminationStatus, output: text)
    }
}
