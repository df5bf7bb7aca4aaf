import Balancer
import Testing

@testable import App

@Suite struct ConfigurationDefaultsTests {
    @Test(arguments: ["", "{}", "# only a comment\n", "---\n", "server:\nproxy:\nlogging:\n"])
    func nearlyEmptyFileGivesTheDefaultConfiguration(yaml: String) throws {
        let result = ConfigurationFixture.load(yaml)
        #expect(result.errors.isEmpty, "\(result.issues)")
        let configuration = try #require(result.configuration)
        #expect(configuration == OllaConfiguration())
    }

    @Test func defaultsAreThoseOfTheDesign() throws {
        let configuration = try #require(ConfigurationFixture.load(ConfigurationFixture.oneEndpoint).configuration)
        let server = configuration.server
        #expect(server.host == "localhost")
        #expect(server.port == 40114)
        #expect(server.maxBodySize == 100 * 1024 * 1024)
        #expect(server.maxHeaderSize == 1024 * 1024)
        #expect(server.apiKeys == [])
        #expect(server.internalLoopbackOnly == true)
        #expect(server.shutdownTimeout == .seconds(30))
        #expect(server.readTimeout == .seconds(30))
        #expect(server.idleTimeout == .seconds(75))
        #expect(server.maxConnections == 4096)
        let proxy = configuration.proxy
        #expect(proxy.loadBalancer == .priority)
        #expect(proxy.connectionTimeout == .seconds(5))
        #expect(proxy.responseHeaderTimeout == .seconds(600))
        #expect(proxy.readTimeout == .seconds(300))
        #expect(proxy.maxQueue == 256)
        #expect(proxy.queueTimeout == .seconds(30))
        let endpoint = try #require(configuration.endpoints.first)
        #expect(endpoint.name == "a")
        #expect(endpoint.url == EndpointURL(scheme: .http, host: "127.0.0.1", port: 1234, basePath: ""))
        #expect(endpoint.type == .lmStudio)
        #expect(endpoint.priority == 100)
        #expect(endpoint.healthCheckURL == "/v1/models")
        #expect(endpoint.modelURL == "/api/v0/models")
        #expect(endpoint.checkInterval == .seconds(5))
        #expect(endpoint.checkTimeout == .seconds(2))
        #expect(endpoint.maxConcurrency == 0)
        #expect(endpoint.auth == nil)
        #expect(configuration.modelAliases == [])
        #expect(configuration.logging.level == "info")
        #expect(configuration.logging.format == .text)
    }

    @Test func readsEveryKey() throws {
        let yaml = """
            server:
              host: 0.0.0.0
              port: 8080
              read_timeout: 10s
              idle_timeout: 2m
              max_connections: 100
              shutdown_timeout: 0s
              api_keys: [key-one, "key-two"]
              internal_loopback_only: false
              request_limits:
                max_body_size: 2MB
                max_header_size: 16KB
            proxy:
              load_balancer: round-robin
              connection_timeout: 1500ms
              response_header_timeout: 1m
              read_timeout: 45s
              max_queue: 0
              queue_timeout: 3s
            discovery:
              type: static
              static:
                endpoints:
                  - name: studio-a
                    url: https://studio-a.lan:8443/lmstudio/
                    type: openai-compatible
                    priority: 7
                    health_check_url: /health
                    model_url: /v1/models
                    check_interval: 10s
                    check_timeout: 9s
                    max_concurrency: 4
                    auth: { type: bearer, token: "secret token" }
                  - name: studio-b
                    url: http://[::1]:1234
            model_aliases:
              phi: [phi-3-mini, "microsoft/phi-3-mini-4k-instruct"]
              qwen: qwen2.5-7b-instruct
            logging:
              level: warn
              format: json
            """
        let result = ConfigurationFixture.load(yaml)
        #expect(result.issues.isEmpty, "\(result.issues)")
        let configuration = try #require(result.configuration)

        var server = ServerSettings()
        server.host = "0.0.0.0"
        server.port = 8080
        server.readTimeout = .seconds(10)
        server.idleTimeout = .seconds(120)
        server.maxConnections = 100
        server.shutdownTimeout = .zero
        server.apiKeys = ["key-one", "key-two"]
        server.internalLoopbackOnly = false
        server.maxBodySize = 2 * 1024 * 1024
        server.maxHeaderSize = 16 * 1024
        #expect(configuration.server == server)

        var proxy = ProxySettings()
        proxy.loadBalancer = .roundRobin
        proxy.connectionTimeout = .milliseconds(1500)
        proxy.responseHeaderTimeout = .seconds(60)
        proxy.readTimeout = .seconds(45)
        proxy.maxQueue = 0
        proxy.queueTimeout = .seconds(3)
        #expect(configuration.proxy == proxy)

        #expect(
            configuration.endpoints == [
                EndpointConfiguration(
                    name: "studio-a",
                    url: EndpointURL(scheme: .https, host: "studio-a.lan", port: 8443, basePath: "/lmstudio"),
                    type: .openAICompatible,
                    priority: 7,
                    healthCheckURL: "/health",
                    modelURL: "/v1/models",
                    checkInterval: .seconds(10),
                    checkTimeout: .seconds(9),
                    maxConcurrency: 4,
                    auth: .bearer(token: "secret token")
                ),
                EndpointConfiguration(
                    name: "studio-b",
                    url: EndpointURL(scheme: .http, host: "::1", port: 1234, basePath: "")
                ),
            ]
        )
        #expect(
            configuration.modelAliases == [
                ModelAlias(name: "phi", targets: ["phi-3-mini", "microsoft/phi-3-mini-4k-instruct"]),
                ModelAlias(name: "qwen", targets: ["qwen2.5-7b-instruct"]),
            ]
        )
        #expect(configuration.logging.level == "warning")
        #expect(configuration.logging.format == .json)
    }

    @Test func topLevelEndpointsIsShorthandForStaticDiscovery() throws {
        let nested = """
            discovery:
              static:
                endpoints:
                  - name: a
                    url: http://127.0.0.1:1234
                    priority: 5
            """
        let shorthand = """
            endpoints:
              - name: a
                url: http://127.0.0.1:1234
                priority: 5
            """
        let fromNested = try #require(ConfigurationFixture.load(nested).configuration)
        let fromShorthand = ConfigurationFixture.load(shorthand)
        #expect(fromShorthand.issues.isEmpty, "\(fromShorthand.issues)")
        #expect(fromShorthand.configuration == fromNested)
        #expect(fromNested.endpoints.map(\.priority) == [5])
    }

    @Test func bothEndpointListsAreAnError() {
        let yaml = """
            discovery:
              static:
                endpoints:
                  - name: a
                    url: http://127.0.0.1:1234
            endpoints:
              - name: b
                url: http://127.0.0.1:1235
            """
        ConfigurationFixture.expectSingleError(
            yaml,
            keyPath: "endpoints",
            line: 6,
            mentioning: ["discovery.static.endpoints", "line 4"]
        )
    }

    @Test func olderResponseTimeoutKeyOfOllaSetsTheHeaderTimeoutUnlessOursIsGiven() throws {
        let ollaOnly = try #require(ConfigurationFixture.load("proxy:\n  response_timeout: 900s\n").configuration)
        #expect(ollaOnly.proxy.responseHeaderTimeout == .seconds(900))
        let both = "proxy:\n  response_timeout: 900s\n  response_header_timeout: 20s\n"
        let ours = try #require(ConfigurationFixture.load(both).configuration)
        #expect(ours.proxy.responseHeaderTimeout == .seconds(20))
    }

    @Test(arguments: [
        ("priority", LoadBalancerStrategy.priority),
        ("least-connections", .leastConnections), ("least_conn", .leastConnections),
        ("round-robin", .roundRobin), ("round_robin", .roundRobin),
    ])
    func loadBalancerAcceptsOllaSpellings(text: String, strategy: LoadBalancerStrategy) throws {
        let configuration = try #require(ConfigurationFixture.load("proxy:\n  load_balancer: \(text)\n").configuration)
        #expect(configuration.proxy.loadBalancer == strategy)
    }

    @Test func aliasesKeepTheOrderOfTheFile() throws {
        let yaml = """
            model_aliases:
              zeta: [z]
              alpha: [a, b]
              mid: m
            """
        let configuration = try #require(ConfigurationFixture.load(yaml).configuration)
        #expect(configuration.modelAliases.map(\.name) == ["zeta", "alpha", "mid"])
        #expect(configuration.modelAliases.map(\.targets) == [["z"], ["a", "b"], ["m"]])
    }
}
