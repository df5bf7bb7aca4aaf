import ArgumentParser
import Dispatch
import Foundation
import LMStudioSim

/// The `lmstudio-sim` command: runs one simulated LM Studio host until SIGINT or SIGTERM.
@main
struct LMStudioSimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lmstudio-sim",
        abstract: "A simulated LM Studio host for tests, benchmarks and demos.",
        discussion: """
            Serves GET /v1/models, GET /api/v0/models, POST /v1/chat/completions,
            POST /v1/completions and POST /v1/embeddings in LM Studio's shapes, and
            control routes: GET|POST /_sim/faults, GET|DELETE /_sim/stats,
            GET|POST /_sim/models, DELETE /_sim/models/<id>, GET /_sim/requests.

            Model syntax (--model, repeatable): ID[:TYPE][:STATE][:MAX_CONTEXT]
              TYPE is llm (default), vlm or embeddings.
              STATE is loaded (default) or not-loaded.
              MAX_CONTEXT is a number of tokens.
              Options start at the first part that is a TYPE or a STATE, so an
              id may contain ':' (qwen2.5-7b-instruct:2).
            Examples:
              --model qwen2.5-7b-instruct
              --model text-embedding-nomic-embed-text-v1.5:embeddings:not-loaded:2048
              --model qwen2-vl-7b-instruct:vlm:not-loaded
            """
    )

    @Option(help: "The port to listen on (0 picks a free one).")
    var port = 1234

    @Option(help: "The address to bind.")
    var host = "127.0.0.1"

    @Option(help: "The host's name, reported in every answer and in the X-Sim-Host header.")
    var name = "lmstudio-sim"

    @Option(name: .customLong("model"), help: "A model the host has (repeatable; see the model syntax below).")
    var models: [String] = []

    @Option(name: .customLong("tokens"), help: "Tokens per answer (a smaller max_tokens wins).")
    var tokensPerAnswer = 8

    @Option(name: .customLong("token-delay-ms"), help: "Milliseconds between two tokens.")
    var tokenDelayMilliseconds = 0

    @Option(name: .customLong("first-token-ms"), help: "Milliseconds before the first token.")
    var firstTokenMilliseconds = 0

    @Option(help: "Inference requests answered at once; more wait in FIFO order (0 = no limit).")
    var maxConcurrent = 0

    @Option(help: "Require 'Authorization: Bearer <token>' on every route except /_sim/*.")
    var authToken: String?

    @Flag(help: "Start with the no_models_loaded fault: inference answers LM Studio's 400 'No models loaded'.")
    var noModelsLoaded = false

    @Option(help: "Also serve the /_sim/* control routes on this port, which stays up while connections are refused.")
    var controlPort: Int?

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard tokensPerAnswer >= 1 else { throw ValidationError("--tokens must be at least 1") }
        guard tokenDelayMilliseconds >= 0, firstTokenMilliseconds >= 0 else {
            throw ValidationError("delays cannot be negative")
        }
        guard maxConcurrent >= 0 else { throw ValidationError("--max-concurrent cannot be negative") }
        for model in models {
            do {
                _ = try SimulatedModel(argument: model)
            } catch {
                throw ValidationError("--\(error.description)")
            }
        }
    }

    func run() async throws {
        let parsedModels = try models.map { try SimulatedModel(argument: $0) }
        let configuration = SimulatorConfiguration(
            name: name,
            host: host,
            port: port,
            models: parsedModels.isEmpty ? [SimulatedModel(id: "qwen2.5-7b-instruct")] : parsedModels,
            tokensPerAnswer: tokensPerAnswer,
            tokenDelay: .milliseconds(tokenDelayMilliseconds),
            timeToFirstToken: .milliseconds(firstTokenMilliseconds),
            maxConcurrentRequests: maxConcurrent,
            authToken: authToken,
            faults: SimulatorFaults(noModelsLoaded: noModelsLoaded),
            controlPort: controlPort
        )
        let simulator = LMStudioSimulator(configuration: configuration)
        let signals = TerminationSignals()
        do {
            try await simulator.start()
        } catch {
            FileHandle.standardError.write(Data("lmstudio-sim: cannot listen on \(host):\(port): \(error)\n".utf8))
            throw ExitCode.failure
        }
        // The first line is the one scripts wait for; written straight to the file descriptor, so a parent
        // process reading a pipe sees it at once.
        var lines = "lmstudio-sim \(name) listening on \(simulator.baseURL)\n"
        if let controlPort = simulator.controlPort {
            lines += "lmstudio-sim \(name) control routes on port \(controlPort)\n"
        }
        FileHandle.standardOutput.write(Data(lines.utf8))
        await signals.wait()
        try await simulator.stop()
    }
}

/// Waits for SIGINT or SIGTERM without blocking a thread.
final class TerminationSignals {
    private let sources: [any DispatchSourceSignal]
    private let stream: AsyncStream<Void>

    init() {
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        self.stream = stream
        sources = [SIGINT, SIGTERM].map { signalNumber in
            // The default action would end the process before the listener is closed.
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { continuation.yield() }
            source.resume()
            return source
        }
    }

    func wait() async {
        for await _ in stream {
            return
        }
    }
}
