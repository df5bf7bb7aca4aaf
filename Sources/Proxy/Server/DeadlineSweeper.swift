import NIOCore

/// Something with deadlines for the sweeper to check: a client connection and the request it forwards.
protocol DeadlineChecking: AnyObject {
    /// Acts on every deadline that has passed by `now`.
    func checkDeadlines(now: NIODeadline)
    /// Where the sweeper keeps this member, for removal in constant time.
    var sweepIndex: Int { get set }
}

/// The timeouts of one event loop's client connections (idle, read, response head, stream silence, queue),
/// checked together every ``tick`` instead of each scheduling and cancelling timers of its own: a request
/// would otherwise arm and disarm four timers, each an allocation and a heap operation on the loop.
///
/// A deadline fires up to one tick late, which is nothing next to the seconds and minutes of the
/// configured timeouts. The sweep runs only while the loop has connections.
final class DeadlineSweeper {
    static let tick = TimeAmount.milliseconds(50)

    private let eventLoop: any EventLoop
    private var members: [any DeadlineChecking] = []
    private var sweep: Scheduled<Void>?

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func add(_ member: any DeadlineChecking) {
        member.sweepIndex = members.count
        members.append(member)
        if sweep == nil { scheduleSweep() }
    }

    func remove(_ member: any DeadlineChecking) {
        let index = member.sweepIndex
        guard index >= 0, index < members.count, members[index] === member else { return }
        let last = members.removeLast()
        if index < members.count {
            members[index] = last
            last.sweepIndex = index
        }
        member.sweepIndex = -1
        if members.isEmpty {
            sweep?.cancel()
            sweep = nil
        }
    }

    private func scheduleSweep() {
        sweep = eventLoop.assumeIsolated().scheduleTask(in: Self.tick) { [self] in
            self.sweep = nil
            let now = NIODeadline.now()
            // A member may close, and so leave the list, while it is checked: go over a copy.
            for member in self.members {
                member.checkDeadlines(now: now)
            }
            if !self.members.isEmpty && self.sweep == nil { self.scheduleSweep() }
        }
    }
}
