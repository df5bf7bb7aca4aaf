import Foundation

/// `${VAR}` and `${VAR:-default}` in configuration values, replaced from the environment.
///
/// Expansion happens inside each scalar value after the YAML is parsed, never over the raw text, so
/// a variable holding a newline or a `:` cannot change the file's structure or shift its line numbers.
enum EnvironmentExpansion {
    /// Replaces every `${NAME}` and `${NAME:-default}` in `text`.
    ///
    /// `${NAME:-default}` takes the default when `NAME` is unset or empty, as in a POSIX shell;
    /// `${NAME}` with `NAME` unset is refused, because an empty token or URL fails later and less clearly.
    static func expand(_ text: String, environment: [String: String]) -> Result<String, ValueProblem> {
        guard text.contains("${") else { return .success(text) }
        var result = ""
        var rest = Substring(text)
        while let start = rest.range(of: "${") {
            result += rest[rest.startIndex..<start.lowerBound]
            let afterOpen = rest[start.upperBound...]
            guard let close = afterOpen.firstIndex(of: "}") else {
                return .failure(ValueProblem("has an unclosed ${ in \"\(text)\""))
            }
            let inner = afterOpen[afterOpen.startIndex..<close]
            let name: Substring
            let fallback: Substring?
            if let separator = inner.range(of: ":-") {
                name = inner[inner.startIndex..<separator.lowerBound]
                fallback = inner[separator.upperBound...]
            } else {
                name = inner
                fallback = nil
            }
            guard isVariableName(name) else {
                return .failure(ValueProblem("has an invalid variable name in ${\(inner)}"))
            }
            let value = environment[String(name)]
            if let value, !(value.isEmpty && fallback != nil) {
                result += value
            } else if let fallback {
                result += fallback
            } else {
                return .failure(
                    ValueProblem("uses ${\(name)}, which is not set (give a default with ${\(name):-value})")
                )
            }
            rest = afterOpen[afterOpen.index(after: close)...]
        }
        result += rest
        return .success(result)
    }

    private static func isVariableName(_ name: Substring) -> Bool {
        guard let first = name.first, first == "_" || (first.isASCII && first.isLetter) else { return false }
        return name.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
    }
}
