import Foundation

@testable import Proxy

/// What a body means at its top level, in a form both the scanner's answer and Foundation's can be put in
/// and compared exactly.
///
/// `model` is kept as UTF-8 bytes because `String`'s `==` is canonical equivalence: `"é"` and `"e\u{301}"`
/// compare equal, and a scanner that normalised model names would slip through.
enum TopLevelMeaning: Equatable, Sendable, CustomStringConvertible {
    /// Not one JSON object: malformed, or a valid value of another kind.
    case refused
    /// `previousResponseID` is the UTF-8 of a top-level string `previous_response_id`, nil otherwise.
    case object(model: ModelField, stream: Bool?, previousResponseID: [UInt8]? = nil)

    /// The top-level `model` member.
    enum ModelField: Equatable, Sendable {
        case absent
        case string(utf8: [UInt8])
        case notAString
    }

    /// The scanner's answer in this form.
    init(scanning bytes: [UInt8]) {
        self.init(JSONFieldScanner.scan(bytes))
    }

    /// A scan result in this form.
    init(_ result: Result<JSONFieldScanner.Fields, JSONFieldScanner.Malformed>) {
        switch result {
        case .failure:
            self = .refused
        case .success(let fields):
            let model: ModelField
            if let name = fields.model {
                model = .string(utf8: Array(name.utf8))
            } else {
                model = fields.modelIsNotAString ? .notAString : .absent
            }
            self = .object(
                model: model,
                stream: fields.stream,
                previousResponseID: fields.previousResponseID.map { Array($0.utf8) }
            )
        }
    }

    /// Foundation's answer in this form.
    init(parsingWithFoundation bytes: [UInt8]) {
        guard
            let parsed = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]),
            let object = parsed as? [String: Any]
        else {
            self = .refused
            return
        }
        let model: ModelField
        switch object["model"] {
        case nil: model = .absent
        case let name as String: model = .string(utf8: Array(name.utf8))
        default: model = .notAString
        }
        self = .object(
            model: model,
            stream: object["stream"].flatMap(FoundationReference.boolean),
            previousResponseID: (object["previous_response_id"] as? String).map { Array($0.utf8) }
        )
    }

    var description: String {
        switch self {
        case .refused: return "refused"
        case .object(let model, let stream, let previousResponseID):
            let modelText =
                switch model {
                case .absent: "absent"
                case .notAString: "not a string"
                case .string(let utf8): String(decoding: utf8, as: UTF8.self).debugDescription
                }
            let previous = previousResponseID.map { String(decoding: $0, as: UTF8.self).debugDescription } ?? "nil"
            return "object(model: \(modelText), stream: \(stream.map(String.init) ?? "nil"), previous: \(previous))"
        }
    }
}

/// Foundation's `JSONSerialization` used as the reference parser, with the places where it is not one.
enum FoundationReference {
    /// `JSONSerialization` hands `true`/`false` back as NSNumber; only this class tells them from `1`/`0`,
    /// since on Linux `1 as? Bool` succeeds too.
    private static let booleanClass = ObjectIdentifier(type(of: NSNumber(value: true)))

    /// The value as a JSON boolean, or nil for any other kind (numbers `1` and `0` included).
    static func boolean(_ value: Any) -> Bool? {
        guard let number = value as? NSNumber, ObjectIdentifier(type(of: number)) == booleanClass else {
            return nil
        }
        return number.boolValue
    }

    /// Why Foundation on Linux cannot decide whether `bytes` is valid JSON the way RFC 8259 (and the
    /// scanner's documented design) does, or nil when it can. Each reason was observed with
    /// swift-corelibs-foundation on Swift 6.3.1; the inputs it excuses are covered by example tests instead.
    static func untrustworthyReason(for bytes: [UInt8]) -> String? {
        if bytes.contains(0) {
            // Foundation guesses UTF-16/32 from NUL bytes: `7B 00 7D 00` parses as `{}` in UTF-16LE.
            return "NUL byte (Foundation detects UTF-16/32)"
        }
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            return "UTF-8 byte order mark (Foundation skips it, RFC 8259 leaves it to the parser)"
        }
        if String(validating: bytes, as: UTF8.self) == nil {
            // The scanner keeps invalid UTF-8 inside strings and decodes it to U+FFFD on purpose (its
            // `decodeString` says so); Foundation refuses the whole body.
            return "invalid UTF-8 (the scanner is lenient inside strings by design)"
        }
        return LexicalSurvey(bytes).untrustworthyReason
    }
}

/// One pass over the bytes that tracks only whether it is inside a string, enough to find the
/// constructs Foundation mishandles wherever they are, in malformed bodies too.
private struct LexicalSurvey {
    var untrustworthyReason: String?

    init(_ bytes: [UInt8]) {
        var index = 0
        var depth = 0
        var maximumDepth = 0
        var lastSignificant: UInt8?
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                let (end, reason) = Self.skipString(bytes, from: index)
                if let reason {
                    untrustworthyReason = reason
                    return
                }
                index = end
                lastSignificant = byte
                continue
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if lastSignificant == UInt8(ascii: ",") {
                    // Foundation accepts `{"a":1,}` and `[1,]`; RFC 8259 does not.
                    untrustworthyReason = "trailing comma"
                    return
                }
                depth -= 1
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                maximumDepth = max(maximumDepth, depth)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                var end = index
                while end < bytes.count, Self.isNumberByte(bytes[end]) { end += 1 }
                let token = String(decoding: bytes[index..<end], as: UTF8.self)
                if let value = Double(token), !value.isFinite {
                    // Foundation refuses `1e400` as "not representable in Swift"; the grammar allows it.
                    untrustworthyReason = "number beyond Double"
                    return
                }
                index = end
                lastSignificant = byte
                continue
            default:
                break
            }
            switch byte {
            case 0x20, 0x09, 0x0A, 0x0D: break
            default: lastSignificant = byte
            }
            index += 1
        }
        if maximumDepth > 511 {
            // Both refuse beyond 512 levels, but not at the same level yet (see the depth tests).
            untrustworthyReason = "nested near the depth limit"
        }
    }

    static func isNumberByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "e"), UInt8(ascii: "E"):
            return true
        default:
            return false
        }
    }

    static func isHexDigit(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
            UInt8(ascii: "A")...UInt8(ascii: "F"):
            return true
        default:
            return false
        }
    }

    /// The index after the string starting at `start` (or the end of the bytes), and what in the string
    /// Foundation mishandles, if anything.
    static func skipString(_ bytes: [UInt8], from start: Int) -> (end: Int, untrustworthyReason: String?) {
        var index = start + 1
        var pendingHigh = false
        var lone = false
        // Where Foundation starts decoding a run of raw bytes: after the quote and after every escape.
        var segmentStart = index
        while index < bytes.count {
            let byte = bytes[index]
            if index == segmentStart, byte == 0xEF, bytes[index...].starts(with: [0xEF, 0xBB, 0xBF]) {
                // Foundation decodes each run of raw bytes between escapes as its own UTF-8 string and so
                // drops a U+FEFF that begins one: `"\u0041<U+FEFF>b"` parses as `"Ab"`.
                return (index, "raw U+FEFF at the start of a string or after an escape")
            }
            if byte == UInt8(ascii: "\"") {
                // Foundation refuses `"\ud800"`; the scanner decodes it to U+FFFD by design.
                return (index + 1, lone || pendingHigh ? "lone surrogate escape" : nil)
            }
            guard byte == UInt8(ascii: "\\"), index + 1 < bytes.count else {
                lone = lone || pendingHigh
                pendingHigh = false
                index += 1
                continue
            }
            if bytes[index + 1] == UInt8(ascii: "u"), index + 6 <= bytes.count,
                bytes[(index + 2)..<(index + 6)].allSatisfy(Self.isHexDigit),
                let unit = UInt16(String(decoding: bytes[(index + 2)..<(index + 6)], as: UTF8.self), radix: 16)
            {
                switch unit {
                case 0xD800...0xDBFF:
                    lone = lone || pendingHigh
                    pendingHigh = true
                case 0xDC00...0xDFFF:
                    lone = lone || !pendingHigh
                    pendingHigh = false
                default:
                    lone = lone || pendingHigh
                    pendingHigh = false
                }
                index += 6
            } else {
                lone = lone || pendingHigh
                pendingHigh = false
                index += 2
            }
            segmentStart = index
        }
        return (index, lone || pendingHigh ? "lone surrogate escape" : nil)
    }
}
