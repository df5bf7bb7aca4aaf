import Foundation

/// A Prometheus text exposition (format 0.0.4), parsed as strictly as a Prometheus server reads a scrape, so a
/// test finds what a server would refuse: `# HELP`, `# TYPE`, samples `name{label="value",...} value [timestamp]`.
///
/// Checked while parsing: names and label names are valid; label values are quoted with only `\\`, `\"` and
/// `\n` escapes; every sample's family has one TYPE, given before its first sample; a family's lines form one
/// group; no series appears twice; counters are not negative; a histogram's buckets are cumulative and end
/// with `le="+Inf"` equal to its `_count`, next to a `_sum`.
struct PrometheusExposition {
    /// One line of data.
    struct Sample: Sendable, Equatable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    /// Why the text is not a valid exposition, with the 1-based line at fault.
    struct FormatError: Error, CustomStringConvertible {
        var line: Int
        var reason: String
        var text: String
        var description: String { "line \(line): \(reason): \(text)" }
    }

    private(set) var samples: [Sample] = []
    /// Family name -> `counter`, `gauge`, `histogram`, `summary` or `untyped`.
    private(set) var types: [String: String] = [:]
    private(set) var helps: [String: String] = [:]

    init(parsing text: String) throws {
        guard text.isEmpty || text.hasSuffix("\n") else {
            throw FormatError(line: 0, reason: "the exposition does not end with a line feed", text: "")
        }
        var finishedFamilies: Set<String> = []
        var currentFamily: String?
        var seenSeries: Set<String> = []
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        for (offset, rawLine) in lines.enumerated() {
            let number = offset + 1
            let line = String(rawLine)
            func fail(_ reason: String) -> FormatError { FormatError(line: number, reason: reason, text: line) }
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }

            // The group a line belongs to, for the "one group per family" rule.
            let family: String
            if line.hasPrefix("#") {
                let words = line.dropFirst().split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
                guard words.count >= 2, words[0] == "HELP" || words[0] == "TYPE" else { continue }  // a comment
                let name = String(words[1])
                guard Self.isMetricName(name) else { throw fail("invalid metric name in \(words[0])") }
                family = name
                if words[0] == "TYPE" {
                    guard words.count == 3 else { throw fail("TYPE without a type") }
                    let type = String(words[2])
                    guard ["counter", "gauge", "histogram", "summary", "untyped"].contains(type) else {
                        throw fail("unknown type \(type)")
                    }
                    guard types[name] == nil else { throw fail("second TYPE line for \(name)") }
                    guard !samples.contains(where: { self.family(of: $0.name) == name }) else {
                        throw fail("TYPE after samples of \(name)")
                    }
                    types[name] = type
                } else {
                    guard helps[name] == nil else { throw fail("second HELP line for \(name)") }
                    helps[name] = words.count == 3 ? String(words[2]) : ""
                }
            } else {
                let sample = try Self.parseSample(line, fail: fail)
                guard let owner = self.family(of: sample.name) else {
                    throw fail("sample of \(sample.name) has no TYPE for its family")
                }
                family = owner
                let series =
                    sample.name + "{"
                    + sample.labels.sorted { $0.key < $1.key }.map { "\($0)=\($1)" }
                    .joined(separator: ",") + "}"
                guard seenSeries.insert(series).inserted else { throw fail("series \(series) appears twice") }
                if types[owner] == "counter", sample.value < 0 { throw fail("negative counter") }
                samples.append(sample)
            }
            if family != currentFamily {
                if let currentFamily { finishedFamilies.insert(currentFamily) }
                guard !finishedFamilies.contains(family) else {
                    throw fail("lines of \(family) are not one group")
                }
                currentFamily = family
            }
        }
        try checkHistograms()
    }

    /// The family a sample name belongs to, given the TYPE lines read so far.
    func family(of name: String) -> String? {
        if types[name] != nil, !(types[name] == "histogram" || types[name] == "summary") { return name }
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if types[base] == "histogram" { return base }
            if types[base] == "summary", suffix != "_bucket" { return base }
        }
        if types[name] == "summary" { return name }  // a summary's quantile lines
        return nil
    }

    /// The value of the series `name` with exactly `labels`.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    /// Every sample of the series called `name`.
    func samples(named name: String) -> [Sample] {
        samples.filter { $0.name == name }
    }

    /// Every label value of every sample.
    var labelValues: Set<String> {
        Set(samples.flatMap { $0.labels.values })
    }

    // MARK: Parsing

    static func isMetricName(_ name: String) -> Bool {
        name.wholeMatch(of: /[a-zA-Z_:][a-zA-Z0-9_:]*/) != nil
    }

    static func isLabelName(_ name: String) -> Bool {
        name.wholeMatch(of: /[a-zA-Z_][a-zA-Z0-9_]*/) != nil
    }

    private static func parseSample(_ line: String, fail: (String) -> FormatError) throws -> Sample {
        let characters = Array(line)
        var index = 0
        while index < characters.count, characters[index] != "{", characters[index] != " " { index += 1 }
        let name = String(characters[0..<index])
        guard isMetricName(name) else { throw fail("invalid metric name") }
        var labels: [String: String] = [:]
        if index < characters.count, characters[index] == "{" {
            index += 1
            while true {
                guard index < characters.count else { throw fail("unclosed label set") }
                if characters[index] == "}" {
                    index += 1
                    break
                }
                var labelEnd = index
                while labelEnd < characters.count, characters[labelEnd] != "=" { labelEnd += 1 }
                let labelName = String(characters[index..<labelEnd])
                guard isLabelName(labelName) else { throw fail("invalid label name \(labelName)") }
                index = labelEnd + 1
                guard index < characters.count, characters[index] == "\"" else {
                    throw fail("label value of \(labelName) is not quoted")
                }
                index += 1
                var value = ""
                var closed = false
                while index < characters.count {
                    let character = characters[index]
                    if character == "\\" {
                        guard index + 1 < characters.count else { throw fail("escape at the end of the line") }
                        switch characters[index + 1] {
                        case "\\": value.append("\\")
                        case "\"": value.append("\"")
                        case "n": value.append("\n")
                        default: throw fail("invalid escape in the value of \(labelName)")
                        }
                        index += 2
                    } else if character == "\"" {
                        index += 1
                        closed = true
                        break
                    } else {
                        value.append(character)
                        index += 1
                    }
                }
                guard closed else { throw fail("unterminated label value of \(labelName)") }
                guard labels.updateValue(value, forKey: labelName) == nil else {
                    throw fail("label \(labelName) given twice")
                }
                guard index < characters.count else { throw fail("unclosed label set") }
                if characters[index] == "," {
                    index += 1
                } else if characters[index] != "}" {
                    throw fail("expected , or } after the value of \(labelName)")
                }
            }
        }
        let rest = String(characters[index...]).split(separator: " ", omittingEmptySubsequences: true)
        guard rest.count == 1 || rest.count == 2, index < characters.count, characters[index] == " " else {
            throw fail("expected a value, and at most a timestamp, after the name")
        }
        guard let value = parseValue(String(rest[0])) else { throw fail("invalid value \(rest[0])") }
        if rest.count == 2, Int64(rest[1]) == nil { throw fail("invalid timestamp \(rest[1])") }
        return Sample(name: name, labels: labels, value: value)
    }

    private static func parseValue(_ text: String) -> Double? {
        switch text {
        case "+Inf": return .infinity
        case "-Inf": return -.infinity
        case "NaN": return .nan
        default:
            guard text.wholeMatch(of: /[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/) != nil else { return nil }
            return Double(text)
        }
    }

    private func checkHistograms() throws {
        for (family, type) in types where type == "histogram" {
            let buckets = samples(named: family + "_bucket")
            var series: [[String: String]: [(le: Double, count: Double)]] = [:]
            for bucket in buckets {
                guard let le = bucket.labels["le"], let bound = Self.parseValue(le) else {
                    throw FormatError(line: 0, reason: "bucket of \(family) without a valid le", text: "\(bucket)")
                }
                var key = bucket.labels
                key["le"] = nil
                series[key, default: []].append((bound, bucket.value))
            }
            for (labels, list) in series {
                let sorted = list.sorted { $0.le < $1.le }
                for (lower, upper) in zip(sorted, sorted.dropFirst()) where upper.count < lower.count {
                    throw FormatError(line: 0, reason: "buckets of \(family) are not cumulative", text: "\(labels)")
                }
                guard let last = sorted.last, last.le == .infinity else {
                    throw FormatError(line: 0, reason: "\(family) has no +Inf bucket", text: "\(labels)")
                }
                guard value(family + "_count", labels) == last.count else {
                    throw FormatError(line: 0, reason: "\(family)_count is not its +Inf bucket", text: "\(labels)")
                }
                guard value(family + "_sum", labels) != nil else {
                    throw FormatError(line: 0, reason: "\(family) has no _sum", text: "\(labels)")
                }
            }
        }
    }
}
