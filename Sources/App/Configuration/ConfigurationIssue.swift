import Balancer

/// One problem found in a configuration file, with where it is.
struct ConfigurationIssue: Sendable, Equatable, CustomStringConvertible {
    /// Whether the problem refuses the file (`error`) or is only reported (`warning`).
    enum Severity: Sendable, Equatable {
        case error
        case warning
    }

    var severity: Severity
    /// Dotted path of the key, with 0-based list indices: `discovery.static.endpoints[1].check_timeout`.
    /// Empty for problems of the file as a whole (unreadable, YAML syntax).
    var keyPath: String
    /// 1-based line of the value (or key) at fault; `nil` when no line applies.
    var line: Int?
    var message: String

    /// Makes an issue.
    init(severity: Severity, keyPath: String, line: Int?, message: String) {
        self.severity = severity
        self.keyPath = keyPath
        self.line = line
        self.message = message
    }

    /// `error: line 12: discovery.static.endpoints[1].url: must start with http:// or https://`
    var description: String {
        var parts = [severity == .error ? "error" : "warning"]
        if let line { parts.append("line \(line)") }
        if !keyPath.isEmpty { parts.append(keyPath) }
        parts.append(message)
        return parts.joined(separator: ": ")
    }
}

/// What loading a configuration produced: the configuration when it is valid, and every issue found.
struct ConfigurationLoadResult: Sendable {
    /// The loaded configuration; `nil` when any issue is an error.
    var configuration: OllaConfiguration?
    /// Every error and warning, in the order of the file.
    var issues: [ConfigurationIssue]

    /// The issues that refuse the file.
    var errors: [ConfigurationIssue] { issues.filter { $0.severity == .error } }

    /// The issues that are only reported.
    var warnings: [ConfigurationIssue] { issues.filter { $0.severity == .warning } }
}
