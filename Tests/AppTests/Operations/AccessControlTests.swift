import Balancer
import Foundation
import LMStudioSim
import NIOCore
import NIOHTTP1
import Testing

@testable import App
@testable import Proxy

/// Who may call what (DESIGN.md section 4): `server.api_keys` on `/olla/*`, `internal_loopback_only` on
/// `/internal/*` and `/version`.
@Suite(.endToEnd) struct AccessControlTests {
    static func errorCode(_ response: OllaHarness.Response) -> String? {
        ((try? response.json())?["error"] as? [String: Any])?["code"] as? String
    }

    @Test func apiKeysGuardEveryOllaRouteButNotInternalOnes() async throws {
        let hosts = [simHost("studio-a", models: [SimulatedModel(id: "qwen2.5-7b-instruct")])]
        try await OllaHarness.with(hosts: hosts) { configuration, _ in
            configuration.server.apiKeys = ["k1", "k2"]
        } _: { olla in
            let chat = chatBody("qwen2.5-7b-instruct")
            let refused: [[(String, String)]] = [
                [],
                [("Authorization", "Bearer wrong")],
                [("Authorization", "Bearer k1x")],
                [("Authorization", "Bearer k")],
                [("Authorization", "k1")],
                [("Authorization", "Basic k1")],
                [("X-Api-Key", "k1")],
            ]
            for headers in refused {
                for (method, path) in [
                    (HTTPMethod.GET, "/olla/lmstudio/v1/models"), (.GET, "/olla/lm-studio/api/v0/models"),
                    (.GET, "/olla/models"), (.GET, "/olla/models/qwen2.5-7b-instruct"),
                    (.POST, "/olla/lmstudio/v1/chat/completions"),
                ] {
                    let answer = try await olla.request(
                        method,
                        path,
                        headers: headers + [("Content-Type", "application/json")],
                        body: method == .POST ? chat : nil
                    )
                    #expect(answer.status == .unauthorized, "\(method) \(path) with \(headers)")
                    #expect(Self.errorCode(answer) == "unauthorized", "\(path): \(answer.text)")
                    #expect(answer.headers.first(name: "Content-Type")?.hasPrefix("application/json") == true)
                }
            }
            #expect(olla.host("studio-a").stats.requestsByRoute["POST /v1/chat/completions"] == nil)

            for key in ["k1", "k2"] {
                let bearer = [("Authorization", "Bearer \(key)")]
                #expect(try await olla.request(.GET, "/olla/lmstudio/v1/models", headers: bearer).status == .ok)
                #expect(try await olla.request(.GET, "/olla/models", headers: bearer).status == .ok)
                let answer = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chat, headers: bearer)
                #expect(answer.status == .ok, "\(key): \(answer.text)")
                #expect(answer.headers.first(name: "X-Olla-Endpoint") == "studio-a")
            }
            // The client's key is olla's business, not the host's.
            let sent = olla.host("studio-a").recordedRequests.filter { $0.uri == "/v1/chat/completions" }
            #expect(sent.count == 2)
            #expect(sent.allSatisfy { $0.headerValues("Authorization").isEmpty })

            let health = try await olla.request(.GET, "/internal/health")
            #expect(health.status == .ok)
            #expect(health.text.contains("healthy"))
            #expect(try await olla.request(.GET, "/internal/status/endpoints").status == .ok)
            #expect(try await olla.request(.GET, "/version").status == .ok)
        }
    }

    // MARK: internal_loopback_only, through the router (a test can only connect from loopback)

    static func answer(
        _ path: String,
        from client: ClientAddress,
        loopbackOnly: Bool
    ) throws -> (status: HTTPResponseStatus, code: String?) {
        var configuration = OllaConfiguration()
        configuration.server.internalLoopbackOnly = loopbackOnly
        let table = RoutingTable(configuration: configuration)
        let router = OllaRouter(listings: ModelListings(), status: StatusRoutes(table: table, metrics: { "" }))
        let snapshot = table.snapshot
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: ["Host": "olla"])
        guard case .respond(let route) = router.route(head, client: client, snapshot: snapshot) else {
            Issue.record("\(path) is not answered by olla itself")
            return (.notFound, nil)
        }
        let response = route(
            LocalRequest(head: head, body: ByteBuffer(), client: client, requestID: "test", snapshot: snapshot)
        )
        let json = try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
        return (response.status, (json?["error"] as? [String: Any])?["code"] as? String)
    }

    static let internalPaths = [
        "/internal/health", "/internal/status", "/internal/status/endpoints", "/internal/status/models",
        "/internal/metrics", "/version",
    ]

    @Test func internalRoutesRefuseClientsThatAreNotLoopbackByDefault() throws {
        #expect(ServerSettings().internalLoopbackOnly, "the default is loopback only")
        let outsider = ClientAddress(ip: "10.0.0.7", isLoopback: false)
        for path in Self.internalPaths {
            let refused = try Self.answer(path, from: outsider, loopbackOnly: true)
            #expect(refused.status == .forbidden, "\(path)")
            #expect(refused.code == "forbidden", "\(path)")
            let local = try Self.answer(
                path,
                from: ClientAddress(ip: "127.0.0.1", isLoopback: true),
                loopbackOnly: true
            )
            #expect(local.status == .ok, "\(path) from loopback")
        }
        // The model listing is an /olla route: api_keys govern it, not the loopback rule.
        #expect(try Self.answer("/olla/models", from: outsider, loopbackOnly: true).status == .ok)
    }

    @Test func internalRoutesAnswerEveryClientWhenLoopbackOnlyIsOff() throws {
        let outsider = ClientAddress(ip: "10.0.0.7", isLoopback: false)
        for path in Self.internalPaths {
            #expect(try Self.answer(path, from: outsider, loopbackOnly: false).status == .ok, "\(path)")
        }
    }
}
