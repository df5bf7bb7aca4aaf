import Balancer
import Testing

@testable import App

/// Each refused value, with the key path and line the error must name.
@Suite struct ConfigurationErrorTests {
    private typealias Fixture = ConfigurationFixture

    // MARK: types

    @Test func textWhereANumberIsNeeded() {
        Fixture.expectSingleError(
            "server:\n  port: forty\n",
            keyPath: "server.port",
            line: 2,
            mentioning: ["number", "forty"]
        )
    }

    @Test func fractionWhereAWholeNumberIsNeeded() {
        Fixture.expectSingleError(
            Fixture.endpoint("priority: 1.5"),
            keyPath: "endpoints[0].priority",
            line: 4,
            mentioning: ["whole number"]
        )
    }

    @Test func listWhereAMapIsNeeded() {
        Fixture.expectSingleError("server:\n  - port: 1\n", keyPath: "server", line: 2, mentioning: ["map", "a list"])
    }

    @Test func mapWhereANumberIsNeeded() {
        Fixture.expectSingleError(
            "proxy:\n  max_queue: {size: 3}\n",
            keyPath: "proxy.max_queue",
            line: 2,
            mentioning: ["number", "a map"]
        )
    }

    @Test func mapWhereTheEndpointListIsNeeded() {
        Fixture.expectSingleError(
            "endpoints:\n  name: a\n  url: http://h:1\n",
            keyPath: "endpoints",
            line: 2,
            mentioning: ["list", "a map"]
        )
    }

    @Test func textWhereABooleanIsNeeded() {
        Fixture.expectSingleError(
            "server:\n  internal_loopback_only: sometimes\n",
            keyPath: "server.internal_loopback_only",
            line: 2,
            mentioning: ["true or false"]
        )
    }

    @Test func fileThatIsAListInsteadOfAMap() {
        Fixture.expectSingleError("- server\n- proxy\n", keyPath: "", line: 1, mentioning: ["map of sections"])
    }

    // MARK: endpoints

    @Test func duplicateEndpointNames() {
        let yaml = """
            endpoints:
              - name: studio
                url: http://10.0.0.1:1234
              - name: other
                url: http://10.0.0.2:1234
              - name: studio
                url: http://10.0.0.3:1234
            """
        Fixture.expectSingleError(yaml, keyPath: "endpoints[2].name", line: 6, mentioning: ["\"studio\"", "line 2"])
    }

    @Test func urlWithoutHTTPScheme() {
        let yaml = "endpoints:\n  - name: a\n    url: localhost:1234\n"
        Fixture.expectSingleError(
            yaml,
            keyPath: "endpoints[0].url",
            line: 3,
            mentioning: ["must start with http:// or https://"]
        )
        let issue = Fixture.load(yaml).issues.first
        #expect(issue?.description == "error: line 3: endpoints[0].url: must start with http:// or https://")
    }

    @Test func urlWithCredentials() {
        let yaml = "endpoints:\n  - name: a\n    url: http://user:pass@10.0.0.1:1234\n"
        Fixture.expectSingleError(yaml, keyPath: "endpoints[0].url", line: 3, mentioning: ["credentials"])
    }

    @Test func urlWithBadPort() {
        let yaml = "endpoints:\n  - name: a\n    url: http://10.0.0.1:99999\n"
        Fixture.expectSingleError(yaml, keyPath: "endpoints[0].url", line: 3, mentioning: ["port"])
    }

    @Test func missingURL() {
        Fixture.expectSingleError(
            "endpoints:\n  - name: a\n    priority: 1\n",
            keyPath: "endpoints[0].url",
            line: 2,
            mentioning: ["missing"]
        )
    }

    @Test func emptyEndpointName() {
        Fixture.expectSingleError(
            "endpoints:\n  - name: \"\"\n    url: http://h:1\n",
            keyPath: "endpoints[0].name",
            line: 2,
            mentioning: ["empty"]
        )
    }

    @Test func missingEndpointName() {
        Fixture.expectSingleError(
            "endpoints:\n  - url: http://h:1\n",
            keyPath: "endpoints[0].name",
            line: 2,
            mentioning: ["missing"]
        )
    }

    @Test func emptyEndpointItem() {
        Fixture.expectSingleError("endpoints:\n  -\n", keyPath: "endpoints[0]", line: 2, mentioning: ["empty"])
    }

    @Test func checkTimeoutNotShorterThanCheckInterval() {
        let yaml = Fixture.endpoint("check_interval: 3s", "check_timeout: 3s")
        Fixture.expectSingleError(
            yaml,
            keyPath: "endpoints[0].check_timeout",
            line: 5,
            mentioning: ["shorter than check_interval"]
        )
    }

    @Test func defaultCheckTimeoutNotShorterThanAShortInterval() {
        let yaml = Fixture.endpoint("check_interval: 1s")
        Fixture.expectSingleError(
            yaml,
            keyPath: "endpoints[0].check_timeout",
            line: 4,
            mentioning: ["2s (the default)"]
        )
    }

    @Test func checkIntervalBelowOneSecond() {
        let yaml = Fixture.endpoint("check_interval: 500ms", "check_timeout: 100ms")
        Fixture.expectSingleError(yaml, keyPath: "endpoints[0].check_interval", line: 4, mentioning: ["at least 1s"])
    }

    @Test func negativePriority() {
        Fixture.expectSingleError(
            Fixture.endpoint("priority: -1"),
            keyPath: "endpoints[0].priority",
            line: 4,
            mentioning: ["negative"]
        )
    }

    @Test func unknownEndpointType() {
        Fixture.expectSingleError(
            Fixture.endpoint("type: ollama"),
            keyPath: "endpoints[0].type",
            line: 4,
            mentioning: ["\"ollama\"", "lm-studio", "openai-compatible"]
        )
    }

    @Test func negativeMaxConcurrency() {
        Fixture.expectSingleError(
            Fixture.endpoint("max_concurrency: -2"),
            keyPath: "endpoints[0].max_concurrency",
            line: 4,
            mentioning: ["negative"]
        )
    }

    @Test func healthCheckURLThatIsNotAPath() {
        Fixture.expectSingleError(
            Fixture.endpoint("health_check_url: v1/models"),
            keyPath: "endpoints[0].health_check_url",
            line: 4,
            mentioning: ["starting with /"]
        )
    }

    @Test func modelURLThatIsNotAPath() {
        Fixture.expectSingleError(
            Fixture.endpoint("model_url: http://h/api/v0/models"),
            keyPath: "endpoints[0].model_url",
            line: 4,
            mentioning: ["starting with /"]
        )
    }

    @Test func unknownAuthType() {
        Fixture.expectSingleError(
            Fixture.endpoint("auth: {type: basic, token: abc}"),
            keyPath: "endpoints[0].auth.type",
            line: 4,
            mentioning: ["\"basic\"", "bearer"]
        )
    }

    @Test func emptyAuthToken() {
        let yaml = Fixture.endpoint("auth:", "  type: bearer", "  token: \"\"")
        Fixture.expectSingleError(yaml, keyPath: "endpoints[0].auth.token", line: 6, mentioning: ["empty"])
    }

    @Test func missingAuthToken() {
        let yaml = Fixture.endpoint("auth:", "  type: bearer")
        Fixture.expectSingleError(yaml, keyPath: "endpoints[0].auth.token", line: 5, mentioning: ["missing"])
    }

    // MARK: server and proxy

    @Test(arguments: [0, 65536, -80])
    func serverPortOutsideTheValidRange(port: Int) {
        Fixture.expectSingleError(
            "server:\n  port: \(port)\n",
            keyPath: "server.port",
            line: 2,
            mentioning: ["between 1 and 65535"]
        )
    }

    @Test func emptyAPIKey() {
        let yaml = "server:\n  api_keys:\n    - good-key\n    - \"\"\n"
        Fixture.expectSingleError(yaml, keyPath: "server.api_keys[1]", line: 4, mentioning: ["empty"])
    }

    @Test func unknownLoadBalancerListsTheAllowedValues() {
        Fixture.expectSingleError(
            "proxy:\n  load_balancer: fastest\n",
            keyPath: "proxy.load_balancer",
            line: 2,
            mentioning: ["\"fastest\"", "priority", "least-connections", "round-robin"]
        )
    }

    @Test func negativeMaxQueue() {
        Fixture.expectSingleError(
            "proxy:\n  max_queue: -1\n",
            keyPath: "proxy.max_queue",
            line: 2,
            mentioning: ["negative"]
        )
    }

    @Test func durationWithoutAUnit() {
        Fixture.expectSingleError(
            "proxy:\n  connection_timeout: 5\n",
            keyPath: "proxy.connection_timeout",
            line: 2,
            mentioning: ["unit", "5s"]
        )
    }

    @Test func zeroTimeout() {
        Fixture.expectSingleError(
            "proxy:\n  read_timeout: 0s\n",
            keyPath: "proxy.read_timeout",
            line: 2,
            mentioning: ["longer than 0s"]
        )
    }

    @Test func sizeWithUnknownUnit() {
        let yaml = "server:\n  request_limits:\n    max_body_size: 1TB\n"
        Fixture.expectSingleError(yaml, keyPath: "server.request_limits.max_body_size", line: 3, mentioning: ["unit"])
    }

    @Test func zeroSize() {
        let yaml = "server:\n  request_limits:\n    max_header_size: 0\n"
        Fixture.expectSingleError(
            yaml,
            keyPath: "server.request_limits.max_header_size",
            line: 3,
            mentioning: ["larger than 0"]
        )
    }

    @Test func discoveryOtherThanStatic() {
        Fixture.expectSingleError(
            "discovery:\n  type: consul\n" + "endpoints: []\n",
            keyPath: "discovery.type",
            line: 2,
            mentioning: ["static"]
        )
    }

    @Test func unknownLogLevelAndFormat() {
        Fixture.expectSingleError(
            "logging:\n  level: verbose\n",
            keyPath: "logging.level",
            line: 2,
            mentioning: ["\"verbose\"", "debug"]
        )
        Fixture.expectSingleError(
            "logging:\n  format: xml\n",
            keyPath: "logging.format",
            line: 2,
            mentioning: ["text or json"]
        )
    }

    @Test func aliasWithoutTargets() {
        Fixture.expectSingleError(
            "model_aliases:\n  phi: []\n",
            keyPath: "model_aliases.phi",
            line: 2,
            mentioning: ["no model ids"]
        )
    }

    // MARK: YAML itself

    @Test func yamlSyntaxErrorNamesLibyamlsLine() {
        let yaml = """
            server:
              port: 40114
                host: localhost
            """
        Fixture.expectSingleError(yaml, keyPath: "", line: 3, mentioning: ["invalid YAML"])
    }

    @Test func unclosedFlowListNamesWhereItStarted() {
        let yaml = "server:\n  api_keys: [a, b\nproxy:\n  max_queue: 1\n"
        let result = Fixture.load(yaml)
        #expect(result.configuration == nil)
        #expect(result.issues.count == 1)
        #expect(result.issues.first?.line != nil)
        #expect(result.issues.first?.message.contains("invalid YAML") == true)
    }

    @Test func secondDocumentInTheFile() {
        Fixture.expectSingleError(
            "server:\n  port: 1\n---\nproxy: {}\n",
            keyPath: "",
            line: 3,
            mentioning: ["second document"]
        )
    }

    @Test func repeatedKeyInOneMap() {
        let yaml = """
            server:
              port: 1
              host: a
              port: 2
            """
        Fixture.expectSingleError(yaml, keyPath: "server.port", line: 4, mentioning: ["repeated key", "line 2"])
    }

    @Test func repeatedKeysAreReportedWithEveryOtherError() {
        let yaml = """
            server:
              port: 1
              "port": 2
              port: 3
            proxy:
              max_queue: -1
            proxy:
              load_balancer: fastest
            endpoints:
              - {name: a, url: "http://h:1", name: b}
            """
        let result = Fixture.load(yaml)
        #expect(result.configuration == nil)
        let errors = result.errors.map { "\($0.line ?? 0) \($0.keyPath)" }
        #expect(
            errors == [
                "3 server.port", "4 server.port", "7 proxy", "8 proxy.load_balancer", "10 endpoints[0].name",
            ],
            "\(result.issues)"
        )
    }

    // MARK: many at once

    @Test func everyErrorOfAFileIsReportedWithItsLine() {
        let yaml = """
            server:
              port: 0
              request_limits:
                max_body_size: lots
            proxy:
              load_balancer: fastest
              queue_timeout: 30
            endpoints:
              - name: a
                url: ftp://h:1
                priority: -5
              - name: a
                url: http://h:2
                check_timeout: 9s
            logging:
              levle: debug
            """
        let result = Fixture.load(yaml)
        #expect(result.configuration == nil)
        let errors = result.errors.map { "\($0.line ?? 0) \($0.keyPath)" }
        #expect(
            errors == [
                "2 server.port",
                "4 server.request_limits.max_body_size",
                "6 proxy.load_balancer",
                "7 proxy.queue_timeout",
                "10 endpoints[0].url",
                "11 endpoints[0].priority",
                "12 endpoints[1].name",
                "14 endpoints[1].check_timeout",
            ],
            "\(result.issues)"
        )
        #expect(result.warnings.map(\.keyPath) == ["logging.levle"])
    }
}
