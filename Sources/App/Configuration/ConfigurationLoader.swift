import Balancer
import Foundation
import Yams

/// Reads `endpoints.yaml` into an ``OllaConfiguration``, reporting every problem with its key and line.
///
/// The file has Olla's shape, so an Olla configuration for LM Studio hosts loads unchanged. Every key
/// is optional; an empty file gives `OllaConfiguration()` (no endpoints). Key paths in messages use
/// 0-based list indices (`discovery.static.endpoints[0].url`) and lines are 1-based.
///
/// Values: durations are Go's syntax (`500ms`, `5s`, `2m`, `1h`, `1m30s`, `1.5s`; units ns, us, ms, s,
/// m, h; a bare number is refused). Sizes are a number of bytes or a number with `B`, `K`/`KB`/`KiB`,
/// `M`/`MB`/`MiB`, `G`/`GB`/`GiB` in any case, powers of 1024 (`1.5MB` works). Inside any value,
/// `${VAR}` is replaced by the environment variable (unset is an error) and `${VAR:-default}` by the
/// variable, or `default` when it is unset or empty.
///
/// | key | default | meaning |
/// | --- | --- | --- |
/// | `server.host` | `localhost` | address to listen on (`0.0.0.0` for every interface) |
/// | `server.port` | `40114` | port to listen on, 1-65535 |
/// | `server.read_timeout` | `30s` | longest a client may take to send one request head and body (Olla's key) |
/// | `server.idle_timeout` | `75s` | how long an idle keep-alive client connection stays open |
/// | `server.max_connections` | `4096` | client connections at once; more are accepted and closed |
/// | `server.shutdown_timeout` | `30s` | on SIGTERM, how long in-flight requests may finish; `0s` allowed |
/// | `server.request_limits.max_body_size` | `100MB` | larger request bodies get 413 |
/// | `server.request_limits.max_header_size` | `1MB` | larger request heads get 431 |
/// | `server.api_keys` | `[]` | when not empty, `/olla/*` needs `Authorization: Bearer <key>` (401 otherwise) |
/// | `server.internal_loopback_only` | `true` | `/internal/*` and `/version` answer loopback clients only |
/// | `proxy.load_balancer` | `priority` | `priority`, `least-connections` or `round-robin` (or `least_conn` ...) |
/// | `proxy.connection_timeout` | `5s` | TCP (and TLS) connect to a host |
/// | `proxy.response_header_timeout` | `10m` | request sent to response head; long: LM Studio may load the model |
/// | `proxy.response_timeout` | - | Olla's name for `response_header_timeout`, used when that key is absent |
/// | `proxy.read_timeout` | `5m` | longest silence inside a response body |
/// | `proxy.max_queue` | `256` | requests waiting for a free host when every candidate is full; `0` = no queue |
/// | `proxy.queue_timeout` | `30s` | longest wait in that queue before 503 |
/// | `discovery.type` | `static` | only `static` (hosts listed here) is supported |
/// | `discovery.static.endpoints` | `[]` | the LM Studio hosts; none is a warning (every model request gets 503) |
/// | `endpoints` | - | shorthand for `discovery.static.endpoints`; giving both is an error |
/// | `endpoints[].name` | required | unique name, reported to clients in `X-Olla-Endpoint` |
/// | `endpoints[].url` | required | `http(s)://host[:port][/base]`; no `user:pass@`, query or fragment |
/// | `endpoints[].type` | `lm-studio` | `lm-studio` or `openai-compatible` (a host without `/api/v0/models`) |
/// | `endpoints[].priority` | `100` | higher wins; hosts of equal priority form a tier; not negative |
/// | `endpoints[].health_check_url` | `/v1/models` | path probed to see that the host is up; starts with `/` |
/// | `endpoints[].model_url` | `/api/v0/models` | path probed for the models and their loaded state; starts with `/` |
/// | `endpoints[].check_interval` | `5s` | time between probes; at least `1s` |
/// | `endpoints[].check_timeout` | `2s` | limit of one probe; shorter than `check_interval` |
/// | `endpoints[].max_concurrency` | `0` | requests at once before the host counts as full; `0` = no limit |
/// | `endpoints[].auth` | none | `{type: bearer, token: ...}` sent to the host; the token must not be empty |
/// | `model_aliases` | `{}` | alias -> list of model ids (or one id), in order of preference |
/// | `logging.level` | `info` | `trace`, `debug`, `info`, `notice`, `warning` (Olla's `warn`), `error`, `critical` |
/// | `logging.format` | `text` | `text` or `json`; `--log-level` and `--log-format` win over both |
///
/// Keys Olla reads that olla accepts without effect, so that an Olla configuration loads without warnings
/// (their values are not checked): `server.write_timeout`, `server.request_logging`, `server.rate_limits`,
/// `proxy.engine`, `proxy.profile`, `proxy.max_retries`, `proxy.retry_backoff`, `proxy.stream_buffer_size`,
/// `discovery.refresh_interval`, `discovery.model_discovery`, `model_registry`, `logging.output`,
/// `engineering`. Any other key is a warning naming it, with the closest known key when it looks like a typo.
///
/// Errors refuse the file (``ConfigurationLoadResult/configuration`` is `nil`): YAML syntax, a key given
/// twice in one map, a value of the wrong type or outside its range, and the rules in the table.
enum ConfigurationLoader {
    /// Loads a configuration from YAML text.
    /// - Parameter environment: the variables `${VAR}` reads, usually `ProcessInfo.processInfo.environment`.
    static func load(yaml: String, environment: [String: String]) -> ConfigurationLoadResult {
        let document: ConfigurationDocument
        switch ConfigurationDocument.compose(yaml) {
        case .success(let composed):
            document = composed
        case .failure(let syntaxError):
            let issue = ConfigurationIssue(
                severity: .error,
                keyPath: "",
                line: syntaxError.line,
                message: syntaxError.message
            )
            return ConfigurationLoadResult(configuration: nil, issues: [issue])
        }
        var reader = ConfigurationReader(environment: environment, renamedKeys: document.renamedKeys)
        let configuration: OllaConfiguration
        // An empty document, or an explicit one with nothing in it (`---`), keeps every default.
        if let root = document.root, !root.isNull {
            configuration = reader.configuration(from: root)
        } else {
            configuration = OllaConfiguration()
            reader.warning(
                "no endpoints are configured; every model request will get 503",
                at: "discovery.static.endpoints",
                line: nil
            )
        }
        // In file order, so the list reads top to bottom; issues about the file as a whole come last.
        let issues = reader.issues.enumerated().sorted { left, right in
            let leftLine = left.element.line ?? .max
            let rightLine = right.element.line ?? .max
            return leftLine != rightLine ? leftLine < rightLine : left.offset < right.offset
        }.map(\.element)
        let hasErrors = issues.contains { $0.severity == .error }
        return ConfigurationLoadResult(configuration: hasErrors ? nil : configuration, issues: issues)
    }

    /// Loads a configuration file; a file that cannot be read gives one error naming the path and the reason.
    /// - Parameter environment: the variables `${VAR}` reads, usually `ProcessInfo.processInfo.environment`.
    static func load(contentsOfFile path: String, environment: [String: String]) -> ConfigurationLoadResult {
        switch readFile(atPath: path) {
        case .success(let text):
            return load(yaml: text, environment: environment)
        case .failure(let problem):
            let issue = ConfigurationIssue(severity: .error, keyPath: "", line: nil, message: problem.message)
            return ConfigurationLoadResult(configuration: nil, issues: [issue])
        }
    }

    /// The file's text, or a sentence saying why it cannot be read (the system's own reason).
    private static func readFile(atPath path: String) -> Result<String, ValueProblem> {
        let descriptor = open(path, O_RDONLY)
        if descriptor < 0 {
            return .failure(ValueProblem("cannot read \(path): \(String(cString: strerror(errno)))"))
        }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(ValueProblem("cannot read \(path): \(String(cString: strerror(errno)))"))
            }
            if count == 0 { break }
            bytes += buffer[0..<count]
        }
        guard let text = String(bytes: bytes, encoding: .utf8) else {
            return .failure(ValueProblem("cannot read \(path): it is not UTF-8 text"))
        }
        return .success(text)
    }
}
