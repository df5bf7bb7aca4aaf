import Foundation
import LMStudioSim
import NIOHTTP1
import Testing

/// The `/_sim/*` routes, recorded requests and the simulator's lifecycle.
@Suite struct ControlTests {
    @Test func faultsAreSwitchedOverHTTP() async throws {
        try await LMStudioSimulator.withRunning(configuration: SimulatorConfiguration(name: "sim-c")) { host in
            let port = host.port
            let set = try await exchange(
                port: port,
                .POST,
                "/_sim/faults",
                body: #"{"error_status":503,"hang":"none","models_delay_ms":5}"#
            )
            #expect(set.status == .ok)
            #expect(try set.json()["error_status"] as? Int == 503)
            #expect(host.faults.errorStatus == 503)
            #expect(host.faults.modelsDelay == .milliseconds(5))
            #expect(
                try await exchange(port: port, .POST, "/v1/chat/completions", body: chatBody()).status
                    == .serviceUnavailable
            )

            // Keys left out stay as they are.
            _ = try await exchange(port: port, .POST, "/_sim/faults", body: #"{"models_malformed":true}"#)
            #expect(host.faults.errorStatus == 503 && host.faults.modelsMalformed)
            let current = try await exchange(port: port, .GET, "/_sim/faults").json()
            #expect(current["models_malformed"] as? Bool == true)
            #expect(current["error_status"] as? Int == 503)

            let unknownKey = try await exchange(port: port, .POST, "/_sim/faults", body: #"{"explode":true}"#)
            #expect(unknownKey.status == .badRequest)
            let badValue = try await exchange(port: port, .POST, "/_sim/faults", body: #"{"hang":"sometimes"}"#)
            #expect(badValue.status == .badRequest)

            _ = try await exchange(port: port, .POST, "/_sim/faults", body: #"{"reset":true,"drop_after_chunks":2}"#)
            #expect(host.faults == SimulatorFaults(dropAfterChunks: 2))
            _ = try await exchange(port: port, .POST, "/_sim/faults", body: #"{"drop_after_chunks":null}"#)
            #expect(host.faults == .none)
        }
    }

    @Test func refusingOverHTTPAnswersFirstAndTheControlPortStaysUp() async throws {
        let configuration = SimulatorConfiguration(name: "sim-p", controlPort: 0)
        try await LMStudioSimulator.withRunning(configuration: configuration) { host in
            let controlPort = try #require(host.controlPort)
            #expect(controlPort != host.port)
            let refused = try await exchange(
                port: host.port,
                .POST,
                "/_sim/faults",
                body: #"{"refuse_connections":true}"#
            )
            #expect(refused.status == .ok)
            #expect(await eventually { await !canConnect(port: host.port) })
            // The control listener answers control routes only.
            #expect(try await exchange(port: controlPort, .GET, "/v1/models").status == .notFound)
            let back = try await exchange(
                port: controlPort,
                .POST,
                "/_sim/faults",
                body: #"{"refuse_connections":false}"#
            )
            #expect(back.status == .ok)
            #expect(await eventually { await canConnect(port: host.port) })
            #expect(try await exchange(port: host.port, .GET, "/v1/models").status == .ok)
        }
    }

    @Test func modelsAreAddedAndRemovedOverHTTP() async throws {
        try await LMStudioSimulator.withRunning(configuration: SimulatorConfiguration(name: "sim-m")) { host in
            let port = host.port
            let added = try await exchange(
                port: port,
                .POST,
                "/_sim/models",
                body:
                    #"{"id":"nomic-ai/embed/v1.5","type":"embeddings","state":"not-loaded","max_context_length":4096}"#
            )
            #expect(added.status == .ok)
            let model = try #require(host.models.first { $0.id == "nomic-ai/embed/v1.5" })
            #expect(model.type == .embeddings && model.state == .notLoaded && model.maxContextLength == 4096)
            #expect(model.publisher == "nomic-ai")

            let replaced = try await exchange(
                port: port,
                .POST,
                "/_sim/models",
                body: #"{"id":"nomic-ai/embed/v1.5","type":"embeddings"}"#
            )
            #expect(replaced.status == .ok)
            #expect(host.models.count == 2)
            #expect(host.models.last?.state == .loaded)

            // Ids may contain '/'.
            #expect(try await exchange(port: port, .DELETE, "/_sim/models/nomic-ai/embed/v1.5").status == .ok)
            #expect(host.models.map(\.id) == [chatModel])
            #expect(try await exchange(port: port, .DELETE, "/_sim/models/nomic-ai/embed/v1.5").status == .notFound)
            #expect(
                try await exchange(port: port, .POST, "/_sim/models", body: #"{"type":"llm"}"#).status == .badRequest
            )
        }
    }

    @Test func statsCountRoutesButNeverControlRequests() async throws {
        try await LMStudioSimulator.withRunning(configuration: SimulatorConfiguration(name: "sim-n")) { host in
            let port = host.port
            _ = try await exchange(port: port, .GET, "/v1/models")
            _ = try await exchange(port: port, .POST, "/v1/chat/completions", body: chatBody())
            _ = try await exchange(port: port, .POST, "/v1/chat/completions", body: chatBody())
            _ = try await exchange(port: port, .GET, "/_sim/faults")
            let stats = try await exchange(port: port, .GET, "/_sim/stats").json()
            #expect(stats["requests"] as? Int == 3)
            #expect(stats["completed"] as? Int == 3)
            let byRoute = try #require(stats["requests_by_route"] as? [String: Int])
            #expect(byRoute == ["GET /v1/models": 1, "POST /v1/chat/completions": 2])
            #expect(host.stats.requestsByRoute == byRoute)
            #expect(host.recordedRequests.count == 3)

            let reset = try await exchange(port: port, .DELETE, "/_sim/stats").json()
            #expect(reset["requests"] as? Int == 0)
            #expect(host.stats.requests == 0)
            #expect(host.recordedRequests.isEmpty)
        }
    }

    @Test func recordsRequestsExactlyAsReceived() async throws {
        try await LMStudioSimulator.withRunning(configuration: SimulatorConfiguration(name: "sim-rec")) { host in
            let body = #"{"model":"\#(chatModel)","messages":[{"role":"user","content":"héllo"}]}"#
            let request =
                "POST /v1/chat/completions?trace=1 HTTP/1.1\r\n" + "Host: 127.0.0.1\r\n"
                + "X-Olla-Request-ID: abc-123\r\n" + "content-TYPE: application/json\r\n"
                + "X-Forwarded-For: 10.0.0.1\r\n" + "X-Forwarded-For: 10.0.0.2\r\n"
                + "Content-Length: \(body.utf8.count)\r\n" + "Connection: close\r\n\r\n" + body
            let answer = try await rawExchange(port: host.port, Array(request.utf8))
            #expect(answer.hasPrefix("HTTP/1.1 200 OK"))
            #expect(answer.lowercased().contains("connection: close"))

            let recorded = try #require(host.recordedRequests.last)
            #expect(recorded.method == "POST")
            #expect(recorded.uri == "/v1/chat/completions?trace=1")
            #expect(
                recorded.headers.map(\.0) == [
                    "Host", "X-Olla-Request-ID", "content-TYPE", "X-Forwarded-For", "X-Forwarded-For", "Content-Length",
                    "Connection",
                ]
            )
            #expect(recorded.headerValues("x-forwarded-for") == ["10.0.0.1", "10.0.0.2"])
            #expect(recorded.body == Array(body.utf8))

            let overHTTP = try await exchange(port: host.port, .GET, "/_sim/requests")
            let list = try #require(
                try JSONSerialization.jsonObject(with: Data(overHTTP.body.utf8)) as? [[String: Any]]
            )
            #expect(list.last?["uri"] as? String == "/v1/chat/completions?trace=1")
            #expect(list.last?["body"] as? String == body)
        }
    }

    @Test func keepsOnlyTheLast64Requests() async throws {
        try await LMStudioSimulator.withRunning(configuration: SimulatorConfiguration(name: "sim-64")) { host in
            let connection = try await TestConnection.open(port: host.port)
            for index in 0..<70 {
                connection.send(.GET, "/probe/\(index)")
            }
            for _ in 0..<70 {
                _ = try await connection.response()
            }
            await connection.close()
            let uris = host.recordedRequests.map(\.uri)
            #expect(uris.count == 64)
            #expect(uris.first == "/probe/6")
            #expect(uris.last == "/probe/69")
        }
    }

    @Test func stopClosesConnectionsAndIsIdempotent() async throws {
        let host = LMStudioSimulator(
            configuration: SimulatorConfiguration(name: "sim-stop", timeToFirstToken: .seconds(30))
        )
        try await host.start()
        let port = host.port
        #expect(port > 0)
        #expect(host.baseURL == "http://127.0.0.1:\(port)")
        let waiting = try await TestConnection.open(port: port)
        waiting.send(.POST, "/v1/chat/completions", body: chatBody())
        #expect(await eventually { host.stats.inFlight == 1 })
        try await host.stop()
        #expect(await eventually { waiting.isClosed })
        #expect(await !canConnect(port: port))
        try await host.stop()
        await #expect(throws: SimulatorError.stopped) { try await host.start() }
        #expect(host.stats.clientDisconnects == 0)
    }

    @Test func startsRefusingWhenConfiguredSoAndComesUpLater() async throws {
        let configuration = SimulatorConfiguration(name: "sim-late", faults: SimulatorFaults(refuseConnections: true))
        try await LMStudioSimulator.withRunning(configuration: configuration) { host in
            #expect(host.port > 0)
            #expect(await !canConnect(port: host.port))
            try await host.setFaults(.none)
            #expect(try await exchange(port: host.port, .GET, "/v1/models").status == .ok)
        }
    }
}
