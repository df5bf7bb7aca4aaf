import Atomics
import NIOConcurrencyHelpers

/// The thread-safe queue of requests waiting for a host with room; see ``AdmissionQueueState``.
///
/// Waiters are plain callbacks, so the queue knows nothing of event loops: the proxy's callback hops
/// back to the request's own loop.
public final class AdmissionQueue: Sendable {
    /// Called once with the slot a waiter was granted; the slot is already taken for it.
    public typealias Grant = @Sendable (Placement) -> Void

    private let state: NIOLockedValueBox<AdmissionQueueState<Grant>>
    /// Waiters plus enqueuers in progress; read without the lock by every finishing request.
    private let pending = ManagedAtomic<Int>(0)

    /// - Parameter capacity: `max_queue`.
    public init(capacity: Int) {
        self.state = NIOLockedValueBox(AdmissionQueueState(capacity: capacity))
    }

    /// Changes `max_queue` (reload); waiters beyond a smaller bound keep their place.
    public func setCapacity(_ capacity: Int) {
        state.withLockedValue { $0.capacity = capacity }
    }

    /// Requests waiting now.
    public var count: Int {
        state.withLockedValue { $0.count }
    }

    /// The result of ``enqueue(_:excluding:acquire:grant:)``.
    public enum Enqueued: Sendable {
        /// A slot freed while enqueueing: no wait.
        case granted(Placement)
        /// Waiting; keep the ticket to leave the queue.
        case queued(ticket: UInt64)
        /// The queue is at `max_queue`.
        case full
    }

    /// Queues a request whose candidates are all full.
    ///
    /// - Parameters:
    ///   - acquire: tries to take a slot now; called under the queue lock so that a slot freed at the same
    ///     moment is never missed.
    ///   - grant: called later with the slot, unless the request leaves first.
    func enqueue(
        _ candidates: CandidateSet,
        excluding excluded: EndpointSet,
        acquire: (CandidateSet, EndpointSet) -> Placement?,
        grant: @escaping Grant
    ) -> Enqueued {
        // Announce first (sequentially consistent), then look: a request finishing at the same moment
        // either sees us and drains, or freed its slot before our look.
        pending.wrappingIncrement(ordering: .sequentiallyConsistent)
        return state.withLockedValue { queue in
            if let placement = acquire(candidates, excluded) {
                pending.wrappingDecrement(ordering: .sequentiallyConsistent)
                return .granted(placement)
            }
            guard let ticket = queue.append(candidates: candidates, excluded: excluded, waiter: grant) else {
                pending.wrappingDecrement(ordering: .sequentiallyConsistent)
                return .full
            }
            return .queued(ticket: ticket)
        }
    }

    /// Takes a waiter out of the queue (it timed out or its client left).
    /// - Returns: false when it was already granted a slot: its grant callback runs, or ran, and the slot
    ///   must be released.
    public func cancel(ticket: UInt64) -> Bool {
        let removed = state.withLockedValue { $0.remove(ticket: ticket) }
        if removed {
            pending.wrappingDecrement(ordering: .sequentiallyConsistent)
        }
        return removed
    }

    /// Whether anyone waits; cheap enough for every finishing request.
    var hasWaiters: Bool {
        pending.load(ordering: .sequentiallyConsistent) > 0
    }

    /// How a freed slot went in ``handOver(slotOf:)``.
    enum HandOver: Equatable {
        /// Nobody could use it.
        case none
        /// A waiter for the same model took both the host's place and the model slot.
        case whole
        /// A waiter for another model took the host's place (and a slot of its own model); the released
        /// model slot is still the caller's to give back.
        case placeOnly
    }

    /// Gives the slot that a finishing request frees to the first waiter that may use that host, so that a
    /// request arriving at the same moment cannot take it ahead of the queue.
    /// - Returns: what a waiter took; what it took stays taken, for that waiter.
    func handOver(slotOf released: Placement) -> HandOver {
        guard let (entry, placement, tookModelSlot) = state.withLockedValue({ $0.takeFirst(usable: released) }) else {
            return .none
        }
        pending.wrappingDecrement(ordering: .sequentiallyConsistent)
        entry.waiter(placement)
        return tookModelSlot ? .whole : .placeOnly
    }

    /// Grants slots to waiters, in order, for as long as `acquire` finds room.
    func drain(acquire: (CandidateSet, EndpointSet) -> Placement?) {
        let granted = state.withLockedValue { queue in
            queue.grantInOrder { acquire($0.candidates, $0.excluded) }
        }
        guard !granted.isEmpty else { return }
        pending.wrappingDecrement(by: granted.count, ordering: .sequentiallyConsistent)
        for (entry, placement) in granted {
            entry.waiter(placement)
        }
    }
}
