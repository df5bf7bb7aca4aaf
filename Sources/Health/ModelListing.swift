import Balancer
import Foundation

/// What the body of a model-list route turned out to be, once parsed.
///
/// Understands every shape a host may answer (lmstudio-api.md, lmstudio-real.md):
/// - LM Studio's `/api/v0/models`: `{"object":"list","data":[{id, type, publisher, arch, compatibility_type,
///   quantization, state, max_context_length}]}`;
/// - the OpenAI `/v1/models` shape: `{"data":[{id, owned_by, root, max_context_length ...}]}` (no state);
/// - the reference document's legacy `{"models":[{id, owned_by, engines:{chat_completions:{context_length}}}]}`;
/// - LM Studio 0.4's `/api/v1/models`: `{"models":[{key, publisher, architecture, format, loaded_instances ...}]}`.
enum ModelListing: Sendable, Equatable {
    /// The host listed these models, in its order.
    case models([HostedModel])
    /// LM Studio's answer to a path it does not serve: a 200 with `{"error":"Unexpected endpoint or method. ..."}`.
    case unknownEndpoint
    /// Not a model list; the sentence says why and names the path.
    case malformed(String)

    /// Parses a response body.
    /// - Parameters:
    ///   - body: the bytes of the body (bounded by the caller).
    ///   - path: the path the body came from, for the reason of a malformed body.
    init(parsing body: [UInt8], from path: String) {
        self = Self.parse(body, from: path).listing
    }

    /// A parsed body, with what the parse could not use but did not need.
    struct Parsed: Sendable, Equatable {
        var listing: ModelListing
        /// Values ignored or clamped (a `parallel` that is not a positive integer...), one sentence each.
        var issues: [String] = []
        /// Whether the list was a `models` array (LM Studio 0.4's `/api/v1/models`, or the reference document's
        /// legacy shape) rather than a `data` array.
        var isModelsArray = false
    }

    /// Parses a response body, keeping the issues the lenient parse passed over.
    static func parse(_ body: [UInt8], from path: String) -> Parsed {
        let subject = "model list from \(path)"
        let parsed = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])
        guard let parsed else {
            return Parsed(listing: .malformed("\(subject) is not valid JSON"))
        }
        guard let object = parsed as? [String: Any] else {
            return Parsed(listing: .malformed("\(subject) is not a JSON object"))
        }
        var issues: [String] = []
        if let entries = object["data"] {
            let listing = Self.entries(entries, of: subject, issues: &issues) { entry, _ in
                model(fromDataEntry: entry)
            }
            return Parsed(listing: listing, issues: issues)
        } else if let entries = object["models"] {
            let listing = Self.entries(
                entries,
                of: subject,
                issues: &issues,
                reading: Self.model(fromModelsEntry:issues:)
            )
            return Parsed(listing: listing, issues: issues, isModelsArray: true)
        } else if let error = object["error"] {
            // LM Studio answers 200 to paths it does not know, so the body decides (lmstudio-real.md).
            if let message = error as? String, message.hasPrefix("Unexpected endpoint or method") {
                return Parsed(listing: .unknownEndpoint)
            } else {
                return Parsed(listing: .malformed("\(subject) is an error: \(Self.errorMessage(error))"))
            }
        } else {
            return Parsed(listing: .malformed("\(subject) has no data array"))
        }
    }

    private static func entries(
        _ value: Any,
        of subject: String,
        issues: inout [String],
        reading read: ([String: Any], inout [String]) -> HostedModel?
    ) -> ModelListing {
        guard let array = value as? [Any] else {
            return .malformed("\(subject) has no data array")
        }
        var models: [HostedModel] = []
        models.reserveCapacity(array.count)
        for (position, element) in array.enumerated() {
            guard let entry = element as? [String: Any], let model = read(entry, &issues) else {
                return .malformed("\(subject) has an entry without an id (entry \(position + 1))")
            }
            models.append(model)
        }
        return .models(models)
    }

    /// An entry of a `data` array: LM Studio's `/api/v0/models` or the OpenAI `/v1/models` shape.
    private static func model(fromDataEntry entry: [String: Any]) -> HostedModel? {
        guard let id = nonEmptyString(entry["id"]) else { return nil }
        return HostedModel(
            id: id,
            state: state(entry["state"]),
            type: string(entry["type"]),
            maxContextLength: integer(entry["max_context_length"]),
            publisher: string(entry["publisher"]),
            arch: string(entry["arch"]),
            compatibilityType: string(entry["compatibility_type"]),
            quantization: string(entry["quantization"]),
            ownedBy: string(entry["owned_by"]),
            root: string(entry["root"])
        )
    }

    /// An entry of a `models` array: the reference document's legacy shape, or LM Studio 0.4's
    /// `/api/v1/models` (which names the id `key` and says "loaded" with `loaded_instances`).
    private static func model(fromModelsEntry entry: [String: Any], issues: inout [String]) -> HostedModel? {
        guard let id = nonEmptyString(entry["id"]) ?? nonEmptyString(entry["key"]) else { return nil }
        var model = HostedModel(
            id: id,
            state: state(entry["state"]),
            type: string(entry["type"]),
            maxContextLength: integer(entry["max_context_length"]),
            publisher: string(entry["publisher"]),
            arch: string(entry["arch"]) ?? string(entry["architecture"]),
            compatibilityType: string(entry["compatibility_type"]) ?? string(entry["format"]),
            quantization: string(entry["quantization"])
                ?? string((entry["quantization"] as? [String: Any])?["name"]),
            ownedBy: string(entry["owned_by"]),
            root: string(entry["root"]),
            displayName: string(entry["display_name"]),
            paramsString: string(entry["params_string"]),
            sizeBytes: integer(entry["size_bytes"]),
            capabilities: flags(entry["capabilities"])
        )
        if let instances = entry["loaded_instances"] as? [Any] {
            if model.state == .unknown { model.state = instances.isEmpty ? .notLoaded : .loaded }
            let loaded = loadedInstances(instances, of: id, issues: &issues)
            model.loadedInstances = loaded
            if !instances.isEmpty {
                // Loaded, so at least one request fits, even when no instance could be read.
                model.slots = max(loaded.reduce(0) { $0 + $1.parallel }, 1)
            }
        }
        if let engines = entry["engines"] as? [String: Any] {
            // The legacy shape keeps the context length per engine; any engine's will do, they agree.
            for name in ["chat_completions", "completions", "embeddings"] {
                guard let engine = engines[name] as? [String: Any] else { continue }
                model.maxContextLength = model.maxContextLength ?? integer(engine["context_length"])
                if name == "embeddings" { model.type = model.type ?? "embeddings" }
            }
        }
        return model
    }

    private static func state(_ value: Any?) -> ModelState {
        switch string(value) {
        case "loaded": return .loaded
        case "not-loaded", "not_loaded", "notLoaded": return .notLoaded
        default: return .unknown
        }
    }

    /// The members of an object that are booleans (LM Studio 0.4's `capabilities`), nil when there are none.
    private static func flags(_ value: Any?) -> [String: Bool]? {
        guard let object = value as? [String: Any] else { return nil }
        var flags: [String: Bool] = [:]
        for (name, member) in object {
            if let number = member as? NSNumber, ObjectIdentifier(type(of: number)) == booleanClass {
                flags[name] = number.boolValue
            }
        }
        return flags.isEmpty ? nil : flags
    }

    static func string(_ value: Any?) -> String? {
        value as? String
    }

    static func nonEmptyString(_ value: Any?) -> String? {
        guard let text = value as? String, !text.isEmpty else { return nil }
        return text
    }

    static func integer(_ value: Any?) -> Int? {
        // JSONSerialization hands numbers over as NSNumber; 4096.0 is accepted, 4096.5 is not.
        guard let number = value as? NSNumber else { return nil }
        let double = number.doubleValue
        guard double.isFinite, double.rounded() == double, abs(double) < 1e15 else { return nil }
        return Int(double)
    }

    private static func errorMessage(_ error: Any) -> String {
        if let message = error as? String { return message }
        if let object = error as? [String: Any], let message = object["message"] as? String { return message }
        return "(no message)"
    }
}
