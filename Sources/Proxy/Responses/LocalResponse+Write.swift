import NIOCore
import NIOHTTP1

extension LocalResponse {
    /// Writes this whole answer (head with its length, body, end) on a client connection, the one way every
    /// answer olla makes itself is written: listings, status routes and every error.
    ///
    /// - Parameters:
    ///   - keepAlive: from ``ClientConnectionHandler/keepAlive(request:closing:responseHasLength:)``; without
    ///     it the head says `Connection: close`.
    /// - Returns: the write of the end, flushed.
    @discardableResult
    func write(
        to context: ChannelHandlerContext,
        version: HTTPVersion,
        keepAlive: Bool
    ) -> EventLoopFuture<Void> {
        var headers = self.headers
        headers.replaceOrAdd(name: "Content-Length", value: String(body.readableBytes))
        if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: version, status: status, headers: headers)
        context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        if body.readableBytes > 0 {
            context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(body))), promise: nil)
        }
        return context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)))
    }
}
