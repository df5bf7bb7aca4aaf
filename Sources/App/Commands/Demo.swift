import ArgumentParser
import Balancer
import Foundation
import LMStudioSim
import Logging

/// `olla demo`: three simulated LM Studio hosts and olla in front of them, in one process, to try olla on a
/// machine without LM Studio and watch failover by stopping and starting hosts from the terminal.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run olla in front of three simulated LM Studio hosts, to try it without LM Studio.",
        discussion: """
            Prints the URLs and curl commands to try. Type `kill <host>`, `revive <host>`, `status` or `quit` \
            (or press Ctrl-C) while it runs.
            """
    )

    /// `--host`/`--port`, shared with the root command (see ``ConfigurationFileOption`` for why).
    @OptionGroup var listen: ListenOptions
    @OptionGroup var log: LogOptions

    @Option(
        name: .long,
        help: ArgumentHelp("Milliseconds between streamed tokens of the simulated hosts.", valueName: "ms")
    )
    var tokenDelay: Int = 60

    func run() async throws {
        let (logger, logOutput) = log.bootstrapLogging(LoggingSettings())
        let delay = Duration.milliseconds(tokenDelay)
        let qwen = "qwen2.5-7b-instruct"
        let llama = "meta-llama-3.1-8b-instruct"
        func host(_ name: String, _ models: [SimulatedModel]) -> LMStudioSimulator {
            LMStudioSimulator(
                configuration: SimulatorConfiguration(
                    name: name,
                    models: models,
                    tokensPerAnswer: 24,
                    tokenDelay: delay
                )
            )
        }
        let hosts = [
            host(
                "studio-a",
                [
                    SimulatedModel(id: qwen, state: .loaded, maxContextLength: 32768),
                    SimulatedModel(id: "text-embedding-nomic-embed-text-v1.5", type: .embeddings, state: .loaded),
                ]
            ),
            host(
                "studio-b",
                [
                    SimulatedModel(id: qwen, state: .notLoaded, maxContextLength: 32768),
                    SimulatedModel(id: llama, state: .loaded, maxContextLength: 131072),
                ]
            ),
            host(
                "studio-c",
                [
                    SimulatedModel(id: qwen, state: .loaded, maxContextLength: 32768),
                    SimulatedModel(id: llama, state: .notLoaded, maxContextLength: 131072),
                ]
            ),
        ]
        for host in hosts { try await host.start() }
        let priorities = [200, 100, 50]
        var configuration = OllaConfiguration()
        configuration.server.host = listen.host ?? "localhost"
        configuration.server.port = listen.port ?? 40114
        configuration.endpoints = zip(hosts, priorities).map { host, priority in
            EndpointConfiguration(
                name: host.name,
                url: EndpointURL(scheme: .http, host: "127.0.0.1", port: host.port, basePath: ""),
                priority: priority,
                checkInterval: .seconds(2),
                checkTimeout: .seconds(1)
            )
        }
        configuration.modelAliases = [ModelAlias(name: "qwen", targets: ["qwen2.5-7b-instruct"])]
        let source = OllaApplication.ConfigurationSource(path: nil, host: nil, port: nil, environment: [:])
        let application: OllaApplication
        do {
            application = try await OllaApplication.start(
                configuration: configuration,
                source: source,
                logger: logger,
                logOutput: logOutput
            )
        } catch {
            for host in hosts { try? await host.stop() }
            let address = "\(configuration.server.host):\(configuration.server.port)"
            failAndExit("cannot listen on \(address): \(ServeOptions.describe(error)); try --port")
        }
        // Through the log sink rather than print(): stdout may be a pipe, where print() would keep it buffered.
        LogSink.standardOutput.write(Self.banner(port: application.port, hosts: hosts, priorities: priorities) + "\n")
        let console = Task { await Self.readCommands(hosts: hosts, application: application) }
        try await application.run(handlingSignals: true)
        console.cancel()
        for host in hosts { try? await host.stop() }
    }

    static func banner(port: Int, hosts: [LMStudioSimulator], priorities: [Int]) -> String {
        let base = "http://localhost:\(port)"
        var lines = ["", "olla demo: olla on \(base), in front of three simulated LM Studio hosts:"]
        for (host, priority) in zip(hosts, priorities) {
            let models = host.models.map { "\($0.id) (\($0.state.rawValue))" }.joined(separator: ", ")
            lines.append("  \(host.name)  \(host.baseURL)  priority \(priority)  \(models)")
        }
        lines += [
            "",
            "Dashboard: \(base)/internal/ui/   (open it in a browser; it refreshes every 2 s)",
            "",
            "Try:",
            "  curl -s \(base)/olla/lmstudio/v1/models",
            "  curl -s \(base)/olla/models",
            "  curl -si \(base)/olla/lmstudio/v1/chat/completions -H 'Content-Type: application/json' \\",
            "       -d '{\"model\":\"qwen\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}'",
            "  curl -sN \(base)/olla/lmstudio/v1/chat/completions -H 'Content-Type: application/json' \\",
            "       -d '{\"model\":\"qwen2.5-7b-instruct\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}'",
            "  curl -s \(base)/internal/status/endpoints",
            "",
            "Type `kill studio-a` and send the chat again: it fails over to studio-b, the next priority (X-Olla-Endpoint says so).",
            "The dashboard shows studio-a offline within a few seconds, and the traffic moving to the other hosts.",
            "`revive studio-a` brings it back; `status` lists the hosts; `quit` or Ctrl-C stops.",
            "",
        ]
        return lines.joined(separator: "\n")
    }

    static func readCommands(hosts: [LMStudioSimulator], application: OllaApplication) async {
        while !Task.isCancelled, let line = await Self.readLine() {
            let words = line.split(separator: " ").map(String.init)
            guard let command = words.first else { continue }
            let host = words.count > 1 ? hosts.first { $0.name == words[1] } : nil
            switch command {
            case "kill" where host != nil:
                try? await host!.updateFaults { $0.refuseConnections = true }
                say("\(host!.name) is down (connections refused)")
            case "revive" where host != nil:
                try? await host!.updateFaults { $0.refuseConnections = false }
                say("\(host!.name) is back")
            case "status":
                for endpoint in application.table.snapshot.endpoints {
                    say(
                        "  \(endpoint.name): \(endpoint.status), \(endpoint.inFlight.load(ordering: .relaxed)) in flight"
                    )
                }
            case "quit", "exit":
                await application.shutdown()
                return
            default:
                say(
                    "commands: kill <host>, revive <host>, status, quit   (hosts: \(hosts.map(\.name).joined(separator: ", ")))"
                )
            }
        }
    }

    /// Answers the person at the terminal, in order with the log lines.
    static func say(_ text: String) {
        LogSink.standardOutput.write(text + "\n")
    }

    /// Reads one line of stdin without blocking the cooperative pool.
    static func readLine() async -> String? {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: Swift.readLine())
            }
        }
    }
}
