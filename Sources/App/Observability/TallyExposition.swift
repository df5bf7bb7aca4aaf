import Prometheus

/// A histogram of durations that ``OllaMetrics`` keeps in ``TallyRow``s: one count per bucket, the `+Inf`
/// bucket's own count, then the sum in nanoseconds. Counts are per bucket, not cumulative, so that a request
/// adds to one bucket only.
struct TallyHistogram: Sendable {
    let name: String
    let help: String
    /// The buckets' upper bounds, in nanoseconds.
    let bounds: [Int64]
    /// The buckets' `le` values, as swift-prometheus writes them.
    let boundTexts: [String]

    init(name: String, help: String, buckets: [Duration]) {
        self.name = name
        self.help = help
        bounds = buckets.map { duration in
            duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
        }
        boundTexts = buckets.map(\.bucketRepresentation)
    }

    /// The counts of a row: the buckets, `+Inf`, the sum.
    var rowCount: Int { bounds.count + 2 }
    private var sumIndex: Int { bounds.count + 1 }

    /// Counts one observation into `row` (of the calling thread).
    @inline(__always)
    func record(_ nanoseconds: Int64, into row: TallyRow) {
        // Like swift-prometheus: a value equal to a bound is in that bound's bucket.
        var bucket = 0
        while bucket < bounds.count && nanoseconds > bounds[bucket] { bucket += 1 }
        row.add(1, at: bucket)
        row.add(nanoseconds, at: sumIndex)
    }

    /// Appends the family, one series per label set, each summed over the rows of every loop.
    func write(_ series: [(labels: [(String, String)], rows: [TallyRow])], to buffer: inout [UInt8]) {
        buffer.appendFamily(name, type: "histogram", help: help)
        for (labels, rows) in series {
            let totals = TallyHistogram.sum(rows, count: rowCount)
            var cumulative: Int64 = 0
            for (bucket, bound) in boundTexts.enumerated() {
                cumulative += totals[bucket]
                buffer.appendSample(name + "_bucket", labels: labels + [("le", bound)], value: cumulative)
            }
            // `_count` is the `+Inf` bucket, read in the same pass, so the two always agree.
            cumulative += totals[bounds.count]
            buffer.appendSample(name + "_bucket", labels: labels + [("le", "+Inf")], value: cumulative)
            buffer.appendSample(
                name + "_sum",
                labels: labels,
                text: Duration.nanoseconds(totals[sumIndex]).bucketRepresentation
            )
            buffer.appendSample(name + "_count", labels: labels, value: cumulative)
        }
    }

    /// Each count of `rows`, added over the rows.
    static func sum(_ rows: [TallyRow], count: Int) -> [Int64] {
        (0..<count).map { index in rows.reduce(0) { $0 &+ $1.value(at: index) } }
    }
}

extension [UInt8] {
    /// Appends a family's `# HELP` and `# TYPE` lines, as swift-prometheus writes them.
    mutating func appendFamily(_ name: String, type: String, help: String) {
        append(contentsOf: "# HELP \(name) ".utf8)
        for byte in help.utf8 {
            if byte == UInt8(ascii: "\\") {
                append(contentsOf: #"\\"#.utf8)
            } else {
                append(byte)
            }
        }
        append(contentsOf: "\n# TYPE \(name) \(type)\n".utf8)
    }

    /// Appends a counter's sample.
    mutating func appendSample(_ name: String, labels: [(String, String)], value: Int64) {
        appendSample(name, labels: labels, text: String(value))
    }

    /// Appends one sample line: `name{label="value",...} text`, label values escaped as swift-prometheus does.
    mutating func appendSample(_ name: String, labels: [(String, String)], text: String) {
        append(contentsOf: name.utf8)
        if !labels.isEmpty {
            append(UInt8(ascii: "{"))
            for (index, (label, value)) in labels.enumerated() {
                if index > 0 { append(UInt8(ascii: ",")) }
                append(contentsOf: label.utf8)
                append(contentsOf: #"=""#.utf8)
                for byte in value.utf8 {
                    switch byte {
                    case UInt8(ascii: "\\"): append(contentsOf: #"\\"#.utf8)
                    case UInt8(ascii: "\""): append(contentsOf: #"\""#.utf8)
                    case UInt8(ascii: "\n"): append(contentsOf: #"\n"#.utf8)
                    default: append(byte)
                    }
                }
                append(UInt8(ascii: "\""))
            }
            append(UInt8(ascii: "}"))
        }
        append(UInt8(ascii: " "))
        append(contentsOf: text.utf8)
        append(UInt8(ascii: "\n"))
    }
}
