/// olla's traffic counted from its start, at one moment: what the dashboard's sampler records every second
/// (DESIGN.md 6.10). Rates and percentiles over a window are differences between two of these.
struct TrafficTotals: Sendable, Equatable {
    /// Requests that a host answered or that failed on one (a host was chosen), by endpoint name.
    var proxiedByEndpoint: [String: Int] = [:]
    /// Answers with a 5xx status: from a host, or made by olla (no healthy host, overloaded, ...).
    var serverErrors = 0
    /// Requests moved to another host before anything reached the client.
    var failovers = 0
    /// Answers cut because their host failed after bytes had reached the client.
    var midStreamCuts = 0
    /// Time to first byte, as cumulative bucket counts: `firstByteBuckets[i]` requests took at most
    /// `firstByteBounds[i]` seconds, and `firstByteCount` is every request measured.
    var firstByteBuckets: [Int] = Array(repeating: 0, count: Self.firstByteBounds.count)
    var firstByteCount = 0
    /// Requests waiting for a host with room, now (a gauge, not a total).
    var queueDepth = 0
    /// Requests sent to hosts and not finished, now (a gauge).
    var inFlight = 0
    /// Requests placed on the host their affinity key ranks first (DESIGN.md 6.8); nil while olla keeps no
    /// such counter.
    var affinityHits: Int?
    /// Requests that waited for a free slot (DESIGN.md 6.7); nil while olla keeps no such counter.
    var slotWaits: Int?

    /// Every proxied request.
    var proxied: Int { proxiedByEndpoint.values.reduce(0, +) }

    /// The upper bounds, in seconds, of the time-to-first-byte histogram's buckets.
    static let firstByteBounds: [Double] = OllaMetrics.durationBuckets.map { duration in
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// The metric families read, by name. The last two are looked for and used when present, so the
    /// dashboard shows affinity and slots as soon as olla counts them.
    enum Family {
        static let requests = "olla_requests_total"
        static let failovers = "olla_failovers_total"
        static let midStreamCuts = "olla_midstream_failures_total"
        static let firstByteBucket = "olla_time_to_first_byte_seconds_bucket"
        /// Affinity outcomes by endpoint and `outcome`; the dashboard counts the `hit`s.
        static let affinityHits = "olla_sticky_sessions_total"
        static let slotWaits = "olla_slot_waits_total"
    }

    init() {}

    static let families: Set<String> = [
        Family.requests, Family.failovers, Family.midStreamCuts, Family.firstByteBucket, Family.affinityHits,
        Family.slotWaits,
    ]

    /// The totals in a Prometheus exposition of olla's registry (its text, for tests).
    init(exposition: String, queueDepth: Int, inFlight: Int) {
        self.init(exposition: Array(exposition.utf8), queueDepth: queueDepth, inFlight: inFlight)
    }

    /// The totals in a Prometheus exposition of olla's registry, with the two gauges read by the caller.
    init(exposition: [UInt8], queueDepth: Int, inFlight: Int) {
        self.queueDepth = queueDepth
        self.inFlight = inFlight
        ExpositionReader.forEachSample(in: exposition, names: Self.families) { sample in
            let count = sample.value.isFinite ? Int(sample.value) : 0
            switch sample.name {
            case Family.requests:
                if let status = sample.label("status").flatMap({ Int($0) }), status >= 500 {
                    serverErrors += count
                }
                // An empty endpoint is a request olla answered itself (listings, status, its own errors):
                // not traffic to a host, and the dashboard's own polls are among them.
                if let endpoint = sample.label("endpoint"), !endpoint.isEmpty {
                    proxiedByEndpoint[endpoint, default: 0] += count
                }
            case Family.failovers:
                failovers += count
            case Family.midStreamCuts:
                midStreamCuts += count
            case Family.firstByteBucket:
                guard let bound = sample.label("le") else { return }
                if bound == "+Inf" {
                    firstByteCount += count
                } else if let seconds = Double(bound),
                    let index = Self.firstByteBounds.firstIndex(where: { abs($0 - seconds) < 1e-9 })
                {
                    firstByteBuckets[index] += count
                }
            case Family.affinityHits:
                affinityHits = (affinityHits ?? 0) + (sample.label("outcome") == "hit" ? count : 0)
            case Family.slotWaits:
                slotWaits = (slotWaits ?? 0) + count
            default:
                break
            }
        }
    }
}
