/// Chooses the host for a request among the hosts that have its model (DESIGN.md 6.2, 6.7).
///
/// A candidate at its `max_concurrency`, or whose slots for the model are all in use (a model that is not
/// loaded there has one: the request that loads it), is skipped while another has room; with every one
/// full the request waits in the queue.
///
/// Pure and allocation-free: it reads the candidates, their live status, in-flight counts and free slots,
/// and returns the best one. Taking the slot is the caller's job (``RoutingTable/acquire(_:excluding:)``), since
/// another request may take it first.
public enum EndpointSelector {
    /// The outcome of one choice.
    public enum Choice: Sendable {
        case chosen(Placement)
        /// Routable candidates exist, but every one is at its `max_concurrency` or out of slots for the model.
        case full
        /// No candidate is healthy (or every healthy one was already tried).
        case unavailable
    }

    /// Picks the best candidate not in `excluded`.
    /// - Parameters:
    ///   - rotation: a number that changes on every call; breaks ties round-robin.
    public static func choose(
        from candidates: CandidateSet,
        strategy: LoadBalancerStrategy,
        excluding excluded: EndpointSet,
        rotation: Int
    ) -> Choice {
        let placements = candidates.placements
        var best: Int = -1
        var ties = 0
        var sawFull = false
        // First pass: the best rank and how many candidates share it.
        for index in placements.indices {
            let placement = placements[index]
            let endpoint = placement.endpoint
            guard endpoint.status.isRoutable, !excluded.contains(endpoint.ordinal) else { continue }
            guard placement.hasRoom else {
                sawFull = true
                continue
            }
            if best < 0 {
                best = index
                ties = 1
                continue
            }
            switch compare(placement, placements[best], strategy: strategy) {
            case .better:
                best = index
                ties = 1
            case .same:
                ties += 1
            case .worse:
                break
            }
        }
        guard best >= 0 else { return sawFull ? .full : .unavailable }
        guard ties > 1 else { return .chosen(placements[best]) }
        // Second pass: the tie `rotation % ties`, counted in list order.
        var wanted = (rotation & Int.max) % ties
        let leader = placements[best]
        for index in best..<placements.count {
            let placement = placements[index]
            let endpoint = placement.endpoint
            guard endpoint.status.isRoutable, !excluded.contains(endpoint.ordinal), placement.hasRoom else { continue }
            guard compare(placement, leader, strategy: strategy) == .same else { continue }
            if wanted == 0 { return .chosen(placement) }
            wanted -= 1
        }
        return .chosen(leader)
    }

    enum Ordering {
        case better
        case same
        case worse
    }

    @inline(__always)
    static func compare(_ a: Placement, _ b: Placement, strategy: LoadBalancerStrategy) -> Ordering {
        switch strategy {
        case .priority:
            let priorityA = a.endpoint.configuration.priority
            let priorityB = b.endpoint.configuration.priority
            if priorityA != priorityB { return priorityA > priorityB ? .better : .worse }
            let loadA = a.state.preference
            let loadB = b.state.preference
            if loadA != loadB { return loadA > loadB ? .better : .worse }
            // Residency is not occupancy: of two hosts that have the model loaded, the one with more free
            // slots serves sooner.
            let freeA = a.slots.freeSlots
            let freeB = b.slots.freeSlots
            if freeA != freeB { return freeA > freeB ? .better : .worse }
            return compareInFlight(a, b)
        case .leastConnections:
            return compareInFlight(a, b)
        case .roundRobin:
            return .same
        }
    }

    @inline(__always)
    static func compareInFlight(_ a: Placement, _ b: Placement) -> Ordering {
        let inFlightA = a.endpoint.inFlight.load(ordering: .relaxed)
        let inFlightB = b.endpoint.inFlight.load(ordering: .relaxed)
        if inFlightA == inFlightB { return .same }
        return inFlightA < inFlightB ? .better : .worse
    }
}

extension ModelState {
    /// Loaded first, then hosts that did not say (a plain `/v1/models` list), then not loaded.
    @inline(__always)
    var preference: Int {
        switch self {
        case .loaded: return 2
        case .unknown: return 1
        case .notLoaded: return 0
        }
    }
}
