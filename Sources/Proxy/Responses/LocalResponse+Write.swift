import NIOCore
import NIOHTTP1

extension LocalResponse {
    /// Writes this whole answer (head with its length, then the body) on a client connection as bytes, the one way
    /// every answer olla makes itself is written: listings, status routes and every error.
    ///
    /// - Parameters:
    ///   - keepAlive: from ``KeepAlive/allowed(requested:http11:closing:responseHasLength:)``; without it the head
    ///     says `Connection: close`.
    ///   - method: the request's; an answer to `HEAD` has its length but no body.
    /// - Returns: the last write, flushed.
    @discardableResult
    func write(
        to context: ChannelHandlerContext,
        version: HTTPVersion,
        keepAlive: Bool,
        method: HTTPMethod? = nil
    ) -> EventLoopFuture<Void> {
        let head = ResponseHeadWriter.local(self, version: version, keepAlive: keepAlive)
        let hasBody = body.readableBytes > 0 && status.mayHaveResponseBody && method != .HEAD && method != .CONNECT
        guard hasBody else { return context.writeAndFlush(NIOAny(head)) }
        context.write(NIOAny(head), promise: nil)
        return context.writeAndFlush(NIOAny(body))
    }
}
