import Foundation
import LMStudioSim
import NIOHTTP1

extension TestResponse {
    /// The server-sent events of a 0.4 stream (`event: <name>` then `data: {json}`), with their data decoded.
    var namedEvents: [(name: String, data: [String: Any])] {
        body.components(separatedBy: "\n\n").compactMap { block in
            var name: String?
            var data: [String: Any]?
            for line in block.split(separator: "\n") {
                if line.hasPrefix("event: ") {
                    name = String(line.dropFirst(7))
                } else if line.hasPrefix("data: ") {
                    data = try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as? [String: Any]
                }
            }
            guard let name, let data else { return nil }
            return (name, data)
        }
    }
}

/// A configuration of an LM Studio 0.4 host.
func v04Configuration(
    name: String,
    models: [SimulatedModel] = [SimulatedModel(id: chatModel)],
    tokensPerAnswer: Int = 8,
    tokenDelay: Duration = .zero,
    timeToFirstToken: Duration = .zero,
    loadTime: Duration = .zero,
    responseStoreLimit: Int = 1024,
    promptCache: Bool = false,
    promptTokenCost: Duration = .zero
) -> SimulatorConfiguration {
    SimulatorConfiguration(
        name: name,
        models: models,
        tokensPerAnswer: tokensPerAnswer,
        tokenDelay: tokenDelay,
        timeToFirstToken: timeToFirstToken,
        api: .v0_4,
        loadTime: loadTime,
        responseStoreLimit: responseStoreLimit,
        promptCache: promptCache,
        promptTokenCost: promptTokenCost
    )
}

/// Sends a JSON body and decodes the JSON answer, which must be an object.
func postJSON(port: Int, _ path: String, _ body: String) async throws -> (TestResponse, [String: Any]) {
    let response = try await exchange(port: port, .POST, path, body: body)
    return (response, try response.json())
}

/// `/_sim/stats` over HTTP, as olla's tests read it.
func simStats(port: Int) async throws -> [String: Any] {
    try await exchange(port: port, .GET, "/_sim/stats").json()
}

/// The `loaded_instances` ids of a model in `/api/v1/models`.
func loadedInstanceIDs(port: Int, model: String) async throws -> [String] {
    let listing = try await exchange(port: port, .GET, "/api/v1/models").json()
    let models = (listing["models"] as? [[String: Any]]) ?? []
    let entry = models.first { $0["key"] as? String == model }
    let instances = (entry?["loaded_instances"] as? [[String: Any]]) ?? []
    return instances.compactMap { $0["id"] as? String }
}
