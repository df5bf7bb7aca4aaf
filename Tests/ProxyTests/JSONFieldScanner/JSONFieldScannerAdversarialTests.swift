import Testing

@testable import Proxy

/// Bodies built to exhaust a naive parser: deep nesting, one huge string, very many keys. Each must be
/// answered correctly and in time linear in its size; the time bound is loose because the machine is
/// shared, and is there to catch a quadratic or recursive scan, not to benchmark.
@Suite(.timeLimit(.minutes(1)), .offCooperativePool) struct JSONFieldScannerAdversarialTests {
    private static let clock = ContinuousClock()
    private static let loose: Duration = .seconds(3)

    private func timed<T>(_ work: () -> T) -> (T, Duration) {
        let start = Self.clock.now
        let result = work()
        return (result, Self.clock.now - start)
    }

    private func isRefused(_ bytes: [UInt8]) -> Bool {
        if case .failure = JSONFieldScanner.scan(bytes) { return true }
        return false
    }

    @Test(arguments: [
        ("top-level [", String(repeating: "[", count: 100_000)),
        ("top-level [ closed", String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)),
        ("[ in a value", #"{"model":"m","a":"# + String(repeating: "[", count: 100_000)),
        (
            "[ in a value, closed",
            #"{"model":"m","a":"# + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
                + "}"
        ),
        ("{ in a value", #"{"model":"m","a":"# + String(repeating: #"{"a":"#, count: 100_000)),
        (
            "{ in a value, closed",
            #"{"model":"m","a":"# + String(repeating: #"{"a":"#, count: 100_000) + "0"
                + String(repeating: "}", count: 100_001)
        ),
        ("alternating", #"{"a":"# + String(repeating: #"[{"b":"#, count: 50_000)),
    ])
    func refusesVeryDeepNestingQuickly(name: String, body: String) {
        let bytes = Array(body.utf8)
        let (refused, elapsed) = timed { isRefused(bytes) }
        #expect(refused)
        #expect(elapsed < Self.loose)
        #expect(TopLevelMeaning(parsingWithFoundation: bytes) == .refused)
    }

    @Test func bracketsInsideAStringAreNotNesting() throws {
        let body = Array((#"{"model":""# + String(repeating: "[{", count: 100_000) + #""}"#).utf8)
        let found = try JSONFieldScanner.scan(body).get()
        #expect(found.model?.utf8.count == 200_000)
    }

    @Test func findsAOneMegabyteModel() throws {
        let name = String(repeating: "x", count: 1 << 20)
        let prefix = #"{"messages":[],"model":"#
        let body = Array((prefix + "\"" + name + #"","stream":true}"#).utf8)
        let (result, elapsed) = timed { JSONFieldScanner.scan(body) }
        let found = try result.get()
        #expect(found.model == name)
        #expect(found.modelRange == prefix.utf8.count..<(prefix.utf8.count + name.utf8.count + 2))
        #expect(found.stream == true)
        #expect(elapsed < Self.loose)
    }

    @Test func decodesAOneMegabyteModelMadeOfEscapes() throws {
        let piece = #"\n\"\\\/\u00e9\ud83d\ude00"#
        let decodedPiece = "\n\"\\/\u{E9}\u{1F600}"
        let count = (1 << 20) / piece.utf8.count
        let body = Array((#"{"model":""# + String(repeating: piece, count: count) + #""}"#).utf8)
        let (result, elapsed) = timed { JSONFieldScanner.scan(body) }
        let found = try result.get()
        #expect(found.model.map { Array($0.utf8) } == Array(String(repeating: decodedPiece, count: count).utf8))
        #expect(elapsed < Self.loose)
        #expect(TopLevelMeaning(parsingWithFoundation: body) == TopLevelMeaning(scanning: body))
    }

    @Test func refusesAnUnterminatedOneMegabyteString() {
        let body = Array((#"{"model":""# + String(repeating: "y", count: 1 << 20)).utf8)
        let (refused, elapsed) = timed { isRefused(body) }
        #expect(refused)
        #expect(elapsed < Self.loose)
        #expect(isRefused(body + Array(#"\"#.utf8)))
        #expect(isRefused(body + Array(#"\u12"#.utf8)))
    }

    @Test func skipsAOneMegabyteStringAndNumberElsewhere() throws {
        let body = Array(
            (#"{"prompt":""# + String(repeating: "z\\\"", count: 300_000) + #"","n":"#
                + String(repeating: "7", count: 1 << 20) + #".5e-3,"model":"m"}"#).utf8
        )
        let found = try JSONFieldScanner.scan(body).get()
        #expect(found.model == "m")
    }

    @Test func findsTheModelAfterTenThousandKeys() throws {
        var body = "{"
        for index in 0..<10_000 {
            body += #""key\#(index)":{"model":"nested\#(index)","stream":true},"#
        }
        body += #""model":"last","stream":false}"#
        let bytes = Array(body.utf8)
        let (result, elapsed) = timed { JSONFieldScanner.scan(bytes) }
        let found = try result.get()
        #expect(found.model == "last")
        #expect(found.stream == false)
        #expect(elapsed < Self.loose)
        #expect(TopLevelMeaning(parsingWithFoundation: bytes) == TopLevelMeaning(scanning: bytes))
    }

    @Test func lastOfTenThousandModelKeysWins() throws {
        let members = (0..<10_000).map { #""model":"m\#($0)","stream":\#($0 % 2 == 0)"# }
        let bytes = Array(("{" + members.joined(separator: ",") + "}").utf8)
        let (result, elapsed) = timed { JSONFieldScanner.scan(bytes) }
        let found = try result.get()
        #expect(found.model == "m9999")
        #expect(found.stream == false)
        #expect(elapsed < Self.loose)
        #expect(TopLevelMeaning(parsingWithFoundation: bytes) == TopLevelMeaning(scanning: bytes))
    }

    @Test func acceptsAHundredThousandElementArrayAndAMegabyteOfWhitespace() throws {
        let elements = Array(repeating: "0", count: 100_000).joined(separator: ",")
        let padding = String(repeating: " \n\t\r", count: 1 << 18)
        let bytes = Array((padding + #"{"a":["# + elements + #"],"model":"m"}"# + padding).utf8)
        let found = try JSONFieldScanner.scan(bytes).get()
        #expect(found.model == "m")
    }
}
