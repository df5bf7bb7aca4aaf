import NIOCore

/// Reads `model`, `stream`, `max_tokens` and `n_predict` from a chat or completion body in one pass
/// over its bytes, validating the whole document as JSON on the way.
///
/// It only answers for plain documents: ASCII, no escape in a key or in `model`, the fields of interest
/// of the expected types. Anything else returns nil and the caller asks Foundation, so this is a fast
/// path and never the judge of an unusual body. It exists because the simulated host sits behind the
/// benchmark, and building a Foundation dictionary per request was a fifth of its CPU time.
struct RequestFieldScanner {
    struct Fields {
        var model: String?
        var stream: Bool?
        var maxTokens: Int?
        var nPredict: Int?
    }

    private let bytes: UnsafeRawBufferPointer
    private var position = 0

    /// The fields of a body, or nil when the fast path cannot vouch for it.
    static func scan(_ body: ByteBuffer) -> Fields? {
        body.withUnsafeReadableBytes { bytes in
            var scanner = RequestFieldScanner(bytes: bytes)
            return scanner.scanDocument()
        }
    }

    private init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    private mutating func scanDocument() -> Fields? {
        var fields = Fields()
        skipWhitespace()
        guard take(UInt8(ascii: "{")) else { return nil }
        skipWhitespace()
        if !take(UInt8(ascii: "}")) {
            repeat {
                skipWhitespace()
                guard let key = plainString() else { return nil }
                skipWhitespace()
                guard take(UInt8(ascii: ":")) else { return nil }
                skipWhitespace()
                switch key {
                case "model":
                    if takeLiteral("null") {
                        fields.model = nil
                    } else {
                        guard let model = plainString() else { return nil }
                        fields.model = model
                    }
                case "stream":
                    if takeLiteral("true") {
                        fields.stream = true
                    } else if takeLiteral("false") {
                        fields.stream = false
                    } else if !takeLiteral("null") {
                        return nil
                    }
                case "max_tokens", "n_predict":
                    if takeLiteral("null") { break }
                    guard let number = integer() else { return nil }
                    if key == "max_tokens" { fields.maxTokens = number } else { fields.nPredict = number }
                default:
                    guard skipValue(depth: 0) else { return nil }
                }
                skipWhitespace()
            } while take(UInt8(ascii: ","))
            guard take(UInt8(ascii: "}")) else { return nil }
        }
        skipWhitespace()
        return position == bytes.count ? fields : nil
    }

    // MARK: Values

    private mutating func skipValue(depth: Int) -> Bool {
        guard depth < 64, position < bytes.count else { return false }
        switch bytes[position] {
        case UInt8(ascii: "\""):
            return skipString()
        case UInt8(ascii: "{"):
            position += 1
            skipWhitespace()
            if take(UInt8(ascii: "}")) { return true }
            repeat {
                skipWhitespace()
                guard skipString() else { return false }
                skipWhitespace()
                guard take(UInt8(ascii: ":")) else { return false }
                skipWhitespace()
                guard skipValue(depth: depth + 1) else { return false }
                skipWhitespace()
            } while take(UInt8(ascii: ","))
            return take(UInt8(ascii: "}"))
        case UInt8(ascii: "["):
            position += 1
            skipWhitespace()
            if take(UInt8(ascii: "]")) { return true }
            repeat {
                skipWhitespace()
                guard skipValue(depth: depth + 1) else { return false }
                skipWhitespace()
            } while take(UInt8(ascii: ","))
            return take(UInt8(ascii: "]"))
        case UInt8(ascii: "t"):
            return takeLiteral("true")
        case UInt8(ascii: "f"):
            return takeLiteral("false")
        case UInt8(ascii: "n"):
            return takeLiteral("null")
        default:
            return skipNumber()
        }
    }

    /// A string without escapes, as a Swift string.
    private mutating func plainString() -> String? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = position
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
                position += 1
                return text
            }
            guard byte >= 0x20, byte < 0x80, byte != UInt8(ascii: "\\") else { return nil }
            position += 1
        }
        return nil
    }

    /// Any valid ASCII string, escapes included.
    private mutating func skipString() -> Bool {
        guard take(UInt8(ascii: "\"")) else { return false }
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                return true
            case UInt8(ascii: "\\"):
                guard position < bytes.count else { return false }
                let escaped = bytes[position]
                position += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    continue
                case UInt8(ascii: "u"):
                    // A lone surrogate is a matter of taste between parsers: leave \u escapes to Foundation.
                    return false
                default:
                    return false
                }
            case 0..<0x20, 0x80...:
                return false
            default:
                continue
            }
        }
        return false
    }

    private mutating func skipNumber() -> Bool {
        _ = take(UInt8(ascii: "-"))
        guard position < bytes.count else { return false }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
        } else {
            guard skipDigits() else { return false }
        }
        if take(UInt8(ascii: ".")) {
            guard skipDigits() else { return false }
        }
        if take(UInt8(ascii: "e")) || take(UInt8(ascii: "E")) {
            if !take(UInt8(ascii: "+")) { _ = take(UInt8(ascii: "-")) }
            guard skipDigits() else { return false }
        }
        return true
    }

    /// A plain integer of at most 9 digits (no fraction, no exponent).
    private mutating func integer() -> Int? {
        let negative = take(UInt8(ascii: "-"))
        let start = position
        var value = 0
        while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
            value = value * 10 + Int(bytes[position] - UInt8(ascii: "0"))
            position += 1
        }
        let count = position - start
        guard count > 0, count <= 9, count == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
        if position < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[position]) {
            return nil
        }
        return negative ? -value : value
    }

    private mutating func skipDigits() -> Bool {
        let start = position
        while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
            position += 1
        }
        return position > start
    }

    // MARK: Tokens

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): position += 1
            default: return
            }
        }
    }

    private mutating func take(_ byte: UInt8) -> Bool {
        guard position < bytes.count, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    private mutating func takeLiteral(_ literal: StaticString) -> Bool {
        let length = literal.utf8CodeUnitCount
        guard position + length <= bytes.count else { return false }
        let matches = literal.withUTF8Buffer { expected in
            (0..<length).allSatisfy { bytes[position + $0] == expected[$0] }
        }
        if matches { position += length }
        return matches
    }
}
