import Foundation
import Testing

@testable import Proxy

/// Hand-written bodies that pin what the scanner finds in a request body (DESIGN.md 6.1) and what it
/// refuses (400 `invalid_request`, DESIGN.md 6.5).
@Suite(.offCooperativePool) struct JSONFieldScannerExampleTests {
    /// The fields of a body that must be accepted; a refusal fails the test with the scanner's reason.
    private func fields(_ body: String) throws -> JSONFieldScanner.Fields {
        try JSONFieldScanner.scan(Array(body.utf8)).get()
    }

    private func isRefused(_ bytes: [UInt8]) -> Bool {
        if case .failure = JSONFieldScanner.scan(bytes) { return true }
        return false
    }

    // MARK: Plain bodies

    @Test func findsModelAndStreamInAChatBody() throws {
        let body = #"{"model":"qwen2.5-7b-instruct","messages":[{"role":"user","content":"hi"}],"stream":true}"#
        let found = try fields(body)
        #expect(found.model == "qwen2.5-7b-instruct")
        #expect(found.stream == true)
        #expect(found.modelIsNotAString == false)
        #expect(found.modelRange == 9..<30)
    }

    @Test func emptyObjectHasNoFields() throws {
        #expect(try fields("{}") == JSONFieldScanner.Fields())
        #expect(try fields(" \t\r\n{ \n }\r\n ") == JSONFieldScanner.Fields())
    }

    @Test func bodyWithoutModelHasNilModel() throws {
        let found = try fields(#"{"messages":[],"temperature":0.7}"#)
        #expect(found.model == nil)
        #expect(found.modelRange == nil)
        #expect(found.modelIsNotAString == false)
        #expect(found.stream == nil)
    }

    @Test func whitespaceBetweenEveryTokenIsAccepted() throws {
        let body =
            " \r\n\t{ \"messages\" :\t[ { \"a\" : [ 1 , 2 ] } ] ,\n\"model\"\r\n:\t\"m\" , \"stream\" : false }\n "
        let found = try fields(body)
        #expect(found.model == "m")
        #expect(found.stream == false)
    }

    // MARK: The model string

    @Test(arguments: [
        (#""a\"b""#, "a\"b"),
        (#""a\\b""#, "a\\b"),
        (#""a\/b""#, "a/b"),
        (#""caf\u00e9""#, "caf\u{E9}"),
        (#""caf\u00E9""#, "caf\u{E9}"),
        (#""\ud83d\ude00""#, "\u{1F600}"),
        (#""x\uD83D\uDE00y""#, "x\u{1F600}y"),
        (#""\b\f\n\r\t""#, "\u{8}\u{C}\n\r\t"),
        (#""\u0000""#, "\u{0}"),
        (#""\u0041\u0042c""#, "ABc"),
        (#""a\u00e9\ud83d\ude00\n\u4e2d/""#, "a\u{E9}\u{1F600}\n\u{4E2D}/"),
        ("\"caf\u{E9}-\u{6A21}\u{578B}-\u{1F600}\"", "caf\u{E9}-\u{6A21}\u{578B}-\u{1F600}"),
        ("\"\u{7F}\u{2028}\"", "\u{7F}\u{2028}"),
        (#""""#, ""),
    ])
    func unescapesTheModel(token: String, expected: String) throws {
        let found = try fields(#"{"model":"# + token + "}")
        let model = try #require(found.model)
        // Compared as scalars: `String`'s `==` would accept a canonically equivalent but different name.
        #expect(Array(model.unicodeScalars) == Array(expected.unicodeScalars))
        #expect(found.modelRange == 9..<(9 + token.utf8.count))
    }

    @Test func decomposedAccentIsKeptAsSent() throws {
        let found = try fields("{\"model\":\"e\u{301}\"}")
        #expect(found.model.map { Array($0.utf8) } == Array("e\u{301}".utf8))
    }

    @Test func loneSurrogateEscapesBecomeReplacementCharacters() throws {
        // The scanner's documented leniency: such a name can only be a 404, so it need not be a 400.
        #expect(try fields(#"{"model":"a\ud800b"}"#).model == "a\u{FFFD}b")
        #expect(try fields(#"{"model":"\ude00"}"#).model == "\u{FFFD}")
    }

    @Test func modelRangeSlicesExactlyTheToken() throws {
        let token = #""pub\/name\u00e9 \"q\" \\ \ud83d\ude00""#
        let body = Array((" {\n \"stream\" : true , \"model\" :\t" + token + " , \"n\" : 1 }").utf8)
        let found = try JSONFieldScanner.scan(body).get()
        let range = try #require(found.modelRange)
        #expect(Array(body[range]) == Array(token.utf8))
        // The proxy rewrites by replacing exactly this range; the result must still be the same object.
        var rewritten = body
        rewritten.replaceSubrange(range, with: JSONFieldScanner.encodeString("exact/id"))
        let again = try JSONFieldScanner.scan(rewritten).get()
        #expect(again.model == "exact/id")
        #expect(again.stream == true)
    }

    @Test func modelRangeIsRelativeToTheScannedBuffer() throws {
        // The proxy scans a view into a larger buffer; the range must count from the view's first byte.
        let storage = Array("xxxxx".utf8) + Array(#"{"model":"m"}"#.utf8) + Array("yyyyy".utf8)
        let result = storage.withUnsafeBytes { JSONFieldScanner.scan(UnsafeRawBufferPointer(rebasing: $0[5..<18])) }
        let found = try result.get()
        #expect(found.model == "m")
        #expect(found.modelRange == 9..<12)
    }

    // MARK: Where `model` lives

    @Test(arguments: [
        #"{"messages":[{"model":"inner"}]}"#,
        #"{"options":{"model":"inner","stream":true}}"#,
        #"{"a":[[{"model":"inner"}]],"b":{"c":{"model":1}}}"#,
        #"{"a":"\"model\":\"inner\""}"#,
        #"{"model_name":"x","Model":"y","models":"z"," model":"w"}"#,
    ])
    func ignoresModelThatIsNotATopLevelKey(body: String) throws {
        let found = try fields(body)
        #expect(found.model == nil)
        #expect(found.modelIsNotAString == false)
        #expect(found.stream == nil)
    }

    @Test func topLevelModelIsFoundBesideNestedOnes() throws {
        let found = try fields(#"{"options":{"model":"inner"},"model":"outer","extra":[{"model":"x"}]}"#)
        #expect(found.model == "outer")
    }

    @Test(arguments: [#"1"#, #"-0.5e3"#, "null", "true", "false", #"{"id":"m"}"#, #"["m"]"#, "{}", "[]"])
    func modelThatIsNotAStringIsFlagged(value: String) throws {
        let found = try fields(#"{"model":"# + value + #","stream":true}"#)
        #expect(found.modelIsNotAString)
        #expect(found.model == nil)
        #expect(found.modelRange == nil)
        #expect(found.stream == true)
    }

    // MARK: Repeated keys: the last occurrence wins, as in JSON.parse and Python's json

    @Test func lastModelWins() throws {
        let body = #"{"model":"first","stream":true,"model":"second"}"#
        let found = try fields(body)
        #expect(found.model == "second")
        let start = body.utf8.count - #""second"}"#.utf8.count
        #expect(found.modelRange == start..<(start + #""second""#.utf8.count))
    }

    @Test func laterNonStringModelOverridesAString() throws {
        let found = try fields(#"{"model":"first","model":null}"#)
        #expect(found.model == nil)
        #expect(found.modelRange == nil)
        #expect(found.modelIsNotAString)
    }

    @Test func laterStringModelOverridesANonString() throws {
        let found = try fields(#"{"model":[1],"model":"second"}"#)
        #expect(found.model == "second")
        #expect(found.modelIsNotAString == false)
    }

    @Test func lastStreamWins() throws {
        #expect(try fields(#"{"stream":true,"stream":false}"#).stream == false)
        #expect(try fields(#"{"stream":true,"stream":"yes"}"#).stream == nil)
        #expect(try fields(#"{"stream":1,"stream":true}"#).stream == true)
    }

    // MARK: stream

    static let streamValues: [(String, Bool?)] = [
        ("true", true), ("false", false), (#""yes""#, nil), (#""true""#, nil), ("1", nil), ("0", nil),
        ("null", nil), ("[true]", nil), (#"{"value":true}"#, nil),
    ]

    @Test(arguments: streamValues)
    func streamIsOnlyAJSONBoolean(value: String, expected: Bool?) throws {
        #expect(try fields(#"{"stream":"# + value + "}").stream == expected)
    }

    @Test func streamValueWithSurroundingWhitespaceIsStillABoolean() throws {
        #expect(try fields("{\"stream\" :\n\ttrue\r\n}").stream == true)
    }

    // MARK: Keys spelled with escapes

    /// `"mod\u0065l"` is the key `model` to every JSON parser, so the upstream host reads it as the
    /// model; the proxy must route on the same value it forwards.
    @Test(arguments: [
        (#"{"mod\u0065l":"x"}"#, TopLevelMeaning.object(model: .string(utf8: Array("x".utf8)), stream: nil)),
        (#"{"model":"a","mod\u0065l":"b"}"#, .object(model: .string(utf8: Array("b".utf8)), stream: nil)),
        (#"{"\u006d\u006F\u0064\u0065\u006c":1}"#, .object(model: .notAString, stream: nil)),
        (#"{"str\u0065am":true}"#, .object(model: .absent, stream: true)),
        (#"{"stream":true,"stre\u0061m":false}"#, .object(model: .absent, stream: false)),
    ])
    func escapedSpellingsOfTheFieldKeys(body: String, expected: TopLevelMeaning) {
        let bytes = Array(body.utf8)
        // Foundation agrees with the expectation, so it is JSON's meaning and not ours.
        #expect(TopLevelMeaning(parsingWithFoundation: bytes) == expected)
        #expect(TopLevelMeaning(scanning: bytes) == expected)
    }

    // MARK: Refused bodies

    @Test(arguments: [
        "", " ", " \n\t\r ", "[]", #"[{"model":"m"}]"#, #""model""#, "1", "null", "true",
        #"{"model":"m"} x"#, #"{"model":"m"}{}"#, #"{"model":"m"}}"#, #"{"model":"m"},"#, #"{"model":"m"}]"#,
        #"{"model":"m"}//"#, #"{"model":"m"} /* c */"#, #"// c"# + "\n" + #"{"model":"m"}"#,
        #"{"model":"m" /* c */}"#, #"{"model":"m"#, #"{"model":"m\"}"#, #"{"model":"m\"#, #"{"model""#,
        #"{"model"#, "{", #"{"a":1"#, #"{"a":[1,2}"#, #"{"a":{"b":1]}"#, #"{"a":"#, #"{"a"}"#, #"{"a" 1}"#,
        #"{"a":1 "b":2}"#, #"{"a":1,,"b":2}"#, #"{,"a":1}"#, #"{"a":1,}"#, #"{"a":[1,]}"#, #"{"a":[,1]}"#,
        #"{"a":{"b":1,}}"#, #"{'model':'m'}"#, #"{model:"m"}"#, #"{"a":'x'}"#, #"{"a":NaN}"#,
        #"{"a":Infinity}"#, #"{"a":-Infinity}"#, #"{"a":undefined}"#, #"{"a":tru}"#, #"{"a":True}"#,
        #"{"a":nul}"#, #"{"a":falsey}"#, #"{"a":01}"#, #"{"a":-01}"#, #"{"a":00}"#, #"{"a":1.}"#,
        #"{"a":.5}"#, #"{"a":+1}"#, #"{"a":-}"#, #"{"a":1e}"#, #"{"a":1e+}"#, #"{"a":1E-}"#, #"{"a":1.e5}"#,
        #"{"a":0x10}"#, #"{"a":1_000}"#, #"{"a":--1}"#, #"{"a":"\x41"}"#, #"{"a":"\a"}"#, #"{"a":"\'"}"#,
        #"{"a":"\u12"}"#, #"{"a":"\u12G4"}"#, #"{"a":"\U0041"}"#, #"{"a":"\u"}"#, #"{"model":"\u00e"}"#,
        #"{"model":"a\"#, #"{"a\q":1}"#, "{\"a\":1}\u{C}", "\u{C}{}", "{\u{B}}", "\u{A0}{}",
    ])
    func refusesBodiesThatAreNotOneJSONObject(body: String) {
        #expect(isRefused(Array(body.utf8)))
    }

    @Test(arguments: Array(0x00...0x1F) as [UInt8])
    func refusesRawControlCharactersInStrings(byte: UInt8) {
        let inModel = Array(#"{"model":"a"#.utf8) + [byte] + Array(#"b"}"#.utf8)
        let inKey = Array(#"{"k"#.utf8) + [byte] + Array(#"":1}"#.utf8)
        let nested = Array(#"{"a":["#.utf8) + [0x22, byte, 0x22] + Array("]}".utf8)
        #expect(isRefused(inModel))
        #expect(isRefused(inKey))
        #expect(isRefused(nested))
    }

    @Test func refusesAByteOrderMark() {
        // RFC 8259 lets a parser ignore a BOM; the scanner does not (whitespace is only space, tab, CR, LF).
        // Foundation skips it, so it differs here on purpose.
        #expect(isRefused([0xEF, 0xBB, 0xBF] + Array(#"{"model":"m"}"#.utf8)))
    }

    @Test func keepsInvalidUTF8InsideTheModelAsReplacementCharacters() throws {
        let body = Array(#"{"model":"a"#.utf8) + [0xC3, 0x28, 0xFF] + Array(#""}"#.utf8)
        let found = try JSONFieldScanner.scan(body).get()
        #expect(found.model == "a\u{FFFD}(\u{FFFD}")
        #expect(found.modelRange == 9..<15)
    }

    @Test func refusesInvalidUTF8OutsideStrings() {
        #expect(isRefused([0x7B, 0xFF, 0x7D]))
        #expect(isRefused(Array(#"{"a":1"#.utf8) + [0xC3, 0xA9] + [0x7D]))
    }

    @Test func failureNamesTheOffendingByte() throws {
        guard case .failure(let malformed) = JSONFieldScanner.scan(Array(#"{"a":1,}"#.utf8)) else {
            Issue.record("a trailing comma was accepted")
            return
        }
        #expect(malformed.offset == 7)
    }

    // MARK: Depth (the top-level object is level 1, as Foundation counts)

    /// A body whose deepest container is at `levels`, built from `container` opened inside each other
    /// below the top-level object; the innermost one is empty or holds `0`.
    private static func nested(levels: Int, container: String, emptyInnermost: Bool) -> [UInt8] {
        let inner = levels - 1
        let (open, close) = container == "array" ? ("[", "]") : (#"{"k":"#, "}")
        let (lastOpen, lastClose) = container == "array" ? ("[", "]") : ("{", "}")
        var body = #"{"model":"m","a":"#
        body += String(repeating: open, count: inner - 1) + lastOpen
        body += emptyInnermost ? "" : (container == "array" ? "0" : #""k":0"#)
        body += lastClose + String(repeating: close, count: inner - 1) + "}"
        return Array(body.utf8)
    }

    @Test(arguments: ["array", "object"], [false, true])
    func acceptsNestingExactlyAtTheMaximumDepth(container: String, emptyInnermost: Bool) throws {
        let body = Self.nested(
            levels: JSONFieldScanner.maximumDepth,
            container: container,
            emptyInnermost: emptyInnermost
        )
        #expect(TopLevelMeaning(parsingWithFoundation: body) != .refused)
        let found = try JSONFieldScanner.scan(body).get()
        #expect(found.model == "m")
    }

    @Test(arguments: ["array", "object"], [false, true])
    func refusesNestingOneLevelBeyondTheMaximumDepth(container: String, emptyInnermost: Bool) {
        let body = Self.nested(
            levels: JSONFieldScanner.maximumDepth + 1,
            container: container,
            emptyInnermost: emptyInnermost
        )
        #expect(TopLevelMeaning(parsingWithFoundation: body) == .refused)
        #expect(isRefused(body))
    }

    @Test(arguments: ["array", "object"])
    func refusesEmptyContainerTwoLevelsBeyondTheMaximumDepth(container: String) {
        let body = Self.nested(levels: JSONFieldScanner.maximumDepth + 2, container: container, emptyInnermost: true)
        #expect(isRefused(body))
    }

    // MARK: encodeString

    @Test(arguments: [
        "", "plain", "quote\"d", "back\\slash", "slash/", "\u{0}\u{1}\u{8}\u{9}\u{A}\u{B}\u{C}\u{D}\u{1F}",
        "\u{7F}", "caf\u{E9}", "e\u{301}", "\u{6A21}\u{578B}", "\u{1F600}\u{10FFFF}", "\u{2028}\u{2029}",
        "a\u{FEFF}b", "\u{FFFF}", "\\u0041", "\"\\\"\\\\", "publisher/model.Q4_K_M.gguf:2",
    ])
    func encodedStringRoundTripsThroughFoundationAndTheScanner(value: String) throws {
        let token = JSONFieldScanner.encodeString(value)
        #expect(token.first == UInt8(ascii: "\"") && token.last == UInt8(ascii: "\""))
        #expect(!token.contains { $0 < 0x20 }, "a raw control character is not valid JSON")
        let decoded = try #require(
            try JSONSerialization.jsonObject(with: Data(token), options: [.fragmentsAllowed]) as? String
        )
        #expect(Array(decoded.utf8) == Array(value.utf8))
        let body = Array(#"{"model":"#.utf8) + token + [UInt8(ascii: "}")]
        let found = try JSONFieldScanner.scan(body).get()
        #expect(found.model.map { Array($0.utf8) } == Array(value.utf8))
        #expect(found.modelRange == 9..<(9 + token.count))
    }

    /// Foundation on Linux drops a raw U+FEFF that begins a string or follows an escape (`"\u{FEFF}"` parses
    /// as `""`), so this round trip is checked against the scanner alone.
    @Test(arguments: ["\u{FEFF}", "\u{FEFF}bom", "a\n\u{FEFF}b", "\u{FEFF}\u{FEFF}"])
    func encodedByteOrderMarkCharacterRoundTripsThroughTheScanner(value: String) throws {
        let body = Array(#"{"model":"#.utf8) + JSONFieldScanner.encodeString(value) + [UInt8(ascii: "}")]
        let found = try JSONFieldScanner.scan(body).get()
        #expect(found.model.map { Array($0.utf8) } == Array(value.utf8))
        let escaped = Array(#"{"model":"\ufeffb"}"#.utf8)
        #expect(try JSONFieldScanner.scan(escaped).get().model.map { Array($0.utf8) } == Array("\u{FEFF}b".utf8))
    }

    @Test func encodeStringUsesShortEscapesWhereJSONHasThem() {
        #expect(JSONFieldScanner.encodeString("a\"b\\c\nd\re\tf\u{1}") == Array(#""a\"b\\c\nd\re\tf\u0001""#.utf8))
    }
}
