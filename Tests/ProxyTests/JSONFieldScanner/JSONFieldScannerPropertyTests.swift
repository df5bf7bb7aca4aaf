import Testing

@testable import Proxy

/// Generated request bodies, compared three ways: the scanner, Foundation's `JSONSerialization`, and the
/// tree the generator built. Every case is rebuilt from the seed its failure message prints.
@Suite struct JSONFieldScannerPropertyTests {
    /// Fixed so a run is reproducible; a failure names the case seed derived from one of these.
    static let runSeeds: [UInt64] = [0x0011_A5EE_D001, 0x2025_0611, 0xDEAD_BEEF_CAFE]

    @Test func agreesWithFoundationOnGeneratedDocuments() async {
        let (run, objects, stringModels, streams) = await onOwnThread {
            var run = GeneratedCaseRun(name: "generated documents", budget: .seconds(2), maximumCases: 9000)
            var objects = 0
            var stringModels = 0
            var streams = 0
            cases: for runSeed in Self.runSeeds {
                for index in 0..<3000 {
                    let seed = SplitMix64.caseSeed(run: runSeed, index: index)
                    guard run.next(seed: seed) else { break cases }
                    var generator = JSONDocumentGenerator(seed: seed)
                    let document = generator.document()
                    let body = generator.write(document)
                    let intended = document.topLevelMeaning
                    let foundation = TopLevelMeaning(parsingWithFoundation: body)
                    let scanned = TopLevelMeaning(scanning: body)
                    if foundation != intended {
                        // The generator must only write what it means, or agreement proves nothing.
                        run.fail(seed: seed, body: body, "Foundation read \(foundation), generator meant \(intended)")
                    } else if scanned != foundation {
                        run.fail(seed: seed, body: body, "scanner read \(scanned), Foundation \(foundation)")
                    } else if let problem = modelRangeProblem(in: body) {
                        run.fail(seed: seed, body: body, problem)
                    }
                    if case .object(let model, let stream, _) = intended {
                        objects += 1
                        if case .string = model { stringModels += 1 }
                        if stream != nil { streams += 1 }
                    }
                }
            }
            return (run, objects, stringModels, streams)
        }
        print(run.report + "; \(objects) objects, \(stringModels) with a string model, \(streams) with a stream flag")
        #expect(run.failureCount == 0, "\(run.report)")
        #expect(run.cases >= 300, "too few cases ran in the budget to mean anything: \(run.cases)")
        #expect(objects > run.cases / 2 && stringModels > run.cases / 10 && streams > run.cases / 10)
    }

    /// The same comparison with `model` and `stream` keys spelled with escapes (`"mod\u0065l"`), which are
    /// the same keys to every parser (see `JSONFieldScannerExampleTests.escapedSpellingsOfTheFieldKeys`).
    @Test func agreesWithFoundationWhenFieldKeysAreEscaped() async {
        let run = await onOwnThread {
            var run = GeneratedCaseRun(name: "escaped field keys", budget: .milliseconds(500), maximumCases: 1500)
            var index = 0
            while true {
                let seed = SplitMix64.caseSeed(run: 0xE5CA_9ED0, index: index)
                index += 1
                guard run.next(seed: seed) else { break }
                var generator = JSONDocumentGenerator(seed: seed)
                generator.escapesFieldKeys = true
                let document = generator.document()
                let body = generator.write(document)
                let foundation = TopLevelMeaning(parsingWithFoundation: body)
                let scanned = TopLevelMeaning(scanning: body)
                if foundation != document.topLevelMeaning {
                    run.fail(
                        seed: seed,
                        body: body,
                        "Foundation read \(foundation), generator meant \(document.topLevelMeaning)"
                    )
                } else if scanned != foundation {
                    run.fail(seed: seed, body: body, "scanner read \(scanned), Foundation \(foundation)")
                }
            }
            return run
        }
        print(run.report)
        #expect(run.failureCount == 0, "\(run.report)")
    }

    @Test func encodedStringsRoundTripThroughTheScanner() async {
        let run = await onOwnThread {
            var run = GeneratedCaseRun(name: "encodeString", budget: .milliseconds(500), maximumCases: 3000)
            var index = 0
            while true {
                let seed = SplitMix64.caseSeed(run: 0x0E4C_0DE5, index: index)
                index += 1
                guard run.next(seed: seed) else { break }
                var generator = JSONDocumentGenerator(seed: seed)
                let value = generator.string(maximumLength: 40)
                let token = JSONFieldScanner.encodeString(value)
                let body = Array(#"{"stream":false,"model":"#.utf8) + token + Array(#","n":1}"#.utf8)
                let expected = TopLevelMeaning.object(model: .string(utf8: Array(value.utf8)), stream: false)
                let scanned = TopLevelMeaning(scanning: body)
                // encodeString leaves U+FEFF raw, which Foundation may drop; the scanner is then the only check.
                let foundation =
                    FoundationReference.untrustworthyReason(for: body) == nil
                    ? TopLevelMeaning(parsingWithFoundation: body) : expected
                if foundation != expected || scanned != expected {
                    run.fail(
                        seed: seed,
                        body: body,
                        "Foundation read \(foundation), scanner \(scanned), sent \(expected)"
                    )
                } else if let problem = modelRangeProblem(in: body) {
                    run.fail(seed: seed, body: body, problem)
                }
            }
            return run
        }
        print(run.report)
        #expect(run.failureCount == 0, "\(run.report)")
        #expect(run.cases >= 100)
    }
}
