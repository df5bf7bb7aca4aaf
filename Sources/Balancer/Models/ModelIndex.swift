/// One host that has a model, with the id that host uses for it.
public struct Placement: Sendable {
    public let endpoint: EndpointRuntime
    /// The id as this host listed it; the body's `model` is rewritten to it when the client used another name.
    public let modelID: String
    public let state: ModelState
    /// The live slot count of this model on this host, shared by every placement of the pair.
    public let slots: ModelSlots

    public init(endpoint: EndpointRuntime, modelID: String, state: ModelState, slots: ModelSlots = ModelSlots()) {
        self.endpoint = endpoint
        self.modelID = modelID
        self.state = state
        self.slots = slots
    }

    /// Whether a request may start here now: the host is under its `max_concurrency` and the model has a
    /// free slot (DESIGN.md 6.7).
    @inlinable
    public var hasRoom: Bool {
        endpoint.hasRoom && slots.hasRoom
    }
}

/// The hosts a model name can be sent to, computed once when the index is built so that a request
/// only looks it up.
public final class CandidateSet: Sendable {
    /// The model id reported when no host is chosen yet (errors, logs).
    public let modelID: String
    public let placements: [Placement]

    public init(modelID: String, placements: [Placement]) {
        self.modelID = modelID
        self.placements = placements
    }
}

/// What a requested model name refers to.
public enum ModelResolution: Sendable {
    case found(CandidateSet)
    /// A short form shared by several different models; the ids, sorted.
    case ambiguous([String])
    case notFound
}

/// One model id and every host that lists it, down or not, for the model listings.
public struct ModelEntry: Sendable {
    public let id: String
    public let placements: [Placement]
    /// The model as each host listed it, in the order of `placements`.
    public let listed: [HostedModel]
    /// The details hosts reported, first host first, missing fields filled from the others.
    public let details: HostedModel
    /// Configured aliases that lead to this model.
    public let aliases: [String]
}

/// Model name -> hosts, with the matching rules of DESIGN.md 6.1: exact id, alias, case-insensitive id,
/// short forms. Immutable; rebuilt when a model probe changes what a host lists.
public struct ModelIndex: Sendable {
    /// Every known model, sorted by id.
    public let entries: [ModelEntry]
    private let exact: [String: CandidateSet]
    private let aliases: [String: CandidateSet]
    private let caseInsensitive: [String: Lookup]
    private let shortForms: [String: Lookup]
    /// Every routable host, for requests without a `model`.
    public let anyModel: CandidateSet

    private enum Lookup: Sendable {
        case unique(CandidateSet)
        case ambiguous([String])
    }

    /// An index with no models.
    public static let empty = ModelIndex(listings: [], aliases: [])

    /// Builds the index from what each host listed.
    /// - Parameters:
    ///   - listings: each endpoint with the models of its last successful model probe.
    ///   - aliases: `model_aliases` of the configuration.
    ///   - slots: the live slot counter of a (host, model id) pair; the routing table keeps one per pair across
    ///     snapshots. By default each placement gets a fresh one.
    public init(
        listings: [(endpoint: EndpointRuntime, models: [HostedModel])],
        aliases configured: [ModelAlias],
        slots: (EndpointRuntime, HostedModel) -> ModelSlots = { _, _ in ModelSlots() }
    ) {
        var placementsByID: [String: [Placement]] = [:]
        var listedByID: [String: [HostedModel]] = [:]
        var detailsByID: [String: HostedModel] = [:]
        var order: [String] = []
        for (endpoint, models) in listings {
            var seen = Set<String>()
            // An id with a control character cannot travel in X-Olla-Model (a CR or LF would let a host write
            // headers of its own into olla's answers): such a model is not routable.
            for model in models
            where !model.id.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F })
                && seen.insert(model.id).inserted
            {
                let placement = Placement(
                    endpoint: endpoint,
                    modelID: model.id,
                    state: model.state,
                    slots: slots(endpoint, model)
                )
                if placementsByID[model.id] == nil {
                    order.append(model.id)
                    // Slots and instances are each host's own (in `listed`), not details of the model.
                    var details = model
                    details.slots = nil
                    details.loadedInstances = nil
                    detailsByID[model.id] = details
                } else {
                    detailsByID[model.id] = Self.merge(detailsByID[model.id]!, model)
                }
                placementsByID[model.id, default: []].append(placement)
                listedByID[model.id, default: []].append(model)
            }
        }

        var exact: [String: CandidateSet] = [:]
        for id in order {
            exact[id] = CandidateSet(modelID: id, placements: placementsByID[id]!)
        }

        // Names that are not exact ids: group the ids under each name, then a name is unique when all its
        // ids are the same model (equal once LM Studio's `:2` suffix is removed).
        var lowered: [String: [String]] = [:]
        var short: [String: [String]] = [:]
        for id in order {
            lowered[id.lowercased(), default: []].append(id)
            for form in ModelNames.shortForms(of: id, root: detailsByID[id]?.root) {
                short[form, default: []].append(id)
            }
        }
        func lookup(_ ids: [String]) -> Lookup {
            let models = Set(ids.map(ModelNames.canonicalID))
            guard models.count == 1 else { return .ambiguous(ids.sorted()) }
            var placements: [Placement] = []
            var taken = EndpointSet()
            // The plain id first, so a host that has `qwen` is preferred over its `qwen:2` instance.
            for id in ids.sorted(by: { ($0.count, $0) < ($1.count, $1) }) {
                for placement in placementsByID[id]! where !taken.contains(placement.endpoint.ordinal) {
                    taken.insert(placement.endpoint.ordinal)
                    placements.append(placement)
                }
            }
            return .unique(CandidateSet(modelID: ModelNames.canonicalID(ids[0]), placements: placements))
        }
        let caseInsensitive = lowered.mapValues(lookup)
        let shortForms = short.mapValues(lookup)

        // An alias leads to every host that has one of its targets; a host that has several takes the first.
        var aliasSets: [String: CandidateSet] = [:]
        var aliasesByID: [String: [String]] = [:]
        for alias in configured {
            var placements: [Placement] = []
            var taken = EndpointSet()
            for target in alias.targets {
                let set: CandidateSet?
                if let found = exact[target] {
                    set = found
                } else if case .unique(let found)? = caseInsensitive[target.lowercased()] {
                    set = found
                } else if case .unique(let found)? = shortForms[target.lowercased()] {
                    set = found
                } else {
                    set = nil
                }
                for placement in set?.placements ?? [] where !taken.contains(placement.endpoint.ordinal) {
                    taken.insert(placement.endpoint.ordinal)
                    placements.append(placement)
                    if !(aliasesByID[placement.modelID]?.contains(alias.name) ?? false) {
                        aliasesByID[placement.modelID, default: []].append(alias.name)
                    }
                }
            }
            if !placements.isEmpty {
                aliasSets[alias.name] = CandidateSet(modelID: placements[0].modelID, placements: placements)
            }
        }

        var everyHost: [Placement] = []
        var taken = EndpointSet()
        for (endpoint, _) in listings where !taken.contains(endpoint.ordinal) {
            taken.insert(endpoint.ordinal)
            // Requests without a model are limited by `max_concurrency` alone.
            let anyModel = HostedModel(id: "")
            everyHost.append(
                Placement(endpoint: endpoint, modelID: "", state: .unknown, slots: slots(endpoint, anyModel))
            )
        }

        self.entries = order.sorted().map { id in
            ModelEntry(
                id: id,
                placements: placementsByID[id]!,
                listed: listedByID[id]!,
                details: detailsByID[id]!,
                aliases: aliasesByID[id] ?? []
            )
        }
        self.exact = exact
        self.aliases = aliasSets
        self.caseInsensitive = caseInsensitive
        self.shortForms = shortForms
        self.anyModel = CandidateSet(modelID: "", placements: everyHost)
    }

    /// Finds the hosts for a requested model name, trying the rules in the order of DESIGN.md 6.1.
    public func resolve(_ name: String) -> ModelResolution {
        if let set = exact[name] { return .found(set) }
        if let set = aliases[name] { return .found(set) }
        let lowered = name.lowercased()
        return Self.resolution(caseInsensitive[lowered]) ?? Self.resolution(shortForms[lowered]) ?? .notFound
    }

    private static func resolution(_ lookup: Lookup?) -> ModelResolution? {
        switch lookup {
        case .unique(let set)?: return .found(set)
        case .ambiguous(let ids)?: return .ambiguous(ids)
        case nil: return nil
        }
    }

    /// The entry of one exact id.
    public func entry(id: String) -> ModelEntry? {
        guard exact[id] != nil else { return nil }
        return entries.first { $0.id == id }
    }

    private static func merge(_ first: HostedModel, _ other: HostedModel) -> HostedModel {
        var merged = first
        if merged.state != .loaded, other.state == .loaded { merged.state = .loaded }
        merged.type = merged.type ?? other.type
        merged.maxContextLength = merged.maxContextLength ?? other.maxContextLength
        merged.publisher = merged.publisher ?? other.publisher
        merged.arch = merged.arch ?? other.arch
        merged.compatibilityType = merged.compatibilityType ?? other.compatibilityType
        merged.quantization = merged.quantization ?? other.quantization
        merged.ownedBy = merged.ownedBy ?? other.ownedBy
        merged.root = merged.root ?? other.root
        merged.displayName = merged.displayName ?? other.displayName
        merged.paramsString = merged.paramsString ?? other.paramsString
        merged.sizeBytes = merged.sizeBytes ?? other.sizeBytes
        merged.capabilities = merged.capabilities ?? other.capabilities
        return merged
    }
}
