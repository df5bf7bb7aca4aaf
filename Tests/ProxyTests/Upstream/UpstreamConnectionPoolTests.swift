import LMStudioSim
import NIOCore
import NIOPosix
import Testing

@testable import Balancer
@testable import Proxy

/// The per-loop pool of kept-alive connections to hosts, against a simulated host on loopback: what a reload
/// that retires an endpoint does to its connections.
@Suite struct UpstreamConnectionPoolTests {
    static func endpoint(for host: LMStudioSimulator) -> EndpointRuntime {
        EndpointRuntime(
            configuration: EndpointConfiguration(
                name: host.name,
                url: EndpointURL(scheme: .http, host: "127.0.0.1", port: host.port, basePath: "")
            ),
            ordinal: 0
        )
    }

    /// Opens a connection on the pool's loop.
    static func connect(
        _ pool: UpstreamConnectionPool,
        _ endpoint: EndpointRuntime,
        on loop: any EventLoop
    )
        async throws -> UpstreamConnection
    {
        let promise = loop.makePromise(of: UpstreamConnection.self)
        loop.execute {
            pool.connect(endpoint, timeout: .seconds(5)) { result in
                promise.completeWith(result.map(\.connection))
            }
        }
        return try await promise.futureResult.get()
    }

    static func waitUntil(_ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw WaitTimeout(what: what) }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    struct WaitTimeout: Error {
        let what: String
    }

    @Test func idleConnectionsToRetiredEndpointsAreClosedAndNoneIsKeptAfterwards() async throws {
        try await LMStudioSimulator.withRunning(configuration: SimulatorConfiguration(name: "host")) { host in
            let loop = MultiThreadedEventLoopGroup.singleton.next()
            let pool = UpstreamConnectionPool(eventLoop: loop, tlsContext: nil)
            let endpoint = Self.endpoint(for: host)

            let first = try await Self.connect(pool, endpoint, on: loop)
            try await loop.submit { pool.giveBack(first, to: endpoint) }.get()
            try await Self.waitUntil("the host sees the connection") { host.stats.openConnections == 1 }
            #expect(try await loop.submit { pool.idleCount }.get() == 1)

            // A reload retired the endpoint: its idle connection is closed...
            endpoint.retire()
            try await loop.submit { pool.closeIdle(to: [endpoint]) }.get()
            #expect(try await loop.submit { pool.idleCount }.get() == 0)
            try await Self.waitUntil("the host sees it closed") { host.stats.openConnections == 0 }

            // ...and one still in use then (a stream that outlived the reload) is closed when given back.
            let late = try await Self.connect(pool, endpoint, on: loop)
            try await Self.waitUntil("the host sees the late connection") { host.stats.openConnections == 1 }
            try await loop.submit { pool.giveBack(late, to: endpoint) }.get()
            #expect(try await loop.submit { pool.idleCount }.get() == 0)
            try await Self.waitUntil("the host sees it closed too") { host.stats.openConnections == 0 }
        }
    }

    @Test func connectionOfALiveEndpointIsKeptAndReused() async throws {
        try await LMStudioSimulator.withRunning(configuration: SimulatorConfiguration(name: "host")) { host in
            let loop = MultiThreadedEventLoopGroup.singleton.next()
            let pool = UpstreamConnectionPool(eventLoop: loop, tlsContext: nil)
            let endpoint = Self.endpoint(for: host)
            let connection = try await Self.connect(pool, endpoint, on: loop)
            try await loop.submit { pool.giveBack(connection, to: endpoint) }.get()
            let taken = try await loop.submit { pool.takeIdle(endpoint) === connection }.get()
            #expect(taken)
            #expect(host.stats.connectionsAccepted == 1)
            try await loop.submit { connection.close() }.get()
        }
    }

    @Test func connectionsIdleTooLongAreClosedWithoutARequestAndNotReused() async throws {
        try await LMStudioSimulator.withRunning(configuration: SimulatorConfiguration(name: "host")) { host in
            let loop = MultiThreadedEventLoopGroup.singleton.next()
            let pool = UpstreamConnectionPool(eventLoop: loop, tlsContext: nil, idleTimeout: .milliseconds(300))
            let endpoint = Self.endpoint(for: host)
            let first = try await Self.connect(pool, endpoint, on: loop)
            let second = try await Self.connect(pool, endpoint, on: loop)
            try await loop.submit {
                pool.giveBack(first, to: endpoint)
                pool.giveBack(second, to: endpoint)
            }.get()
            try await Self.waitUntil("the host sees both connections") { host.stats.openConnections == 2 }
            // No request comes: the sweep closes both once they have been idle for the timeout.
            try await Self.waitUntil("the host sees them closed") { host.stats.openConnections == 0 }
            #expect(try await loop.submit { pool.idleCount }.get() == 0)
            #expect(try await loop.submit { pool.takeIdle(endpoint) == nil }.get())
        }
    }

    @Test func aFreshConnectionIsReusedWhileTheSweepRuns() async throws {
        try await LMStudioSimulator.withRunning(configuration: SimulatorConfiguration(name: "host")) { host in
            let loop = MultiThreadedEventLoopGroup.singleton.next()
            let pool = UpstreamConnectionPool(eventLoop: loop, tlsContext: nil, idleTimeout: .seconds(30))
            let endpoint = Self.endpoint(for: host)
            let connection = try await Self.connect(pool, endpoint, on: loop)
            try await loop.submit { pool.giveBack(connection, to: endpoint) }.get()
            // After a sweep, a connection idle for less than the timeout is still there.
            try await Self.waitUntil("a sweep") { try await loop.submit { pool.idleSweeps }.get() > 0 }
            #expect(try await loop.submit { pool.takeIdle(endpoint) === connection }.get())
            try await loop.submit { connection.close() }.get()
        }
    }
}
