import Balancer
import Testing

@testable import App

@Suite struct ConfigurationWarningTests {
    @Test func unknownKeyIsAWarningWithTheClosestKnownKey() throws {
        let yaml = "server:\n  prot: 8080\n" + ConfigurationFixture.oneEndpoint
        let result = ConfigurationFixture.load(yaml)
        #expect(result.errors.isEmpty)
        #expect(result.warnings.count == 1)
        let warning = try #require(result.warnings.first)
        #expect(warning.keyPath == "server.prot")
        #expect(warning.line == 2)
        #expect(warning.message.contains("did you mean \"port\"?"))
        #expect(warning.description.hasPrefix("warning: line 2: server.prot: unknown key"))
        // A warning does not refuse the file; the unknown key is ignored.
        #expect(result.configuration?.server.port == 40114)
    }

    @Test(arguments: [
        ("check_intervall", "check_interval"), ("helth_check_url", "health_check_url"), ("Priority", "priority"),
        ("max_concurency", "max_concurrency"), ("nmae", "name"),
    ])
    func misspelledEndpointKeysSuggestTheRightOne(typed: String, meant: String) throws {
        let result = ConfigurationFixture.load(ConfigurationFixture.endpoint("\(typed): 1"))
        let warning = try #require(result.warnings.first)
        #expect(warning.keyPath == "endpoints[0].\(typed)")
        #expect(warning.line == 4)
        #expect(warning.message.contains("did you mean \"\(meant)\"?"), "\(warning)")
    }

    @Test func farOffUnknownKeyHasNoSuggestion() throws {
        let result = ConfigurationFixture.load("colour: blue\n" + ConfigurationFixture.oneEndpoint)
        let warning = try #require(result.warnings.first)
        #expect(warning.keyPath == "colour")
        #expect(warning.line == 1)
        #expect(!warning.message.contains("did you mean"))
    }

    @Test func emptyEndpointListWarnsThatEveryModelRequestGets503() throws {
        for yaml in ["endpoints: []\n", "discovery:\n  static:\n    endpoints:\n", "server:\n  port: 1234\n"] {
            let result = ConfigurationFixture.load(yaml)
            #expect(result.errors.isEmpty)
            #expect(result.configuration?.endpoints == [])
            let warning = try #require(result.warnings.first, "\(yaml)")
            #expect(warning.message.contains("503"))
        }
        #expect(ConfigurationFixture.load("endpoints: []\n").warnings.first?.line == 1)
        #expect(ConfigurationFixture.load("endpoints: []\n").warnings.first?.keyPath == "endpoints")
    }

    @Test func ollaKeysWithoutEffectDrawNoWarning() {
        let yaml = """
            server:
              write_timeout: 0s
              request_logging: true
              rate_limits: {anything: [goes, here]}
            proxy:
              engine: sherpa
              profile: auto
              max_retries: 3
              retry_backoff: 500ms
              stream_buffer_size: 8192
            discovery:
              type: static
              refresh_interval: 30s
              model_discovery: {enabled: true}
              static:
                endpoints:
                  - name: a
                    url: http://127.0.0.1:1234
            model_registry: {type: memory}
            logging:
              output: stdout
            engineering:
              show_nerdstats: false
            """
        let result = ConfigurationFixture.load(yaml)
        #expect(result.issues.isEmpty, "\(result.issues)")
    }

    @Test func keySuggestionNeedsACloseMatch() {
        #expect(KeySuggestion.closest(to: "prot", among: ["host", "port"]) == "port")
        #expect(KeySuggestion.closest(to: "hots", among: ["host", "port"]) == "host")
        #expect(KeySuggestion.closest(to: "xyz", among: ["host", "port"]) == nil)
        #expect(KeySuggestion.closest(to: "loadbalancer", among: ["load_balancer", "read_timeout"]) == "load_balancer")
        #expect(KeySuggestion.editDistance(Array("kitten"), Array("sitting")) == 3)
    }
}
