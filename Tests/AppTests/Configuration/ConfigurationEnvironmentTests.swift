import Balancer
import Testing

@testable import App

@Suite struct ConfigurationEnvironmentTests {
    private let tokenFile = """
        endpoints:
          - name: a
            url: ${HOST_URL:-http://127.0.0.1:1234}
            auth:
              type: bearer
              token: ${LMSTUDIO_TOKEN}
        """

    @Test func setVariableIsExpandedInsideAValue() throws {
        let result = ConfigurationFixture.load(tokenFile, environment: ["LMSTUDIO_TOKEN": "t0k3n"])
        let configuration = try #require(result.configuration, "\(result.issues)")
        #expect(configuration.endpoints.first?.auth == .bearer(token: "t0k3n"))
    }

    @Test func defaultIsUsedWhenTheVariableIsUnsetOrEmpty() throws {
        for environment in [["LMSTUDIO_TOKEN": "x"], ["LMSTUDIO_TOKEN": "x", "HOST_URL": ""]] {
            let configuration = try #require(
                ConfigurationFixture.load(tokenFile, environment: environment).configuration
            )
            #expect(configuration.endpoints.first?.url.port == 1234)
        }
        let environment = ["LMSTUDIO_TOKEN": "x", "HOST_URL": "http://10.0.0.9:4321"]
        let overridden = try #require(ConfigurationFixture.load(tokenFile, environment: environment).configuration)
        #expect(
            overridden.endpoints.first?.url == EndpointURL(scheme: .http, host: "10.0.0.9", port: 4321, basePath: "")
        )
    }

    @Test func unsetVariableWithoutDefaultIsAnErrorNamingKeyAndVariable() {
        ConfigurationFixture.expectSingleError(
            tokenFile,
            keyPath: "endpoints[0].auth.token",
            line: 6,
            mentioning: ["${LMSTUDIO_TOKEN}", "not set"]
        )
    }

    @Test func expansionCombinesWithTextAndOtherVariables() throws {
        let yaml = "server:\n  host: ${PREFIX}.${SUFFIX:-lan}\n  port: ${PORT}\n"
        let configuration = try #require(
            ConfigurationFixture.load(yaml, environment: ["PREFIX": "olla", "PORT": "8081"]).configuration
        )
        #expect(configuration.server.host == "olla.lan")
        #expect(configuration.server.port == 8081)
    }

    @Test func valueWithLineBreaksOrColonsCannotChangeTheStructureOrTheLines() throws {
        // Expanding over the raw text would turn this token into a new key and shift every later line.
        let token = "line one\nport: 1\n"
        let result = ConfigurationFixture.load(
            tokenFile + "\nserver:\n  port: nope\n",
            environment: ["LMSTUDIO_TOKEN": token]
        )
        // The token stays one value on its own line (refused for its line breaks, which would end the
        // Authorization header early), and the file's later lines keep their numbers.
        #expect(result.errors.map(\.keyPath) == ["endpoints[0].auth.token", "server.port"])
        #expect(result.errors.map(\.line) == [6, 8])
        #expect(result.errors.first?.message.contains("control characters") == true)
        let colons = "a:b: c"
        let configuration = try #require(
            ConfigurationFixture.load(tokenFile, environment: ["LMSTUDIO_TOKEN": colons]).configuration
        )
        #expect(configuration.endpoints.first?.auth == .bearer(token: colons))
    }

    @Test func endpointNameWithALineBreakIsRefused() {
        let yaml = "endpoints:\n  - name: \"a\\r\\nX-Injected: 1\"\n    url: http://localhost:1234\n"
        let result = ConfigurationFixture.load(yaml, environment: [:])
        #expect(result.errors.map(\.keyPath) == ["endpoints[0].name"])
        #expect(result.errors.first?.line == 2)
    }

    @Test func unclosedOrInvalidReferencesAreErrors() {
        ConfigurationFixture.expectSingleError(
            "server:\n  host: ${HOST\n",
            keyPath: "server.host",
            line: 2,
            mentioning: ["unclosed"]
        )
        ConfigurationFixture.expectSingleError(
            "server:\n  host: ${1HOST}\n",
            keyPath: "server.host",
            line: 2,
            mentioning: ["invalid variable name"]
        )
    }

    @Test func expansionFunctionFollowsShellRules() throws {
        let environment = ["SET": "v", "EMPTY": ""]
        #expect(try EnvironmentExpansion.expand("a${SET}b", environment: environment).get() == "avb")
        #expect(try EnvironmentExpansion.expand("${EMPTY}", environment: environment).get() == "")
        #expect(try EnvironmentExpansion.expand("${EMPTY:-d}", environment: environment).get() == "d")
        #expect(try EnvironmentExpansion.expand("${UNSET:-}", environment: environment).get() == "")
        #expect(try EnvironmentExpansion.expand("$SET and $", environment: environment).get() == "$SET and $")
        #expect(throws: ValueProblem.self) {
            try EnvironmentExpansion.expand("${UNSET}", environment: environment).get()
        }
    }
}
