import Foundation
import Yams

/// Walks the YAML tree into typed values, collecting every problem with its key path and line
/// instead of stopping at the first.
///
/// Each reading function returns `nil` both when the key is absent and when its value was refused
/// (the refusal is recorded), so the caller keeps the default and goes on to the next key.
struct ConfigurationReader {
    let environment: [String: String]
    /// Placeholder key -> repeated key it stands for (see ``ConfigurationDocument``).
    let renamedKeys: [String: String]
    private(set) var issues: [ConfigurationIssue] = []

    init(environment: [String: String], renamedKeys: [String: String]) {
        self.environment = environment
        self.renamedKeys = renamedKeys
    }

    /// Records an error.
    mutating func error(_ message: String, at keyPath: String, line: Int?) {
        issues.append(ConfigurationIssue(severity: .error, keyPath: keyPath, line: line, message: message))
    }

    /// Records a warning.
    mutating func warning(_ message: String, at keyPath: String, line: Int?) {
        issues.append(ConfigurationIssue(severity: .warning, keyPath: keyPath, line: line, message: message))
    }

    // MARK: Maps and lists

    /// Reads `node` as a map, reporting repeated keys (errors) and keys not in `keys` (warnings).
    /// - Parameter keys: the keys the map may hold; `nil` when any key is allowed (`model_aliases`).
    /// - Returns: `nil` when the node is absent, null, or not a map (an error).
    mutating func map(_ node: Node?, at path: String, keys: ConfigurationKeys?) -> ConfigurationMap? {
        guard let node, !node.isNull else { return nil }
        guard case .mapping(let mapping) = node else {
            error("must be a map of keys, found \(node.kindDescription)", at: path, line: node.line)
            return nil
        }
        var entries: [ConfigurationMap.Entry] = []
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                error("has a key that is \(keyNode.kindDescription), not a name", at: path, line: keyNode.line)
                continue
            }
            let key = renamedKeys[scalar.string] ?? scalar.string
            entries.append(ConfigurationMap.Entry(key: key, keyLine: keyNode.line, value: value))
        }
        let map = ConfigurationMap(path: path, line: node.line, entries: entries)
        reportRepeatedKeys(in: map)
        if let keys {
            reportUnknownKeys(in: map, keys: keys)
        }
        return map
    }

    private mutating func reportRepeatedKeys(in map: ConfigurationMap) {
        var firstLines: [String: Int?] = [:]
        for entry in map.entries {
            if let firstLine = firstLines[entry.key] {
                let first = firstLine.map { " (first given on line \($0))" } ?? ""
                error(
                    "repeated key\(first); a key may appear once in a map",
                    at: map.path(of: entry.key),
                    line: entry.keyLine
                )
            } else {
                firstLines[entry.key] = entry.keyLine
            }
        }
    }

    private mutating func reportUnknownKeys(in map: ConfigurationMap, keys: ConfigurationKeys) {
        let known = Set(keys.all)
        var reported: Set<String> = []
        for entry in map.entries where !known.contains(entry.key) && reported.insert(entry.key).inserted {
            var message = "unknown key, ignored"
            if let suggestion = KeySuggestion.closest(to: entry.key, among: keys.all) {
                message += "; did you mean \"\(suggestion)\"?"
            }
            warning(message, at: map.path(of: entry.key), line: entry.keyLine)
        }
    }

    /// Reads `node` as a list.
    /// - Returns: `nil` when the node is absent, null, or not a list (an error).
    mutating func list(_ node: Node?, at path: String, of expected: String) -> [Node]? {
        guard let node, !node.isNull else { return nil }
        guard case .sequence(let sequence) = node else {
            error("must be a list of \(expected), found \(node.kindDescription)", at: path, line: node.line)
            return nil
        }
        return Array(sequence)
    }

    // MARK: Scalars

    /// The text of a scalar value with `${VAR}` expanded.
    /// - Parameter expected: what the value should be, for the message when it is a map or a list.
    mutating func text(_ node: Node, at path: String, expected: String) -> String? {
        guard case .scalar(let scalar) = node else {
            error("must be \(expected), found \(node.kindDescription)", at: path, line: node.line)
            return nil
        }
        switch EnvironmentExpansion.expand(scalar.string, environment: environment) {
        case .success(let text):
            return text
        case .failure(let problem):
            error(problem.message, at: path, line: node.line)
            return nil
        }
    }

    /// The value of `key` in `map`, read by `parse`; a refusal is recorded with the key's path and line.
    mutating func value<T>(
        _ key: String,
        in map: ConfigurationMap,
        expected: String,
        _ parse: (String) -> Result<T, ValueProblem>
    ) -> T? {
        guard let node = map.value(key) else { return nil }
        return value(of: node, at: map.path(of: key), expected: expected, parse)
    }

    /// The value of `node`, read by `parse`; a refusal is recorded with `path` and the node's line.
    mutating func value<T>(
        of node: Node,
        at path: String,
        expected: String,
        _ parse: (String) -> Result<T, ValueProblem>
    ) -> T? {
        guard let text = text(node, at: path, expected: expected) else { return nil }
        switch parse(text) {
        case .success(let value):
            return value
        case .failure(let problem):
            error(problem.message, at: path, line: node.line)
            return nil
        }
    }

    /// A string value; empty strings are refused unless `allowEmpty`.
    mutating func string(_ key: String, in map: ConfigurationMap, allowEmpty: Bool = false) -> String? {
        value(key, in: map, expected: "text") { text in
            text.isEmpty && !allowEmpty ? .failure(ValueProblem("must not be empty")) : .success(text)
        }
    }

    /// A whole number within `range`.
    mutating func integer(_ key: String, in map: ConfigurationMap, range: ClosedRange<Int>) -> Int? {
        value(key, in: map, expected: "a number") { ValueSyntax.integer($0, range: range) }
    }

    /// `true` or `false` (also `yes`/`no`, `on`/`off`).
    mutating func bool(_ key: String, in map: ConfigurationMap) -> Bool? {
        value(key, in: map, expected: "true or false", ValueSyntax.bool)
    }

    /// A duration of at least `minimum`; by default any duration longer than zero.
    mutating func duration(_ key: String, in map: ConfigurationMap, minimum: Duration = .nanoseconds(1)) -> Duration? {
        value(key, in: map, expected: "a duration such as 5s") { text in
            DurationSyntax.parse(text).flatMap { duration in
                if duration >= minimum { return .success(duration) }
                let floor = minimum == .nanoseconds(1) ? "longer than 0s" : "at least \(DurationSyntax.format(minimum))"
                return .failure(ValueProblem("must be \(floor), found \(text)"))
            }
        }
    }

    /// A size in bytes, larger than zero.
    mutating func size(_ key: String, in map: ConfigurationMap) -> Int? {
        value(key, in: map, expected: "a size such as 100MB") { text in
            SizeSyntax.parse(text).flatMap { bytes in
                bytes > 0 ? .success(bytes) : .failure(ValueProblem("must be larger than 0 bytes, found \(text)"))
            }
        }
    }

    /// A list of non-empty strings; a single string stands for a list of one.
    mutating func strings(_ key: String, in map: ConfigurationMap, of expected: String) -> [String]? {
        guard let node = map.value(key) else { return nil }
        let path = map.path(of: key)
        let items: [(node: Node, path: String)]
        if case .scalar = node {
            items = [(node, path)]
        } else {
            guard let list = list(node, at: path, of: expected) else { return nil }
            items = list.enumerated().map { ($0.element, "\(path)[\($0.offset)]") }
        }
        var result: [String] = []
        for item in items {
            let text = value(of: item.node, at: item.path, expected: expected) { text in
                text.isEmpty ? .failure(ValueProblem("must not be empty")) : .success(text)
            }
            if let text { result.append(text) }
        }
        return result
    }
}

/// Plain scalar syntaxes: whole numbers and booleans.
enum ValueSyntax {
    /// A whole number in `range`; quoted numbers count, so `port: "${PORT}"` works.
    static func integer(_ text: String, range: ClosedRange<Int>) -> Result<Int, ValueProblem> {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let value = Int(trimmed) else {
            if Double(trimmed) != nil {
                return .failure(ValueProblem("must be a whole number, found \(trimmed)"))
            }
            return .failure(ValueProblem("must be a number, found \"\(text)\""))
        }
        guard range.contains(value) else {
            if range.upperBound == .max {
                let floor = range.lowerBound == 0 ? "must not be negative" : "must be at least \(range.lowerBound)"
                return .failure(ValueProblem("\(floor), found \(value)"))
            }
            return .failure(ValueProblem("must be between \(range.lowerBound) and \(range.upperBound), found \(value)"))
        }
        return .success(value)
    }

    /// `true`/`false`, `yes`/`no`, `on`/`off`, in any case.
    static func bool(_ text: String) -> Result<Bool, ValueProblem> {
        switch text.trimmingCharacters(in: .whitespaces).lowercased() {
        case "true", "yes", "on": return .success(true)
        case "false", "no", "off": return .success(false)
        default: return .failure(ValueProblem("must be true or false, found \"\(text)\""))
        }
    }
}
