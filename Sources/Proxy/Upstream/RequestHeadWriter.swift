import Balancer
import NIOCore
import NIOHTTP1

/// The bytes of a request to a host: the request line, the client's header lines (built once per request by
/// ``ForwardedHeaders/toHost(of:client:requestID:)``), the host's own `Host`, its `Authorization`, the length, and
/// the body. The upstream pipeline has no `HTTPRequestEncoder`; this is the one place a request head is built.
enum RequestHeadWriter {
    /// Bodies up to this size are copied behind the head and go out as one write.
    static let copyLimit = 16 * 1024

    /// The request for one host.
    /// - Parameters:
    ///   - clientLines: the client's lines for every host, `X-Olla-Request-ID` and `X-Forwarded-*` included.
    ///   - body: the body for this host (its `model` maybe rewritten).
    /// - Returns: the head, with the body behind it when it is small; else the body to write after it.
    static func request(
        method: HTTPMethod,
        basePath: String,
        path: String,
        clientLines: HeaderBlock,
        endpoint: EndpointRuntime,
        body: ByteBuffer
    ) -> (head: ByteBuffer, separateBody: ByteBuffer?) {
        let bodySize = body.readableBytes
        let copiesBody = bodySize <= copyLimit
        var head = HeaderBlock(
            capacity: clientLines.bytes.readableBytes + basePath.utf8.count + path.utf8.count + 192
                + (copiesBody ? bodySize : 0)
        )
        head.bytes.writeString(method.rawValue)
        head.bytes.writeStaticString(" ")
        head.bytes.writeString(basePath)
        head.bytes.writeString(path)
        head.bytes.writeStaticString(" HTTP/1.1\r\n")
        head.add(clientLines)
        head.add(name: "Host", value: endpoint.hostHeader)
        if let authorization = endpoint.authorization {
            head.add(name: "Authorization", value: authorization)
        }
        if bodySize > 0 || method == .POST || method == .PUT || method == .PATCH {
            head.add(name: "Content-Length", decimal: bodySize)
        }
        var bytes = head.finish()
        guard bodySize > 0 else { return (bytes, nil) }
        guard copiesBody else { return (bytes, body) }
        bytes.writeImmutableBuffer(body)
        return (bytes, nil)
    }
}
