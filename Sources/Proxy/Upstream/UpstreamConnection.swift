import NIOCore

/// One keep-alive connection to a host, owned by the pool of its event loop and lent to one request at a time.
final class UpstreamConnection {
    let channel: any Channel
    let handler: UpstreamHandler
    /// When the connection last went back to the pool: it is not reused, and is closed, once it has been idle long.
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
    ///   - isHEAD: the request is a `HEAD`, whose answer has no body whatever its length says.
    func send(_ bytes: ByteBuffer, body: ByteBuffer?, isHEAD: Bool) {
        handler.expectResponse(toHEAD: isHEAD)
        channel.write(bytes, promise: nil)
        if let body {
            channel.write(body, promise: nil)
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
