import Balancer
import NIOCore
import NIOPosix
import Proxy

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension NIOBSDSocket.Option {
    /// `SO_REUSEPORT`, which NIO does not name.
    fileprivate static let so_reuseport = NIOBSDSocket.Option(rawValue: SO_REUSEPORT)
}

/// The listening sockets and their client connections (DESIGN.md section 2): one NIO `ServerBootstrap` per event
/// loop, each with its own socket on the same address (`SO_REUSEPORT`), so that the kernel spreads new connections
/// over the loops and each connection lives on the loop that accepted it. With one shared socket, NIO accepts on
/// one loop and registers most connections on another: three wake-ups across threads for every new connection,
/// which showed as time to first token when hundreds of streams start at once.
final class HTTPServer: Sendable {
    let channels: [any Channel]
    let services: ProxyServices

    private init(channels: [any Channel], services: ProxyServices) {
        self.channels = channels
        self.services = services
    }

    /// Binds `host:port` on every loop of `group` and starts accepting.
    /// - Throws: when the address cannot be bound (in use, not permitted, unknown host). An address already in use
    ///   fails as without `SO_REUSEPORT`: a socket bound without it first tells, so that a second olla on the same
    ///   port is refused rather than sharing the port's connections.
    static func bind(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        services: ProxyServices
    ) async throws -> HTTPServer {
        let loops = Array(group.makeIterator())
        var port = port
        if port != 0 {
            let probe = try await ServerBootstrap(group: loops[0])
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port)
                .get()
            try await probe.close()
        }
        var channels: [any Channel] = []
        do {
            for loop in loops {
                let channel = try await ServerBootstrap(group: loop, childGroup: loop)
                    .serverChannelOption(.backlog, value: 1024)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .serverChannelOption(.socketOption(.so_reuseport), value: 1)
                    .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                    .childChannelOption(.maxMessagesPerRead, value: 16)
                    .childChannelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try services.configureClientPipeline(channel)
                        }
                    }
                    .bind(host: host, port: port)
                    .get()
                channels.append(channel)
                // Port 0: the others take the port the first was given.
                port = channel.localAddress?.port ?? port
            }
        } catch {
            for channel in channels { try? await channel.close() }
            throw error
        }
        return HTTPServer(channels: channels, services: services)
    }

    /// The port actually bound (useful with port 0).
    var port: Int { channels.first?.localAddress?.port ?? 0 }

    /// Stops accepting on every listening socket.
    func stopAccepting() async {
        for channel in channels { try? await channel.close() }
    }

    /// Stops accepting, lets every connection finish its current request, and waits up to `timeout` for
    /// them to close; whatever is still open then is closed.
    /// - Returns: the connections that had to be cut.
    @discardableResult
    func drain(timeout: Duration) async -> Int {
        await stopAccepting()
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
