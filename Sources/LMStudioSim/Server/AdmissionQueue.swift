import NIOCore

/// The FIFO gate in front of inference: at most `limit` requests are answered at once, the others wait
/// in arrival order. A pure state machine; the caller resumes the waiter it hands back.
struct AdmissionQueue<Waiter> {
    /// How many requests may be answered at once; 0 means no limit.
    var limit: Int
    /// Requests being answered now.
    private(set) var active = 0
    private var waiting = CircularBuffer<(id: Int, waiter: Waiter)>()

    init(limit: Int) {
        self.limit = limit
    }

    /// Requests waiting for a slot.
    var waitingCount: Int { waiting.count }

    /// Takes a slot for request `id` when one is free (true), or queues `waiter` behind the others (false).
    mutating func enter(id: Int, waiter: Waiter) -> Bool {
        if limit == 0 || (active < limit && waiting.isEmpty) {
            active += 1
            return true
        }
        waiting.append((id, waiter))
        return false
    }

    /// Frees a slot; returns the waiter that now holds it, if any, to be resumed by the caller.
    mutating func leave() -> Waiter? {
        if let next = waiting.popFirst() {
            return next.waiter
        }
        active -= 1
        return nil
    }

    /// Removes a waiting request that gave up; false when it was not waiting (it may hold a slot).
    mutating func cancel(id: Int) -> Bool {
        guard let position = waiting.firstIndex(where: { $0.id == id }) else { return false }
        waiting.remove(at: position)
        return true
    }
}

extension AdmissionQueue: Sendable where Waiter: Sendable {}
