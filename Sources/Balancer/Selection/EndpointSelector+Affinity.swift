extension EndpointSelector {
    /// A choice by affinity, and whether it is the key's first-ranked host.
    public struct AffinityChoice: Sendable {
        public var placement: Placement
        /// The host with the key's highest weight in the tier (any health) is the one chosen; otherwise it was
        /// down, full or over the load bound, and the key was placed on the next (a repin).
        public var isFirstRanked: Bool
    }

    /// Places a request with an affinity key by rendezvous hashing (DESIGN.md 6.8): among the routable
    /// candidates of the best tier (highest priority, then loaded before not loaded), the host with the highest
    /// weight for `key` that has room for the model and whose in-flight count is not above `loadFactor` x the
    /// tier's mean (rounded up).
    ///
    /// Pure and allocation-free, like ``choose(from:strategy:excluding:rotation:)``.
    /// - Returns: nil when no host of the tier can take it now; the caller then chooses as without a key.
    public static func chooseByAffinity(
        from candidates: CandidateSet,
        key: UInt64,
        loadFactor: Double,
        excluding excluded: EndpointSet
    ) -> AffinityChoice? {
        let placements = candidates.placements
        // The tier: the best priority, then the best loaded state, among hosts that can be routed to.
        var priority = Int.min
        var preference = -1
        for placement in placements {
            let endpoint = placement.endpoint
            guard endpoint.status.isRoutable, !excluded.contains(endpoint.ordinal) else { continue }
            let rank = endpoint.configuration.priority
            if rank > priority {
                priority = rank
                preference = placement.state.preference
            } else if rank == priority {
                preference = max(preference, placement.state.preference)
            }
        }
        guard preference >= 0 else { return nil }
        var members = 0
        var inFlight = 0
        for placement in placements where Self.isInTier(placement, priority: priority, preference: preference, excluded)
        {
            members += 1
            inFlight += placement.endpoint.inFlight.load(ordering: .relaxed)
        }
        let bound = (loadFactor * Double(inFlight) / Double(members)).rounded(.up)
        var first = -1
        var firstScore: UInt64 = 0
        var chosen = -1
        var chosenScore: UInt64 = 0
        for index in placements.indices {
            let placement = placements[index]
            let endpoint = placement.endpoint
            // First-ranked counts every host of the tier's priority, down or not: a down host's keys are repins.
            guard endpoint.configuration.priority == priority else { continue }
            let score = AffinityHash.score(key: key, endpoint: endpoint.affinityHash)
            if first < 0 || score > firstScore {
                first = index
                firstScore = score
            }
            guard Self.isInTier(placement, priority: priority, preference: preference, excluded), placement.hasRoom,
                Double(endpoint.inFlight.load(ordering: .relaxed)) <= bound
            else { continue }
            if chosen < 0 || score > chosenScore {
                chosen = index
                chosenScore = score
            }
        }
        guard chosen >= 0 else { return nil }
        return AffinityChoice(placement: placements[chosen], isFirstRanked: chosen == first)
    }

    @inline(__always)
    private static func isInTier(
        _ placement: Placement,
        priority: Int,
        preference: Int,
        _ excluded: EndpointSet
    ) -> Bool {
        let endpoint = placement.endpoint
        return endpoint.status.isRoutable && !excluded.contains(endpoint.ordinal)
            && endpoint.configuration.priority == priority && placement.state.preference == preference
    }
}
