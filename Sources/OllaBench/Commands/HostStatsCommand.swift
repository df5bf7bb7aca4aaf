import ArgumentParser
import Foundation

/// `olla-bench host-stats`: sums up what simulated hosts counted (their `GET /_sim/stats` answers).
struct HostStatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "host-stats",
        abstract: "Sum up the /_sim/stats answers of several lmstudio-sim hosts.",
        discussion: """
            Reads one JSON body of GET /_sim/stats per file (the HTTP head, when present, is skipped) and prints \
            one line of key=value pairs: hosts, route_requests (the route's requests per host, in the order of \
            the files, comma-separated), busiest_over_mean (the most requests on one host over the mean), \
            cache_hits, cache_misses, cache_tokens_processed, cache_tokens_reused (summed over the hosts).
            """
    )

    @Argument(help: "Files holding the hosts' GET /_sim/stats answers.")
    var files: [String]

    @Option(help: "The route whose requests are counted, as requests_by_route names it.")
    var route = "POST /v1/chat/completions"

    func run() throws {
        var stats: [HostStats] = []
        for file in files {
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            guard let host = HostStats(response: data) else {
                throw ValidationError("\(file) holds no JSON object of /_sim/stats")
            }
            stats.append(host)
        }
        print(HostStats.line(stats, route: route))
    }
}

/// What one simulated host counted, from its `GET /_sim/stats` answer (see `SimulatorStats.jsonObject`).
struct HostStats {
    var requestsByRoute: [String: Int]
    var promptCacheHits: Int
    var promptCacheMisses: Int
    var promptTokensProcessed: Int
    var promptTokensReused: Int

    /// Reads the JSON object of an answer's body; an HTTP head before it (up to the blank line) is skipped.
    init?(response: Data) {
        var body = response
        if body.starts(with: Data("HTTP/".utf8)), let end = body.range(of: Data("\r\n\r\n".utf8)) {
            body = body.subdata(in: end.upperBound..<body.endIndex)
        }
        guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else { return nil }
        func int(_ key: String) -> Int { (object[key] as? NSNumber)?.intValue ?? 0 }
        requestsByRoute = [:]
        for (route, count) in object["requests_by_route"] as? [String: Any] ?? [:] {
            requestsByRoute[route] = (count as? NSNumber)?.intValue ?? 0
        }
        promptCacheHits = int("prompt_cache_hits")
        promptCacheMisses = int("prompt_cache_misses")
        promptTokensProcessed = int("prompt_tokens_processed")
        promptTokensReused = int("prompt_tokens_reused")
    }

    /// The summary line of several hosts.
    static func line(_ hosts: [HostStats], route: String) -> String {
        let requests = hosts.map { $0.requestsByRoute[route, default: 0] }
        let total = requests.reduce(0, +)
        let mean = hosts.isEmpty ? 0 : Double(total) / Double(hosts.count)
        let busiest = requests.max() ?? 0
        return [
            "hosts=\(hosts.count)",
            "route_requests=\(requests.isEmpty ? "-" : requests.map(String.init).joined(separator: ","))",
            "busiest_over_mean=\(mean > 0 ? String(format: "%.3f", Double(busiest) / mean) : "nan")",
            "cache_hits=\(hosts.reduce(0) { $0 + $1.promptCacheHits })",
            "cache_misses=\(hosts.reduce(0) { $0 + $1.promptCacheMisses })",
            "cache_tokens_processed=\(hosts.reduce(0) { $0 + $1.promptTokensProcessed })",
            "cache_tokens_reused=\(hosts.reduce(0) { $0 + $1.promptTokensReused })",
        ].joined(separator: " ")
    }
}
