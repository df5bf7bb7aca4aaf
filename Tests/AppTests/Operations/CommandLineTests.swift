import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import App

/// `olla validate` and the start-up failures of `olla` (DESIGN.md sections 3 and 4), run as the built executable.
@Suite(.endToEnd) struct CommandLineTests {
    /// Three mistakes, each on its own line (1-based lines 2, 4 and 10).
    static let threeMistakes = """
        server:
          port: seventy
        proxy:
          load_balancer: fastest
        discovery:
          static:
            endpoints:
              - name: studio-a
                url: http://127.0.0.1:1234
                priority: high

        """

    static let valid = """
        server:
          host: 127.0.0.1
        endpoints:
          - name: studio-a
            url: http://127.0.0.1:1234
            check_interval: 1s
            check_timeout: 400ms

        """

    static func lines(_ text: String) -> [String] {
        text.split(separator: "\n").map(String.init)
    }

    @Test func validateListsEveryMistakeWithItsKeyPathAndLineAndExits1() async throws {
        try await withScratchDirectory { directory in
            let file = directory.appendingPathComponent("endpoints.yaml")
            try Self.threeMistakes.write(to: file, atomically: true, encoding: .utf8)
            let run = try await OllaProcess.run(["validate", "--config", file.path], in: directory)
            #expect(run.status == 1)
            let errors = Self.lines(run.stderr)
            for (line, keyPath) in [
                (2, "server.port"), (4, "proxy.load_balancer"), (10, "discovery.static.endpoints[0].priority"),
            ] {
                #expect(
                    errors.contains { $0.contains("line \(line)") && $0.contains(keyPath) },
                    "line \(line) \(keyPath) in:\n\(run.stderr)"
                )
            }
            #expect(errors.filter { $0.contains("error") && $0.contains("line ") }.count == 3, "\(run.stderr)")
        }
    }

    @Test func helpExplainsEveryOptionAndSubcommand() async throws {
        try await withScratchDirectory { directory in
            let run = try await OllaProcess.run(["--help"], in: directory)
            #expect(run.status == 0)
            for word in [
                "--config", "--host", "--port", "--log-level", "--log-format", "OLLA_CONFIG_FILE", "validate", "models",
                "demo",
            ] {
                #expect(run.stdout.contains(word), "\(word) in:\n\(run.stdout)")
            }
            let bad = try await OllaProcess.run(["--log-format", "xml"], in: directory)
            #expect(bad.status != 0)
            #expect(bad.stderr.contains("--log-format must be text or json"), "\(bad.stderr)")
        }
    }

    @Test func validateAcceptsAValidFileWithExit0() async throws {
        try await withScratchDirectory { directory in
            let file = directory.appendingPathComponent("endpoints.yaml")
            try Self.valid.write(to: file, atomically: true, encoding: .utf8)
            let run = try await OllaProcess.run(["validate", "--config", file.path], in: directory)
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stderr.isEmpty, "\(run.stderr)")
            #expect(run.stdout.contains("valid"))
        }
    }

    @Test func validateReportsWarningsWithTheirLineAndStillExits0() async throws {
        try await withScratchDirectory { directory in
            let file = directory.appendingPathComponent("endpoints.yaml")
            try (Self.valid + "loggin:\n  level: debug\n").write(to: file, atomically: true, encoding: .utf8)
            let run = try await OllaProcess.run(["validate", "--config", file.path], in: directory)
            #expect(run.status == 0, "\(run.stderr)")
            let warning = Self.lines(run.stderr).first { $0.contains("warning") }
            #expect(warning?.contains("loggin") == true, "names the unknown key: \(run.stderr)")
            #expect(warning?.contains("line 8") == true, "and its line: \(run.stderr)")
        }
    }

    @Test func configFileFromTheEnvironmentIsUsedWhenNoneIsGiven() async throws {
        try await withScratchDirectory { directory in
            let file = directory.appendingPathComponent("broken.yaml")
            try Self.threeMistakes.write(to: file, atomically: true, encoding: .utf8)
            let child = try OllaProcess.launch(
                ["--port", "0"],
                in: directory,
                environment: ["OLLA_CONFIG_FILE": file.path]
            )
            defer { child.kill() }
            let status = try await child.waitForExit(timeout: .seconds(10))
            #expect(status == 1)
            #expect(child.errorOutput.contains("broken.yaml"), "\(child.errorOutput)")
        }
    }

    @Test func serveWithABadFileExits1WithOneLine() async throws {
        try await withScratchDirectory { directory in
            let file = directory.appendingPathComponent("endpoints.yaml")
            try Self.threeMistakes.write(to: file, atomically: true, encoding: .utf8)
            let run = try await OllaProcess.run(["--config", file.path, "--port", "0"], in: directory)
            #expect(run.status == 1)
            let errors = Self.lines(run.stderr)
            #expect(errors.count == 1, "one line on stderr:\n\(run.stderr)")
            #expect(errors.first?.hasPrefix("olla: ") == true)
            #expect(errors.first?.contains("line 2") == true, "names the first mistake: \(run.stderr)")

            let missing = try await OllaProcess.run(["--config", directory.path + "/nowhere.yaml"], in: directory)
            #expect(missing.status == 1)
            #expect(Self.lines(missing.stderr).count == 1, "\(missing.stderr)")
            #expect(missing.stderr.contains("nowhere.yaml"))
        }
    }

    @Test func serveOnAPortInUseExits1WithOneLine() async throws {
        let taken = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let port = taken.localAddress?.port ?? 0
        do {
            try await withScratchDirectory { directory in
                let file = directory.appendingPathComponent("endpoints.yaml")
                try Self.valid.write(to: file, atomically: true, encoding: .utf8)
                let run = try await OllaProcess.run(["--config", file.path, "--port", "\(port)"], in: directory)
                #expect(run.status == 1)
                let errors = Self.lines(run.stderr)
                #expect(errors.count == 1, "one line on stderr:\n\(run.stderr)")
                #expect(errors.first?.hasPrefix("olla: ") == true)
                #expect(errors.first?.contains("\(port)") == true, "names the port: \(run.stderr)")
                #expect(errors.first?.contains("in use") == true, "says why: \(run.stderr)")
            }
        } catch {
            try? await taken.close()
            throw error
        }
        try await taken.close()
    }
}
