import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore

/// `olla models`: which models are on which host, loaded or not, read from a running olla's `/olla/models`.
struct Models: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show which models are on which hosts, and whether they are loaded, as a table.",
        discussion:
            "Reads GET /olla/models of a running olla. Cells: loaded, not-loaded, listed (the host gave no state), or '-'; "
            + "on a host that reports slots (LM Studio 0.4, shown after its name), also the slots in use of its slots."
    )

    @Option(name: .long, help: ArgumentHelp("The running olla.", valueName: "url"))
    var url: String = "http://localhost:40114"

    func run() async throws {
        let address = url.hasSuffix("/") ? String(url.dropLast()) : url
        // Its own client: the shared one retries a refused connection until the deadline, and a person
        // typing `olla models` should hear at once that nothing listens there.
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(3)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let result = await Self.fetchModels(address, client: client)
        try? await client.shutdown()
        let body: ByteBuffer
        switch result {
        case .success(let fetched): body = fetched
        case .failure(let problem): failAndExit(problem.message)
        }
        guard let table = ModelTable(json: Data(body.readableBytesView)) else {
            failAndExit("\(address)/olla/models did not answer a model list")
        }
        print(table.render(), terminator: "")
    }
}

extension Models {
    struct Problem: Error {
        let message: String
    }

    /// `GET /olla/models` of the olla at `address`.
    static func fetchModels(_ address: String, client: HTTPClient) async -> Result<ByteBuffer, Problem> {
        do {
            var request = HTTPClientRequest(url: address + "/olla/models")
            request.headers.add(name: "Accept", value: "application/json")
            if let key = ProcessInfo.processInfo.environment["OLLA_API_KEY"], !key.isEmpty {
                request.headers.add(name: "Authorization", value: "Bearer \(key)")
            }
            let response = try await client.execute(request, timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 32 * 1024 * 1024)
            guard response.status == .ok else {
                return .failure(
                    Problem(message: "\(address)/olla/models answered \(response.status.code): \(String(buffer: body))")
                )
            }
            return .success(body)
        } catch {
            return .failure(Problem(message: "cannot reach olla at \(address): \(Self.describe(error))"))
        }
    }
}

extension Models {
    /// A short reason for a failed request: NIO's own texts read "connection reset (error set): ..." even
    /// for a refusal.
    static func describe(_ error: any Error) -> String {
        let text = "\(error)"
        for reason in ["Connection refused", "Connection reset", "Network is unreachable", "No route to host"]
        where text.contains(reason) {
            return reason.lowercased()
        }
        if text.contains("connectTimeout") || text.contains("Connect timeout") { return "connection timed out" }
        return text
    }
}

/// The matrix `olla models` prints: one row per model, one column per host.
struct ModelTable {
    struct Row {
        var id: String
        var type: String
        /// endpoint -> state
        var states: [String: String]
    }

    var rows: [Row] = []
    /// Hosts in order of first appearance, with their health and API generation.
    var endpoints: [(name: String, status: String, api: String?)] = []

    /// Parses `/olla/models`; nil when the document is not a model list.
    init?(json: Data) {
        guard let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any],
            let data = object["data"] as? [[String: Any]]
        else { return nil }
        for model in data {
            guard let id = model["id"] as? String else { continue }
            let olla = model["olla"] as? [String: Any] ?? [:]
            var row = Row(id: id, type: olla["type"] as? String ?? "", states: [:])
            for place in olla["availability"] as? [[String: Any]] ?? [] {
                guard let endpoint = place["endpoint"] as? String else { continue }
                let state = place["state"] as? String ?? "unknown"
                var cell = state == "unknown" ? "listed" : state
                if let slots = place["slots"] as? Int {
                    cell += " \(place["slots_in_use"] as? Int ?? 0)/\(slots)"
                }
                row.states[endpoint] = cell
                if !endpoints.contains(where: { $0.name == endpoint }) {
                    endpoints.append((endpoint, place["status"] as? String ?? "unknown", place["api"] as? String))
                }
            }
            rows.append(row)
        }
    }

    /// The table as text, columns padded to their widest cell.
    func render() -> String {
        guard !rows.isEmpty else { return "No models known yet (are the hosts up? see /internal/status/endpoints).\n" }
        var header = ["MODEL", "TYPE"]
        header += endpoints.map { endpoint in
            let name = endpoint.api.map { "\(endpoint.name) [\($0)]" } ?? endpoint.name
            return endpoint.status == "healthy" ? name : "\(name) (\(endpoint.status))"
        }
        var lines = [header]
        for row in rows {
            lines.append([row.id, row.type.isEmpty ? "-" : row.type] + endpoints.map { row.states[$0.name] ?? "-" })
        }
        var widths = [Int](repeating: 0, count: header.count)
        for line in lines {
            for (index, cell) in line.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        var out = ""
        for line in lines {
            let cells = line.enumerated().map { index, cell in
                index == line.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }
            out += cells.joined(separator: "  ") + "\n"
        }
        return out
    }
}
