import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A bare TCP connection for tests that need bytes HTTP clients will not send: pipelining, malformed
/// heads, slow senders.
final class RawHTTPConnection: Sendable {
    private let channel: any Channel
    private let received: NIOLockedValueBox<[UInt8]>
    private let closed: NIOLockedValueBox<Bool>

    private init(channel: any Channel, received: NIOLockedValueBox<[UInt8]>, closed: NIOLockedValueBox<Bool>) {
        self.channel = channel
        self.received = received
        self.closed = closed
    }

    /// - Parameters:
    ///   - autoRead: false for a client that reads only when told (``read()``), as a slow one does.
    ///   - receiveBuffer: the socket's `SO_RCVBUF`, when given (a small one keeps a slow client's window small).
    static func connect(port: Int, autoRead: Bool = true, receiveBuffer: Int? = nil) async throws -> RawHTTPConnection {
        let received = NIOLockedValueBox<[UInt8]>([])
        let closed = NIOLockedValueBox(false)
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.autoRead, value: autoRead)
        if let receiveBuffer {
            bootstrap = bootstrap.channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(receiveBuffer))
        }
        let channel =
            try await bootstrap
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(received: received, closed: closed))
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        return RawHTTPConnection(channel: channel, received: received, closed: closed)
    }

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text))
    }

    /// Reads once (for a connection made with `autoRead: false`).
    func read() {
        channel.read()
    }

    var receivedCount: Int { received.withLockedValue { $0.count } }

    var text: String { String(decoding: received.withLockedValue { $0 }, as: UTF8.self) }
    var isClosed: Bool { closed.withLockedValue { $0 } }

    func close() async {
        try? await channel.close()
    }

    /// Sends `request` on a new connection and returns everything received until the server closes it
    /// (or 10 s pass).
    static func exchange(port: Int, _ request: String, timeout: Duration = .seconds(10)) async throws -> String {
        let connection = try await connect(port: port)
        try await connection.send(request)
        try await OllaHarness.waitUntil("the server closes the connection", timeout: timeout) { connection.isClosed }
        await connection.close()
        return connection.text
    }

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let received: NIOLockedValueBox<[UInt8]>
        let closed: NIOLockedValueBox<Bool>

        init(received: NIOLockedValueBox<[UInt8]>, closed: NIOLockedValueBox<Bool>) {
            self.received = received
            self.closed = closed
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            received.withLockedValue { $0 += buffer.readableBytesView }
        }

        func channelInactive(context: ChannelHandlerContext) {
            closed.withLockedValue { $0 = true }
        }
    }
}
