import Balancer
import NIOCore

/// What each event loop has of its own: keep-alive connections to hosts, the sweep of timeouts, its copy of the
/// routing snapshot and its request ids. Nothing here is shared between loops, so a request takes no lock and
/// writes no memory another core reads for these.
struct LoopResources {
    let pool: UpstreamConnectionPool
    let sweeper: DeadlineSweeper
    let snapshot: LoopSnapshot
    let requestIDs: RequestIDGenerator
}

/// One event loop's copy of the current ``RoutingSnapshot``: read again from the table (under its lock) only when
/// the table published a new one since; otherwise one atomic load of a counter that changes only on publishes.
/// - Important: Used only on its own loop.
final class LoopSnapshot {
    private let table: RoutingTable
    private var kept: RoutingSnapshot
    private var publication: Int

    init(table: RoutingTable) {
        self.table = table
        (kept, publication) = table.publishedSnapshot
    }

    /// The snapshot to route with now.
    var current: RoutingSnapshot {
        if table.publications != publication {
            (kept, publication) = table.publishedSnapshot
        }
        return kept
    }
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
