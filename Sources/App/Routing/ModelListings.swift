import Balancer
import Foundation
import Proxy

/// The model listings olla answers itself from the routing snapshot (DESIGN.md section 5).
struct ModelListings: Sendable {
    /// `created` of the OpenAI shape: LM Studio does not report one, so olla's start time stands in.
    let created = Int(Date().timeIntervalSince1970)

    /// Entries with at least one healthy host, and those hosts.
    private func available(_ snapshot: RoutingSnapshot) -> [(entry: ModelEntry, hosts: [Placement])] {
        snapshot.models.entries.compactMap { entry in
            let hosts = entry.placements.filter { $0.endpoint.status.isRoutable }
            return hosts.isEmpty ? nil : (entry, hosts)
        }
    }

    /// `GET {prefix}/v1/models`: the union over healthy hosts, OpenAI's list shape.
    func openAIModels(_ snapshot: RoutingSnapshot) -> LocalResponse {
        let data: [JSONDocument] = available(snapshot).map { entry, _ in
            let details = entry.details
            var members: [(String, JSONDocument)] = [
                ("id", .string(entry.id)),
                ("object", .string("model")),
                ("created", .int(created)),
                ("owned_by", .string(details.ownedBy ?? details.publisher ?? "organization_owner")),
                ("permission", .array([])),
                ("root", .string(details.root ?? Self.shortName(entry.id))),
                ("parent", .null),
            ]
            if let context = details.maxContextLength { members.append(("max_context_length", .int(context))) }
            return .object(members)
        }
        return JSONDocument.object([("object", .string("list")), ("data", .array(data))]).response()
    }

    /// `GET {prefix}/api/v0/models`: LM Studio's `data` shape merged over healthy hosts (loaded anywhere means
    /// loaded), plus the reference document's legacy `models` key, so clients of either shape work.
    func lmStudioModels(_ snapshot: RoutingSnapshot) -> LocalResponse {
        var data: [JSONDocument] = []
        var legacy: [JSONDocument] = []
        for (entry, hosts) in available(snapshot) {
            let details = entry.details
            let loaded = hosts.contains { $0.state == .loaded }
            let type = details.type ?? "llm"
            data.append(
                .object([
                    ("id", .string(entry.id)),
                    ("object", .string("model")),
                    ("type", .string(type)),
                    ("publisher", .string(details.publisher ?? details.ownedBy ?? "unknown")),
                    ("arch", .optional(details.arch)),
                    ("compatibility_type", .optional(details.compatibilityType)),
                    ("quantization", .optional(details.quantization)),
                    ("state", .string(loaded ? "loaded" : "not-loaded")),
                    ("max_context_length", .optional(details.maxContextLength)),
                ])
            )
            let engine = type == "embeddings" ? "embeddings" : "chat_completions"
            var engineMembers: [(String, JSONDocument)] = []
            if let context = details.maxContextLength {
                engineMembers = [("context_length", .int(context)), ("max_tokens", .int(context))]
            }
            if let arch = details.arch { engineMembers.append(("tokenizer", .string(arch))) }
            legacy.append(
                .object([
                    ("id", .string(entry.id)),
                    ("object", .string("model")),
                    ("owned_by", .string(details.ownedBy ?? details.publisher ?? "organization_owner")),
                    ("permission", .array([])),
                    ("engines", .object([(engine, .object(engineMembers))])),
                ])
            )
        }
        return JSONDocument.object([
            ("object", .string("list")),
            ("data", .array(data)),
            ("models", .array(legacy)),
        ]).response()
    }

    /// `GET {prefix}/api/v1/models`: LM Studio 0.4's shape merged over healthy hosts, one entry per `key`, with
    /// `loaded_instances` concatenated over hosts (each host's instances are its own). An LM Studio 0.3 host
    /// reports no instances, so a model it has loaded counts as one instance serving one request at a time,
    /// under its id (`key:2` for LM Studio's second instance of `key`).
    func lmStudioV1Models(_ snapshot: RoutingSnapshot) -> LocalResponse {
        var keys: [String] = []
        var byKey: [String: (details: HostedModel, instances: [JSONDocument])] = [:]
        for (entry, _) in available(snapshot) {
            let key = ModelNames.canonicalID(entry.id)
            var group = byKey[key] ?? (entry.details, [])
            if byKey[key] == nil { keys.append(key) }
            for (placement, listed) in zip(entry.placements, entry.listed) where placement.endpoint.status.isRoutable {
                if let instances = listed.loadedInstances {
                    for instance in instances {
                        group.instances.append(Self.instance(instance.id, instance.contextLength, instance.parallel))
                    }
                } else if placement.state == .loaded {
                    group.instances.append(Self.instance(entry.id, listed.maxContextLength, 1))
                }
            }
            byKey[key] = group
        }
        let models: [JSONDocument] = keys.map { key in
            let (details, instances) = byKey[key]!
            return .object([
                ("type", .string(details.type ?? "llm")),
                ("publisher", .string(details.publisher ?? details.ownedBy ?? "unknown")),
                ("key", .string(key)),
                ("display_name", .string(details.displayName ?? Self.shortName(key))),
                ("architecture", .optional(details.arch)),
                ("quantization", details.quantization.map { .object([("name", .string($0))]) } ?? .null),
                ("size_bytes", .optional(details.sizeBytes)),
                ("params_string", .optional(details.paramsString)),
                ("loaded_instances", .array(instances)),
                ("max_context_length", .optional(details.maxContextLength)),
                ("format", .optional(details.compatibilityType)),
                (
                    "capabilities",
                    .object((details.capabilities ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, .bool($0.value)) })
                ),
            ])
        }
        return JSONDocument.object([("models", .array(models))]).response()
    }

    private static func instance(_ id: String, _ contextLength: Int?, _ parallel: Int) -> JSONDocument {
        var config: [(String, JSONDocument)] = []
        if let contextLength { config.append(("context_length", .int(contextLength))) }
        config.append(("parallel", .int(parallel)))
        return .object([("id", .string(id)), ("config", .object(config))])
    }

    /// `GET /olla/models`: every known model with where it is, hosts that are down included.
    func ollaModels(_ snapshot: RoutingSnapshot) -> LocalResponse {
        JSONDocument.object([
            ("object", .string("list")),
            ("data", .array(snapshot.models.entries.map(Self.ollaEntry))),
        ]).response()
    }

    /// `GET /olla/models/{id}`: one entry by exact id (or any name that resolves to one model), or 404.
    func ollaModel(_ id: String, _ snapshot: RoutingSnapshot) -> LocalResponse {
        var entry = snapshot.models.entry(id: id)
        if entry == nil, case .found(let set) = snapshot.models.resolve(id), let first = set.placements.first {
            entry = snapshot.models.entry(id: first.modelID)
        }
        guard let entry else { return ProxyError.modelNotFound(id).response }
        return Self.ollaEntry(entry).response()
    }

    static func ollaEntry(_ entry: ModelEntry) -> JSONDocument {
        let availability: [JSONDocument] = entry.placements.map { placement in
            .object([
                ("endpoint", .string(placement.endpoint.name)),
                ("state", .string(placement.state.rawValue)),
                ("status", .string(placement.endpoint.status.description)),
                // DESIGN.md 6.7: the host's slots for this model (null where it does not report them).
                ("slots", .optional(placement.slots.reportedSlots)),
                ("slots_in_use", .int(placement.slots.inFlight.load(ordering: .relaxed))),
                ("api", .optional(placement.endpoint.health.api?.rawValue)),
            ])
        }
        return .object([
            ("id", .string(entry.id)),
            ("object", .string("model")),
            (
                "olla",
                .object([
                    ("availability", .array(availability)),
                    ("type", .optional(entry.details.type)),
                    ("max_context_length", .optional(entry.details.maxContextLength)),
                    ("aliases", .array(entry.aliases.map { .string($0) })),
                ])
            ),
        ])
    }

    /// A readable short name for `root` when the host gave none: the last path component, no `.gguf`.
    static func shortName(_ id: String) -> String {
        var name = id.split(separator: "/").last.map(String.init) ?? id
        if name.lowercased().hasSuffix(".gguf") { name.removeLast(5) }
        return name
    }
}
