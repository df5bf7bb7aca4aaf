import Balancer

/// What one probe learnt about a host's models, merged from the routes it asked (DESIGN.md 6.1, 6.3, 6.7):
/// the model list (`/api/v0/models`, or `/v1/models` without it), the details only `/v1/models` gives (`root`,
/// `owned_by`), and LM Studio 0.4's `/api/v1/models` with loaded state and slots.
///
/// Pure: the probe fetches, this decides. Whatever one route gets wrong, the others still count: the host
/// stays usable from what is valid, and ``issues`` says what was passed over.
struct ModelDiscovery: Sendable, Equatable {
    /// How `/api/v1/models` answered.
    enum APIv1Answer: Sendable, Equatable {
        /// A `models` array: an LM Studio 0.4 host. `issues` are values its parse ignored or clamped.
        case models([HostedModel], issues: [String])
        /// Not served (404, or LM Studio 0.3's 200 "Unexpected endpoint or method"): an LM Studio 0.3 host.
        case notServed
        /// Anything else (an HTTP error, a body that is not a list, one over the probe's bound); the reason.
        case failed(String)
        /// Not asked: the host is not LM Studio (`type: openai-compatible`).
        case notAsked
    }

    /// The most issues kept; more are counted, not listed, so the status stays readable.
    static let maximumIssues = 5

    /// The models to publish, in the host's order.
    var models: [HostedModel]
    /// The API generation, when the answers tell it.
    var api: APIGeneration?
    /// What was passed over, one sentence each (at most ``maximumIssues``, then a count).
    var issues: [String]

    /// The issues as one line for `/internal/status/endpoints`, or nil when there are none.
    var issueSummary: String? {
        issues.isEmpty ? nil : issues.joined(separator: "; ")
    }

    /// Merges the answers of one probe.
    /// - Parameters:
    ///   - listed: the model list (from `model_url`, or `/v1/models` when the host has no such route).
    ///   - openAI: the `/v1/models` list when the probe read it (the health check), for the details only it
    ///     carries; nil when it was not read.
    ///   - apiV1: the answer of `/api/v1/models`.
    init(listed: [HostedModel], openAI: [HostedModel]?, apiV1: APIv1Answer) {
        var issues: [String] = []
        var models = Self.enriched(listed, from: openAI ?? [])
        switch apiV1 {
        case .models(let current, let parseIssues):
            issues += parseIssues
            models = Self.merged(listed: models, current: current, issues: &issues)
            api = .v0_4
        case .notServed:
            api = .v0_3
        case .failed(let reason):
            issues.append("\(reason); slots unknown")
            api = nil
        case .notAsked:
            api = nil
        }
        self.models = models
        if issues.count > Self.maximumIssues {
            let more = issues.count - Self.maximumIssues
            issues = Array(issues.prefix(Self.maximumIssues)) + ["\(more) more"]
        }
        self.issues = issues
    }

    /// The listed models with what `/v1/models` says of the same id filled in where the list is silent: LM
    /// Studio's `/api/v0/models` has no `root`, and a host that gives one there must be found by it (6.1).
    static func enriched(_ listed: [HostedModel], from openAI: [HostedModel]) -> [HostedModel] {
        guard !openAI.isEmpty else { return listed }
        var byID: [String: HostedModel] = [:]
        for model in openAI where byID[model.id] == nil { byID[model.id] = model }
        return listed.map { model in
            guard let other = byID[model.id] else { return model }
            var model = model
            model.root = model.root ?? other.root
            model.ownedBy = model.ownedBy ?? other.ownedBy
            model.maxContextLength = model.maxContextLength ?? other.maxContextLength
            model.type = model.type ?? other.type
            return model
        }
    }

    /// The list of an LM Studio 0.4 host: `/api/v1/models` decides what is loaded and its slots, the older list
    /// fills in the details. Where the two disagree, `/api/v1/models` wins and the disagreement is an issue.
    ///
    /// An id of the older list that is a duplicate instance (`key:2`) of a model `/api/v1/models` has is that
    /// model's instance, not a model of its own: it is counted in the model's slots already.
    static func merged(listed: [HostedModel], current: [HostedModel], issues: inout [String]) -> [HostedModel] {
        var currentByKey: [String: HostedModel] = [:]
        for model in current where currentByKey[model.id] == nil { currentByKey[model.id] = model }
        // A list without any state is `/v1/models` standing in for `/api/v0/models`: nothing to contradict.
        let listedHasState = listed.contains { $0.state != .unknown }
        var merged: [HostedModel] = []
        var used = Set<String>()
        for old in listed {
            if var model = currentByKey[old.id] {
                guard used.insert(old.id).inserted else { continue }
                if listedHasState, old.state != .unknown, old.state != model.state {
                    issues.append(
                        "\(old.id) is \(old.state.rawValue) in /api/v0/models but \(model.state.rawValue) in "
                            + "/api/v1/models, which is used"
                    )
                }
                model.type = model.type ?? old.type
                model.maxContextLength = model.maxContextLength ?? old.maxContextLength
                model.publisher = model.publisher ?? old.publisher
                model.arch = model.arch ?? old.arch
                model.compatibilityType = model.compatibilityType ?? old.compatibilityType
                model.quantization = model.quantization ?? old.quantization
                model.ownedBy = model.ownedBy ?? old.ownedBy
                model.root = model.root ?? old.root
                merged.append(model)
            } else if old.id != ModelNames.canonicalID(old.id), currentByKey[ModelNames.canonicalID(old.id)] != nil {
                continue
            } else {
                if listedHasState {
                    issues.append("\(old.id) is in /api/v0/models but not in /api/v1/models; slots unknown")
                }
                merged.append(old)
            }
        }
        for model in current where used.insert(model.id).inserted {
            if listedHasState {
                issues.append("\(model.id) is in /api/v1/models but not in /api/v0/models")
            }
            merged.append(model)
        }
        return merged
    }
}
