import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// A headless Chromium that a test drives over the DevTools protocol, to load olla's dashboard as an operator's
/// browser would and read what it shows.
///
/// The protocol runs over a pipe (`--remote-debugging-pipe`: Chromium reads commands on fd 3 and writes on fd
/// 4, each message NUL-terminated JSON), so no port is opened and no WebSocket client is needed. Chromium and
/// the processes it starts share a process group, which ``stop()`` ends by its id.
final class HeadlessChromium: Sendable {
    /// The browser to run: `$OLLA_CHROMIUM` when set (none when it is not an executable), else the first of
    /// Debian's and Google's names on the `PATH`.
    static let executable: String? = {
        let environment = ProcessInfo.processInfo.environment
        if let chosen = environment["OLLA_CHROMIUM"], !chosen.isEmpty {
            return FileManager.default.isExecutableFile(atPath: chosen) ? chosen : nil
        }
        let directories = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        for name in ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"] {
            for directory in directories where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
                return "\(directory)/\(name)"
            }
        }
        return nil
    }()

    static var isAvailable: Bool { executable != nil }

    /// What the page reported that a test may want to fail on: uncaught exceptions, `console.error`, and
    /// errors that the browser logged for the page.
    struct PageProblem: Sendable, CustomStringConvertible {
        var kind: String
        var text: String
        var description: String { "\(kind): \(text)" }
    }

    struct ProtocolError: Error, CustomStringConvertible {
        let description: String
    }

    private struct State {
        var nextID = 1
        var pending: [Int: CheckedContinuation<Data, any Error>] = [:]
        var problems: [PageProblem] = []
        var closed = false
    }

    let pid: pid_t
    private let commands: Int32
    private let profile: URL
    private let state = NIOLockedValueBox(State())
    /// The session of the one tab the test drives.
    private let session = NIOLockedValueBox<String?>(nil)

    private init(pid: pid_t, commands: Int32, events: Int32, profile: URL) {
        self.pid = pid
        self.commands = commands
        self.profile = profile
        let thread = Thread { [state] in Self.readMessages(from: events, into: state) }
        thread.name = "chromium-devtools-reader"
        thread.start()
    }

    /// Starts Chromium with one blank tab, runs `body` with it, and stops Chromium and everything it started,
    /// also when `body` throws.
    static func with<Result>(_ body: (HeadlessChromium) async throws -> Result) async throws -> Result {
        let browser = try await launch()
        do {
            let result = try await body(browser)
            await browser.stop()
            return result
        } catch {
            await browser.stop()
            throw error
        }
    }

    private static func launch() async throws -> HeadlessChromium {
        guard let executable else { throw ProtocolError(description: "no chromium on this machine") }
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("olla-chromium-\(UUID())")
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        let arguments = [
            executable, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
            "--user-data-dir=\(profile.path)", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage", "--mute-audio", "--window-size=1400,1000", "about:blank",
        ]
        // Pipe ends are close-on-exec; dup2 onto 3 and 4 in the child clears that for the two it must keep.
        var toBrowser: [Int32] = [0, 0]
        var fromBrowser: [Int32] = [0, 0]
        // (pipe2 is not exported to Swift by Glibc; a spawn elsewhere in between could inherit them, harmlessly.)
        guard pipe(&toBrowser) == 0, pipe(&fromBrowser) == 0 else {
            throw ProtocolError(description: "pipe failed: errno \(errno)")
        }
        for descriptor in toBrowser + fromBrowser { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toBrowser[0], 3)
        posix_spawn_file_actions_adddup2(&actions, fromBrowser[1], 4)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        // Chromium's own log is noise for a test (D-Bus, GPU); the page's messages come over the protocol.
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        keepDescriptorsFromChild(&actions)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)

        var cArguments: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for argument in cArguments { free(argument) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, &cArguments, environ)
        close(toBrowser[0])
        close(fromBrowser[1])
        guard result == 0 else {
            close(toBrowser[1])
            close(fromBrowser[0])
            throw ProtocolError(description: "cannot start \(executable): error \(result)")
        }
        let browser = HeadlessChromium(pid: pid, commands: toBrowser[1], events: fromBrowser[0], profile: profile)
        do {
            try await browser.openTab()
        } catch {
            await browser.stop()
            throw error
        }
        return browser
    }

    /// Keeps every descriptor above 4 out of the child: NIO's sockets are not close-on-exec, and a simulated
    /// host's listening socket inherited by the browser would keep its port from being bound again.
    private static func keepDescriptorsFromChild(_ actions: inout posix_spawn_file_actions_t) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        // glibc 2.34 and later; not in Swift's Glibc module, which is not compiled with _GNU_SOURCE.
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            let closeFrom = unsafeBitCast(symbol, to: CloseFrom.self)
            if closeFrom(&actions, 5) == 0 { return }
        }
        // Older C libraries: mark what is open now close-on-exec (a descriptor opened meanwhile may leak).
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for descriptor in open.compactMap({ Int32($0) }) where descriptor > 4 {
            _ = fcntl(descriptor, F_SETFD, fcntl(descriptor, F_GETFD) | FD_CLOEXEC)
        }
    }

    private func openTab() async throws {
        let created = try await send("Target.createTarget", ["url": "about:blank"], inSession: false)
        guard let targetID = (created["targetId"] as? String) else {
            throw ProtocolError(description: "no target id in \(created)")
        }
        let attached = try await send(
            "Target.attachToTarget",
            ["targetId": targetID, "flatten": true],
            inSession: false
        )
        guard let sessionID = attached["sessionId"] as? String else {
            throw ProtocolError(description: "no session id in \(attached)")
        }
        session.withLockedValue { $0 = sessionID }
        _ = try await send("Runtime.enable")
        _ = try await send("Log.enable")
        _ = try await send("Page.enable")
    }

    /// Loads `url` in the tab.
    func navigate(to url: String) async throws {
        let answer = try await send("Page.navigate", ["url": url])
        if let failure = answer["errorText"] as? String {
            throw ProtocolError(description: "cannot load \(url): \(failure)")
        }
    }

    /// Runs `expression` in the page and returns its value, which must be JSON text (`JSON.stringify(...)`),
    /// decoded.
    func evaluateJSON(_ expression: String) async throws -> Any {
        let answer = try await send(
            "Runtime.evaluate",
            ["expression": expression, "returnByValue": true, "awaitPromise": true]
        )
        if let exception = answer["exceptionDetails"] {
            throw ProtocolError(description: "the expression threw: \(exception)")
        }
        guard let text = (answer["result"] as? [String: Any])?["value"] as? String else {
            throw ProtocolError(description: "the expression gave no JSON text: \(answer)")
        }
        return try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
    }

    /// Uncaught exceptions, `console.error` calls and browser-logged errors of the page so far.
    var problems: [PageProblem] {
        state.withLockedValue { $0.problems }
    }

    /// Sends one command and waits for its result, at most `timeout`.
    @discardableResult
    func send(
        _ method: String,
        _ parameters: [String: Any] = [:],
        inSession: Bool = true,
        timeout: Duration = .seconds(15)
    ) async throws -> [String: Any] {
        let id = state.withLockedValue { state -> Int in
            defer { state.nextID += 1 }
            return state.nextID
        }
        var message: [String: Any] = ["id": id, "method": method, "params": parameters]
        if inSession, let sessionID = session.withLockedValue({ $0 }) { message["sessionId"] = sessionID }
        var bytes = [UInt8](try JSONSerialization.data(withJSONObject: message))
        bytes.append(0)
        let deadline = Task { [state] in
            try await Task.sleep(for: timeout)
            let waiting = state.withLockedValue { $0.pending.removeValue(forKey: id) }
            waiting?.resume(throwing: ProtocolError(description: "\(method): no answer within \(timeout)"))
        }
        defer { deadline.cancel() }
        let data: Data = try await withCheckedThrowingContinuation { continuation in
            let closed = state.withLockedValue { state -> Bool in
                if !state.closed { state.pending[id] = continuation }
                return state.closed
            }
            if closed {
                continuation.resume(throwing: ProtocolError(description: "\(method): the browser has gone"))
                return
            }
            let written = bytes.withUnsafeBytes { buffer -> Bool in
                var offset = 0
                while offset < buffer.count {
                    let count = write(commands, buffer.baseAddress! + offset, buffer.count - offset)
                    if count <= 0 { return false }
                    offset += count
                }
                return true
            }
            if !written, let waiting = state.withLockedValue({ $0.pending.removeValue(forKey: id) }) {
                waiting.resume(throwing: ProtocolError(description: "\(method): cannot write to the browser"))
            }
        }
        guard let answer = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ProtocolError(description: "\(method): an answer that is not an object")
        }
        if let error = answer["error"] {
            throw ProtocolError(description: "\(method) failed: \(error)")
        }
        return answer["result"] as? [String: Any] ?? [:]
    }

    /// Closes the browser, then ends its whole process group, waits for it, and removes its profile.
    func stop() async {
        _ = try? await send("Browser.close", inSession: false, timeout: .seconds(3))
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(5))
        var status: Int32 = 0
        var reaped = false
        while clock.now < deadline {
            if waitpid(pid, &status, WNOHANG) == pid {
                reaped = true
                break
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        // Whatever is left of it (renderers, the GPU process), and the browser itself if it did not close.
        kill(-pid, SIGKILL)
        if !reaped { waitpid(pid, &status, 0) }
        close(commands)
        try? FileManager.default.removeItem(at: profile)
    }

    // MARK: Reading

    /// Reads NUL-terminated messages until the browser closes its end: answers resume their command,
    /// events about the page's errors are kept.
    private static func readMessages(from descriptor: Int32, into state: NIOLockedValueBox<State>) {
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            pending += chunk[0..<count]
            while let end = pending.firstIndex(of: 0) {
                let message = Data(pending[..<end])
                pending.removeSubrange(...end)
                handle(message, state: state)
            }
        }
        close(descriptor)
        let waiting = state.withLockedValue { state -> [CheckedContinuation<Data, any Error>] in
            state.closed = true
            defer { state.pending = [:] }
            return Array(state.pending.values)
        }
        for continuation in waiting {
            continuation.resume(throwing: ProtocolError(description: "the browser closed the DevTools pipe"))
        }
    }

    private static func handle(_ message: Data, state: NIOLockedValueBox<State>) {
        guard let object = try? JSONSerialization.jsonObject(with: message) as? [String: Any] else { return }
        if let id = object["id"] as? Int {
            let waiting = state.withLockedValue { $0.pending.removeValue(forKey: id) }
            waiting?.resume(returning: message)
            return
        }
        guard let method = object["method"] as? String, let parameters = object["params"] as? [String: Any] else {
            return
        }
        let problem: PageProblem?
        switch method {
        case "Runtime.exceptionThrown":
            let details = parameters["exceptionDetails"] as? [String: Any]
            let exception = details?["exception"] as? [String: Any]
            let text = exception?["description"] as? String ?? details?["text"] as? String ?? "\(parameters)"
            problem = PageProblem(kind: "uncaught exception", text: text)
        case "Runtime.consoleAPICalled" where parameters["type"] as? String == "error":
            let arguments = parameters["args"] as? [[String: Any]] ?? []
            let text = arguments.map { "\($0["value"] ?? $0["description"] ?? "")" }.joined(separator: " ")
            problem = PageProblem(kind: "console.error", text: text)
        case "Log.entryAdded":
            let entry = parameters["entry"] as? [String: Any]
            guard entry?["level"] as? String == "error" else { return }
            let text = "\(entry?["source"] ?? ""): \(entry?["text"] ?? "") \(entry?["url"] ?? "")"
            problem = PageProblem(kind: "browser log", text: text)
        default:
            problem = nil
        }
        if let problem { state.withLockedValue { $0.problems.append(problem) } }
    }
}
