import Balancer
import NIOCore
import NIOPosix
import Proxy

/// The listening socket and its client connections (DESIGN.md section 2): a NIO `ServerBootstrap` on the
/// shared event loops, each connection's pipeline built by ``ProxyServices``.
final class HTTPServer: Sendable {
    let channel: any Channel
    let services: ProxyServices

    private init(channel: any Channel, services: ProxyServices) {
        self.channel = channel
        self.services = services
    }

    /// Binds `host:port` and starts accepting.
    /// - Throws: when the address cannot be bound (in use, not permitted, unknown host).
    static func bind(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        services: ProxyServices
    ) async throws -> HTTPServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try services.configureClientPipeline(channel)
                }
            }
            .bind(host: host, port: port)
            .get()
        return HTTPServer(channel: channel, services: services)
    }

    /// The port actually bound (useful with port 0).
    var port: Int { channel.localAddress?.port ?? 0 }

    /// Stops accepting, lets every connection finish its current request, and waits up to `timeout` for
    /// them to close; whatever is still open then is closed.
    /// - Returns: the connections that had to be cut.
    @discardableResult
    func drain(timeout: Duration) async -> Int {
        try? await channel.close()
        services.quiesceConnections()
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while services.openConnections > 0, clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let remaining = services.openConnections
        if remaining > 0 { services.closeAllConnections() }
        services.closeIdleUpstreamConnections()
        return remaining
    }
}
