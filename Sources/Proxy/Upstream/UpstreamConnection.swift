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

    /// Writes a whole request, already as bytes (``RequestHeadWriter``); one flush.
    /// - Parameters:
    ///   - bytes: the head, and the body when it was copied behind it.
    ///   - body: the body when it goes as a write of its own.
    ///   - clientHead: the client's request head, whose method tells the response decoder whether the answer has
    ///     a body (``RequestBytesHandler`` drops it: only the bytes go out).
    func send(_ bytes: ByteBuffer, body: ByteBuffer?, for clientHead: HTTPRequestHead) {
        channel.write(HTTPClientRequestPart.head(clientHead), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(bytes)), promise: nil)
        if let body {
            channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil)
        }
        channel.flush()
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
