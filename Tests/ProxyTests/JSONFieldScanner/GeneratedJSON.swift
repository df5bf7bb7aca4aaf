/// A JSON value as the generator builds it, before it is written out as bytes.
///
/// Objects keep their members as an ordered list, duplicates included, because the order of repeated keys
/// is exactly what the scanner's "last occurrence wins" rule is about.
enum GeneratedJSON {
    case null
    case bool(Bool)
    /// The number's text, already valid JSON grammar.
    case number(String)
    case string(String)
    case array([GeneratedJSON])
    case object([(key: String, value: GeneratedJSON)])
}

/// Builds random JSON documents and writes them with random whitespace and random (valid) escapes.
///
/// The writer is ours rather than `JSONSerialization`'s so the bodies exercise what real clients send and
/// Foundation never writes: `\u` escapes of plain letters, upper-case hex, surrogate-pair escapes, `\/`,
/// whitespace between every token.
///
/// Three things are kept out of generated documents because Foundation on Linux is not a faithful reference
/// for them (see `FoundationReference.untrustworthyReason(for:)`): numbers beyond `Double`'s range, which
/// Foundation refuses although the grammar allows them; lone surrogate escapes, which Foundation refuses
/// while the scanner by design decodes them to U+FFFD; and raw U+FEFF, which Foundation sometimes drops.
struct JSONDocumentGenerator {
    var random: SplitMix64
    /// Spell the keys `model` and `stream` with escapes (`"mod\u0065l"`), which a JSON parser reads as
    /// the same key; off by default, see `JSONFieldScannerExampleTests.escapedSpellingsOfTheFieldKeys`.
    var escapesFieldKeys = false
    /// How deep nested values may go below the top-level object.
    var maximumDepth = 5

    init(seed: UInt64) {
        random = SplitMix64(seed: seed)
    }

    // MARK: Values

    /// A request-like body: usually an object with `model` and `stream` among other keys, sometimes
    /// another kind of JSON value (which the scanner must refuse).
    mutating func document() -> GeneratedJSON {
        if random.chance(5) {
            return random.chance(50) ? .array([topLevelObject(), value(depth: 1)]) : scalar()
        }
        return topLevelObject()
    }

    mutating func topLevelObject() -> GeneratedJSON {
        var members: [(key: String, value: GeneratedJSON)] = []
        for _ in 0..<random.inRange(0...8) {
            switch random.below(100) {
            case 0..<18: members.append((key: "model", value: modelValue()))
            case 18..<30: members.append((key: "stream", value: streamValue()))
            case 30..<40: members.append((key: random.pick(Self.nearMissKeys), value: modelValue()))
            case 40..<55: members.append((key: "messages", value: messages()))
            default: members.append((key: string(maximumLength: 10), value: value(depth: 1)))
            }
        }
        return .object(members)
    }

    /// Keys a sloppy matcher could confuse with `model` or `stream`.
    static let nearMissKeys = [
        "Model", "MODEL", "models", "mode", "model ", " model", "modell", "model\u{0}", "stream_options",
        "streams", "Stream", "stream\t", "",
    ]

    mutating func modelValue() -> GeneratedJSON {
        switch random.below(100) {
        case 0..<45: return .string(random.pick(Self.modelNames))
        case 45..<75: return .string(string(maximumLength: random.chance(10) ? 80 : 16))
        default: return value(depth: 1)
        }
    }

    static let modelNames = [
        "", "qwen2.5-7b-instruct", "lmstudio-community/Meta-Llama-3.1-8B-Instruct-GGUF",
        "publisher/model.Q4_K_M.gguf", "gemma-3-12b:2", "mod\"el", "back\\slash", "a/b/c", "caf\u{E9}",
        "\u{6A21}\u{578B}", "emoji-\u{1F600}", "line\nbreak", "tab\there", "nul\u{0}inside", "\u{2028}",
        "\u{FEFF}bom", "\u{10FFFF}", "e\u{301}",
    ]

    mutating func streamValue() -> GeneratedJSON {
        switch random.below(100) {
        case 0..<65: return .bool(random.chance(50))
        case 65..<73: return .string(random.pick(["true", "false", "yes", "1"]))
        case 73..<81: return .number(random.pick(["1", "0", "-0", "1.0", "0e0"]))
        case 81..<87: return .null
        default: return value(depth: 1)
        }
    }

    /// A chat-style `messages` array whose items carry `model` and `stream` of their own, which the scanner
    /// must ignore because they are not at the top level.
    mutating func messages() -> GeneratedJSON {
        var items: [GeneratedJSON] = []
        for _ in 0..<random.inRange(0...3) {
            var members: [(key: String, value: GeneratedJSON)] = [
                (key: "role", value: .string("user")), (key: "content", value: .string(string(maximumLength: 24))),
            ]
            if random.chance(50) { members.append((key: "model", value: .string(random.pick(Self.modelNames)))) }
            if random.chance(30) { members.append((key: "stream", value: .bool(random.chance(50)))) }
            items.append(.object(members))
        }
        return .array(items)
    }

    mutating func value(depth: Int) -> GeneratedJSON {
        let containerOdds = depth >= maximumDepth ? 0 : max(8, 40 - depth * 8)
        let roll = random.below(100)
        if roll < containerOdds {
            if random.chance(50) {
                return .array((0..<random.inRange(0...4)).map { _ in value(depth: depth + 1) })
            }
            var members: [(key: String, value: GeneratedJSON)] = []
            for _ in 0..<random.inRange(0...4) {
                let key =
                    random.chance(20) ? random.pick(["model", "stream"]) : string(maximumLength: 8)
                members.append((key: key, value: value(depth: depth + 1)))
            }
            return .object(members)
        }
        return scalar()
    }

    mutating func scalar() -> GeneratedJSON {
        switch random.below(100) {
        case 0..<10: return .null
        case 10..<25: return .bool(random.chance(50))
        case 25..<60: return .number(number())
        default: return .string(string(maximumLength: 16))
        }
    }

    /// A number in JSON grammar. Positive exponents stay small so every number fits a `Double`: Foundation
    /// refuses `1e400` ("not representable in Swift") although RFC 8259 allows it, and the scanner rightly
    /// accepts it. Negative exponents may be large, since underflow to zero is accepted by both.
    mutating func number() -> String {
        var text = random.chance(25) ? "-" : ""
        if random.chance(25) {
            text += "0"
        } else {
            text += String(random.inRange(1...9))
            for _ in 0..<random.pick([0, 1, 2, 5, 18, 30]) { text += String(random.below(10)) }
        }
        if random.chance(30) {
            text += "."
            for _ in 0..<random.inRange(1...8) { text += String(random.below(10)) }
        }
        if random.chance(25) {
            text += random.pick(["e", "E"])
            let sign = random.pick(["", "+", "-"])
            text += sign
            if random.chance(20) { text += "0" }
            text += String(sign == "-" ? random.inRange(0...999) : random.inRange(0...200))
        }
        return text
    }

    /// Non-ASCII scalars at the edges of UTF-8's lengths, and ones with a meaning of their own.
    static let notableScalars: [UInt32] = [0x80, 0xE9, 0xDF, 0x7FF, 0x800, 0x4E2D, 0x2028, 0xFEFF, 0xFFFD, 0xFFFF]
    static let astralScalars: [UInt32] = [0x10000, 0x1F600, 0x1D11E, 0x10FFFF]

    /// A string mixing plain ASCII with everything that needs care: quotes, backslashes, control
    /// characters, non-ASCII in every UTF-8 length, and scalars beyond the BMP.
    mutating func string(maximumLength: Int) -> String {
        var scalars = String.UnicodeScalarView()
        for _ in 0..<random.inRange(0...maximumLength) {
            let value: UInt32
            switch random.below(100) {
            case 0..<55: value = UInt32(random.inRange(0x20...0x7E))
            case 55..<62: value = random.pick([0x22, 0x5C, 0x2F])
            case 62..<70: value = UInt32(random.inRange(0x00...0x1F))
            case 70..<72: value = 0x7F
            case 72..<82: value = random.pick(Self.notableScalars)
            case 82..<90: value = UInt32(random.inRange(0xA0...0xD7FF))
            default:
                value = random.chance(40) ? UInt32(random.inRange(0x10000...0x10FFFF)) : random.pick(Self.astralScalars)
            }
            scalars.append(Unicode.Scalar(value)!)
        }
        return String(scalars)
    }

    // MARK: Writing

    /// Writes a value as JSON text with random whitespace between tokens and random escape spellings.
    mutating func write(_ value: GeneratedJSON) -> [UInt8] {
        var out: [UInt8] = []
        whitespace(into: &out)
        write(value, into: &out)
        whitespace(into: &out)
        return out
    }

    private mutating func write(_ value: GeneratedJSON, into out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let flag): out.append(contentsOf: (flag ? "true" : "false").utf8)
        case .number(let text): out.append(contentsOf: text.utf8)
        case .string(let text): writeString(text, escapingEveryScalar: false, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { separator(",", into: &out) }
                whitespace(into: &out)
                write(item, into: &out)
                whitespace(into: &out)
            }
            if items.isEmpty { whitespace(into: &out) }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (index, member) in members.enumerated() {
                if index > 0 { separator(",", into: &out) }
                whitespace(into: &out)
                let isFieldKey = member.key == "model" || member.key == "stream"
                if isFieldKey && !escapesFieldKeys {
                    out.append(UInt8(ascii: "\""))
                    out.append(contentsOf: member.key.utf8)
                    out.append(UInt8(ascii: "\""))
                } else {
                    writeString(member.key, escapingEveryScalar: isFieldKey && random.chance(30), into: &out)
                }
                separator(":", into: &out)
                write(member.value, into: &out)
                whitespace(into: &out)
            }
            if members.isEmpty { whitespace(into: &out) }
            out.append(UInt8(ascii: "}"))
        }
    }

    private mutating func separator(_ character: Unicode.Scalar, into out: inout [UInt8]) {
        whitespace(into: &out)
        out.append(UInt8(ascii: character))
        whitespace(into: &out)
    }

    /// Only the four bytes RFC 8259 calls whitespace; anything else is a different test.
    private static let whitespaceBytes: [UInt8] = [0x20, 0x09, 0x0A, 0x0D]

    private mutating func whitespace(into out: inout [UInt8]) {
        guard random.chance(25) else { return }
        for _ in 0..<random.inRange(1...3) { out.append(random.pick(Self.whitespaceBytes)) }
    }

    /// Writes a string token, choosing for every scalar among the spellings JSON allows for it.
    private mutating func writeString(_ text: String, escapingEveryScalar: Bool, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for scalar in text.unicodeScalars {
            writeScalar(scalar, forceEscape: escapingEveryScalar, into: &out)
        }
        out.append(UInt8(ascii: "\""))
    }

    private mutating func writeScalar(_ scalar: Unicode.Scalar, forceEscape: Bool, into out: inout [UInt8]) {
        let value = scalar.value
        let short: UInt8? =
            switch value {
            case 0x22: UInt8(ascii: "\"")
            case 0x5C: UInt8(ascii: "\\")
            case 0x2F: UInt8(ascii: "/")
            case 0x08: UInt8(ascii: "b")
            case 0x0C: UInt8(ascii: "f")
            case 0x0A: UInt8(ascii: "n")
            case 0x0D: UInt8(ascii: "r")
            case 0x09: UInt8(ascii: "t")
            default: nil
            }
        // U+FEFF is always escaped: Foundation drops it raw at the start of a string or after an escape
        // (see `FoundationReference`), and the scanner's handling of it raw has its own example test.
        let mustEscape = value < 0x20 || value == 0x22 || value == 0x5C || value == 0xFEFF
        let roll = random.below(100)
        if !mustEscape && !forceEscape && roll < 80 {
            UTF8.encode(scalar) { out.append($0) }
        } else if let short, roll % 2 == 0 {
            out += [UInt8(ascii: "\\"), short]
        } else if value > 0xFFFF {
            for unit in String(scalar).utf16 { writeUnicodeEscape(unit, into: &out) }
        } else {
            writeUnicodeEscape(UInt16(value), into: &out)
        }
    }

    private static let lowerHex = Array("0123456789abcdef".utf8)
    private static let upperHex = Array("0123456789ABCDEF".utf8)

    private mutating func writeUnicodeEscape(_ unit: UInt16, into out: inout [UInt8]) {
        let digits = random.chance(50) ? Self.lowerHex : Self.upperHex
        out += [UInt8(ascii: "\\"), UInt8(ascii: "u")]
        for shift in stride(from: 12, through: 0, by: -4) { out.append(digits[Int((unit >> UInt16(shift)) & 0xF)]) }
    }
}
