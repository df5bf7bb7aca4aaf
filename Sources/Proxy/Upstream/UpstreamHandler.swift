import NIOCore

/// Receives what an upstream request's response delivers; implemented by ``ForwardedRequest``.
protocol UpstreamResponseReceiver: AnyObject {
    func upstreamReceived(head: ResponseParser.Head)
    /// Body bytes; `framed` is the same chunk with the host's chunk framing, when it came whole.
    func upstreamReceived(body: ByteBuffer, framed: ByteBuffer?)
    func upstreamReceivedEnd()
    /// The batch of reads is over: time to flush what was written to the client.
    func upstreamReadComplete()
    /// The connection closed or failed before the response ended.
    func upstreamFailed(_ error: any Error)
}

/// The last handler of an upstream connection's pipeline: reads the host's answers with a ``ResponseParser``,
/// hands their parts to the request that currently uses the connection, and tells the pool when an idle
/// connection dies.
///
/// Events consumed: `ByteBuffer` reads, `channelReadComplete`, `channelInactive`, errors. Events emitted: none
/// (requests are written on the channel as bytes by ``UpstreamConnection``).
final class UpstreamHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    /// The request using the connection; nil while the connection sits idle in the pool.
    ///
    /// Strong, not weak (a weak reference allocates its object's side table: a malloc per request). The cycle with
    /// the request, which holds the connection, is broken whenever the request lets the connection go: given back
    /// (``UpstreamConnectionPool/giveBack(_:to:)``), closed (``UpstreamConnection/close()``), or failed here; and a
    /// request always does one of these when it completes.
    var receiver: (any UpstreamResponseReceiver)?
    /// Called once when the channel closes while idle, so the pool forgets it.
    var onIdleClose: (() -> Void)?
    private(set) var isActive = true
    private var parser = ResponseParser()
    /// Bytes read but not yet parsed: part of a head, of a chunk size line, or of a chunk's CRLF.
    private var unparsed: ByteBuffer?

    /// A request went out on the connection: its answer is next.
    func expectResponse(toHEAD: Bool) {
        parser.expectResponse(toHEAD: toHEAD)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if var held = unparsed {
            unparsed = nil
            held.writeBuffer(&bytes)
            bytes = held
        }
        do {
            // Each event is handed on before the next is parsed: the receiver may end the request, and the next
            // request on this connection (which it may start at once) sets the parser for its own answer.
            while let event = try parser.next(&bytes) {
                guard let receiver else {
                    // Bytes on an idle connection: the host is out of step; never reuse such a connection.
                    context.close(promise: nil)
                    return
                }
                switch event {
                case .head(let head): receiver.upstreamReceived(head: head)
                case .body(let part, let framed): receiver.upstreamReceived(body: part, framed: framed)
                case .end: receiver.upstreamReceivedEnd()
                }
            }
        } catch {
            fail(error, context: context)
            return
        }
        if bytes.readableBytes > 0 { unparsed = bytes }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        receiver?.upstreamReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        isActive = false
        // An answer framed by the close ends here.
        if case .end = parser.closed(), let receiver {
            receiver.upstreamReceivedEnd()
        }
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
        fail(error, context: context)
    }

    private func fail(_ error: any Error, context: ChannelHandlerContext) {
        if let receiver {
            self.receiver = nil
            receiver.upstreamFailed(error)
        }
        context.close(promise: nil)
    }
}
