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
            control routes: GET|POST /_sim/faults, GET|POST /_sim/settings,
            GET|DELETE /_sim/stats, GET|POST /_sim/models, DELETE /_sim/models/<id>,
            GET /_sim/requests.

            With --api 0.4 it speaks LM Studio 0.4 as well: GET /api/v1/models,
            POST /api/v1/chat, POST /v1/responses, POST /v1/messages,
            POST /api/v1/models/load and /api/v1/models/unload; each model instance
            serves `parallel` requests at once (more wait inside the host), a request
            for a model that is not loaded loads a new instance (concurrent first
            requests each load one: key, key:2...; --auto-evict unloads the previous
            just-in-time model), answers can be continued with
            previous_response_id, and --prompt-cache makes the time to first token
            depend on the prompt prefix the chosen slot had cached.

            Model syntax (--model, repeatable): ID[:TYPE][:STATE][:MAX_CONTEXT][:parallel=N]
              TYPE is llm (default), vlm or embeddings.
              STATE is loaded (default) or not-loaded.
              MAX_CONTEXT is a number of tokens.
              parallel=N is how many requests an instance serves at once (0.4; default 4).
              Options start at the first part that is a TYPE, a STATE or parallel=N,
              so an id may contain ':' (qwen2.5-7b-instruct:2).
            Examples:
              --model qwen2.5-7b-instruct
              --model text-embedding-nomic-embed-text-v1.5:embeddings:not-loaded:2048
              --model qwen2-vl-7b-instruct:vlm:not-loaded
              --api 0.4 --model qwen/qwen3-4b:parallel=2 --load-time-ms 3000
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

    @Option(help: "The LM Studio API generation to speak: 0.3 or 0.4.")
    var api = SimulatorAPI.v0_3

    @Option(
        name: .customLong("load-time-ms"),
        help: "0.4: milliseconds a model load takes (just in time or through the API)."
    )
    var loadTimeMilliseconds = 0

    @Flag(
        name: .customLong("no-store-responses"),
        help: "0.4: do not keep answers for previous_response_id (as if every request sent store: false)."
    )
    var noStoreResponses = false

    @Option(help: "0.4: how many answers are kept for previous_response_id; the oldest is forgotten first.")
    var responseStoreLimit = 1024

    @Flag(
        help:
            "0.4: each slot caches its last prompt; time to first token = --first-token-ms + the cost of the uncached prompt tokens."
    )
    var promptCache = false

    @Option(
        name: .customLong("prompt-token-cost-us"),
        help: "0.4 with --prompt-cache: microseconds per prompt token the slot had not cached (a token is ~4 bytes)."
    )
    var promptTokenCostMicroseconds = 0

    @Flag(
        help:
            "0.4: a just-in-time load unloads the models earlier just-in-time loads brought in (LM Studio's auto-evict)."
    )
    var autoEvict = false

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard tokensPerAnswer >= 1 else { throw ValidationError("--tokens must be at least 1") }
        guard tokenDelayMilliseconds >= 0, firstTokenMilliseconds >= 0 else {
            throw ValidationError("delays cannot be negative")
        }
        guard maxConcurrent >= 0 else { throw ValidationError("--max-concurrent cannot be negative") }
        guard loadTimeMilliseconds >= 0, promptTokenCostMicroseconds >= 0 else {
            throw ValidationError("--load-time-ms and --prompt-token-cost-us cannot be negative")
        }
        guard responseStoreLimit >= 1 else { throw ValidationError("--response-store-limit must be at least 1") }
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
            controlPort: controlPort,
            api: api,
            loadTime: .milliseconds(loadTimeMilliseconds),
            storesResponses: !noStoreResponses,
            responseStoreLimit: responseStoreLimit,
            promptCache: promptCache,
            promptTokenCost: .microseconds(promptTokenCostMicroseconds),
            autoEvict: autoEvict
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

extension SimulatorAPI: ExpressibleByArgument {}
