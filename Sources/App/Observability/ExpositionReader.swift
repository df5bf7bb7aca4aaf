/// Reads samples out of Prometheus text exposition (`name{label="value",...} 12`), so that the dashboard's
/// sampler gets its totals from the metrics olla already keeps instead of counting every request twice.
///
/// Only what the registry writes is understood: one sample per line, `# HELP`/`# TYPE` comments, label
/// values escaped with `\\`, `\"` and `\n`. A line it cannot read is skipped. It works on bytes and skips the
/// lines of families it was not asked for before reading their labels: it runs once a second over the whole
/// registry.
struct ExpositionReader {
    /// One sample line.
    struct Sample {
        var name: String
        var labels: [(name: String, value: String)]
        var value: Double

        /// The value of the label `name`, nil when the sample has no such label.
        func label(_ name: String) -> String? {
            labels.first { $0.name == name }?.value
        }
    }

    /// Calls `body` with every sample of `exposition` whose metric name is one of `names` (all when nil).
    static func forEachSample(in exposition: [UInt8], names: Set<String>? = nil, _ body: (Sample) -> Void) {
        let wanted = names.map { Set($0.map { Array($0.utf8) }) }
        var start = 0
        while start < exposition.count {
            let end = exposition[start...].firstIndex(of: newline) ?? exposition.count
            let line = exposition[start..<end]
            start = end + 1
            guard let first = line.first, first != UInt8(ascii: "#") else { continue }
            let nameEnd = line.firstIndex { $0 == openBrace || $0 == space } ?? line.endIndex
            if let wanted, !wanted.contains(Array(line[..<nameEnd])) { continue }
            if let sample = sample(line) { body(sample) }
        }
    }

    /// Calls `body` with every sample of `text` whose metric name is one of `names` (all when nil).
    static func forEachSample(in text: String, names: Set<String>? = nil, _ body: (Sample) -> Void) {
        forEachSample(in: Array(text.utf8), names: names, body)
    }

    /// One line read as a sample; nil when it is not one.
    static func sample(_ line: ArraySlice<UInt8>) -> Sample? {
        guard let nameEnd = line.firstIndex(where: { $0 == openBrace || $0 == space }) else { return nil }
        let name = String(decoding: line[..<nameEnd], as: UTF8.self)
        var labels: [(name: String, value: String)] = []
        var index = nameEnd
        if line[index] == openBrace {
            index += 1
            while index < line.endIndex && line[index] != closeBrace {
                guard let equals = line[index...].firstIndex(of: equalsSign), equals + 1 < line.endIndex,
                    line[equals + 1] == quote
                else { return nil }
                let labelName = String(decoding: line[index..<equals], as: UTF8.self)
                index = equals + 2
                var value: [UInt8] = []
                var closed = false
                while index < line.endIndex {
                    let byte = line[index]
                    index += 1
                    if byte == backslash, index < line.endIndex {
                        value.append(line[index] == UInt8(ascii: "n") ? newline : line[index])
                        index += 1
                    } else if byte == quote {
                        closed = true
                        break
                    } else {
                        value.append(byte)
                    }
                }
                guard closed else { return nil }
                labels.append((labelName, String(decoding: value, as: UTF8.self)))
                if index < line.endIndex && line[index] == comma { index += 1 }
            }
            guard index < line.endIndex else { return nil }
            index += 1
        }
        let rest = line[index...].drop { $0 == space }
        let field = rest.prefix { $0 != space }
        guard let value = number(String(decoding: field, as: UTF8.self)) else { return nil }
        return Sample(name: name, labels: labels, value: value)
    }

    /// The line as a sample, for tests.
    static func sample(_ line: String) -> Sample? {
        sample(Array(line.utf8)[...])
    }

    private static func number(_ text: String) -> Double? {
        switch text {
        case "+Inf": return .infinity
        case "-Inf": return -.infinity
        case "NaN": return .nan
        default: return Double(text)
        }
    }

    private static let newline = UInt8(ascii: "\n")
    private static let space = UInt8(ascii: " ")
    private static let openBrace = UInt8(ascii: "{")
    private static let closeBrace = UInt8(ascii: "}")
    private static let equalsSign = UInt8(ascii: "=")
    private static let quote = UInt8(ascii: "\"")
    private static let backslash = UInt8(ascii: "\\")
    private static let comma = UInt8(ascii: ",")
}
