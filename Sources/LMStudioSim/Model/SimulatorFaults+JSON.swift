import Foundation

/// A control request whose JSON does not describe faults or a model.
struct ControlRequestError: Error, Equatable {
    let message: String
}

extension SimulatorFaults {
    /// The faults with the keys of a `POST /_sim/faults` object applied; keys left out keep their value
    /// and `"reset": true` starts from no fault.
    func applying(json object: [String: Any]) throws(ControlRequestError) -> SimulatorFaults {
        let known: Set<String> = [
            "reset", "refuse_connections", "hang", "error_status", "error_scope", "drop_after_chunks",
            "models_delay_ms", "models_status", "models_malformed", "api_v0_missing", "no_models_loaded",
            "reset_inference",
        ]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw ControlRequestError(message: "unknown fault key '\(unknown)'")
        }
        var faults = try Self.bool(object, "reset") == true ? SimulatorFaults.none : self
        if let value = try Self.bool(object, "refuse_connections") { faults.refuseConnections = value }
        if let value = object["hang"] {
            switch value as? String {
            case "none": faults.hang = nil
            case let name?: faults.hang = try Self.scope(name, key: "hang")
            case nil:
                guard value is NSNull else { throw ControlRequestError(message: "'hang' must be a string") }
                faults.hang = nil
            }
        }
        if let value = try Self.optionalInt(object, "error_status") { faults.errorStatus = value }
        if let name = object["error_scope"] {
            guard let name = name as? String else {
                throw ControlRequestError(message: "'error_scope' must be a string")
            }
            faults.errorScope = try Self.scope(name, key: "error_scope")
        }
        if let value = try Self.optionalInt(object, "drop_after_chunks") { faults.dropAfterChunks = value }
        if let value = try Self.optionalInt(object, "models_delay_ms") {
            faults.modelsDelay = .milliseconds(value ?? 0)
        }
        if let value = try Self.optionalInt(object, "models_status") { faults.modelsStatus = value }
        if let value = try Self.bool(object, "models_malformed") { faults.modelsMalformed = value }
        if let value = try Self.bool(object, "api_v0_missing") { faults.apiV0Missing = value }
        if let value = try Self.bool(object, "no_models_loaded") { faults.noModelsLoaded = value }
        if let value = try Self.bool(object, "reset_inference") { faults.resetInference = value }
        return faults
    }

    /// The faults as the JSON object `GET /_sim/faults` answers.
    var jsonObject: [String: Any] {
        [
            "refuse_connections": refuseConnections,
            "hang": hang?.rawValue ?? "none",
            "error_status": errorStatus.map { $0 as Any } ?? NSNull(),
            "error_scope": errorScope.rawValue,
            "drop_after_chunks": dropAfterChunks.map { $0 as Any } ?? NSNull(),
            "models_delay_ms": Int(modelsDelay.components.seconds * 1000)
                + Int(modelsDelay.components.attoseconds / 1_000_000_000_000_000),
            "models_status": modelsStatus.map { $0 as Any } ?? NSNull(),
            "models_malformed": modelsMalformed,
            "api_v0_missing": apiV0Missing,
            "reset_inference": resetInference,
            "no_models_loaded": noModelsLoaded,
        ]
    }

    private static func scope(_ name: String, key: String) throws(ControlRequestError) -> Scope {
        guard let scope = Scope(rawValue: name) else {
            throw ControlRequestError(message: "'\(key)' must be \"none\", \"inference\" or \"all\"")
        }
        return scope
    }

    private static func bool(_ object: [String: Any], _ key: String) throws(ControlRequestError) -> Bool? {
        guard let value = object[key] else { return nil }
        guard let flag = JSONValue.bool(value) else {
            throw ControlRequestError(message: "'\(key)' must be a boolean")
        }
        return flag
    }

    /// `.some(nil)` for an explicit JSON null (switch the fault off), `nil` for an absent key.
    private static func optionalInt(_ object: [String: Any], _ key: String) throws(ControlRequestError) -> Int?? {
        guard let value = object[key] else { return nil }
        if value is NSNull { return .some(nil) }
        guard let number = JSONValue.int(value), number >= 0 else {
            throw ControlRequestError(message: "'\(key)' must be a non-negative integer or null")
        }
        return .some(number)
    }
}
