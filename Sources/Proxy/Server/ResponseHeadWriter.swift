import NIOCore
import NIOHTTP1

/// The bytes of every response head olla writes to a client: a proxied answer's, an answer olla makes itself,
/// and the `100 Continue` interim. The client's pipeline has no `HTTPResponseEncoder`, so the framing rules it
/// applied live here: a `Content-Length`, else `transfer-encoding: chunked` for an HTTP/1.1 client, and neither
/// for a 1xx, 204 or 304 answer; an answer to `HEAD` keeps its head's framing lines but has no body.
enum ResponseHeadWriter {
    /// A head's status line (`HTTP/1.1 200 OK`), in a block with room for about `lines` header lines.
    static func start(version: HTTPVersion, status: HTTPResponseStatus, lines: Int) -> HeaderBlock {
        var head = HeaderBlock(capacity: 64 + 48 * lines)
        if version.major == 1 && version.minor == 1 {
            if case .ok = status {
                head.addLine("HTTP/1.1 200 OK\r\n")
                return head
            }
            head.addLine("HTTP/1.1 ")
        } else {
            head.bytes.writeStaticString("HTTP/")
            head.bytes.writeDecimal(Int(version.major))
            head.bytes.writeStaticString(".")
            head.bytes.writeDecimal(Int(version.minor))
            head.bytes.writeStaticString(" ")
        }
        head.bytes.writeDecimal(Int(status.code))
        head.bytes.writeStaticString(" ")
        head.bytes.writeString(status.reasonPhrase)
        head.bytes.writeStaticString("\r\n")
        return head
    }

    /// Ends a proxied answer's head after olla's lines: the trailer announcement, `Connection: close`, the
    /// chunked framing.
    ///
    /// - Parameters:
    ///   - chunked: the answer has no length and the client speaks HTTP/1.1 (the state machine's decision).
    /// - Returns: the head, and whether the body goes out in chunks (not for `HEAD`, nor a status without a body).
    static func finishForwarded(
        _ response: inout ForwardedHeaders.Response,
        status: HTTPResponseStatus,
        method: HTTPMethod,
        chunked: Bool,
        announceTrailer: Bool,
        keepAlive: Bool
    ) -> (head: ByteBuffer, chunkedBody: Bool) {
        if announceTrailer { response.head.addLine("Trailer: X-Olla-Response-Time\r\n") }
        if !keepAlive { response.head.addLine("Connection: close\r\n") }
        let framed = chunked && status.mayHaveResponseBody
        if framed { response.head.addLine("transfer-encoding: chunked\r\n") }
        let bodyless = method == .HEAD || method == .CONNECT
        return (response.head.finish(), framed && !bodyless)
    }

    /// The head of an answer olla makes itself: its headers, its length (none for a status without a body), and
    /// `Connection: close` when the connection ends after it.
    static func local(_ response: LocalResponse, version: HTTPVersion, keepAlive: Bool) -> ByteBuffer {
        var head = start(version: version, status: response.status, lines: response.headers.count + 2)
        for (name, value) in response.headers {
            switch name.utf8.count {
            // Replaced below, as `replaceOrAdd` did.
            case 14 where name.equalsIgnoringASCIICase("content-length"): continue
            case 17 where name.equalsIgnoringASCIICase("transfer-encoding"): continue
            case 10 where !keepAlive && name.equalsIgnoringASCIICase("connection"): continue
            default: head.add(name: name, value: value)
            }
        }
        if response.status.mayHaveResponseBody {
            head.add(name: "Content-Length", decimal: response.body.readableBytes)
        }
        if !keepAlive { head.addLine("Connection: close\r\n") }
        return head.finish()
    }

    /// `100 Continue`, which curl waits for before sending a large body.
    static func interimContinue(version: HTTPVersion) -> ByteBuffer {
        var head = start(version: version, status: .continue, lines: 0)
        return head.finish()
    }
}
