/// Finds the top-level `model`, `stream` and `previous_response_id` of a JSON request body without decoding it into objects
/// (DESIGN.md 6.1): one pass over the bytes that checks the JSON grammar, skips nested values and
/// remembers where `model`'s string lies, so the proxy can route and, when needed, rewrite just that.
///
/// Every byte is treated as hostile: the scan is iterative over containers up to ``maximumDepth``, never
/// reads past the buffer, and reports malformed input instead of trapping.
public struct JSONFieldScanner {
    /// What a body holds at its top level.
    public struct Fields: Equatable, Sendable {
        /// The unescaped value of `"model"` when it is a string.
        public var model: String?
        /// Byte range of `model`'s string token, quotes included, relative to the start of the body.
        public var modelRange: Range<Int>?
        /// The value of `"stream"` when it is `true` or `false`.
        public var stream: Bool?
        /// `"model"` is present but not a string (400 `invalid_request`).
        public var modelIsNotAString: Bool = false
        /// The unescaped value of `"previous_response_id"` when it is a string: the stateful conversation the
        /// request continues, which pins it to the host that holds it (DESIGN.md 6.9).
        public var previousResponseID: String?
        /// Byte range of the value of `messages`, else `input`, else `prompt` (relative to the start of the
        /// body): the conversation so far, whose beginning keys prompt-cache affinity (DESIGN.md 6.8).
        public var promptRange: Range<Int>?
        /// Which of the three `promptRange` holds: 3 `messages`, 2 `input`, 1 `prompt`, 0 none.
        var promptRank = 0
    }

    /// Why a body is not acceptable JSON.
    public struct Malformed: Error, Equatable, Sendable, CustomStringConvertible {
        public var offset: Int
        public var reason: String
        public var description: String { "\(reason) at byte \(offset)" }
    }

    /// Bodies nested deeper than this (the top-level object counts as 1) are refused, as Foundation's parser
    /// refuses them, so a body of 10 MB of `[` cannot exhaust memory or time.
    public static let maximumDepth = 512

    /// Scans a whole body.
    /// - Returns: the fields, or why the body is not a JSON object.
    public static func scan(_ bytes: UnsafeRawBufferPointer) -> Result<Fields, Malformed> {
        var scanner = Cursor(bytes: bytes)
        do {
            return .success(try scanner.topLevelObject())
        } catch {
            return .failure(error)
        }
    }

    /// Scans a body held in a byte array (tests, tools).
    public static func scan(_ bytes: [UInt8]) -> Result<Fields, Malformed> {
        bytes.withUnsafeBytes { scan($0) }
    }

    /// Encodes a string as a JSON string token, quotes included.
    public static func encodeString(_ value: String) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "\"")]
        out.reserveCapacity(value.utf8.count + 2)
        let hex = Array("0123456789abcdef".utf8)
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20:
                out += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")]
                out += [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
        return out
    }
}

extension JSONFieldScanner {
    private enum Container {
        case object
        case array
    }

    /// The containers open while a value is skipped, one bit each, held inline: an array of them allocated on
    /// every request whose body nests (every chat: `messages` is an array of objects).
    private struct ContainerStack {
        /// 512 bits, ``JSONFieldScanner/maximumDepth`` levels; a set bit is an array.
        private var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        private(set) var count = 0

        var last: Container? {
            guard count > 0 else { return nil }
            let index = count - 1
            let word = withUnsafeBytes(of: words) { $0.load(fromByteOffset: (index >> 6) * 8, as: UInt64.self) }
            return word & (1 << UInt64(index & 63)) != 0 ? .array : .object
        }

        mutating func append(_ container: Container) {
            precondition(count < JSONFieldScanner.maximumDepth)
            let index = count
            withUnsafeMutableBytes(of: &words) { bytes in
                var word = bytes.load(fromByteOffset: (index >> 6) * 8, as: UInt64.self)
                let bit = UInt64(1) << UInt64(index & 63)
                word = container == .array ? word | bit : word & ~bit
                bytes.storeBytes(of: word, toByteOffset: (index >> 6) * 8, as: UInt64.self)
            }
            count += 1
        }

        mutating func removeLast() {
            count -= 1
        }
    }

    private struct Cursor {
        let bytes: UnsafeRawBufferPointer
        var offset = 0

        init(bytes: UnsafeRawBufferPointer) {
            self.bytes = bytes
        }

        func fail(_ reason: String) -> Malformed {
            Malformed(offset: offset, reason: reason)
        }

        @inline(__always)
        mutating func skipWhitespace() {
            while offset < bytes.count {
                switch bytes[offset] {
                case 0x20, 0x0A, 0x0D, 0x09: offset += 1
                default: return
                }
            }
        }

        @inline(__always)
        func peek() -> UInt8? {
            offset < bytes.count ? bytes[offset] : nil
        }

        mutating func expect(_ byte: UInt8, _ what: String) throws(Malformed) {
            guard peek() == byte else { throw fail("expected \(what)") }
            offset += 1
        }

        /// The body must be one object; `model` and `stream` are looked for among its own keys only.
        mutating func topLevelObject() throws(Malformed) -> Fields {
            var fields = Fields()
            skipWhitespace()
            guard peek() == UInt8(ascii: "{") else {
                throw fail(offset < bytes.count ? "the body is not a JSON object" : "the body is empty")
            }
            offset += 1
            skipWhitespace()
            if peek() == UInt8(ascii: "}") {
                offset += 1
            } else {
                while true {
                    skipWhitespace()
                    let keyStart = offset
                    try skipString()
                    let key = try fieldName(keyStart..<offset)
                    skipWhitespace()
                    try expect(UInt8(ascii: ":"), "':' after an object key")
                    skipWhitespace()
                    let valueStart = offset
                    if key == .model {
                        if peek() == UInt8(ascii: "\"") {
                            try skipString()
                            fields.model = try decodeString(valueStart..<offset)
                            fields.modelRange = valueStart..<offset
                            fields.modelIsNotAString = false
                        } else {
                            try skipValue()
                            fields.model = nil
                            fields.modelRange = nil
                            fields.modelIsNotAString = true
                        }
                    } else if key == .previousResponseID {
                        if peek() == UInt8(ascii: "\"") {
                            try skipString()
                            fields.previousResponseID = try decodeString(valueStart..<offset)
                        } else {
                            // `null` (or anything else) continues no conversation.
                            try skipValue()
                            fields.previousResponseID = nil
                        }
                    } else if let rank = key.promptRank {
                        try skipValue()
                        if rank >= fields.promptRank {
                            fields.promptRank = rank
                            fields.promptRange = valueStart..<offset
                        }
                    } else if key == .stream {
                        try skipValue()
                        let value = UnsafeRawBufferPointer(rebasing: bytes[valueStart..<offset])
                        fields.stream = Self.isKey(value, "true") ? true : (Self.isKey(value, "false") ? false : nil)
                    } else {
                        try skipValue()
                    }
                    skipWhitespace()
                    guard let next = peek() else { throw fail("unterminated object") }
                    offset += 1
                    if next == UInt8(ascii: "}") { break }
                    guard next == UInt8(ascii: ",") else {
                        offset -= 1
                        throw fail("expected ',' or '}' in an object")
                    }
                }
            }
            skipWhitespace()
            guard offset == bytes.count else { throw fail("unexpected data after the JSON object") }
            return fields
        }

        enum FieldName {
            case model
            case stream
            case previousResponseID
            case messages
            case input
            case prompt
            case other

            /// The precedence of the keys that hold the conversation (`messages` first).
            var promptRank: Int? {
                switch self {
                case .messages: return 3
                case .input: return 2
                case .prompt: return 1
                default: return nil
                }
            }
        }

        /// Which of the keys the proxy cares about a key token is; an escaped spelling such as
        /// `"mod\u0065l"` is the same key to every JSON parser, and so to the host.
        func fieldName(_ range: Range<Int>) throws(Malformed) -> FieldName {
            let key = UnsafeRawBufferPointer(rebasing: bytes[range])
            if Self.isKey(key, "\"model\"") { return .model }
            if Self.isKey(key, "\"stream\"") { return .stream }
            if Self.isKey(key, "\"previous_response_id\"") { return .previousResponseID }
            if Self.isKey(key, "\"messages\"") { return .messages }
            if Self.isKey(key, "\"input\"") { return .input }
            if Self.isKey(key, "\"prompt\"") { return .prompt }
            guard key.contains(UInt8(ascii: "\\")), key.count <= 128 else { return .other }
            switch try decodeString(range) {
            case "model": return .model
            case "stream": return .stream
            case "previous_response_id": return .previousResponseID
            case "messages": return .messages
            case "input": return .input
            case "prompt": return .prompt
            default: return .other
            }
        }

        static func isKey(_ key: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
            guard key.count == literal.utf8CodeUnitCount else { return false }
            let expected = UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
            return key.elementsEqual(expected)
        }

        /// Skips one value of any kind, containers included, keeping a stack of open containers rather
        /// than recursing.
        mutating func skipValue() throws(Malformed) {
            var stack = ContainerStack()
            // Expecting a value at the current offset.
            while true {
                skipWhitespace()
                guard let byte = peek() else { throw fail("unexpected end of the body") }
                switch byte {
                case UInt8(ascii: "{"):
                    // Depth counts the top-level object and this one, as Foundation's parser does.
                    guard stack.count + 2 <= JSONFieldScanner.maximumDepth else { throw fail("nested too deeply") }
                    offset += 1
                    skipWhitespace()
                    if peek() == UInt8(ascii: "}") {
                        offset += 1
                    } else {
                        stack.append(.object)
                        try objectKey()
                        continue
                    }
                case UInt8(ascii: "["):
                    guard stack.count + 2 <= JSONFieldScanner.maximumDepth else { throw fail("nested too deeply") }
                    offset += 1
                    skipWhitespace()
                    if peek() == UInt8(ascii: "]") {
                        offset += 1
                    } else {
                        stack.append(.array)
                        continue
                    }
                case UInt8(ascii: "\""):
                    try skipString()
                case UInt8(ascii: "t"):
                    try literal("true")
                case UInt8(ascii: "f"):
                    try literal("false")
                case UInt8(ascii: "n"):
                    try literal("null")
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    try skipNumber()
                default:
                    throw fail("unexpected character")
                }
                // A value ended: close containers or move to their next element.
                while true {
                    guard let open = stack.last else { return }
                    skipWhitespace()
                    guard let next = peek() else { throw fail("unterminated container") }
                    offset += 1
                    if next == UInt8(ascii: ",") {
                        if open == .object { try objectKey() }
                        break
                    }
                    if (open == .object && next == UInt8(ascii: "}")) || (open == .array && next == UInt8(ascii: "]")) {
                        stack.removeLast()
                        continue
                    }
                    offset -= 1
                    throw fail(open == .object ? "expected ',' or '}' in an object" : "expected ',' or ']' in an array")
                }
            }
        }

        /// A key and its colon, leaving the cursor before the value.
        mutating func objectKey() throws(Malformed) {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            try skipString()
            skipWhitespace()
            try expect(UInt8(ascii: ":"), "':' after an object key")
        }

        mutating func literal(_ word: StaticString) throws(Malformed) {
            let count = word.utf8CodeUnitCount
            guard offset + count <= bytes.count,
                Self.isKey(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count]), word)
            else { throw fail("invalid literal") }
            offset += count
        }

        mutating func skipNumber() throws(Malformed) {
            if peek() == UInt8(ascii: "-") { offset += 1 }
            guard let first = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
                throw fail("invalid number")
            }
            offset += 1
            if first != UInt8(ascii: "0") { skipDigits() }
            if peek() == UInt8(ascii: ".") {
                offset += 1
                guard skipDigits() > 0 else { throw fail("invalid number") }
            }
            if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
                offset += 1
                if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { offset += 1 }
                guard skipDigits() > 0 else { throw fail("invalid number") }
            }
        }

        @discardableResult
        mutating func skipDigits() -> Int {
            let start = offset
            while let byte = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { offset += 1 }
            return offset - start
        }

        /// Skips a string token, checking escapes and that no control character appears raw.
        mutating func skipString() throws(Malformed) {
            guard peek() == UInt8(ascii: "\"") else { throw fail("expected a string") }
            offset += 1
            while offset < bytes.count {
                let byte = bytes[offset]
                offset += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return
                case UInt8(ascii: "\\"):
                    guard let escaped = peek() else { throw fail("unterminated string") }
                    offset += 1
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                        UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        continue
                    case UInt8(ascii: "u"):
                        guard offset + 4 <= bytes.count,
                            (0..<4).allSatisfy({ ASCII.hexValue(bytes[offset + $0]) != nil })
                        else { throw fail("invalid \\u escape") }
                        offset += 4
                    default:
                        throw fail("invalid escape")
                    }
                case 0..<0x20:
                    offset -= 1
                    throw fail("control character in a string")
                default:
                    continue
                }
            }
            throw fail("unterminated string")
        }

        /// Decodes a string token already checked by ``skipString()``. Invalid UTF-8 and lone surrogates
        /// become U+FFFD, as in every lenient JSON decoder; such a name can only be a 404 anyway.
        func decodeString(_ range: Range<Int>) throws(Malformed) -> String {
            let inner = UnsafeRawBufferPointer(rebasing: bytes[(range.lowerBound + 1)..<(range.upperBound - 1)])
            if !inner.contains(UInt8(ascii: "\\")) {
                return String(decoding: inner, as: UTF8.self)
            }
            var units: [UInt16] = []
            var utf8: [UInt8] = []
            var result = ""
            func flushUTF8() {
                if !utf8.isEmpty {
                    result += String(decoding: utf8, as: UTF8.self)
                    utf8.removeAll(keepingCapacity: true)
                }
            }
            func flushUnits() {
                if !units.isEmpty {
                    result += String(decoding: units, as: UTF16.self)
                    units.removeAll(keepingCapacity: true)
                }
            }
            var index = 0
            while index < inner.count {
                let byte = inner[index]
                guard byte == UInt8(ascii: "\\") else {
                    flushUnits()
                    utf8.append(byte)
                    index += 1
                    continue
                }
                let escaped = inner[index + 1]
                index += 2
                if escaped == UInt8(ascii: "u") {
                    flushUTF8()
                    var value: UInt16 = 0
                    for position in 0..<4 {
                        value = value << 4 | UInt16(ASCII.hexValue(inner[index + position]) ?? 0)
                    }
                    index += 4
                    units.append(value)
                    continue
                }
                flushUnits()
                switch escaped {
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                default: utf8.append(escaped)
                }
            }
            flushUTF8()
            flushUnits()
            return result
        }
    }
}
