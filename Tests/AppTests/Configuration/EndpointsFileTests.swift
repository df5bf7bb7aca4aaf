import Balancer
import Foundation
import Testing

@testable import App

/// The repository's `endpoints.yaml`: the default configuration and its documentation.
@Suite struct EndpointsFileTests {
    private static let repositoryFile = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Configuration
        .deletingLastPathComponent()  // AppTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // repository
        .appendingPathComponent("endpoints.yaml").path

    @Test func repositoryFileIsTheBuiltInDefault() throws {
        let result = ConfigurationLoader.load(contentsOfFile: Self.repositoryFile, environment: [:])
        #expect(result.issues.isEmpty, "\(result.issues)")
        #expect(result.configuration == OllaConfiguration.builtInDefault)
    }

    /// Every commented-out key shows its real default: uncommented, the file still loads cleanly and
    /// changes nothing but the two examples (auth and an alias).
    @Test func commentedOutKeysShowTheRealDefaults() throws {
        let text = try String(contentsOfFile: Self.repositoryFile, encoding: .utf8)
        let commentedKey = /^(\s*)# (\s*(?:[a-z_]+:(?: |$)|- ).*)$/
        var uncommentedCount = 0
        let uncommented = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            guard let match = line.wholeMatch(of: commentedKey) else { return String(line) }
            uncommentedCount += 1
            return String(match.1) + String(match.2)
        }.joined(separator: "\n")
        #expect(uncommentedCount >= 25, "the file should document every key; found \(uncommentedCount)")

        let result = ConfigurationLoader.load(yaml: uncommented, environment: ["LMSTUDIO_TOKEN": "t"])
        #expect(result.issues.isEmpty, "\(result.issues)\n\(uncommented)")
        var expected = OllaConfiguration.builtInDefault
        expected.endpoints[0].auth = .bearer(token: "t")
        expected.modelAliases = [ModelAlias(name: "phi", targets: ["phi-3-mini", "microsoft/phi-3-mini-4k-instruct"])]
        #expect(result.configuration == expected)
    }

    @Test func missingFileIsOneErrorNamingThePathAndTheReason() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("olla-no-such-\(UUID()).yaml").path
        let result = ConfigurationLoader.load(contentsOfFile: path, environment: [:])
        #expect(result.configuration == nil)
        let issue = try #require(result.issues.first)
        #expect(result.issues.count == 1)
        #expect(issue.message.contains(path))
        #expect(issue.message.contains("No such file or directory"))
    }

    @Test func directoryIsOneErrorNamingThePathAndTheReason() throws {
        let path = FileManager.default.temporaryDirectory.path
        let result = ConfigurationLoader.load(contentsOfFile: path, environment: [:])
        #expect(result.configuration == nil)
        #expect(result.issues.count == 1)
        #expect(result.issues.first?.message.contains(path) == true)
        #expect(result.issues.first?.message.contains("directory") == true)
    }

    @Test func fileContentsAreLoadedWithTheEnvironment() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("olla-config-\(UUID()).yaml")
        defer { try? FileManager.default.removeItem(at: url) }
        try "endpoints:\n  - name: a\n    url: ${URL}\n".write(to: url, atomically: true, encoding: .utf8)
        let result = ConfigurationLoader.load(contentsOfFile: url.path, environment: ["URL": "http://10.1.1.1:1234"])
        #expect(result.issues.isEmpty, "\(result.issues)")
        #expect(result.configuration?.endpoints.first?.url.host == "10.1.1.1")
    }
}
