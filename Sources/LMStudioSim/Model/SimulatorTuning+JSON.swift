import Foundation

extension SimulatorTuning {
    /// The keys `POST /_sim/settings` accepts (`parallel` is handled with the models).
    static let settingsKeys: Set<String> = [
        "first_token_ms", "load_time_ms", "store_responses", "prompt_cache", "prompt_token_cost_us", "auto_evict",
        "parallel",
    ]

    /// The tuning with the keys of a `POST /_sim/settings` object applied; keys left out keep their value.
    func applying(json object: [String: Any]) throws(ControlRequestError) -> SimulatorTuning {
        if let unknown = object.keys.sorted().first(where: { !Self.settingsKeys.contains($0) }) {
            throw ControlRequestError(message: "unknown settings key '\(unknown)'")
        }
        var tuning = self
        if let value = try Self.count(object, "first_token_ms") { tuning.timeToFirstToken = .milliseconds(value) }
        if let value = try Self.count(object, "load_time_ms") { tuning.loadTime = .milliseconds(value) }
        if let value = try Self.flag(object, "store_responses") { tuning.storesResponses = value }
        if let value = try Self.flag(object, "prompt_cache") { tuning.promptCache = value }
        if let value = try Self.count(object, "prompt_token_cost_us") { tuning.promptTokenCost = .microseconds(value) }
        if let value = try Self.flag(object, "auto_evict") { tuning.autoEvict = value }
        return tuning
    }

    /// The tuning as `GET /_sim/settings` shows it (with `api` and `parallel` added by the caller).
    var jsonObject: [String: Any] {
        [
            "first_token_ms": Self.milliseconds(timeToFirstToken),
            "load_time_ms": Self.milliseconds(loadTime),
            "store_responses": storesResponses,
            "prompt_cache": promptCache,
            "auto_evict": autoEvict,
            "prompt_token_cost_us": Int(promptTokenCost.components.seconds * 1_000_000)
                + Int(promptTokenCost.components.attoseconds / 1_000_000_000_000),
        ]
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        Int(duration.components.seconds * 1000) + Int(duration.components.attoseconds / 1_000_000_000_000_000)
    }

    private static func flag(_ object: [String: Any], _ key: String) throws(ControlRequestError) -> Bool? {
        guard let value = object[key] else { return nil }
        guard let flag = JSONValue.bool(value) else {
            throw ControlRequestError(message: "'\(key)' must be a boolean")
        }
        return flag
    }

    private static func count(_ object: [String: Any], _ key: String) throws(ControlRequestError) -> Int? {
        guard let value = object[key] else { return nil }
        guard let number = JSONValue.int(value), number >= 0 else {
            throw ControlRequestError(message: "'\(key)' must be a non-negative integer")
        }
        return number
    }
}
