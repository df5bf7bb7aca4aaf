import Balancer
import Testing

@testable import App

/// An existing Olla configuration must load unchanged (DESIGN.md section 4).
@Suite struct OllaConfigurationShapeTests {
    /// The shape and keys of Olla's own `config/config.yaml`, with LM Studio hosts in it.
    private static func ollaConfiguration(endpointType: String) -> String {
        """
        # Olla configuration
        server:
          host: "localhost"
          port: 40114
          read_timeout: 20s
          write_timeout: 0s
          shutdown_timeout: 10s
          request_logging: true
          request_limits:
            max_body_size: 52428800
            max_header_size: 524288
          rate_limits:
            global_requests_per_minute: 1000
            per_ip_requests_per_minute: 100
            health_requests_per_minute: 1000
            burst_size: 50
            per_endpoint:
              default_requests_per_minute: 200
            cleanup_interval: 5m
            trust_proxy_headers: false
            trusted_proxy_cidrs: [
              "127.0.0.0/8",
              "10.0.0.0/8"
            ]

        proxy:
          engine: "sherpa"
          profile: "auto"
          connection_timeout: 40s
          response_timeout: 900s
          read_timeout: 300s
          max_retries: 3
          retry_backoff: 500ms
          load_balancer: "least_conn"
          stream_buffer_size: 8192

        discovery:
          type: "static"
          refresh_interval: 30s
          static:
            endpoints:
              - url: "http://localhost:1234"
                name: "local-lm-studio"
                type: "\(endpointType)"
                priority: 100
                model_url: "/api/v0/models"
                health_check_url: "/v1/models"
                check_interval: 5s
                check_timeout: 2s
              - url: "http://192.168.0.10:1234"
                name: "studio-b"
                type: "\(endpointType)"
                priority: 50
                model_url: "/api/v0/models"
                health_check_url: "/v1/models"
                check_interval: 5s
                check_timeout: 2s
          model_discovery:
            enabled: true
            interval: 5m
            timeout: 30s
            concurrent_workers: 5
            retry_attempts: 3
            retry_backoff: 1s

        model_registry:
          type: "memory"
          enable_unifier: true
          unification:
            enabled: true
            stale_threshold: 24h
            cleanup_interval: 10m

        logging:
          level: "info"
          format: "json"
          output: "stdout"

        engineering:
          show_nerdstats: false
        """
    }

    @Test(arguments: ["lm-studio", "lmstudio", "lm_studio"])
    func ollaConfigurationForLMStudioHostsLoadsClean(endpointType: String) throws {
        let result = ConfigurationFixture.load(Self.ollaConfiguration(endpointType: endpointType))
        #expect(result.issues.isEmpty, "\(result.issues)")
        let configuration = try #require(result.configuration)
        #expect(configuration.server.readTimeout == .seconds(20))
        #expect(configuration.server.shutdownTimeout == .seconds(10))
        #expect(configuration.server.maxBodySize == 52_428_800)
        #expect(configuration.server.maxHeaderSize == 524_288)
        #expect(configuration.proxy.connectionTimeout == .seconds(40))
        #expect(configuration.proxy.responseHeaderTimeout == .seconds(900))
        #expect(configuration.proxy.readTimeout == .seconds(300))
        #expect(configuration.proxy.loadBalancer == .leastConnections)
        #expect(configuration.logging.format == .json)
        #expect(configuration.endpoints.map(\.name) == ["local-lm-studio", "studio-b"])
        #expect(configuration.endpoints.map(\.priority) == [100, 50])
        #expect(configuration.endpoints.allSatisfy { $0.type == .lmStudio })
    }

    @Test func ollamaHostsAreRefusedByTypeAndNothingElse() {
        // Olla's shipped example lists Ollama hosts, which olla does not serve.
        let result = ConfigurationFixture.load(Self.ollaConfiguration(endpointType: "ollama"))
        #expect(result.warnings.isEmpty, "\(result.warnings)")
        #expect(
            result.errors.map(\.keyPath) == [
                "discovery.static.endpoints[0].type", "discovery.static.endpoints[1].type",
            ]
        )
        #expect(result.errors.map(\.line) == [44, 52])
    }
}
