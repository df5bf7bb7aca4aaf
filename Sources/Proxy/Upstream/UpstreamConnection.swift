import NIOCore
import NIOHTTP1

/// One keep-alive connection to a host, owned by the pool of its event loop and lent to one request at a time.
final class UpstreamConnection {
    let channel: any Channel
    let handler: UpstreamHandler
    /// When the connection last went back to the pool, for the idle sweep.
    var idleSince: NIODeadline

    init(channel: any Channel, handler: UpstreamHandler) {
        self.channel = channel
        self.handler = handler
        self.idleSince = .now()
    }

    var isActive: Bool { handler.isActive && channel.isActive }

    /// Writes a whole request: head, the (already complete) body, end; one flush.
    func send(head: HTTPRequestHead, body: ByteBuffer?) {
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body, body.readableBytes > 0 {
            channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil)
        }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }

    /// Pauses or resumes reading the host's response, for back-pressure from a slow client.
    func setReading(_ enabled: Bool) {
        guard channel.isActive else { return }
        try? channel.syncOptions?.setOption(ChannelOptions.autoRead, value: enabled)
        if enabled { channel.read() }
    }

    func close() {
        handler.receiver = nil
        handler.onIdleClose = nil
        channel.close(promise: nil)
    }
}
