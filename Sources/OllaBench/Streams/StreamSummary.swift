import Foundation

/// The figures of one stream load: completion counts and percentiles of time to first event and of the gaps
/// between events, over every stream.
struct StreamSummary {
    var streams: Int
    var completed: Int
    /// Failure reasons with how many streams had each, most frequent first.
    var failures: [(reason: String, count: Int)]
    var dataEvents: Int
    var timeToFirstEventP50: Double?
    var timeToFirstEventP99: Double?
    var gapP50: Double?
    var gapP99: Double?
    var gapMax: Double?

    init(records: [StreamRecord]) {
        streams = records.count
        completed = records.count { $0.completed }
        var reasons: [String: Int] = [:]
        for record in records where !record.completed {
            reasons[(record.failure ?? .noDone).description, default: 0] += 1
        }
        failures = reasons.map { (reason: $0.key, count: $0.value) }.sorted { $0.count > $1.count }
        dataEvents = records.reduce(0) { $0 + $1.dataEvents }
        // Every stream that got an answer counts for the timings, so a failure shows in the counts and not as a gap
        // in the percentiles.
        let firsts = records.compactMap(\.timeToFirstEvent).sorted()
        timeToFirstEventP50 = Self.percentile(50, of: firsts)
        timeToFirstEventP99 = Self.percentile(99, of: firsts)
        var gaps: [UInt64] = []
        gaps.reserveCapacity(dataEvents)
        for record in records { gaps.append(contentsOf: record.gaps) }
        gaps.sort()
        gapP50 = Self.percentile(50, of: gaps)
        gapP99 = Self.percentile(99, of: gaps)
        gapMax = gaps.last.map { Double($0) / 1_000 }
    }

    /// The nearest-rank percentile of sorted nanosecond values, in microseconds.
    static func percentile(_ percent: Double, of sorted: [UInt64]) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((percent / 100 * Double(sorted.count)).rounded(.up))
        let index = min(max(rank - 1, 0), sorted.count - 1)
        return Double(sorted[index]) / 1_000
    }

    /// One line of `key=value` pairs, the form `bench/run` records and `olla-bench report` reads.
    var line: String {
        var fields = [
            "streams=\(streams)",
            "completed=\(completed)",
            "failed=\(streams - completed)",
            "events=\(dataEvents)",
        ]
        func add(_ key: String, _ value: Double?) {
            fields.append("\(key)=\(value.map { String(format: "%.1f", $0) } ?? "nan")")
        }
        add("ttft_p50_us", timeToFirstEventP50)
        add("ttft_p99_us", timeToFirstEventP99)
        add("gap_p50_us", gapP50)
        add("gap_p99_us", gapP99)
        add("gap_max_us", gapMax)
        return fields.joined(separator: " ")
    }
}
