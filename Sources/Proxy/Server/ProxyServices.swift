import Atomics
import Balancer
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOSSL

/// What every client connection of one olla process shares: the routing table, the router, the observer,
/// and the upstream pools of each event loop.
public final class ProxyServices: Sendable {
    public let table: RoutingTable
    public let router: any RequestRouter
    public let observer: any RequestObserver
    let connections = ConnectionRegistry()
    /// Request body bytes held over all client connections (`max_buffered_body`).
    let bufferedBodies = BufferedBodies()
    private let loops: [ObjectIdentifier: LoopConfined<LoopResources>]

    /// - Parameters:
    ///   - eventLoopGroup: the loops the server runs on; each gets its own upstream pool.
    ///   - tlsContext: for `https://` hosts; one for the whole process, since building one is expensive and
    ///     using one is thread-safe. Without it, connecting to an https host fails.
    public init(
        table: RoutingTable,
        router: any RequestRouter,
        observer: any RequestObserver,
        eventLoopGroup: any EventLoopGroup,
        tlsContext: NIOSSLContext?
    ) {
        self.table = table
        self.router = router
        self.observer = observer
        var loops: [ObjectIdentifier: LoopConfined<LoopResources>] = [:]
        let firstPrefix = UInt32.random(in: 0...UInt32.max)
        for (index, loop) in eventLoopGroup.makeIterator().enumerated() {
            let resources = LoopResources(
                pool: UpstreamConnectionPool(eventLoop: loop, tlsContext: tlsContext),
                sweeper: DeadlineSweeper(eventLoop: loop),
                snapshot: LoopSnapshot(table: table),
                requestIDs: RequestIDGenerator(prefix: firstPrefix &+ UInt32(truncatingIfNeeded: index))
            )
            loops[ObjectIdentifier(loop)] = LoopConfined(value: resources, eventLoop: loop)
        }
        self.loops = loops
    }

    /// The upstream pool and deadline sweeper of the loop the caller runs on.
    func resources(for eventLoop: any EventLoop) -> LoopResources {
        guard let confined = loops[ObjectIdentifier(eventLoop)] else {
            preconditionFailure("event loop \(eventLoop) is not part of the server's group")
        }
        return confined.value
    }

    /// Client connections open now.
    public var openConnections: Int { connections.count }

    /// Asks every client connection to close once its current request is answered (graceful drain).
    public func quiesceConnections() {
        connections.quiesceAll()
    }

    /// Closes idle upstream connections on every loop.
    public func closeIdleUpstreamConnections() {
        for confined in loops.values {
            confined.eventLoop.execute { confined.value.pool.closeIdle() }
        }
    }

    /// Closes the idle upstream connections to these endpoints on every loop (a reload retired them, so
    /// nothing will take those connections again).
    public func closeIdleUpstreamConnections(to endpoints: [EndpointRuntime]) {
        guard !endpoints.isEmpty else { return }
        for confined in loops.values {
            confined.eventLoop.execute { confined.value.pool.closeIdle(to: endpoints) }
        }
    }
}

extension ProxyServices {
    /// Builds a client connection's pipeline (see ``ClientConnectionHandler``). Call on the channel's loop,
    /// from the server's child channel initializer.
    public func configureClientPipeline(_ channel: any Channel) throws {
        let server = table.snapshot.configuration.server
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderListSize = server.maxHeaderSize
        limits.maxHeaderFieldSize = server.maxHeaderSize
        let pipeline = channel.pipeline.syncOperations
        // llhttp parses what clients send. No response encoder: answers are written as bytes (``HeaderBlock``),
        // without header validation on the way out, since every header olla writes comes from a message llhttp
        // parsed (which refuses CR and LF in values), from the configuration (checked when it is loaded), from a
        // host's model list (ids with control characters are left out of the index), or from a request body only
        // after `HeaderRules.isSafeEcho`.
        try pipeline.addHandler(
            ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes, limitConfiguration: limits))
        )
        try pipeline.addHandler(ClientConnectionHandler(services: self, loop: resources(for: channel.eventLoop)))
    }
}

extension ProxyServices {
    /// Closes every client connection at once (the end of a drain that ran out of time).
    public func closeAllConnections() {
        connections.closeAll()
    }
}
