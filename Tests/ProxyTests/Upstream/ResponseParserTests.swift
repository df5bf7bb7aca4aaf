import NIOCore
import Testing

@testable import Proxy

/// ``ResponseParser`` on its own: framing by length, chunks and close, interim answers, `HEAD`, and every
/// malformed answer it must refuse, each fed whole and split at every byte.
@Suite struct ResponseParserTests {
    /// What an answer came to, in a form tests compare.
    struct Read: Equatable {
        var status = 0
        var fields: [String] = []
        var keepAlive = false
        var hasLength = false
        var isEventStream = false
        var body = ""
        /// The parts handed on with the host's own chunk framing, as bytes.
        var framed: [String] = []
        var ended = false
    }

    /// Feeds `pieces` in order, as reads, after a request (`HEAD` when `toHEAD`).
    static func read(_ pieces: [String], toHEAD: Bool = false, closeAfter: Bool = false) throws -> Read {
        var parser = ResponseParser()
        parser.expectResponse(toHEAD: toHEAD)
        var result = Read()
        var unparsed = ByteBuffer()
        func take(_ event: ResponseParser.Event) {
            switch event {
            case .head(let head):
                result.status = Int(head.status.code)
                result.keepAlive = head.keepAlive
                result.hasLength = head.hasLength
                result.isEventStream = head.isEventStream
                head.forEachField { name, value in
                    result.fields.append(
                        String(decoding: name, as: UTF8.self) + "=" + String(decoding: value, as: UTF8.self)
                    )
                }
            case .body(let part, let framed):
                result.body += String(buffer: part)
                if let framed { result.framed.append(String(buffer: framed)) }
            case .end:
                result.ended = true
            }
        }
        for piece in pieces {
            unparsed.writeString(piece)
            while let event = try parser.next(&unparsed) { take(event) }
        }
        if closeAfter, let event = parser.closed() { take(event) }
        return result
    }

    /// The same answer fed whole and one byte per read: both reads must agree on everything but the framing.
    static func readWholeAndByByte(_ answer: String, toHEAD: Bool = false, closeAfter: Bool = false) throws -> Read {
        let whole = try read([answer], toHEAD: toHEAD, closeAfter: closeAfter)
        var byByte = try read(answer.map { String($0) }, toHEAD: toHEAD, closeAfter: closeAfter)
        #expect(byByte.framed.isEmpty)
        byByte.framed = whole.framed
        #expect(whole == byByte)
        return whole
    }

    @Test func anAnswerWithALength() throws {
        let read = try Self.readWholeAndByByte(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\nX-A:  b c \r\n\r\n{\"a\":1}"
        )
        #expect(read.status == 200)
        #expect(read.fields == ["Content-Type=application/json", "Content-Length=7", "X-A=b c"])
        #expect(read.keepAlive && read.hasLength && !read.isEventStream)
        #expect(read.body == "{\"a\":1}")
        #expect(read.ended)
    }

    @Test func chunksThatComeWholeKeepTheirFraming() throws {
        let answer =
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "6\r\ndata: \r\nA;ext=1\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n"
        let read = try Self.readWholeAndByByte(answer)
        #expect(read.isEventStream && read.keepAlive && !read.hasLength)
        #expect(read.body == "data: 0123456789")
        // The chunk with an extension is framed anew by the writer: only the plain one goes on as is.
        #expect(read.framed == ["6\r\ndata: \r\n"])
        #expect(read.ended)
    }

    @Test func aChunkSplitAcrossReadsIsHandedOnInParts() throws {
        let read = try Self.read([
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "cde\r", "\n3\r\nxyz\r\n0\r\n\r\n",
        ])
        #expect(read.body == "abcdexyz")
        #expect(read.framed == ["3\r\nxyz\r\n"])
        #expect(read.ended)
    }

    @Test func anAnswerToHEADHasNoBodyWhateverItsLength() throws {
        let read = try Self.readWholeAndByByte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", toHEAD: true)
        #expect(read.hasLength && read.body.isEmpty && read.ended)
    }

    @Test(arguments: [204, 304])
    func aStatusWithoutABodyEndsAtItsHead(status: Int) throws {
        let read = try Self.readWholeAndByByte("HTTP/1.1 \(status) X\r\nETag: e\r\n\r\n")
        #expect(read.status == status && read.body.isEmpty && read.ended && read.keepAlive)
    }

    @Test func interimAnswersArePassedOver() throws {
        let read = try Self.readWholeAndByByte(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                + "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
        )
        #expect(read.status == 201 && read.fields == ["Content-Length=2"] && read.body == "ok" && read.ended)
    }

    /// A host may send interim answers back to back: a read's worth of them (64 KB, 16 bytes each at the least) must
    /// not run the parser out of stack.
    @Test func aReadFullOfInterimAnswersIsPassedOver() throws {
        let interim = String(repeating: "HTTP/1.1 100\r\n\r\n", count: 4096)
        let read = try Self.read([interim + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
        #expect(read.status == 200 && read.body == "ok" && read.ended)
    }

    @Test func anAnswerWithoutLengthEndsWithTheClose() throws {
        let read = try Self.readWholeAndByByte(
            "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nuntil close",
            closeAfter: true
        )
        #expect(!read.keepAlive && read.body == "until close" && read.ended)
        let open = try Self.read(["HTTP/1.1 200 OK\r\n\r\nno end yet"])
        #expect(!open.ended)
    }

    @Test func keepAliveFollowsTheVersionAndConnection() throws {
        #expect(try Self.read(["HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]).keepAlive)
        #expect(!(try Self.read(["HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"]).keepAlive))
        #expect(!(try Self.read(["HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"]).keepAlive))
        #expect(try Self.read(["HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n"]).keepAlive)
        #expect(!(try Self.read(["HTTP/1.1 200 OK\r\nConnection: x-a, close\r\nContent-Length: 0\r\n\r\n"]).keepAlive))
    }

    @Test func bytesAfterTheAnswerAreOutOfStep() throws {
        #expect(throws: ResponseParser.Failure.self) {
            try Self.read(["HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab"])
        }
    }

    /// Answers a host must never send; each one fails, fed whole and byte by byte.
    static let malformed: [String] = [
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab",
        "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nab",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: a\r\n folded\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: a\nX-B: b\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: a\u{0}b\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A : a\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX(A): a\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\n: a\r\nContent-Length: 0\r\n\r\n",
        "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;a\u{1}\r\nab\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer: x\r\n\r\n",
    ]

    /// Chunk size lines llhttp refuses without its lenient flags: whitespace after the size, and extensions that
    /// are not `;name` or `;name=value` with a token or quoted-string value.
    static let malformedChunkLines: [String] = [
        "1 ", "1\t", "1 ;a", "1 x", "1;", "1;a b", "1; a", "1;a =b", "1;a=", "1;a=b c", "1;a=(b)", "1;a=\"b",
        "1;a=\"b\"c", "1;a=\"b\u{7F}\"", "1;(a)", "1;a;",
    ]

    @Test(arguments: malformedChunkLines)
    func aMalformedChunkSizeLineFails(line: String) {
        let answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\(line)\r\na\r\n0\r\n\r\n"
        #expect(throws: ResponseParser.Failure.self) { try Self.read([answer]) }
        #expect(throws: ResponseParser.Failure.self) { try Self.read(answer.map { String($0) }) }
    }

    @Test func chunkExtensionsAreReadAndDropped() throws {
        let read = try Self.readWholeAndByByte(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "1;a\r\nx\r\n2;a=b;c=\"d; \\\"e\\\" \u{E9}\";f\r\nyz\r\n0;last=1\r\n\r\n"
        )
        #expect(read.body == "xyz" && read.framed.isEmpty && read.ended)
    }

    @Test(arguments: malformed)
    func aMalformedAnswerFails(answer: String) {
        #expect(throws: ResponseParser.Failure.self) { try Self.read([answer]) }
        #expect(throws: ResponseParser.Failure.self) { try Self.read(answer.map { String($0) }) }
    }

    @Test func aHeadPastTheLimitFailsWithoutItsEnd() {
        let line = "X-Long: " + String(repeating: "a", count: 1000) + "\r\n"
        let pieces = ["HTTP/1.1 200 OK\r\n"] + Array(repeating: line, count: 90)
        #expect(throws: ResponseParser.Failure.self) { try Self.read(pieces) }
    }

    @Test func anEndlessChunkSizeLineFails() {
        let pieces = ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;"] + Array(repeating: "aaaa", count: 1100)
        #expect(throws: ResponseParser.Failure.self) { try Self.read(pieces) }
    }

    @Test func bytesWithNoRequestOutstandingFail() {
        var parser = ResponseParser()
        var bytes = ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\n")
        #expect(throws: ResponseParser.Failure.self) { try parser.next(&bytes) }
    }
}
