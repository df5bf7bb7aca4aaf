import AsyncHTTPClient
import Foundation
import LMStudioSim
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The built `olla` executable running as a child process, as a user runs it, with stdout and stderr captured
/// in files of a scratch directory.
///
/// Output goes to files rather than pipes: a pipe that nobody reads fills up and then blocks the child.
final class OllaProcess {
    let process: Process
    let stdoutPath: String
    let stderrPath: String
    /// The child's stdin when it was asked for (`olla demo` reads commands there).
    let input: FileHandle?

    private init(process: Process, stdoutPath: String, stderrPath: String, input: FileHandle?) {
        self.process = process
        self.stdoutPath = stdoutPath
        self.stderrPath = stderrPath
        self.input = input
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    /// Everything the child wrote to stdout so far.
    var output: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    /// Everything the child wrote to stderr so far.
    var errorOutput: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    struct ExecutableNotFound: Error, CustomStringConvertible {
        let searched: [String]
        var description: String { "the olla executable was not found; looked at \(searched)" }
    }

    /// The `olla` executable that `swift build` put next to the test bundle.
    ///
    /// `swift test` runs the bundle from the build directory (`.build/<triple>/debug`), where the package's
    /// executables are linked too; the folder of `#filePath` is a fallback for runners that start the tests
    /// from elsewhere.
    static func executable(filePath: String = #filePath) throws -> URL {
        var candidates: [URL] = []
        if let explicit = ProcessInfo.processInfo.environment["OLLA_EXECUTABLE"], !explicit.isEmpty {
            candidates.append(URL(fileURLWithPath: explicit))
        }
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        candidates.append(bundle.deletingLastPathComponent().appendingPathComponent("olla"))
        // On platforms where the bundle is a directory, the executable sits beside it.
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("olla"))
        var root = URL(fileURLWithPath: filePath)
        for _ in 0..<4 { root.deleteLastPathComponent() }
        candidates.append(root.appendingPathComponent(".build/debug/olla"))
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate.path) {
            return candidate
        }
        throw ExecutableNotFound(searched: candidates.map(\.path))
    }

    /// Starts `olla <arguments>` in `directory` (its working directory, which also holds the output files).
    static func launch(
        _ arguments: [String],
        in directory: URL,
        withInput: Bool = false,
        environment: [String: String] = [:]
    ) throws -> OllaProcess {
        let process = Process()
        process.executableURL = try executable()
        process.arguments = arguments
        process.currentDirectoryURL = directory
        var inherited = ProcessInfo.processInfo.environment
        // A configuration of the machine running the tests must not leak into the child.
        inherited.removeValue(forKey: "OLLA_CONFIG_FILE")
        process.environment = inherited.merging(environment) { _, new in new }
        let name = UUID().uuidString.prefix(8)
        let stdoutPath = directory.appendingPathComponent("olla-\(name).out").path
        let stderrPath = directory.appendingPathComponent("olla-\(name).err").path
        FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        var input: FileHandle?
        if withInput {
            let pipe = Pipe()
            process.standardInput = pipe
            input = pipe.fileHandleForWriting
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        try process.run()
        return OllaProcess(process: process, stdoutPath: stdoutPath, stderrPath: stderrPath, input: input)
    }

    /// Runs `olla <arguments>` to its end and returns its exit status and output.
    static func run(
        _ arguments: [String],
        in directory: URL,
        timeout: Duration = .seconds(20)
    ) async throws -> (status: Int32, stdout: String, stderr: String) {
        let child = try launch(arguments, in: directory)
        defer { child.kill() }
        let status = try await child.waitForExit(timeout: timeout)
        return (status, child.output, child.errorOutput)
    }

    /// Starts olla, runs `body`, and stops the child afterwards, also when `body` throws.
    static func with<Result>(
        _ arguments: [String],
        in directory: URL,
        withInput: Bool = false,
        _ body: (OllaProcess) async throws -> Result
    ) async throws -> Result {
        let child = try launch(arguments, in: directory, withInput: withInput)
        do {
            let result = try await body(child)
            await child.stop()
            return result
        } catch {
            await child.stop()
            // What the child said is the first thing to read when a test of it fails.
            print("olla stdout:\n\(child.output)\nolla stderr:\n\(child.errorOutput)")
            throw error
        }
    }

    func send(signal: Int32) {
        if process.isRunning { _ = Glibc.kill(pid, signal) }
    }

    /// Writes a line to the child's stdin.
    func type(_ line: String) {
        input?.write(Data((line + "\n").utf8))
    }

    struct StillRunning: Error, CustomStringConvertible {
        let description: String
    }

    /// Waits for the child to exit and returns its exit status.
    /// - Throws: when it is still running after `timeout`.
    @discardableResult
    func waitForExit(timeout: Duration) async throws -> Int32 {
        try await OllaHarness.waitUntil("olla (pid \(pid)) exits", timeout: timeout) { !process.isRunning }
        // isRunning turns false from the same waitpid that records the status, but give it a moment.
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// SIGTERM, then SIGKILL when the child has not exited within 3 s.
    func stop() async {
        try? input?.close()
        guard process.isRunning else { return }
        send(signal: SIGTERM)
        if (try? await waitForExit(timeout: .seconds(3))) == nil {
            kill()
        }
    }

    /// SIGKILL, and wait for the child to be gone.
    func kill() {
        guard process.isRunning else { return }
        send(signal: SIGKILL)
        process.waitUntilExit()
    }

    /// The port olla listens on, from its start-up log line (`olla listening address=http://host:port`),
    /// which is how tests learn the port when olla was told `--port 0`.
    func listeningPort(timeout: Duration = .seconds(15)) async throws -> Int {
        var port: Int?
        try await OllaHarness.waitUntil("olla logs its address", timeout: timeout) {
            if !process.isRunning { throw Exited(status: process.terminationStatus, stderr: errorOutput) }
            port = Self.port(inLog: output)
            return port != nil
        }
        return port!
    }

    struct Exited: Error, CustomStringConvertible {
        let status: Int32
        let stderr: String
        var description: String { "olla exited with \(status) before it was ready: \(stderr)" }
    }

    static func port(inLog log: String) -> Int? {
        for line in log.split(separator: "\n") where line.contains("olla listening") {
            guard let range = line.range(of: "address=http://") else { continue }
            let address = line[range.upperBound...].prefix { $0 != " " }
            if let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) {
                return port
            }
        }
        return nil
    }

    /// Waits until `GET /internal/health` answers 200 on `port`, then until every host is healthy.
    func waitUntilServing(port: Int, hosts: Int, timeout: Duration = .seconds(15)) async throws {
        try await OllaHarness.waitUntil(
            "olla on port \(port) answers and sees \(hosts) healthy hosts",
            timeout: timeout
        ) {
            if !process.isRunning { throw Exited(status: process.terminationStatus, stderr: errorOutput) }
            guard let status = try? await fetch(.GET, "http://127.0.0.1:\(port)/internal/status/endpoints"),
                status.status == .ok,
                let healthy = try? status.json()["healthy_count"] as? Int
            else { return false }
            return healthy == hosts
        }
    }
}

// MARK: HTTP from tests to a child process

/// One short-lived client for talking to child processes: a fresh connection pool per request, so a
/// connection kept alive to one olla never counts against another, or keeps a draining olla busy.
func fetch(
    _ method: HTTPMethod,
    _ url: String,
    headers: [(String, String)] = [],
    body: String? = nil,
    timeout: Duration = .seconds(10)
) async throws -> OllaHarness.Response {
    try await withHTTPClient { client in
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await client.execute(request, timeout: .init(timeout))
        let collected = try await response.body.collect(upTo: 16 * 1024 * 1024)
        return OllaHarness.Response(status: response.status, headers: response.headers, body: collected)
    }
}

/// Posts a streamed chat and reads the answer to its end, with the time each part arrived.
func streamChat(_ url: String, model: String) async throws -> OllaHarness.Streamed {
    try await withHTTPClient { client in
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: chatBody(model, stream: true)))
        let clock = ContinuousClock()
        let started = clock.now
        let response = try await client.execute(request, timeout: .seconds(30))
        var parts: [(at: ContinuousClock.Instant, bytes: ByteBuffer)] = []
        do {
            for try await part in response.body {
                parts.append((clock.now, part))
            }
        } catch {
            // A stream cut by the server ends here; what arrived before is the evidence.
        }
        return OllaHarness.Streamed(
            status: response.status,
            headers: response.headers,
            parts: parts,
            startedAt: started
        )
    }
}

/// Runs `body` with an HTTP client of its own and shuts the client down afterwards.
func withHTTPClient<Result: Sendable>(_ body: (HTTPClient) async throws -> Result) async throws -> Result {
    var configuration = HTTPClient.Configuration()
    configuration.timeout.connect = .seconds(3)
    configuration.decompression = .disabled
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    do {
        let result = try await body(client)
        try? await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}

// MARK: Scratch files and simulated hosts

/// Runs `body` with a new empty directory that is removed afterwards.
func withScratchDirectory<Result>(_ body: (URL) async throws -> Result) async throws -> Result {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("olla-ops-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try await body(directory)
}

/// Starts simulated hosts, runs `body`, and stops them afterwards, also when `body` throws.
func withSimulators<Result>(
    _ configurations: [SimulatorConfiguration],
    _ body: ([LMStudioSimulator]) async throws -> Result
) async throws -> Result {
    var hosts: [LMStudioSimulator] = []
    do {
        for configuration in configurations {
            let host = LMStudioSimulator(configuration: configuration)
            try await host.start()
            hosts.append(host)
        }
        let result = try await body(hosts)
        for host in hosts { try? await host.stop() }
        return result
    } catch {
        for host in hosts { try? await host.stop() }
        throw error
    }
}

/// An `endpoints.yaml` for olla in front of `hosts`, with short probe intervals so tests stay short.
func configurationFile(hosts: [LMStudioSimulator], server: String = "") -> String {
    var text = "server:\n  host: 127.0.0.1\n"
    text += server.split(separator: "\n").map { "  \($0)\n" }.joined()
    text += "discovery:\n  static:\n    endpoints:\n"
    for host in hosts {
        text += "      - name: \(host.name)\n"
        text += "        url: http://127.0.0.1:\(host.port)\n"
        text += "        check_interval: 1s\n"
        text += "        check_timeout: 900ms\n"
    }
    return text
}

/// A TCP port that nothing listens on right now (bound and released), for commands that need a port given.
func unusedPort() async throws -> Int {
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .bind(host: "127.0.0.1", port: 0)
        .get()
    let port = channel.localAddress?.port ?? 0
    try await channel.close()
    return port
}

// MARK: Which ports a child listens on

extension OllaProcess {
    /// The TCP ports the child listens on, read from /proc: its socket inodes matched against the kernel's
    /// socket tables. For commands that do not say where they listen.
    var listeningPorts: [Int] {
        let fdDirectory = "/proc/\(pid)/fd"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: fdDirectory)) ?? []
        var inodes: Set<String> = []
        for name in names {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(fdDirectory)/\(name)"),
                target.hasPrefix("socket:[")
            else { continue }
            inodes.insert(String(target.dropFirst("socket:[".count).dropLast()))
        }
        var ports: Set<Int> = []
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let text = (try? String(contentsOfFile: table, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                // sl, local_address, rem_address, st, tx:rx, tr:when, retrnsmt, uid, timeout, inode
                guard fields.count > 9, fields[3] == "0A", inodes.contains(String(fields[9])),
                    let hexPort = fields[1].split(separator: ":").last, let port = Int(hexPort, radix: 16)
                else { continue }
                ports.insert(port)
            }
        }
        return ports.sorted()
    }
}
