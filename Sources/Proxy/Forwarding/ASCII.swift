/// ASCII comparisons of header names and values, and hex digits, in one place: for the bytes of a host's answer
/// (``ResponseParser``) and, through the `String` helpers below, for a client's head as NIO parsed it.
enum ASCII {
    /// Case-insensitive equality with a lowercase literal.
    static func equalsLowercase(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        bytes.count == literal.utf8CodeUnitCount && startsWithLowercase(bytes, literal)
    }

    /// Whether `bytes` begin with a lowercase literal, ignoring ASCII case.
    static func startsWithLowercase(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard bytes.count >= count else { return false }
        let expected = literal.utf8Start
        for index in 0..<count {
            let byte = bytes[index]
            let lowered = (byte >= 65 && byte <= 90) ? byte | 0x20 : byte
            if lowered != expected[index] { return false }
        }
        return true
    }

    /// The value of a hexadecimal digit, either case.
    static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }
}

extension String {
    /// ASCII case-insensitive equality; `other` must be lowercase.
    func equalsIgnoringASCIICase(_ other: StaticString) -> Bool {
        utf8.count == other.utf8CodeUnitCount && withUTF8Bytes { ASCII.startsWithLowercase($0, other) }
    }

    /// Whether the string begins with `prefix` (lowercase), ignoring ASCII case.
    func hasPrefixIgnoringASCIICase(_ prefix: StaticString) -> Bool {
        withUTF8Bytes { ASCII.startsWithLowercase($0, prefix) }
    }

    /// Calls `body` with the string's UTF-8 bytes (no copy for a native string; a small one is read from the stack).
    func withUTF8Bytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        var string = self
        return string.withUTF8 { body(UnsafeRawBufferPointer($0)) }
    }
}
