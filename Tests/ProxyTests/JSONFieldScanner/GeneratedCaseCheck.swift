import Foundation

@testable import Proxy

/// Runs generated cases against a time budget and gathers disagreements, so a property or fuzz test
/// reports its first few failures in full (with the seed that rebuilds each) and the rest as a count,
/// instead of thousands of identical issues.
struct GeneratedCaseRun {
    let name: String
    let budget: Duration
    let maximumCases: Int
    private let clock = ContinuousClock()
    private let start: ContinuousClock.Instant
    private(set) var cases = 0
    private(set) var failures: [String] = []
    private(set) var failureCount = 0
    /// Set `OLLA_FUZZ_TRACE=1` to print every case seed before it runs: a crash or hang in the scanner
    /// kills the process before any report, and the last printed seed is then the culprit.
    private let traces = ProcessInfo.processInfo.environment["OLLA_FUZZ_TRACE"] == "1"

    init(name: String, budget: Duration, maximumCases: Int) {
        self.name = name
        self.budget = budget
        self.maximumCases = maximumCases
        start = clock.now
    }

    var elapsed: Duration { clock.now - start }

    /// Whether another case fits in the budget; traces the seed of the case about to run.
    mutating func next(seed: UInt64) -> Bool {
        guard cases < maximumCases, elapsed < budget else { return false }
        cases += 1
        if traces { print("\(name): case seed \(Self.hex(seed))") }
        return true
    }

    mutating func fail(seed: UInt64, body: [UInt8], _ message: String) {
        failureCount += 1
        if failures.count < 5 {
            failures.append("case seed \(Self.hex(seed)): \(message)\n  body: \(Self.describe(body))")
        }
    }

    var report: String {
        let seconds = Double(elapsed.components.attoseconds) / 1e18 + Double(elapsed.components.seconds)
        return "\(name): \(cases) cases in \(String(format: "%.2f", seconds)) s, \(failureCount) disagreements"
            + (failures.isEmpty ? "" : "\n" + failures.joined(separator: "\n"))
    }

    static func hex(_ seed: UInt64) -> String {
        "0x" + String(seed, radix: 16, uppercase: true)
    }

    /// The body as a Swift-escaped string when it is UTF-8, its bytes in hex otherwise; long bodies are cut.
    static func describe(_ body: [UInt8]) -> String {
        let shown = Array(body.prefix(600))
        let suffix = body.count > shown.count ? " ... (\(body.count) bytes)" : ""
        if let text = String(validating: shown, as: UTF8.self) { return text.debugDescription + suffix }
        return shown.map { String(format: "%02X", $0) }.joined(separator: " ") + suffix
    }
}

/// Checks that `modelRange` of an accepted body is the model's string token: inside the body, quoted,
/// and decoding (by Foundation) to the model the scanner reported.
func modelRangeProblem(in body: [UInt8]) -> String? {
    modelRangeProblem(in: body, result: JSONFieldScanner.scan(body))
}

/// The same check on a scan already made.
func modelRangeProblem(
    in body: [UInt8],
    result: Result<JSONFieldScanner.Fields, JSONFieldScanner.Malformed>
) -> String? {
    guard case .success(let fields) = result else { return nil }
    if fields.model != nil && fields.modelIsNotAString { return "a string model flagged as not a string" }
    guard let model = fields.model else {
        return fields.modelRange == nil ? nil : "modelRange \(fields.modelRange!) without a model"
    }
    guard let range = fields.modelRange else { return "model without modelRange" }
    guard range.lowerBound >= 0, range.upperBound <= body.count, range.count >= 2 else {
        return "modelRange \(range) outside a body of \(body.count) bytes"
    }
    let token = Array(body[range])
    guard token.first == UInt8(ascii: "\""), token.last == UInt8(ascii: "\"") else {
        return "modelRange \(range) is not a string token: \(GeneratedCaseRun.describe(token))"
    }
    // Foundation refuses what the scanner deliberately tolerates in a model (invalid UTF-8, lone
    // surrogates); the range is then checked for its quotes only.
    guard FoundationReference.untrustworthyReason(for: token) == nil,
        let decoded = try? JSONSerialization.jsonObject(with: Data(token), options: [.fragmentsAllowed]) as? String
    else { return nil }
    if Array(decoded.utf8) != Array(model.utf8) {
        return "modelRange token decodes to \(decoded.debugDescription), model is \(model.debugDescription)"
    }
    return nil
}

extension GeneratedJSON {
    /// What the document means at its top level, straight from the tree the generator built: the third
    /// opinion besides the scanner's and Foundation's.
    var topLevelMeaning: TopLevelMeaning {
        guard case .object(let members) = self else { return .refused }
        var model = TopLevelMeaning.ModelField.absent
        var stream: Bool?
        for member in members {
            if member.key == "model" {
                if case .string(let name) = member.value {
                    model = .string(utf8: Array(name.utf8))
                } else {
                    model = .notAString
                }
            } else if member.key == "stream" {
                if case .bool(let flag) = member.value { stream = flag } else { stream = nil }
            }
        }
        return .object(model: model, stream: stream)
    }
}
