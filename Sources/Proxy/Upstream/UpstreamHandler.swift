import NIOCore
import NIOHTTP1

/// Receives what an upstream request's response delivers; implemented by ``ForwardedRequest``.
protocol UpstreamResponseReceiver: AnyObject {
    func upstreamReceived(head: HTTPResponseHead)
    func upstreamReceived(body: ByteBuffer)
    func upstreamReceivedEnd()
    /// The batch of reads is over: time to flush what was written to the client.
    func upstreamReadComplete()
    /// The connection closed or failed before the response ended.
    func upstreamFailed(_ error: any Error)
}

/// The last handler of an upstream connection's pipeline: hands response parts to the request that
/// currently uses the connection, and tells the pool when an idle connection dies.
///
/// Events consumed: `HTTPClientResponsePart`, `channelReadComplete`, `channelInactive`, errors.
/// Events emitted: none (requests are written on the channel by ``UpstreamConnection``).
final class UpstreamHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    /// The request using the connection; nil while the connection sits idle in the pool.
    weak var receiver: (any UpstreamResponseReceiver)?
    /// Called once when the channel closes while idle, so the pool forgets it.
    var onIdleClose: (() -> Void)?
    private(set) var isActive = true

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let receiver else {
            // Bytes on an idle connection: the host is out of step; never reuse such a connection.
            context.close(promise: nil)
            return
        }
        switch unwrapInboundIn(data) {
        case .head(let head): receiver.upstreamReceived(head: head)
        case .body(let body): receiver.upstreamReceived(body: body)
        case .end: receiver.upstreamReceivedEnd()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        receiver?.upstreamReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        isActive = false
        if let receiver {
            self.receiver = nil
            receiver.upstreamFailed(ChannelError.eof)
        } else {
            onIdleClose?()
        }
        onIdleClose = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let receiver {
            self.receiver = nil
            receiver.upstreamFailed(error)
        }
        context.close(promise: nil)
    }
}
