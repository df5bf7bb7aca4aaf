import Balancer
import Foundation
import LMStudioSim
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import App

/// `https://` hosts (LM Studio behind a TLS proxy): probes and requests go over swift-nio-ssl, trusting the
/// system's roots or those of `SSL_CERT_FILE`.
@Suite(.serialized, .endToEnd) struct HTTPSHostTests {
    /// A certificate for 127.0.0.1 (its own authority) and its key, in Tests/AppTests/Fixtures.
    static func fixture(_ name: String, filePath: String = #filePath) -> String {
        URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures").appendingPathComponent(name).path
    }

    static let certificate = fixture("loopback-cert.pem")

    static var host: SimulatorConfiguration {
        var host = simHost("secure", models: [SimulatedModel(id: "m")], tokens: 5, tokenDelay: .milliseconds(20))
        host.tls = SimulatorTLS(certificateChainPath: certificate, privateKeyPath: fixture("loopback-key.pem"))
        return host
    }

    static func useHTTPS(_ configuration: inout OllaConfiguration, _ hosts: [LMStudioSimulator]) {
        configuration.endpoints[0].url = EndpointURL(
            scheme: .https,
            host: "127.0.0.1",
            port: hosts[0].port,
            basePath: ""
        )
    }

    @Test func httpsHostIsProbedAndServesPlainAndStreamedChats() async throws {
        try await OllaHarness.with(
            hosts: [Self.host],
            environment: ["SSL_CERT_FILE": Self.certificate],
            configure: Self.useHTTPS
        ) { olla in
            #expect(olla.host("secure").baseURL.hasPrefix("https://"))
            let plain = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("m"))
            #expect(plain.status == .ok)
            #expect(plain.headers.first(name: "X-Olla-Endpoint") == "secure")
            #expect(try plain.json()["object"] as? String == "chat.completion")

            let streamed = try await olla.stream(
                "/olla/lmstudio/v1/chat/completions",
                json: chatBody("m", stream: true)
            )
            #expect(streamed.status == .ok)
            #expect(streamed.events.last == "[DONE]")
            #expect(streamed.parts.count > 1, "streamed part by part over TLS too")
            #expect(olla.host("secure").stats.requestsByRoute["POST /v1/chat/completions"] == 2)
        }
    }

    /// Without the private authority the certificate is not trusted: the probe fails with the reason, and
    /// nothing is sent to the host.
    @Test func untrustedCertificateMakesTheHostUnhealthy() async throws {
        try await OllaHarness.with(hosts: [Self.host], waitForHealthy: false, configure: Self.useHTTPS) { olla in
            try await olla.waitUntil("the probe fails") {
                olla.endpoint("secure").status.isRoutable == false && olla.endpoint("secure").status != .unknown
            }
            let reason = olla.endpoint("secure").health.lastError ?? ""
            #expect(
                reason.localizedCaseInsensitiveContains("certificate"),
                "the reason names the certificate: \(reason)"
            )
            let answer = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("m"))
            #expect(answer.status == .serviceUnavailable)
            #expect(olla.host("secure").stats.requestsByRoute["POST /v1/chat/completions"] == nil)
        }
    }

    @Test func unreadableTrustRootsFileFailsAtStartUpWithItsName() async throws {
        await #expect(throws: UpstreamTLS.TrustRootsError.self) {
            try await OllaHarness.with(
                hosts: [Self.host],
                environment: ["SSL_CERT_FILE": "/nonexistent/roots.pem"],
                configure: Self.useHTTPS
            ) { _ in }
        }
        do {
            _ = try UpstreamTLS.configuration(environment: ["SSL_CERT_FILE": "/nonexistent/roots.pem"])
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("/nonexistent/roots.pem"))
        }
    }

    /// A host that accepts the TCP connection and never answers the TLS handshake: `connection_timeout` bounds
    /// the handshake too, and the request moves to the next host instead of waiting for the response head.
    @Test func tlsHandshakeThatNeverEndsFailsOverWithinConnectionTimeout() async throws {
        let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { $0.eventLoop.makeSucceededVoidFuture() }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        defer { silent.close(promise: nil) }
        let port = try #require(silent.localAddress?.port)
        let mute = try await TimeoutTests.failOverFromUnresponsiveHost(
            at: EndpointURL(scheme: .https, host: "127.0.0.1", port: port, basePath: "")
        )
        #expect(mute.status == .offline)
        #expect(mute.health.lastError?.contains("TLS handshake") == true, "\(mute.health.lastError ?? "")")
    }
}
