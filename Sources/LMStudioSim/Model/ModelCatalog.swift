import NIOCore

/// One loaded instance of a model on a 0.4 host, as the model listings show it.
struct InstanceListing: Equatable, Sendable {
    /// `key`, `key:2`...
    let id: String
    let contextLength: Int
    let parallel: Int
}

/// The models of a host as an immutable value, with the listing bodies encoded once.
///
/// The handlers read it on every request; a change of models (or, on a 0.4 host, of loaded instances) builds a
/// new catalog.
final class ModelCatalog: Sendable {
    let models: [SimulatedModel]
    private let indexByID: [String: Int]
    /// On a 0.4 host, the loaded instances per model id (a model is loaded when it has one); nil on 0.3.
    let instances: [String: [InstanceListing]]?
    /// On a 0.4 host, the model id of each instance id.
    private let modelIDByInstanceID: [String: String]
    /// `GET /v1/models`, LM Studio's real OpenAI shape.
    let openAIListBody: ByteBuffer
    /// `GET /api/v0/models`, LM Studio's richer shape (one entry per instance on a 0.4 host).
    let lmStudioListBody: ByteBuffer
    /// `GET /api/v1/models`, LM Studio 0.4's shape; empty on 0.3.
    let apiV1ListBody: ByteBuffer

    init(models: [SimulatedModel], instances: [String: [InstanceListing]]? = nil) {
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
        var owners: [String: String] = [:]
        if let instances {
            // On 0.4 the instances decide what is loaded.
            for position in unique.indices {
                let loaded = !(instances[unique[position].id] ?? []).isEmpty
                unique[position].state = loaded ? .loaded : .notLoaded
            }
            for (modelID, list) in instances {
                for instance in list { owners[instance.id] = modelID }
            }
        }
        self.models = unique
        self.indexByID = index
        self.instances = instances
        self.modelIDByInstanceID = owners
        self.openAIListBody = Self.openAIList(unique)
        self.lmStudioListBody = Self.lmStudioList(unique, instances: instances ?? [:])
        self.apiV1ListBody = instances.map { Self.apiV1List(unique, instances: $0) } ?? ByteBuffer()
    }

    func model(id: String) -> SimulatedModel? {
        indexByID[id].map { models[$0] }
    }

    /// Whether a request's `model` names a model (or, on 0.4, one of its instances).
    func knows(_ name: String) -> Bool {
        indexByID[name] != nil || modelIDByInstanceID[name] != nil
    }

    /// The model a request names, and the instance when it names one (`key:2`, 0.4 only).
    func resolve(_ name: String) -> (model: SimulatedModel, instanceID: String?)? {
        if let model = model(id: name) { return (model, nil) }
        guard let owner = modelIDByInstanceID[name], let model = model(id: owner) else { return nil }
        return (model, name)
    }

    /// The same models with other instances (0.4).
    func with(instances: [String: [InstanceListing]]) -> ModelCatalog {
        ModelCatalog(models: models, instances: instances)
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
        return ModelCatalog(models: models, instances: instances)
    }

    /// A catalog without the model `id`, or nil when there is no such model.
    func removing(id: String) -> ModelCatalog? {
        guard indexByID[id] != nil else { return nil }
        return ModelCatalog(models: models.filter { $0.id != id }, instances: instances)
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

    private static func lmStudioList(_ models: [SimulatedModel], instances: [String: [InstanceListing]]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeStaticString(#"{"object":"list","data":["#)
        // LM Studio lists a model's second and later instances as entries of their own (`id:2`).
        let entries = models.flatMap { model in
            [(model.id, model)] + (instances[model.id] ?? []).dropFirst().map { ($0.id, model) }
        }
        for (position, (id, model)) in entries.enumerated() {
            if position > 0 { buffer.writeStaticString(",") }
            buffer.writeStaticString(#"{"id":"#)
            buffer.writeJSONString(id)
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
            buffer.writeJSONString(id == model.id ? model.state.rawValue : SimulatedModel.State.loaded.rawValue)
            buffer.writeStaticString(#","max_context_length":"#)
            buffer.writeDecimal(model.maxContextLength)
            buffer.writeStaticString("}")
        }
        buffer.writeStaticString("]}")
        return buffer
    }

    private static func apiV1List(_ models: [SimulatedModel], instances: [String: [InstanceListing]]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeStaticString(#"{"models":["#)
        for (position, model) in models.enumerated() {
            if position > 0 { buffer.writeStaticString(",") }
            let description = ModelDescription(model)
            buffer.writeStaticString(#"{"type":"#)
            buffer.writeJSONString(model.type.rawValue)
            buffer.writeStaticString(#","publisher":"#)
            buffer.writeJSONString(model.publisher)
            buffer.writeStaticString(#","key":"#)
            buffer.writeJSONString(model.id)
            buffer.writeStaticString(#","display_name":"#)
            buffer.writeJSONString(description.displayName)
            buffer.writeStaticString(#","architecture":"#)
            buffer.writeJSONString(model.arch)
            buffer.writeStaticString(#","quantization":{"name":"#)
            buffer.writeJSONString(model.quantization)
            buffer.writeStaticString(#","bits_per_weight":"#)
            buffer.writeString(String(description.bitsPerWeight))
            buffer.writeStaticString(#"},"size_bytes":"#)
            buffer.writeDecimal(description.sizeBytes)
            buffer.writeStaticString(#","params_string":"#)
            if let params = description.paramsString {
                buffer.writeJSONString(params)
            } else {
                buffer.writeStaticString("null")
            }
            buffer.writeStaticString(#","loaded_instances":["#)
            for (number, instance) in (instances[model.id] ?? []).enumerated() {
                if number > 0 { buffer.writeStaticString(",") }
                buffer.writeStaticString(#"{"id":"#)
                buffer.writeJSONString(instance.id)
                buffer.writeStaticString(#","config":{"context_length":"#)
                buffer.writeDecimal(instance.contextLength)
                buffer.writeStaticString(#","parallel":"#)
                buffer.writeDecimal(instance.parallel)
                buffer.writeStaticString("}}")
            }
            buffer.writeStaticString(#"],"max_context_length":"#)
            buffer.writeDecimal(model.maxContextLength)
            buffer.writeStaticString(#","format":"#)
            buffer.writeJSONString(model.compatibilityType)
            buffer.writeStaticString(#","capabilities":{"vision":"#)
            buffer.writeString(model.type == .vlm ? "true" : "false")
            buffer.writeStaticString(#","trained_for_tool_use":"#)
            buffer.writeString(model.type == .embeddings ? "false" : "true")
            buffer.writeStaticString("}}")
        }
        buffer.writeStaticString("]}")
        return buffer
    }
}
