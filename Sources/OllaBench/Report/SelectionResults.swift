import Foundation

/// Reads the selection micro-benchmark's results from ordo-one/benchmark's JMH export.
enum SelectionResults {
    /// How ordo-one/benchmark names the metrics in the export.
    private static let wallClock = "Time (wall clock)"
    private static let mallocs = "Malloc (total)"
    /// The benchmark that measures the empty loop.
    static let harness = "harness"

    /// The p50 of each benchmark, per choice.
    ///
    /// - Important: the benchmarks run `choicesPerIteration` choices per measured iteration (`scalingFactor`), and
    ///   the JMH export holds the figures of a whole iteration (time in microseconds, counts as counted), so they are
    ///   divided here. The mallocs the harness counts in an empty loop are subtracted first.
    static func load(path: String, choicesPerIteration: Double = 1_000) throws -> [Report.Selection] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let elements = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else { return [] }
        var perIteration: [(name: String, nanoseconds: Double?, mallocs: Double?)] = []
        for element in elements {
            guard let benchmark = element["benchmark"] as? String else { continue }
            // "package.benchmark.<target>.<name>", the name with spaces made underscores.
            let name = benchmark.split(separator: ".").dropFirst(3).joined(separator: ".")
                .replacingOccurrences(of: "_", with: " ")
            let secondary = element["secondaryMetrics"] as? [String: Any] ?? [:]
            func p50(_ metric: String) -> Double? {
                guard let metric = secondary[metric] as? [String: Any],
                    let percentiles = metric["scorePercentiles"] as? [String: Any]
                else { return nil }
                return (percentiles["50.0"] as? NSNumber)?.doubleValue
            }
            perIteration.append((name, p50(wallClock).map { $0 * 1_000 }, p50(mallocs)))
        }
        let harnessMallocs = perIteration.first { $0.name == harness }?.mallocs ?? 0
        let order = ["resolve+acquire+release", "choose", harness]
        return perIteration.map { result in
            let net = result.name == harness ? result.mallocs : result.mallocs.map { max($0 - harnessMallocs, 0) }
            return Report.Selection(
                name: result.name,
                nanosecondsP50: result.nanoseconds.map { $0 / choicesPerIteration },
                mallocsP50: net.map { $0 / choicesPerIteration }
            )
        }
        .sorted { (order.firstIndex(of: $0.name) ?? order.count) < (order.firstIndex(of: $1.name) ?? order.count) }
    }
}
