import Balancer
import Testing

@testable import App

/// Shared steps of the configuration tests.
enum ConfigurationFixture {
    /// The smallest valid endpoint list, for tests about other sections.
    static let oneEndpoint = """
        endpoints:
          - name: a
            url: http://127.0.0.1:1234
        """

    /// Loads `yaml` with the given environment.
    static func load(_ yaml: String, environment: [String: String] = [:]) -> ConfigurationLoadResult {
        ConfigurationLoader.load(yaml: yaml, environment: environment)
    }

    /// Loads `yaml` and expects exactly one issue, an error at `keyPath` on `line` whose message contains
    /// each of `words`; warnings are not allowed either, so a stray one cannot hide, except the one about
    /// an empty endpoint list, which most of these small files have.
    static func expectSingleError(
        _ yaml: String,
        keyPath: String,
        line: Int,
        mentioning words: [String] = [],
        environment: [String: String] = [:],
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let result = load(yaml, environment: environment)
        let issues = result.issues.filter { !$0.message.hasPrefix("no endpoints are configured") }
        #expect(
            result.configuration == nil,
            "a file with an error must give no configuration",
            sourceLocation: sourceLocation
        )
        #expect(issues.count == 1, "issues: \(result.issues)", sourceLocation: sourceLocation)
        guard let issue = issues.first else { return }
        #expect(issue.severity == .error, sourceLocation: sourceLocation)
        #expect(issue.keyPath == keyPath, "\(issue)", sourceLocation: sourceLocation)
        #expect(issue.line == line, "\(issue)", sourceLocation: sourceLocation)
        for word in words {
            #expect(
                issue.message.contains(word),
                "\"\(issue.message)\" should mention \"\(word)\"",
                sourceLocation: sourceLocation
            )
        }
    }

    /// A file with one endpoint whose extra keys are `endpointLines` (indented as endpoint keys).
    /// The endpoint map starts on line 2 and `endpointLines` start on line 4.
    static func endpoint(_ endpointLines: String...) -> String {
        let extra = endpointLines.map { "    \($0)" }.joined(separator: "\n")
        return """
            endpoints:
              - name: a
                url: http://127.0.0.1:1234
            \(extra)
            """
    }
}
