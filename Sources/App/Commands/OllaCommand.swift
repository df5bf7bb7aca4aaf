import ArgumentParser
import Balancer
import Foundation
import Logging

/// `olla`: serve (the default), plus `validate`, `models` and `demo` (DESIGN.md section 3).
@main
struct OllaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "olla",
        abstract: "A load balancer for LM Studio hosts, compatible with Olla's API and configuration.",
        discussion: """
            Without a subcommand, olla serves: it listens on server.host:server.port (default localhost:40114), \
            probes every configured LM Studio host, and proxies /olla/lmstudio/v1/... to the best healthy host \
            that has the requested model. SIGTERM or Ctrl-C drains in-flight requests and exits 0; SIGHUP, or a \
            change of the configuration file, reloads it.
            """,
        subcommands: [Validate.self, Models.self, Demo.self]
    )

    @OptionGroup var options: ServeOptions

    func run() async throws {
        try await options.serve()
    }
}

/// `--config`, shared by serving and `validate`: ArgumentParser lets the root command parse it even after a
/// subcommand's name, so the subcommand must declare the same group to see it.
struct ConfigurationFileOption: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The configuration file (endpoints.yaml).",
            discussion:
                "Default: $OLLA_CONFIG_FILE, else ./endpoints.yaml; with neither, one LM Studio host at http://localhost:1234.",
            valueName: "path"
        )
    )
    var config: String?
}

/// `--host` and `--port`, shared by serving and `demo` (declared by both, as ``ConfigurationFileOption`` is).
struct ListenOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Address to listen on; overrides server.host.", valueName: "host"))
    var host: String?

    @Option(name: .long, help: ArgumentHelp("Port to listen on; overrides server.port.", valueName: "port"))
    var port: Int?

    func validate() throws {
        if let port, !(0...65535).contains(port) {
            throw ValidationError("--port must be between 0 and 65535")
        }
    }
}

/// `--log-level` and `--log-format`, shared by serving and `demo`.
struct LogOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "trace, debug, info, notice, warning, error or critical; overrides logging.level (default info).",
            valueName: "level"
        )
    )
    var logLevel: String?

    @Option(
        name: .long,
        help: ArgumentHelp("text or json; overrides logging.format (default text).", valueName: "format")
    )
    var logFormat: String?

    func validate() throws {
        if let logLevel, Logger.Level(configValue: logLevel) == nil {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        if let logFormat, LineLogHandler.Format(rawValue: logFormat) == nil {
            throw ValidationError("--log-format must be text or json")
        }
    }

    /// Sets up swift-log with ``LineLogHandler``, and the direct output of request lines in the same format.
    func bootstrapLogging(_ settings: LoggingSettings) -> (Logger, RequestLog.DirectOutput) {
        let level = Logger.Level(configValue: logLevel ?? settings.level) ?? .info
        let format =
            logFormat.flatMap(LineLogHandler.Format.init(rawValue:))
            ?? LineLogHandler.Format(rawValue: settings.format.rawValue) ?? .text
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, format: format, level: level) }
        let output = RequestLog.DirectOutput(sink: .standardOutput, format: format, enabled: level <= .info)
        return (Logger(label: "olla"), output)
    }
}

/// The options of serving.
struct ServeOptions: ParsableArguments {
    @OptionGroup var file: ConfigurationFileOption
    @OptionGroup var listen: ListenOptions
    @OptionGroup var log: LogOptions

    var config: String? { file.config }
    var host: String? { listen.host }
    var port: Int? { listen.port }

    /// Loads the configuration, binds, serves until SIGTERM/SIGINT, drains. Exits 1 with one line on stderr
    /// for a bad configuration or an address that cannot be bound.
    func serve() async throws {
        let environment = ProcessInfo.processInfo.environment
        let loaded = try loadConfiguration(environment: environment)
        let (logger, logOutput) = log.bootstrapLogging(loaded.configuration.logging)
        for warning in loaded.warnings {
            logger.warning("configuration: \(warning)")
        }
        let source = OllaApplication.ConfigurationSource(
            path: loaded.path,
            host: host,
            port: port,
            environment: environment
        )
        let application: OllaApplication
        do {
            application = try await OllaApplication.start(
                configuration: loaded.configuration,
                source: source,
                logger: logger,
                logOutput: logOutput
            )
        } catch let error as UpstreamTLS.TrustRootsError {
            failAndExit(error.description)
        } catch {
            let server = source.applyingOverrides(loaded.configuration).server
            failAndExit("cannot listen on \(server.host):\(server.port): \(Self.describe(error))")
        }
        raiseOpenFileLimit()
        logger.info(
            "olla listening",
            metadata: [
                "address": "http://\(application.table.snapshot.configuration.server.host):\(application.port)",
                "config": .string(loaded.path ?? "built-in default"),
                "endpoints": .stringConvertible(loaded.configuration.endpoints.count),
            ]
        )
        try await application.run(handlingSignals: true)
        logger.info("olla stopped")
    }

    struct Loaded {
        var configuration: OllaConfiguration
        var path: String?
        var warnings: [String]
    }

    /// Finds and loads the configuration as DESIGN.md section 3 says.
    func loadConfiguration(environment: [String: String]) throws -> Loaded {
        let explicit = config ?? environment["OLLA_CONFIG_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        let path: String
        if let explicit {
            guard FileManager.default.fileExists(atPath: explicit) else {
                failAndExit("configuration file \(explicit) does not exist")
            }
            path = explicit
        } else if FileManager.default.fileExists(atPath: "endpoints.yaml") {
            path = "endpoints.yaml"
        } else {
            return Loaded(configuration: .builtInDefault, path: nil, warnings: [])
        }
        let result = ConfigurationLoader.load(contentsOfFile: path, environment: environment)
        guard let configuration = result.configuration else {
            let errors = result.errors
            let more = errors.count > 1 ? " (and \(errors.count - 1) more; run `olla validate --config \(path)`)" : ""
            failAndExit("invalid configuration \(path): \(errors.first.map { "\($0)" } ?? "unknown error")\(more)")
        }
        return Loaded(configuration: configuration, path: path, warnings: result.warnings.map(\.description))
    }

    static func describe(_ error: any Error) -> String {
        let text = "\(error)"
        if let range = text.range(of: "Address already in use") { return String(text[range]) }
        return text
    }
}

/// Prints `olla: <message>` on stderr and exits 1: the one-line failure of DESIGN.md section 3.
func failAndExit(_ message: String) -> Never {
    FileHandle.standardError.write(Data("olla: \(message)\n".utf8))
    exit(1)
}

/// Lets olla hold as many sockets as the system allows: every proxied stream needs two.
func raiseOpenFileLimit() {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
    limit.rlim_cur = limit.rlim_max
    _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
}

extension Logger.Level {
    /// Parses a level name, accepting Olla's `warn`.
    init?(configValue: String) {
        switch configValue.lowercased() {
        case "warn": self = .warning
        default: self.init(rawValue: configValue.lowercased())
        }
    }
}
