import NIOCore
import NIOHTTP1

/// Reads a host's answers straight from the bytes (RFC 9112): the head checked and kept as bytes, the body framed
/// by its length, its chunks or the close. It takes the place of NIO's `HTTPResponseDecoder` on the upstream side,
/// which made a `String` of every header name and value and an `HTTPHeaders` of them, only for olla to write them
/// out again (issue 11, part 3).
///
/// At least as strict as llhttp without its lenient flags, and stricter where a host has no reason to be loose:
/// only `HTTP/1.0` and `HTTP/1.1`; lines end in CRLF (no bare CR or LF); a field name is a token followed at once by
/// `:`; a value has no control character but tab; no obs-fold; one `Content-Length`, digits only; a
/// `Transfer-Encoding` must be `chunked` alone and never comes with a `Content-Length`; a chunk size is at most 15
/// hex digits, followed at once by CRLF or by extensions (`;name[=token or quoted-string]`), and its line, like
/// every line, is bounded; the CRLF after a chunk's data is checked. Anything else fails the answer, and the
/// connection is never reused.
///
/// A chunk that arrives whole in one read is handed on with its framing (``Event/body(_:framed:)``), so an answer
/// in chunks to an HTTP/1.1 client goes through without being re-framed; a chunk split across reads is handed on in
/// parts, each re-framed by the writer, so a cut always falls between whole chunks.
struct ResponseParser {
    /// The head of an answer: status, version and the header lines as the host sent them, with the facts olla needs.
    struct Head {
        var version: HTTPVersion
        var status: HTTPResponseStatus
        /// The header lines, each `name: value\r\n` (checked), without the status line and the final empty line.
        var lines: ByteBuffer
        /// The body's framing, as read from the lines and the status.
        var framing: Framing
        /// Whether the host keeps the connection open after this answer (its version and `Connection`).
        var keepAlive: Bool
        /// Whether the `Content-Type` is `text/event-stream`.
        var isEventStream: Bool
        /// Whether a `Connection` value may name other headers (anything but `close` and `keep-alive`); rare.
        var connectionNamesHeaders: Bool

        /// Whether the head has a `Content-Length` line.
        var hasLength: Bool

        /// Calls `body` with the name and value of every header line, in order, without making `String`s.
        func forEachField(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
            lines.withUnsafeReadableBytes { bytes in
                var start = 0
                while start < bytes.count {
                    var colon = start
                    while bytes[colon] != UInt8(ascii: ":") { colon += 1 }
                    var end = colon + 1
                    while bytes[end] != UInt8(ascii: "\r") { end += 1 }
                    let value = ResponseParser.trimmed(bytes, from: colon + 1, to: end)
                    body(UnsafeRawBufferPointer(rebasing: bytes[start..<colon]), value)
                    start = end + 2
                }
            }
        }

        /// The lines as `HTTPHeaders`, for the rare answers olla holds and rewrites (DESIGN.md 6.9).
        var headers: HTTPHeaders {
            var headers = HTTPHeaders()
            forEachField { name, value in
                headers.add(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self))
            }
            return headers
        }
    }

    enum Framing: Equatable {
        /// No body (an answer to `HEAD`, a 204 or a 304).
        case none
        case length(Int)
        case chunked
        /// The body ends when the host closes the connection.
        case untilClose
    }

    enum Event {
        case head(Head)
        /// Body bytes; `framed` is the same chunk with the host's framing (size line and CRLF) when it came whole.
        case body(ByteBuffer, framed: ByteBuffer?)
        case end
    }

    /// Why an answer could not be read; the connection is closed.
    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = "invalid response from host: \(description)" }
    }

    /// The longest head (status line and header lines) and the longest trailer section, as NIO's default.
    static let maxHeadSize = 80 * 1024
    /// The longest chunk size line (size and extensions).
    static let maxChunkLineSize = 4 * 1024

    private enum State {
        /// No request is waiting for an answer: any byte is out of step.
        case idle
        case head(requestWasHEAD: Bool)
        /// The answer's last byte was read: its end is the next event.
        case ending
        case length(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
        case failed
    }

    private var state = State.idle
    /// How far a head or trailer section was already searched for its end, so that a head arriving in many small
    /// reads is not searched from its start each time.
    private var searched = 0

    /// Whether a request waits for its answer or an answer is being read.
    var isIdle: Bool {
        if case .idle = state { return true }
        return false
    }

    /// Whether the answer being read ends with the close (so the close is its end, not a failure).
    var endsWithClose: Bool {
        if case .untilClose = state { return true }
        return false
    }

    /// A request was sent: its answer comes next. An answer to `HEAD` has no body whatever its head says.
    mutating func expectResponse(toHEAD: Bool) {
        state = .head(requestWasHEAD: toHEAD)
        searched = 0
    }

    /// The next event the bytes in `buffer` make, consuming them; nil when more bytes are needed.
    mutating func next(_ buffer: inout ByteBuffer) throws -> Event? {
        switch state {
        case .idle:
            guard buffer.readableBytes == 0 else {
                state = .failed
                throw Failure("bytes with no request outstanding")
            }
            return nil
        case .failed:
            throw Failure("the answer already failed")
        case .head(let requestWasHEAD):
            var head: Head
            // Interim answers (100 Continue, 103 Early Hints) are passed over: the final one follows. In a loop, not
            // by recursion: one read can hold thousands of them, and recursing ran out of stack.
            repeat {
                guard let size = try sectionEnd(in: buffer, limit: Self.maxHeadSize, what: "head") else { return nil }
                let bytes = buffer.readSlice(length: size)!
                searched = 0
                head = try parseHead(bytes)
                guard head.status.code != 101 else { throw fail("101 Switching Protocols was not asked for") }
            } while head.status.code >= 100 && head.status.code < 200
            if requestWasHEAD { head.framing = .none }
            switch head.framing {
            case .none, .length(0):
                state = .ending
            case .length(let length):
                state = .length(remaining: length)
            case .chunked:
                state = .chunkSize
            case .untilClose:
                state = .untilClose
                head.keepAlive = false
            }
            return .head(head)
        case .ending:
            state = .idle
            return .end
        case .length(let remaining):
            guard buffer.readableBytes > 0 else { return nil }
            let count = min(remaining, buffer.readableBytes)
            let part = buffer.readSlice(length: count)!
            state = count == remaining ? .ending : .length(remaining: remaining - count)
            return .body(part, framed: nil)
        case .untilClose:
            guard buffer.readableBytes > 0 else { return nil }
            return .body(buffer.readSlice(length: buffer.readableBytes)!, framed: nil)
        case .chunkSize:
            return try chunk(&buffer)
        case .chunkData(let remaining):
            guard buffer.readableBytes > 0 else { return nil }
            let count = min(remaining, buffer.readableBytes)
            let part = buffer.readSlice(length: count)!
            state = count == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - count)
            return .body(part, framed: nil)
        case .chunkDataEnd:
            guard buffer.readableBytes >= 2 else { return nil }
            guard buffer.readInteger(as: UInt16.self) == 0x0D0A else {
                throw fail("a chunk's data does not end in CRLF")
            }
            state = .chunkSize
            return try next(&buffer)
        case .trailers:
            guard let size = try sectionEnd(in: buffer, limit: Self.maxHeadSize, what: "trailer section") else {
                return nil
            }
            // Trailers are checked as header lines and dropped, as NIO's decoder's were by olla.
            let bytes = buffer.readSlice(length: size)!
            searched = 0
            try bytes.withUnsafeReadableBytes { bytes throws in
                var line = 0
                while line < bytes.count - 2 {
                    let end = try checkField(bytes, from: line)
                    line = end + 2
                }
            }
            state = .idle
            return .end
        }
    }

    /// The host closed the connection: the end of an answer that ends with the close, else nil.
    mutating func closed() -> Event? {
        guard case .untilClose = state else { return nil }
        state = .idle
        return .end
    }

    // MARK: Chunks

    /// A chunk size line and, when the whole chunk is there, the chunk; the last chunk goes on to the trailers.
    private mutating func chunk(_ buffer: inout ByteBuffer) throws -> Event? {
        let line = try buffer.withUnsafeReadableBytes { bytes throws -> (size: Int, length: Int, plain: Bool)? in
            var index = 0
            var size = 0
            while index < bytes.count, let digit = ASCII.hexValue(bytes[index]) {
                guard index < 15 else { throw fail("a chunk size of more than 15 hex digits") }
                size = size << 4 | digit
                index += 1
            }
            guard index < bytes.count else {
                guard bytes.count <= Self.maxChunkLineSize else { throw fail("a chunk size line too long") }
                return nil
            }
            guard index > 0 else { throw fail("a chunk size that is not hexadecimal") }
            let plain = bytes[index] == UInt8(ascii: "\r")
            if !plain {
                guard bytes[index] == UInt8(ascii: ";") else { throw fail("a chunk size that is not hexadecimal") }
                guard let end = try extensionsEnd(bytes, from: index) else {
                    guard bytes.count <= Self.maxChunkLineSize else { throw fail("a chunk size line too long") }
                    return nil
                }
                index = end
            }
            guard index + 1 < bytes.count else { return nil }
            guard bytes[index + 1] == UInt8(ascii: "\n") else { throw fail("a bare CR in a chunk size line") }
            guard index + 2 <= Self.maxChunkLineSize else { throw fail("a chunk size line too long") }
            return (size, index + 2, plain)
        }
        guard let line else { return nil }
        if line.size == 0 {
            buffer.moveReaderIndex(forwardBy: line.length)
            state = .trailers
            searched = 0
            return try next(&buffer)
        }
        // The whole chunk is here: hand it on with its framing, when the size line is plain.
        if line.plain, buffer.readableBytes >= line.length + line.size + 2 {
            let crlf = buffer.getInteger(at: buffer.readerIndex + line.length + line.size, as: UInt16.self)
            guard crlf == 0x0D0A else { throw fail("a chunk's data does not end in CRLF") }
            let framed = buffer.readSlice(length: line.length + line.size + 2)!
            let data = framed.getSlice(at: framed.readerIndex + line.length, length: line.size)!
            return .body(data, framed: framed)
        }
        buffer.moveReaderIndex(forwardBy: line.length)
        state = .chunkData(remaining: line.size)
        return try next(&buffer)
    }

    /// Checks a chunk's extensions, which olla ignores, from the `;` at `start`: `;name` or `;name=value`, a value a
    /// token or a quoted string, with no whitespace around them, as llhttp without its lenient flags.
    /// - Returns: the index of the size line's CR; nil when the line is not all there yet.
    private mutating func extensionsEnd(_ bytes: UnsafeRawBufferPointer, from start: Int) throws -> Int? {
        var index = start
        while index < bytes.count {
            guard bytes[index] != UInt8(ascii: "\r") else { return index }
            guard bytes[index] == UInt8(ascii: ";") else { throw fail("a malformed chunk extension") }
            index = try tokenEnd(bytes, from: index + 1)
            guard index < bytes.count else { return nil }
            guard bytes[index] == UInt8(ascii: "=") else { continue }
            index += 1
            guard index < bytes.count else { return nil }
            guard bytes[index] == UInt8(ascii: "\"") else {
                index = try tokenEnd(bytes, from: index)
                continue
            }
            // A quoted string: field bytes but `"` and `\`, or `\` and a field byte.
            index += 1
            while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                if bytes[index] == UInt8(ascii: "\\") { index += 1 }
                guard index < bytes.count else { return nil }
                guard Self.isFieldByte(bytes[index]) else { throw fail("a control character in a chunk extension") }
                index += 1
            }
            guard index < bytes.count else { return nil }
            index += 1
        }
        return nil
    }

    /// The end of a token that starts at `start`: the index of the first byte after it, or the end of `bytes`.
    private mutating func tokenEnd(_ bytes: UnsafeRawBufferPointer, from start: Int) throws -> Int {
        var index = start
        while index < bytes.count, Self.isTokenByte(bytes[index]) { index += 1 }
        guard index > start || index == bytes.count else { throw fail("a malformed chunk extension") }
        return index
    }

    // MARK: The head

    /// The length of a head or trailer section, its final empty line included, once all of it is in `buffer`.
    private mutating func sectionEnd(in buffer: ByteBuffer, limit: Int, what: String) throws -> Int? {
        let found = buffer.withUnsafeReadableBytes { bytes -> Int? in
            // A trailer section may be empty: its end is the first CRLF.
            if case .trailers = state, bytes.count >= 2, bytes[0] == UInt8(ascii: "\r"), bytes[1] == UInt8(ascii: "\n")
            {
                return 2
            }
            var index = max(searched, 3)
            while index < bytes.count {
                if bytes[index] == UInt8(ascii: "\n"), bytes[index - 1] == UInt8(ascii: "\r"),
                    bytes[index - 2] == UInt8(ascii: "\n"), bytes[index - 3] == UInt8(ascii: "\r")
                {
                    return index + 1
                }
                index += 1
            }
            return nil
        }
        if let found {
            guard found <= limit else { throw fail("a \(what) larger than \(limit) bytes") }
            return found
        }
        guard buffer.readableBytes <= limit else { throw fail("a \(what) larger than \(limit) bytes") }
        searched = buffer.readableBytes
        return nil
    }

    /// Checks a head (status line, lines, empty line) and reads the facts olla needs from it.
    private mutating func parseHead(_ head: ByteBuffer) throws -> Head {
        try head.withUnsafeReadableBytes { bytes throws -> Head in
            // `HTTP/1.x SP 3DIGIT [SP reason] CRLF`
            guard bytes.count >= 14, Self.startsWith(bytes, "HTTP/1."),
                bytes[7] == UInt8(ascii: "0") || bytes[7] == UInt8(ascii: "1"), bytes[8] == UInt8(ascii: " ")
            else { throw fail("a status line that is not HTTP/1.0 or HTTP/1.1") }
            var code = 0
            for index in 9..<12 {
                guard let digit = Self.decimalValue(bytes[index]) else {
                    throw fail("a status code that is not 3 digits")
                }
                code = code * 10 + digit
            }
            guard code >= 100 else { throw fail("a status code below 100") }
            var index = 12
            if bytes[index] == UInt8(ascii: " ") {
                index += 1
                while bytes[index] != UInt8(ascii: "\r") {
                    guard Self.isFieldByte(bytes[index]) else { throw fail("a control character in the reason") }
                    index += 1
                }
            }
            guard bytes[index] == UInt8(ascii: "\r"), bytes[index + 1] == UInt8(ascii: "\n") else {
                throw fail("a malformed status line")
            }
            let minor = bytes[7] == UInt8(ascii: "1") ? 1 : 0
            let linesStart = index + 2
            var facts = Facts()
            var line = linesStart
            // The section ends with CRLF CRLF: stop at the last CRLF.
            while line < bytes.count - 2 {
                let end = try checkField(bytes, from: line)
                facts.note(bytes, line: line, end: end)
                if let problem = facts.problem { throw fail(problem) }
                line = end + 2
            }
            let status = HTTPResponseStatus(statusCode: code)
            // Checked whatever the status: a 204 or 304 with both is as ambiguous as any answer (llhttp refuses it).
            if facts.transferEncodings > 0 {
                guard facts.transferEncodings == 1, facts.chunkedAlone else {
                    throw fail("a Transfer-Encoding other than chunked alone")
                }
                guard facts.contentLength == nil else { throw fail("both Content-Length and Transfer-Encoding") }
            }
            let framing: Framing
            if !status.mayHaveResponseBody {
                framing = .none
            } else if facts.transferEncodings > 0 {
                framing = .chunked
            } else if let length = facts.contentLength {
                framing = .length(length)
            } else {
                framing = .untilClose
            }
            let keepAlive = minor == 1 ? !facts.close : (facts.keepAlive && !facts.close)
            return Head(
                version: minor == 1 ? .http1_1 : .http1_0,
                status: status,
                lines: head.getSlice(at: head.readerIndex + linesStart, length: bytes.count - 2 - linesStart)!,
                framing: framing,
                keepAlive: keepAlive,
                isEventStream: facts.isEventStream,
                connectionNamesHeaders: facts.connectionNamesHeaders,
                hasLength: facts.contentLength != nil
            )
        }
    }

    /// What the lines of a head say about framing and the connection.
    private struct Facts {
        var contentLength: Int?
        var transferEncodings = 0
        var chunkedAlone = true
        var close = false
        var keepAlive = false
        var isEventStream = false
        var connectionNamesHeaders = false
        var problem: String?

        mutating func note(_ bytes: UnsafeRawBufferPointer, line: Int, end: Int) {
            var colon = line
            while bytes[colon] != UInt8(ascii: ":") { colon += 1 }
            let name = UnsafeRawBufferPointer(rebasing: bytes[line..<colon])
            let value = ResponseParser.trimmed(bytes, from: colon + 1, to: end)
            switch name.count {
            case 14 where ASCII.equalsLowercase(name, "content-length"):
                guard contentLength == nil else {
                    problem = "more than one Content-Length"
                    return
                }
                guard !value.isEmpty, value.count <= 18, value.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                    problem = "a Content-Length that is not a number"
                    return
                }
                contentLength = value.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            case 17 where ASCII.equalsLowercase(name, "transfer-encoding"):
                transferEncodings += 1
                chunkedAlone = chunkedAlone && ASCII.equalsLowercase(value, "chunked")
            case 10 where ASCII.equalsLowercase(name, "connection"):
                // A list: `close`, `keep-alive`, or names of headers (hop-by-hop for this message).
                var start = 0
                while start <= value.count {
                    var stop = start
                    while stop < value.count, value[stop] != UInt8(ascii: ",") { stop += 1 }
                    let token = ResponseParser.trimmed(value, from: start, to: stop)
                    if ASCII.equalsLowercase(token, "close") {
                        close = true
                    } else if ASCII.equalsLowercase(token, "keep-alive") {
                        keepAlive = true
                    } else if !token.isEmpty {
                        connectionNamesHeaders = true
                    }
                    start = stop + 1
                }
            case 12 where ASCII.equalsLowercase(name, "content-type"):
                isEventStream = ASCII.startsWithLowercase(value, "text/event-stream")
            default:
                break
            }
        }
    }

    /// Checks one field line starting at `line` (a token, `:`, a value without controls, CRLF).
    /// - Returns: the index of the line's CR.
    private mutating func checkField(_ bytes: UnsafeRawBufferPointer, from line: Int) throws -> Int {
        var index = line
        guard bytes[index] != UInt8(ascii: " ") && bytes[index] != UInt8(ascii: "\t") else {
            throw fail("a folded header line (obs-fold)")
        }
        while Self.isTokenByte(bytes[index]) { index += 1 }
        guard index > line else { throw fail("a header line without a name") }
        guard bytes[index] == UInt8(ascii: ":") else { throw fail("a header name with a character not allowed") }
        index += 1
        while bytes[index] != UInt8(ascii: "\r") {
            guard Self.isFieldByte(bytes[index]) else { throw fail("a header value with a control character") }
            index += 1
        }
        guard bytes[index + 1] == UInt8(ascii: "\n") else { throw fail("a bare CR in a header line") }
        return index
    }

    private mutating func fail(_ problem: String) -> Failure {
        state = .failed
        return Failure(problem)
    }

    // MARK: Bytes

    /// tchar of RFC 9110 section 5.6.2.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// field-vchar, SP or HTAB (obs-text included); never CR, LF, NUL or another control.
    static func isFieldByte(_ byte: UInt8) -> Bool {
        byte == 0x09 || (byte >= 0x20 && byte != 0x7F)
    }

    static func decimalValue(_ byte: UInt8) -> Int? {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") ? Int(byte - UInt8(ascii: "0")) : nil
    }

    /// The bytes between `start` and `end` without the spaces and tabs around them.
    static func trimmed(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) -> UnsafeRawBufferPointer {
        var start = start
        var end = end
        while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start += 1 }
        while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[start..<end])
    }

    private static func startsWith(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard bytes.count >= count else { return false }
        let expected = literal.utf8Start
        for index in 0..<count where bytes[index] != expected[index] { return false }
        return true
    }
}
