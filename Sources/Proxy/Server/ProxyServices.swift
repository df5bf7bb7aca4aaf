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
    let requestIDs = RequestIDGenerator()
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
        for loop in eventLoopGroup.makeIterator() {
            let resources = LoopResources(
                pool: UpstreamConnectionPool(eventLoop: loop, tlsContext: tlsContext),
                sweeper: DeadlineSweeper(eventLoop: loop)
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

/// What each event loop has of its own: keep-alive connections to hosts, and the sweep of timeouts.
struct LoopResources {
    let pool: UpstreamConnectionPool
    let sweeper: DeadlineSweeper
}

/// A value created off its event loop and then only ever used on it, like each loop's upstream pool.
///
/// `NIOLoopBound` insists on being created on its loop, which the pools cannot be (they are made up front
/// for every loop); the invariant is the same and is checked on every access in debug builds.
struct LoopConfined<Value>: @unchecked Sendable {
    private let storage: Value
    let eventLoop: any EventLoop

    init(value: Value, eventLoop: any EventLoop) {
        self.storage = value
        self.eventLoop = eventLoop
    }

    var value: Value {
        eventLoop.assertInEventLoop()
        return storage
    }
}

/// Request ids for requests that bring none: a random per-process prefix and a counter, cheap and unique.
final class RequestIDGenerator: Sendable {
    /// `olla-<8 hex digits>-`, as bytes.
    private let prefix: [UInt8]
    private let counter = ManagedAtomic<UInt64>(0)

    init() {
        let random = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        prefix = Array("olla-\(String(repeating: "0", count: 8 - random.count))\(random)-".utf8)
    }

    /// The next id: the prefix and the counter in hexadecimal, built in one allocation (this runs per request).
    func next() -> String {
        var value = counter.loadThenWrappingIncrement(ordering: .relaxed)
        var digits = 1
        var rest = value >> 4
        while rest > 0 {
            digits += 1
            rest >>= 4
        }
        let prefix = self.prefix
        return String(unsafeUninitializedCapacity: prefix.count + digits) { buffer in
            for (index, byte) in prefix.enumerated() { buffer[index] = byte }
            var position = prefix.count + digits
            repeat {
                position -= 1
                let digit = UInt8(value & 0xF)
                buffer[position] = digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10
                value >>= 4
            } while value > 0
            return prefix.count + digits
        }
    }
}

/// The open client connections, for `max_connections` and for graceful drain.
final class ConnectionRegistry: Sendable {
    fileprivate let channels = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])
    private let open = ManagedAtomic<Int>(0)

    var count: Int { open.load(ordering: .relaxed) }

    /// Registers a connection.
    /// - Returns: false when `limit` connections are already open (the caller closes this one).
    func admit(_ channel: any Channel, limit: Int) -> Bool {
        let now = open.wrappingIncrementThenLoad(ordering: .relaxed)
        guard limit <= 0 || now <= limit else {
            open.wrappingDecrement(ordering: .relaxed)
            return false
        }
        channels.withLockedValue { $0[ObjectIdentifier(channel)] = channel }
        return true
    }

    func remove(_ channel: any Channel) {
        let removed = channels.withLockedValue { $0.removeValue(forKey: ObjectIdentifier(channel)) }
        if removed != nil { open.wrappingDecrement(ordering: .relaxed) }
    }

    func quiesceAll() {
        let all = channels.withLockedValue { Array($0.values) }
        for channel in all {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
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

extension ConnectionRegistry {
    func closeAll() {
        let all = channels.withLockedValue { Array($0.values) }
        for channel in all { channel.close(promise: nil) }
    }
}
