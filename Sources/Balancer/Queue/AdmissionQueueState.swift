/// The FIFO of requests waiting for a host with room (DESIGN.md 6.4), as a pure value: no locks,
/// no clocks, no I/O, so every rule is tested directly.
///
/// A waiter is granted a slot in two ways: a finishing request hands its slot straight to the first
/// waiter that can use that host (so the slot cannot be stolen and order holds), or new capacity
/// appears (a host recovers, a model is added) and waiters are tried in order.
struct AdmissionQueueState<Waiter> {
    struct Entry {
        let ticket: UInt64
        let candidates: CandidateSet
        let excluded: EndpointSet
        let waiter: Waiter
    }

    private(set) var entries: [Entry] = []
    private var nextTicket: UInt64 = 1
    var capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    var count: Int { entries.count }

    /// Appends a waiter.
    /// - Returns: its ticket, or nil when the queue is full.
    mutating func append(candidates: CandidateSet, excluded: EndpointSet, waiter: Waiter) -> UInt64? {
        guard entries.count < capacity else { return nil }
        let ticket = nextTicket
        nextTicket += 1
        entries.append(Entry(ticket: ticket, candidates: candidates, excluded: excluded, waiter: waiter))
        return ticket
    }

    /// Removes a waiter that gives up (timeout, client gone).
    /// - Returns: false when it is no longer queued, because it was granted a slot already.
    mutating func remove(ticket: UInt64) -> Bool {
        guard let index = entries.firstIndex(where: { $0.ticket == ticket }) else { return false }
        entries.remove(at: index)
        return true
    }

    /// Takes the first waiter that may use the slot a finishing request frees (DESIGN.md 6.4, 6.7).
    ///
    /// The freed slot is a place on `released.endpoint` (its `max_concurrency`) and a slot of
    /// `released`'s model there. A waiter for the same model takes both as they are; a waiter for another
    /// model on that host takes the place and must get a slot of its own model, which is taken here; a
    /// waiter that cannot use the host (excluded, or its model full there) is passed over.
    /// - Returns: the waiter, the placement it gets, and whether it took the released model slot too
    ///   (when not, the caller gives that one back).
    mutating func takeFirst(usable released: Placement) -> (Entry, Placement, tookModelSlot: Bool)? {
        let endpoint = released.endpoint
        guard endpoint.status.isRoutable else { return nil }
        for index in entries.indices {
            let entry = entries[index]
            guard !entry.excluded.contains(endpoint.ordinal),
                let placement = entry.candidates.placements.first(where: { $0.endpoint === endpoint })
            else { continue }
            if placement.slots === released.slots {
                // Still in use by the finishing request, so room means: room once it is gone (its capacity may
                // have shrunk meanwhile).
                guard placement.slots.inFlight.load(ordering: .relaxed) <= placement.slots.limit else { continue }
                entries.remove(at: index)
                return (entry, placement, true)
            }
            guard placement.slots.tryAcquire() else { continue }
            entries.remove(at: index)
            return (entry, placement, false)
        }
        return nil
    }

    /// Removes and returns, in order, the waiters for which `grant` found a slot.
    mutating func grantInOrder(_ grant: (Entry) -> Placement?) -> [(Entry, Placement)] {
        var granted: [(Entry, Placement)] = []
        var kept: [Entry] = []
        kept.reserveCapacity(entries.count)
        for entry in entries {
            if let placement = grant(entry) {
                granted.append((entry, placement))
            } else {
                kept.append(entry)
            }
        }
        entries = kept
        return granted
    }
}

extension AdmissionQueueState: Sendable where Waiter: Sendable {}
extension AdmissionQueueState.Entry: Sendable where Waiter: Sendable {}
