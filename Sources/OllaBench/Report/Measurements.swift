/// The raw measurements of one `bench/run`, as it records them line by line.
///
/// Two kinds of line:
/// - `meta NAME VALUE...`: a fact about the run (`mode`, `rounds`, `command`, `clk_tck`, ...), the value being the
///   rest of the line;
/// - `KIND key=value key=value ...`: one measurement, e.g.
///   `tput target=olla round=2 requests=181234 seconds=10.0 rps=18123.4 p50_us=1.6 p99_us=4.2 errors=0 ...`.
struct Measurements {
    /// One measurement line.
    struct Record {
        var kind: String
        var fields: [String: String]

        subscript(_ key: String) -> String? { fields[key] }

        /// The field as a number; nil when missing or not a number (`nan`).
        func number(_ key: String) -> Double? {
            guard let text = fields[key], let value = Double(text), value.isFinite else { return nil }
            return value
        }

        /// A comma-separated list of numbers (`ttfts_us=1200,1350,...`); empty when missing or `-`.
        func list(_ key: String) -> [Double] {
            guard let text = fields[key] else { return [] }
            return text.split(separator: ",").compactMap { Double($0) }.filter(\.isFinite)
        }
    }

    var meta: [String: String] = [:]
    var records: [Record] = []

    init(text: String) {
        for line in text.split(whereSeparator: \.isNewline) {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let kind = words.first else { continue }
            if kind == "meta" {
                guard words.count >= 2 else { continue }
                meta[String(words[1])] = words.dropFirst(2).joined(separator: " ")
                continue
            }
            var fields: [String: String] = [:]
            for word in words.dropFirst() {
                guard let equals = word.firstIndex(of: "=") else { continue }
                fields[String(word[..<equals])] = String(word[word.index(after: equals)...])
            }
            records.append(Record(kind: String(kind), fields: fields))
        }
    }

    /// The records of one kind and target, in round order.
    func records(_ kind: String, target: String) -> [Record] {
        records.filter { $0.kind == kind && $0["target"] == target }
            .sorted { (Int($0["round"] ?? "") ?? 0) < (Int($1["round"] ?? "") ?? 0) }
    }

    /// The rounds that have a record of this kind, in order.
    func rounds(_ kind: String) -> [Int] {
        Array(Set(records.filter { $0.kind == kind }.compactMap { Int($0["round"] ?? "") })).sorted()
    }

    /// The record of one kind, target and round.
    func record(_ kind: String, target: String, round: Int) -> Record? {
        records.first { $0.kind == kind && $0["target"] == target && $0["round"] == String(round) }
    }

    /// A list field of every record of one kind and target, joined over the rounds.
    func pooled(_ kind: String, target: String, _ key: String) -> [Double] {
        records(kind, target: target).flatMap { $0.list(key) }
    }

    /// A value per round of one kind and target.
    func values(_ kind: String, target: String, _ key: String) -> [Double] {
        records(kind, target: target).compactMap { $0.number(key) }
    }

    /// A value computed per round from the records of two targets (a difference or a ratio), over the rounds that
    /// have both.
    func paired(
        _ kind: String,
        _ first: String,
        _ second: String,
        _ key: String,
        _ combine: (Double, Double) -> Double?
    ) -> [Double] {
        rounds(kind).compactMap { round in
            guard let a = record(kind, target: first, round: round)?.number(key),
                let b = record(kind, target: second, round: round)?.number(key)
            else { return nil }
            return combine(a, b)
        }
    }
}

/// The statistics the report shows.
enum Statistics {
    /// The median, nil for no values.
    static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// The nearest-rank percentile, nil for no values.
    static func percentile(_ percent: Double, of values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let rank = Int((percent / 100 * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank - 1, 0), sorted.count - 1)]
    }

    /// The mean, nil for no values.
    static func mean(_ values: [Double]) -> Double? {
        values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }
}
