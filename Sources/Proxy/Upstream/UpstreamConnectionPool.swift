import Balancer
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Keep-alive connections to hosts, for one event loop only (DESIGN.md section 2): every connection is
/// created on the loop of the client connections that use it, so a request never changes threads.
///
/// Not thread-safe by design; every method runs on ``eventLoop``.
final class UpstreamConnectionPool {
    let eventLoop: any EventLoop
    private let tlsContext: NIOSSLContext?
    private var idle: [ObjectIdentifier: IdleConnections] = [:]

    /// Connections a host may keep idle per event loop; more are closed when they come back.
    static let maximumIdlePerHost = 256
    /// Idle connections older than this are not reused. Below Node's default keep-alive timeout (5 s),
    /// which LM Studio's server inherits, so that olla rarely picks a connection the host is closing.
    static let defaultIdleTimeout = TimeAmount.seconds(4)
    private let idleTimeout: TimeAmount
    /// Closes the connections idle for longer than ``idleTimeout``, about once a second while there are any, so
    /// that a request seldom finds them (and never closes a whole list of them in its own way).
    private var idleSweep: Scheduled<Void>?
    /// Sweeps run so far, for tests.
    private(set) var idleSweeps = 0

    /// A class, so that taking and giving back change its array in place (a struct in the dictionary was copied
    /// on the way, an allocation per request).
    private final class IdleConnections {
        /// Held so the key (its object identity) cannot be reused by another endpoint.
        let endpoint: EndpointRuntime
        var connections: [UpstreamConnection] = []

        init(endpoint: EndpointRuntime) {
            self.endpoint = endpoint
        }
    }

    init(eventLoop: any EventLoop, tlsContext: NIOSSLContext?, idleTimeout: TimeAmount = defaultIdleTimeout) {
        self.eventLoop = eventLoop
        self.tlsContext = tlsContext
        self.idleTimeout = idleTimeout
    }

    /// The most recently used idle connection to `endpoint` that is still open and fresh enough, if any.
    ///
    /// A connection handed out this way carried a request before, so the host may have closed it meanwhile;
    /// the caller retries once on a new connection when it finds it closed.
    func takeIdle(_ endpoint: EndpointRuntime) -> UpstreamConnection? {
        guard let entry = idle[ObjectIdentifier(endpoint)] else { return nil }
        let now = NIODeadline.now()
        while let connection = entry.connections.popLast() {
            guard now - connection.idleSince < idleTimeout else {
                // The newest is too old, so every one is: they are closed once this request's work is done.
                let stale = entry.connections + [connection]
                entry.connections.removeAll(keepingCapacity: true)
                eventLoop.assumeIsolated().execute {
                    for connection in stale { connection.close() }
                }
                return nil
            }
            guard connection.isActive else {
                connection.close()
                continue
            }
            return connection
        }
        return nil
    }

    /// Takes back a connection whose response was read to its end.
    func giveBack(_ connection: UpstreamConnection, to endpoint: EndpointRuntime) {
        eventLoop.preconditionInEventLoop()
        connection.handler.receiver = nil
        let key = ObjectIdentifier(endpoint)
        let entry: IdleConnections
        if let existing = idle[key] {
            entry = existing
        } else {
            entry = IdleConnections(endpoint: endpoint)
            idle[key] = entry
        }
        guard connection.isActive, !endpoint.isRetired, entry.connections.count < Self.maximumIdlePerHost else {
            connection.close()
            return
        }
        connection.idleSince = .now()
        entry.connections.append(connection)
        if idleSweep == nil { scheduleIdleSweep() }
    }

    private func scheduleIdleSweep() {
        let interval = TimeAmount.nanoseconds(min(1_000_000_000, idleTimeout.nanoseconds / 2))
        idleSweep = eventLoop.assumeIsolated().scheduleTask(in: interval) { [self] in
            idleSweep = nil
            idleSweeps += 1
            closeStale(now: .now())
            if idleCount > 0 { scheduleIdleSweep() }
        }
    }

    /// Closes the connections idle for ``idleTimeout`` or longer: the oldest of each list, which come first.
    private func closeStale(now: NIODeadline) {
        var emptied: [ObjectIdentifier] = []
        for (key, entry) in idle {
            let fresh = entry.connections.firstIndex { now - $0.idleSince < idleTimeout } ?? entry.connections.count
            guard fresh > 0 else { continue }
            for connection in entry.connections[..<fresh] { connection.close() }
            entry.connections.removeFirst(fresh)
            if entry.connections.isEmpty { emptied.append(key) }
        }
        for key in emptied { idle[key] = nil }
    }

    /// Idle connections now, for tests and status.
    var idleCount: Int {
        idle.values.reduce(0) { $0 + $1.connections.count }
    }

    /// Closes every idle connection (shutdown).
    func closeIdle() {
        idleSweep?.cancel()
        idleSweep = nil
        for (_, entry) in idle {
            for connection in entry.connections { connection.close() }
        }
        idle.removeAll()
    }

    /// Closes the idle connections to these endpoints (a reload removed or replaced them).
    func closeIdle(to endpoints: [EndpointRuntime]) {
        for endpoint in endpoints {
            guard let entry = idle.removeValue(forKey: ObjectIdentifier(endpoint)) else { continue }
            for connection in entry.connections { connection.close() }
        }
    }

    /// An idle connection closed: it is no longer offered. (A connection in use is not in the list.)
    private func forget(_ connection: UpstreamConnection, key: ObjectIdentifier) {
        guard let entry = idle[key] else { return }
        entry.connections.removeAll { $0 === connection }
        if entry.connections.isEmpty { idle[key] = nil }
    }

    /// Opens a new connection to `endpoint` on this loop (TLS for https hosts).
    /// - Parameter completion: called once, on this loop, with the connection (never reused) or the error.
    func connect(
        _ endpoint: EndpointRuntime,
        timeout: TimeAmount,
        completion: @escaping (Result<(connection: UpstreamConnection, reused: Bool), any Error>) -> Void
    ) {
        let url = endpoint.configuration.url
        let tls: NIOSSLContext?
        if url.scheme == .https {
            guard let tlsContext else {
                completion(.failure(UpstreamError.tlsUnavailable))
                return
            }
            tls = tlsContext
        } else {
            tls = nil
        }
        let serverName = Self.isIPAddress(url.host) ? nil : url.host
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                do {
                    let sync = channel.pipeline.syncOperations
                    if let tls {
                        try sync.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                        try sync.addHandler(TLSHandshakeWaiter())
                    }
                    // Requests go out as bytes (no encoder, no header validation: the lines sent to hosts come
                    // from parsed client requests and the checked configuration); the answers are read by the
                    // handler's own ``ResponseParser``.
                    try sync.addHandler(UpstreamHandler())
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        // `connection_timeout` bounds the TCP connect and, for https, the TLS handshake after it.
        let deadline = NIODeadline.now() + timeout
        // An address given as an IP literal is connected to as is: `connect(host:port:)` would resolve it with
        // getaddrinfo on a dispatch queue and come back to the loop, for every new connection.
        let connected: EventLoopFuture<any Channel>
        if let address = try? SocketAddress(ipAddress: url.host, port: url.port) {
            connected = bootstrap.connect(to: address)
        } else {
            connected = bootstrap.connect(host: url.host, port: url.port)
        }
        connected.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                do {
                    let sync = channel.pipeline.syncOperations
                    let connection = UpstreamConnection(
                        channel: channel,
                        handler: try sync.handler(type: UpstreamHandler.self)
                    )
                    // Set once for the connection's life: the handler calls it only when it closes while idle.
                    let key = ObjectIdentifier(endpoint)
                    connection.handler.onIdleClose = { [weak self, weak connection] in
                        guard let self, let connection else { return }
                        self.forget(connection, key: key)
                    }
                    guard tls != nil else { return completion(.success((connection, false))) }
                    let waiter = try sync.handler(type: TLSHandshakeWaiter.self)
                    let expiry = channel.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
                        waiter.fail(UpstreamError.tlsHandshakeTimeout)
                        channel.close(promise: nil)
                    }
                    waiter.completed.assumeIsolated().whenComplete { outcome in
                        expiry.cancel()
                        switch outcome {
                        case .success: completion(.success((connection, false)))
                        case .failure(let error): completion(.failure(error))
                        }
                    }
                } catch {
                    channel.close(promise: nil)
                    completion(.failure(error))
                }
            case .failure(let error):
                completion(.failure(error))
            }
        }
    }

    private static func isIPAddress(_ host: String) -> Bool {
        host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." }
    }
}
