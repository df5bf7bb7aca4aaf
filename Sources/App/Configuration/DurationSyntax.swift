import Foundation

/// Why a configuration value was refused; the message completes "<key path>: ...".
struct ValueProblem: Error, Sendable, Equatable {
    var message: String

    init(_ message: String) {
        self.message = message
    }
}

/// Go's duration syntax (`500ms`, `5s`, `1m30s`, `1.5h`), which Olla's configuration uses.
enum DurationSyntax {
    private static let nanosecondsPerUnit: [String: Int64] = [
        "ns": 1,
        "us": 1_000,
        "\u{00B5}s": 1_000,  // micro sign, as Go accepts
        "\u{03BC}s": 1_000,  // Greek mu, as Go accepts
        "ms": 1_000_000,
        "s": 1_000_000_000,
        "m": 60_000_000_000,
        "h": 3_600_000_000_000,
    ]

    /// Parses a duration made of one or more `<number><unit>` parts (units ns, us, ms, s, m, h).
    ///
    /// A bare number is refused rather than guessed: `5` could mean seconds or milliseconds.
    static func parse(_ text: String) -> Result<Duration, ValueProblem> {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty {
            return .failure(ValueProblem("must be a duration such as 5s, found nothing"))
        }
        if trimmed.hasPrefix("-") {
            return .failure(ValueProblem("must not be negative, found \(trimmed)"))
        }
        let isNumeral = trimmed.allSatisfy { $0.isASCII && ($0.isNumber || $0 == "." || $0 == "+") }
        if isNumeral && trimmed.contains(where: \.isNumber) {
            return .failure(ValueProblem("needs a unit, e.g. \(trimmed)s (units: ns, us, ms, s, m, h)"))
        }
        var rest = Substring(trimmed)
        if rest.hasPrefix("+") { rest = rest.dropFirst() }
        if rest.isEmpty {
            return .failure(ValueProblem("must be a duration such as 5s or 1m30s, found \(trimmed)"))
        }
        var total: Int64 = 0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { !($0.isASCII && ($0.isNumber || $0 == ".")) }
            rest = rest.dropFirst(unit.count)
            guard let whole = DecimalText(number) else {
                return .failure(ValueProblem("must be a duration such as 5s or 1m30s, found \(trimmed)"))
            }
            if unit.isEmpty {
                return .failure(ValueProblem("needs a unit after \(number) in \(trimmed) (units: ns, us, ms, s, m, h)"))
            }
            guard let scale = nanosecondsPerUnit[String(unit)] else {
                return .failure(
                    ValueProblem("has an unknown unit \"\(unit)\" in \(trimmed); use ns, us, ms, s, m or h")
                )
            }
            guard let part = whole.scaled(by: scale) else {
                return .failure(ValueProblem("is too long: \(trimmed)"))
            }
            let (sum, overflow) = total.addingReportingOverflow(part)
            if overflow {
                return .failure(ValueProblem("is too long: \(trimmed)"))
            }
            total = sum
        }
        return .success(.nanoseconds(total))
    }

    /// Writes a duration the way this syntax reads it back (`500ms`, `5s`, `1m30s`, `10m`, `0s`).
    static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let nanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        if nanoseconds == 0 { return "0s" }
        if nanoseconds < 0 { return "-" + format(.nanoseconds(-nanoseconds)) }
        if nanoseconds < 1_000_000_000 {
            if nanoseconds % 1_000_000 == 0 { return "\(nanoseconds / 1_000_000)ms" }
            if nanoseconds % 1_000 == 0 { return "\(nanoseconds / 1_000)us" }
            return "\(nanoseconds)ns"
        }
        let hours = nanoseconds / 3_600_000_000_000
        let minutes = nanoseconds % 3_600_000_000_000 / 60_000_000_000
        let secondsPart = nanoseconds % 60_000_000_000
        var text = ""
        if hours > 0 { text += "\(hours)h" }
        if minutes > 0 { text += "\(minutes)m" }
        if secondsPart > 0 {
            let whole = secondsPart / 1_000_000_000
            var fraction = String(secondsPart % 1_000_000_000)
            if fraction != "0" {
                fraction = String(repeating: "0", count: 9 - fraction.count) + fraction
                while fraction.hasSuffix("0") { fraction.removeLast() }
                text += "\(whole).\(fraction)s"
            } else {
                text += "\(whole)s"
            }
        }
        return text
    }
}

/// A non-negative decimal number as written (`12`, `1.5`, `.5`), kept exact so that `1.1s` is 1.1 s.
struct DecimalText: Sendable, Equatable {
    var whole: Int64
    /// Fraction digits, at most 9 kept (nanosecond and byte precision need no more).
    var fractionDigits: Substring
    var hasFraction: Bool

    /// Reads digits with at most one `.`; `nil` when there is no digit at all or the number is too large.
    init?(_ text: Substring) {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let wholeText = parts[0]
        let fractionText = parts.count > 1 ? parts[1] : ""
        guard !(wholeText.isEmpty && fractionText.isEmpty), !fractionText.contains(".") else { return nil }
        guard wholeText.allSatisfy({ $0.isASCII && $0.isNumber }),
            fractionText.allSatisfy({ $0.isASCII && $0.isNumber })
        else { return nil }
        if wholeText.isEmpty {
            whole = 0
        } else {
            guard let value = Int64(wholeText) else { return nil }
            whole = value
        }
        fractionDigits = fractionText.prefix(9)
        hasFraction = parts.count > 1
    }

    /// The number times `scale`, rounded toward zero; `nil` on overflow.
    func scaled(by scale: Int64) -> Int64? {
        let (wholePart, overflow) = whole.multipliedReportingOverflow(by: scale)
        if overflow { return nil }
        guard !fractionDigits.isEmpty, let fraction = UInt64(fractionDigits) else { return wholePart }
        var divisor: UInt64 = 1
        for _ in fractionDigits { divisor *= 10 }
        // fraction < divisor, so the quotient is below `scale` and fits.
        let product = fraction.multipliedFullWidth(by: UInt64(scale))
        let (quotient, _) = divisor.dividingFullWidth(product)
        let (sum, sumOverflow) = wholePart.addingReportingOverflow(Int64(quotient))
        return sumOverflow ? nil : sum
    }
}
