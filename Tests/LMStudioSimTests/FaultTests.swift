import Foundation
import LMStudioSim
import NIOHTTP1
import Testing

/// Every fault switched on and off again while the host runs.
@Suite struct FaultTests {
    func withHost<T>(
        _ configuration: SimulatorConfiguration = SimulatorConfiguration(name: "sim-f"),
        _ body: (LMStudioSimulator) async throws -> T
    ) async throws -> T {
        try await LMStudioSimulator.withRunning(configuration: configuration, body)
    }

    @Test func refusingConnectionsClosesEverythingThenComesBackOnTheSamePort() async throws {
        try await withHost { host in
            let port = host.port
            let open = try await TestConnection.open(port: port)
            open.send(.GET, "/v1/models")
            #expect(try await open.response().status == .ok)

            try await host.updateFaults { $0.refuseConnections = true }
            #expect(await eventually { open.isClosed })
            #expect(await !canConnect(port: port))

            try await host.updateFaults { $0.refuseConnections = false }
            #expect(host.port == port)
            let response = try await exchange(port: port, .GET, "/v1/models")
            #expect(response.status == .ok)
            // The host closing a connection is not a client leaving.
            #expect(host.stats.clientDisconnects == 0)
        }
    }

    @Test func refusingConnectionsCutsAStreamInProgress() async throws {
        let configuration = SimulatorConfiguration(name: "sim-r", tokensPerAnswer: 50, tokenDelay: .milliseconds(20))
        try await withHost(configuration) { host in
            let connection = try await TestConnection.open(port: host.port)
            connection.send(.POST, "/v1/chat/completions", body: chatBody(stream: true))
            #expect(await eventually { (connection.partialResponse?.events.count ?? 0) >= 1 })
            try await host.updateFaults { $0.refuseConnections = true }
            let response = try await connection.response()
            #expect(!response.complete)
            #expect(response.events.last?.data != "[DONE]")
            #expect(await eventually { host.stats.inFlight == 0 })
            try await host.setFaults(.none)
        }
    }

    @Test func hangHoldsInferenceWithoutAHeadUntilCleared() async throws {
        try await withHost { host in
            try await host.updateFaults { $0.hang = .inference }
            let hung = try await TestConnection.open(port: host.port)
            hung.send(.POST, "/v1/chat/completions", body: chatBody())
            // Model listings are outside the inference scope.
            #expect(try await exchange(port: host.port, .GET, "/v1/models").status == .ok)
            #expect(await !eventually(within: .milliseconds(300)) { hung.hasSeenHead })
            #expect(host.stats.requests == 2)

            try await host.updateFaults { $0.hang = nil }
            let answer = try await hung.response()
            await hung.close()
            #expect(answer.status == .ok)
            #expect(try answer.json()["object"] as? String == "chat.completion")
        }
    }

    @Test func resetInferenceClosesTheConnectionWithoutAnAnswer() async throws {
        try await withHost { host in
            try await host.updateFaults { $0.resetInference = true }
            let connection = try await TestConnection.open(port: host.port)
            connection.send(.POST, "/v1/chat/completions", body: chatBody())
            #expect(await eventually { connection.isClosed })
            #expect(!connection.hasSeenHead)
            // Model listings still answer, so probes keep the host healthy.
            #expect(try await exchange(port: host.port, .GET, "/v1/models").status == .ok)

            try await host.updateFaults { $0.resetInference = false }
            #expect(try await exchange(port: host.port, .POST, "/v1/chat/completions", body: chatBody()).status == .ok)
        }
    }

    @Test func hangWithScopeAllHoldsModelListingsToo() async throws {
        try await withHost { host in
            try await host.updateFaults { $0.hang = .all }
            let hung = try await TestConnection.open(port: host.port)
            hung.send(.GET, "/api/v0/models")
            #expect(await !eventually(within: .milliseconds(300)) { hung.hasSeenHead })
            // Control routes are never affected by faults.
            #expect(try await exchange(port: host.port, .GET, "/_sim/faults").status == .ok)
            await hung.close()
            #expect(await eventually { host.stats.clientDisconnects == 1 })
            try await host.updateFaults { $0.hang = nil }
            #expect(try await exchange(port: host.port, .GET, "/api/v0/models").status == .ok)
        }
    }

    @Test func errorStatusAnswersInferenceOrEverythingWithAJSONError() async throws {
        try await withHost { host in
            try await host.updateFaults { $0.errorStatus = 503 }
            let failed = try await exchange(port: host.port, .POST, "/v1/chat/completions", body: chatBody())
            #expect(failed.status == .serviceUnavailable)
            #expect((try failed.json()["error"] as? [String: Any])?["message"] is String)
            #expect(failed.headers["X-Sim-Host"] == ["sim-f"])
            #expect(try await exchange(port: host.port, .GET, "/v1/models").status == .ok)

            try await host.updateFaults {
                $0.errorStatus = 500
                $0.errorScope = .all
            }
            #expect(try await exchange(port: host.port, .GET, "/v1/models").status == .internalServerError)
            #expect(
                try await exchange(port: host.port, .POST, "/v1/embeddings", body: chatBody()).status
                    == .internalServerError
            )

            try await host.updateFaults { $0.errorStatus = nil }
            #expect(try await exchange(port: host.port, .POST, "/v1/chat/completions", body: chatBody()).status == .ok)
            #expect(try await exchange(port: host.port, .GET, "/v1/models").status == .ok)
        }
    }

    @Test func dropAfterChunksCutsTheStreamWithoutTheTerminatingChunk() async throws {
        try await withHost(SimulatorConfiguration(name: "sim-x", tokensPerAnswer: 10)) { host in
            try await host.updateFaults { $0.dropAfterChunks = 3 }
            let cut = try await exchange(port: host.port, .POST, "/v1/chat/completions", body: chatBody(stream: true))
            #expect(cut.status == .ok)
            #expect(!cut.complete)
            #expect(cut.events.count == 3)
            #expect(!cut.events.contains { $0.data == "[DONE]" })
            #expect(await eventually { host.stats.droppedStreams == 1 && host.stats.inFlight == 0 })
            #expect(host.stats.clientDisconnects == 0)

            try await host.updateFaults { $0.dropAfterChunks = nil }
            let whole = try await exchange(port: host.port, .POST, "/v1/chat/completions", body: chatBody(stream: true))
            #expect(whole.complete)
            #expect(whole.events.count == 13)
            #expect(whole.events.last?.data == "[DONE]")
        }
    }

    @Test func slowModelListingsAnswerAfterTheDelay() async throws {
        try await withHost { host in
            // Long enough that a loaded machine cannot blur "delayed" and "not delayed".
            try await host.updateFaults { $0.modelsDelay = .milliseconds(1000) }
            let started = ContinuousClock.now
            let slow = try await exchange(port: host.port, .GET, "/v1/models")
            #expect(slow.status == .ok)
            #expect(ContinuousClock.now - started >= .milliseconds(980))
            // Inference is not slowed.
            let chatStarted = ContinuousClock.now
            #expect(try await exchange(port: host.port, .POST, "/v1/chat/completions", body: chatBody()).status == .ok)
            #expect(ContinuousClock.now - chatStarted < .milliseconds(900))

            try await host.updateFaults { $0.modelsDelay = .zero }
            let fastStarted = ContinuousClock.now
            #expect(try await exchange(port: host.port, .GET, "/api/v0/models").status == .ok)
            #expect(ContinuousClock.now - fastStarted < .milliseconds(900))
        }
    }

    @Test func failingAndMalformedModelListings() async throws {
        try await withHost { host in
            try await host.updateFaults { $0.modelsStatus = 500 }
            for path in ["/v1/models", "/api/v0/models"] {
                let failed = try await exchange(port: host.port, .GET, path)
                #expect(failed.status == .internalServerError)
                #expect(try failed.json()["error"] is [String: Any])
            }
            try await host.updateFaults {
                $0.modelsStatus = nil
                $0.modelsMalformed = true
            }
            let malformed = try await exchange(port: host.port, .GET, "/api/v0/models")
            #expect(malformed.status == .ok)
            #expect((try? JSONSerialization.jsonObject(with: Data(malformed.body.utf8))) == nil)

            try await host.updateFaults { $0.modelsMalformed = false }
            let healthy = try await exchange(port: host.port, .GET, "/api/v0/models")
            #expect(try healthy.json()["data"] is [[String: Any]])
        }
    }

    @Test func apiV0MissingAnswersLikeAnUnknownPath() async throws {
        try await withHost { host in
            try await host.updateFaults { $0.apiV0Missing = true }
            let missing = try await exchange(port: host.port, .GET, "/api/v0/models")
            #expect(missing.status == .ok)
            #expect(missing.body == #"{"error":"Unexpected endpoint or method. (GET /api/v0/models)"}"#)
            #expect(try await exchange(port: host.port, .GET, "/v1/models").json()["data"] is [[String: Any]])
            try await host.updateFaults { $0.apiV0Missing = false }
            #expect(try await exchange(port: host.port, .GET, "/api/v0/models").json()["data"] is [[String: Any]])
        }
    }

    @Test func modelsAddedRemovedAndChangedAtRunTimeAreListed() async throws {
        try await withHost { host in
            host.addModel(SimulatedModel(id: "publisher/new-model", type: .llm, state: .notLoaded))
            var ids = try await listedIDs(port: host.port)
            #expect(ids == [chatModel, "publisher/new-model"])
            #expect(
                try await exchange(
                    port: host.port,
                    .POST,
                    "/v1/chat/completions",
                    body: chatBody(model: "publisher/new-model")
                ).status == .ok
            )

            #expect(host.setModelState(id: "publisher/new-model", to: .loaded))
            let v0 = try await exchange(port: host.port, .GET, "/api/v0/models").json()
            let added = (v0["data"] as? [[String: Any]])?.first { $0["id"] as? String == "publisher/new-model" }
            #expect(added?["state"] as? String == "loaded")

            host.removeModel(id: chatModel)
            ids = try await listedIDs(port: host.port)
            #expect(ids == ["publisher/new-model"])
            #expect(
                try await exchange(port: host.port, .POST, "/v1/chat/completions", body: chatBody()).status
                    == .badRequest
            )
        }
    }

    func listedIDs(port: Int) async throws -> [String] {
        let json = try await exchange(port: port, .GET, "/v1/models").json()
        return (json["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? []
    }
}
