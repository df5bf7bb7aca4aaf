import NIOCore

/// Reads and discards what a client still sends after olla answered before reading its whole request (413, 431,
/// 400, 408, 503 for memory), so that the answer is read instead of lost to a connection reset: closing a
/// socket with unread bytes makes the kernel send a reset, which can destroy the answer before the client read
/// it. nginx calls this a lingering close (DESIGN.md 6.5).
///
/// Put at the front of the pipeline once the answer is written and the write side shut: every byte is dropped
/// here, before the HTTP decoder. The connection closes when the client closes its side, has been silent for
/// ``silence``, after ``limit``, or after `maxBytes`.
final class LingeringCloseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    static let silence = TimeAmount.seconds(5)
    static let limit = TimeAmount.seconds(30)
    static let tick = TimeAmount.milliseconds(250)

    private let maxBytes: Int
    private var discarded = 0
    private var lastReadAt = NIODeadline.now()
    private var endsAt = NIODeadline.now() + LingeringCloseHandler.limit
    private var check: Scheduled<Void>?

    init(maxBytes: Int) {
        self.maxBytes = maxBytes
    }

    /// Shuts the write side once `answer` is written, then discards what the client sends until it is done.
    static func begin(after answer: EventLoopFuture<Void>, context: ChannelHandlerContext, maxBytes: Int) {
        let channel = context.channel
        answer.assumeIsolated().whenComplete { result in
            guard case .success = result, channel.isActive else {
                channel.close(promise: nil)
                return
            }
            do {
                try channel.pipeline.syncOperations.addHandler(
                    LingeringCloseHandler(maxBytes: maxBytes),
                    position: .first
                )
            } catch {
                channel.close(promise: nil)
                return
            }
            channel.close(mode: .output, promise: nil)
            try? channel.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
            channel.read()
        }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        lastReadAt = .now()
        endsAt = lastReadAt + Self.limit
        scheduleCheck(context: context)
    }

    private func scheduleCheck(context: ChannelHandlerContext) {
        check = context.eventLoop.assumeIsolated().scheduleTask(in: Self.tick) { [self] in
            let now = NIODeadline.now()
            if now >= self.endsAt || now - self.lastReadAt >= Self.silence {
                self.check = nil
                context.close(promise: nil)
            } else {
                self.scheduleCheck(context: context)
            }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        discarded += unwrapInboundIn(data).readableBytes
        lastReadAt = .now()
        if discarded > maxBytes { context.close(promise: nil) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {}

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The client closed its side: it has sent everything, and read the answer or never will.
        if case ChannelEvent.inputClosed = event { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
        context.fireChannelInactive()
    }
}
