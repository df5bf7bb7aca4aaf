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

    /// Takes the first waiter that may use `endpoint` (it is a healthy candidate it did not try yet).
    mutating func takeFirst(usable endpoint: EndpointRuntime) -> (Entry, Placement)? {
        guard endpoint.status.isRoutable else { return nil }
        for index in entries.indices {
            let entry = entries[index]
            guard !entry.excluded.contains(endpoint.ordinal) else { continue }
            if let placement = entry.candidates.placements.first(where: { $0.endpoint === endpoint }) {
                entries.remove(at: index)
                return (entry, placement)
            }
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
