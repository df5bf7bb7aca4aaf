import Testing

@testable import Proxy

/// Mutation fuzzing: valid generated bodies with random edits. The scanner must never trap or hang, and
/// must agree with Foundation on every input where Foundation is a faithful reference
/// (`FoundationReference.untrustworthyReason(for:)`).
@Suite struct JSONFieldScannerFuzzTests {
    static let runSeed: UInt64 = 0xF022_1E55_0000_0001

    /// Valid bodies to mutate, built once: generating a body costs more than scanning it, and mutating
    /// copies of a few hundred bodies reaches more inputs in the budget than generating one per case.
    static let validBodies: [[UInt8]] = (0..<400).map { index in
        var generator = JSONDocumentGenerator(seed: SplitMix64.caseSeed(run: runSeed, index: index))
        generator.maximumDepth = 3
        return generator.write(generator.topLevelObject())
    }

    @Test(.timeLimit(.minutes(1)))
    func mutatedBodiesAgreeWithFoundation() async {
        let (run, compared, acceptedByBoth, excused) = await onOwnThread {
            var run = GeneratedCaseRun(name: "mutated bodies", budget: .seconds(3), maximumCases: 100_000)
            var compared = 0
            var acceptedByBoth = 0
            var excused: [String: Int] = [:]
            var index = 0
            while true {
                // The case seed picks the body and drives its mutations, so it alone replays the case.
                let seed = SplitMix64.caseSeed(run: ~Self.runSeed, index: index)
                index += 1
                guard run.next(seed: seed) else { break }
                var random = SplitMix64(seed: seed)
                var body = random.pick(Self.validBodies)
                ByteMutator.mutate(&body, random: &random)
                let result = JSONFieldScanner.scan(body)
                let scanned = TopLevelMeaning(result)
                if let problem = modelRangeProblem(in: body, result: result) {
                    run.fail(seed: seed, body: body, problem)
                }
                if let reason = FoundationReference.untrustworthyReason(for: body) {
                    excused[reason, default: 0] += 1
                    continue
                }
                compared += 1
                let foundation = TopLevelMeaning(parsingWithFoundation: body)
                if scanned != foundation {
                    run.fail(seed: seed, body: body, "scanner read \(scanned), Foundation \(foundation)")
                } else if scanned != .refused {
                    acceptedByBoth += 1
                }
            }
            return (run, compared, acceptedByBoth, excused)
        }
        let reasons = excused.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        print(run.report + "; \(compared) compared, \(acceptedByBoth) accepted by both; not compared: \(reasons)")
        #expect(run.failureCount == 0, "\(run.report)")
        #expect(run.cases >= 2000, "too few cases ran in the budget to mean anything: \(run.cases)")
        // Mutations that keep a body valid are what test the fields on unusual shapes; make sure some do.
        #expect(acceptedByBoth > compared / 20)
    }

    /// Bodies of random bytes from the structural alphabet, with no valid body to start from: mostly
    /// refusals, which must be quick and agree with Foundation too.
    @Test(.timeLimit(.minutes(1)))
    func structuralNoiseAgreesWithFoundation() async {
        let (run, compared) = await onOwnThread {
            var run = GeneratedCaseRun(name: "structural noise", budget: .milliseconds(700), maximumCases: 20000)
            var compared = 0
            var index = 0
            while true {
                let seed = SplitMix64.caseSeed(run: 0x0015_E000, index: index)
                index += 1
                guard run.next(seed: seed) else { break }
                var random = SplitMix64(seed: seed)
                var body: [UInt8] = random.chance(80) ? [UInt8(ascii: "{")] : []
                for _ in 0..<random.inRange(0...24) {
                    if random.chance(15) {
                        body += random.pick(ByteMutator.snippets)
                    } else {
                        body.append(random.pick(ByteMutator.structuralBytes))
                    }
                }
                let scanned = TopLevelMeaning(scanning: body)
                guard FoundationReference.untrustworthyReason(for: body) == nil else { continue }
                compared += 1
                let foundation = TopLevelMeaning(parsingWithFoundation: body)
                if scanned != foundation {
                    run.fail(seed: seed, body: body, "scanner read \(scanned), Foundation \(foundation)")
                }
            }
            return (run, compared)
        }
        print(run.report + "; \(compared) compared")
        #expect(run.failureCount == 0, "\(run.report)")
        #expect(compared >= 200)
    }
}
