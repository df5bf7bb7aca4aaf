import Atomics
import NIOConcurrencyHelpers
import NIOCore

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

extension ConnectionRegistry {
    func closeAll() {
        let all = channels.withLockedValue { Array($0.values) }
        for channel in all { channel.close(promise: nil) }
    }
}
