/// Reads samples out of Prometheus text exposition (`name{label="value",...} 12`), so that the dashboard's
/// sampler gets its totals from the metrics olla already keeps instead of counting every request twice.
///
/// Only what the registry writes is understood: one sample per line, `# HELP`/`# TYPE` comments, label
/// values escaped with `\\`, `\"` and `\n`. A line it cannot read is skipped.
struct ExpositionReader {
    /// One sample line.
    struct Sample {
        var name: Substring
        var labels: [(name: Substring, value: String)]
        var value: Double

        /// The value of the label `name`, nil when the sample has no such label.
        func label(_ name: String) -> String? {
            labels.first { $0.name == name }?.value
        }
    }

    /// Calls `body` with every sample of `text`, in order.
    static func forEachSample(in text: String, _ body: (Sample) -> Void) {
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) where line.first != "#" {
            if let sample = sample(line) { body(sample) }
        }
    }

    /// One line read as a sample; nil when it is not one.
    static func sample(_ line: Substring) -> Sample? {
        guard let nameEnd = line.firstIndex(where: { $0 == "{" || $0 == " " }) else { return nil }
        let name = line[..<nameEnd]
        var labels: [(name: Substring, value: String)] = []
        var rest = line[nameEnd...]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                guard let equals = rest.firstIndex(of: "="), rest[rest.index(after: equals)...].first == "\"" else {
                    return nil
                }
                let labelName = rest[..<equals]
                rest = rest[rest.index(equals, offsetBy: 2)...]
                var value = ""
                var escaped = false
                var closed = false
                while let character = rest.popFirst() {
                    if escaped {
                        value.append(character == "n" ? "\n" : character)
                        escaped = false
                    } else if character == "\\" {
                        escaped = true
                    } else if character == "\"" {
                        closed = true
                        break
                    } else {
                        value.append(character)
                    }
                }
                guard closed else { return nil }
                labels.append((labelName, value))
                if rest.first == "," { rest = rest.dropFirst() }
                guard !rest.isEmpty else { return nil }
            }
            rest = rest.dropFirst()
        }
        let fields = rest.split(separator: " ", omittingEmptySubsequences: true)
        guard let first = fields.first, let value = Double(first) ?? Self.special(first) else { return nil }
        return Sample(name: name, labels: labels, value: value)
    }

    private static func special(_ text: Substring) -> Double? {
        switch text {
        case "+Inf": return .infinity
        case "-Inf": return -.infinity
        case "NaN": return .nan
        default: return nil
        }
    }
}
