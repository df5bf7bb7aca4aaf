import NIOCore

extension ByteBuffer {
    /// Appends a JSON string literal (quotes included), escaping what JSON requires.
    ///
    /// Most strings need no escape, so those are copied in one go.
    @discardableResult
    mutating func writeJSONString(_ string: String) -> Int {
        let before = writerIndex
        writeInteger(UInt8(ascii: "\""))
        if string.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            writeEscapedJSON(string)
        } else {
            writeString(string)
        }
        writeInteger(UInt8(ascii: "\""))
        return writerIndex - before
    }

    private mutating func writeEscapedJSON(_ string: String) {
        let hexDigits: StaticString = "0123456789abcdef"
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): writeStaticString("\\\"")
            case UInt8(ascii: "\\"): writeStaticString("\\\\")
            case UInt8(ascii: "\n"): writeStaticString("\\n")
            case UInt8(ascii: "\r"): writeStaticString("\\r")
            case UInt8(ascii: "\t"): writeStaticString("\\t")
            case 0..<0x20:
                writeStaticString("\\u00")
                hexDigits.withUTF8Buffer { digits in
                    writeInteger(digits[Int(byte >> 4)])
                    writeInteger(digits[Int(byte & 0x0F)])
                }
            default:
                writeInteger(byte)
            }
        }
    }

    /// Appends an integer in decimal.
    mutating func writeDecimal(_ value: Int) {
        writeString(String(value))
    }
}

/// JSON text for a string, escaped, quotes included.
func jsonQuoted(_ string: String) -> String {
    var buffer = ByteBuffer()
    buffer.writeJSONString(string)
    return String(buffer: buffer)
}
