import NIOCore

/// The models of a host as an immutable value, with both listing bodies encoded once.
///
/// The handlers read it on every request; a change of models builds a new catalog.
final class ModelCatalog: Sendable {
    let models: [SimulatedModel]
    private let indexByID: [String: Int]
    /// `GET /v1/models`, LM Studio's real OpenAI shape.
    let openAIListBody: ByteBuffer
    /// `GET /api/v0/models`, LM Studio's richer shape.
    let lmStudioListBody: ByteBuffer

    init(models: [SimulatedModel]) {
        var unique: [SimulatedModel] = []
        var index: [String: Int] = [:]
        for model in models {
            if let existing = index[model.id] {
                unique[existing] = model
            } else {
                index[model.id] = unique.count
                unique.append(model)
            }
        }
        self.models = unique
        self.indexByID = index
        self.openAIListBody = Self.openAIList(unique)
        self.lmStudioListBody = Self.lmStudioList(unique)
    }

    func model(id: String) -> SimulatedModel? {
        indexByID[id].map { models[$0] }
    }

    /// The model a request without `model` is answered with: the first loaded one, else the first.
    var defaultModel: SimulatedModel? {
        models.first { $0.state == .loaded } ?? models.first
    }

    /// A catalog with `model` added, or replacing the model with the same id in place.
    func adding(_ model: SimulatedModel) -> ModelCatalog {
        var models = self.models
        if let existing = indexByID[model.id] {
            models[existing] = model
        } else {
            models.append(model)
        }
        return ModelCatalog(models: models)
    }

    /// A catalog without the model `id`, or nil when there is no such model.
    func removing(id: String) -> ModelCatalog? {
        guard indexByID[id] != nil else { return nil }
        return ModelCatalog(models: models.filter { $0.id != id })
    }

    private static func openAIList(_ models: [SimulatedModel]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeStaticString(#"{"data":["#)
        for (position, model) in models.enumerated() {
            if position > 0 { buffer.writeStaticString(",") }
            buffer.writeStaticString(#"{"id":"#)
            buffer.writeJSONString(model.id)
            buffer.writeStaticString(#","object":"model","owned_by":"organization_owner"}"#)
        }
        buffer.writeStaticString(#"],"object":"list"}"#)
        return buffer
    }

    private static func lmStudioList(_ models: [SimulatedModel]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeStaticString(#"{"object":"list","data":["#)
        for (position, model) in models.enumerated() {
            if position > 0 { buffer.writeStaticString(",") }
            buffer.writeStaticString(#"{"id":"#)
            buffer.writeJSONString(model.id)
            buffer.writeStaticString(#","object":"model","type":"#)
            buffer.writeJSONString(model.type.rawValue)
            buffer.writeStaticString(#","publisher":"#)
            buffer.writeJSONString(model.publisher)
            buffer.writeStaticString(#","arch":"#)
            buffer.writeJSONString(model.arch)
            buffer.writeStaticString(#","compatibility_type":"#)
            buffer.writeJSONString(model.compatibilityType)
            buffer.writeStaticString(#","quantization":"#)
            buffer.writeJSONString(model.quantization)
            buffer.writeStaticString(#","state":"#)
            buffer.writeJSONString(model.state.rawValue)
            buffer.writeStaticString(#","max_context_length":"#)
            buffer.writeDecimal(model.maxContextLength)
            buffer.writeStaticString("}")
        }
        buffer.writeStaticString("]}")
        return buffer
    }
}
