import NIOCore
import NIOHTTP1

/// Header lines as they go on the wire (`Name: value\r\n` each), written straight into a buffer: olla builds
/// the heads it sends this way instead of filling an `HTTPHeaders` for NIO's encoders to copy and encode again.
///
/// Nothing is validated here. Every value written comes from a message llhttp or ``ResponseParser`` parsed (which
/// refuse CR, LF and NUL in fields), from the configuration (checked when it is loaded), from a host's model list (ids with control
/// characters are left out of the index), or from a request body only after ``HeaderRules/isSafeEcho(_:)``.
struct HeaderBlock {
    var bytes: ByteBuffer

    init(capacity: Int) {
        bytes = ByteBuffer()
        bytes.reserveCapacity(capacity)
    }

    mutating func add(name: String, value: String) {
        bytes.writeString(name)
        bytes.writeStaticString(": ")
        bytes.writeString(value)
        bytes.writeStaticString("\r\n")
    }

    /// A line from a name and a value read as bytes (a host's answer, checked by ``ResponseParser``).
    mutating func add(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        bytes.writeBytes(name)
        bytes.writeStaticString(": ")
        bytes.writeBytes(value)
        bytes.writeStaticString("\r\n")
    }

    /// A line with a decimal value (`Content-Length`), without making a `String` of the number.
    mutating func add(name: StaticString, decimal value: Int) {
        bytes.writeStaticString(name)
        bytes.writeStaticString(": ")
        bytes.writeDecimal(value)
        bytes.writeStaticString("\r\n")
    }

    /// A whole line, CRLF included.
    mutating func addLine(_ line: StaticString) {
        bytes.writeStaticString(line)
    }

    /// Appends lines built elsewhere (the client's headers for a host, built once per request).
    mutating func add(_ other: HeaderBlock) {
        bytes.writeImmutableBuffer(other.bytes)
    }

    /// The block with the empty line that ends a head.
    mutating func finish() -> ByteBuffer {
        bytes.writeStaticString("\r\n")
        return bytes
    }
}

/// Where ``ForwardedHeaders/addOlla(to:requestID:placement:requestedModel:elapsedNanoseconds:)`` writes: the
/// byte block of a proxied answer, or the `HTTPHeaders` of an answer olla makes itself.
protocol HeaderLines {
    mutating func add(name: String, value: String)
}

extension HTTPHeaders: HeaderLines {}
extension HeaderBlock: HeaderLines {}

extension ByteBuffer {
    /// Writes a non-negative integer in decimal.
    mutating func writeDecimal(_ value: Int) {
        precondition(value >= 0)
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        var remaining = value
        let start = writerIndex
        writeRepeatingByte(UInt8(ascii: "0"), count: digits)
        var position = start + digits
        repeat {
            position -= 1
            setInteger(UInt8(ascii: "0") + UInt8(remaining % 10), at: position)
            remaining /= 10
        } while remaining > 0
    }

    /// Writes a non-negative integer in lowercase hexadecimal (a chunk's size line).
    mutating func writeHexadecimal(_ value: Int) {
        precondition(value >= 0)
        var digits = 1
        var rest = value >> 4
        while rest > 0 {
            digits += 1
            rest >>= 4
        }
        var remaining = value
        let start = writerIndex
        writeRepeatingByte(UInt8(ascii: "0"), count: digits)
        var position = start + digits
        repeat {
            position -= 1
            let digit = UInt8(remaining & 0xF)
            setInteger(digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10, at: position)
            remaining >>= 4
        } while remaining > 0
    }
}
