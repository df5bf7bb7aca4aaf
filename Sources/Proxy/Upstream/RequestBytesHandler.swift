import NIOCore
import NIOHTTP1

/// Passes a request to a host, already written as bytes (``RequestHeadWriter``), on to the socket.
///
/// It sits below NIO's response decoder, which must see each request's head to know where the answer ends (an
/// answer to `HEAD` has no body whatever its length says): ``UpstreamConnection/send(_:body:for:)`` writes the
/// client's head first, as a marker the decoder records and this handler drops, then the bytes as `.body` parts.
///
/// Events consumed: `HTTPClientRequestPart` writes. Events emitted: `IOData` writes (the `.body` parts only).
final class RequestBytesHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = IOData

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .body(let bytes):
            context.write(wrapOutboundOut(bytes), promise: promise)
        case .head, .end:
            promise?.succeed()
        }
    }
}
