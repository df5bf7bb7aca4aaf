import NIOCore

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
