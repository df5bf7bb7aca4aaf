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
