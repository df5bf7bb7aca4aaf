import NIOConcurrencyHelpers

/// One reading of the traffic totals, with when it was taken.
struct TrafficSample: Sendable, Equatable {
    /// Wall-clock time, seconds since 1970: the charts' time axis.
    var time: Double
    /// Monotonic seconds since the sampler started: rates divide by differences of this, which a change of
    /// the system clock cannot make negative.
    var elapsed: Double
    var totals: TrafficTotals
}

/// The last few minutes of traffic samples, oldest first, in a fixed-size ring: the memory the dashboard's
/// charts are drawn from (`GET /internal/stats/traffic`).
struct TrafficRing: Sendable {
    let capacity: Int
    private var storage: [TrafficSample] = []
    /// Where the next sample goes once the ring is full.
    private var next = 0

    init(capacity: Int) {
        precondition(capacity > 1, "a window needs two samples")
        self.capacity = capacity
        storage.reserveCapacity(capacity)
    }

    mutating func append(_ sample: TrafficSample) {
        if storage.count < capacity {
            storage.append(sample)
        } else {
            storage[next] = sample
            next = (next + 1) % capacity
        }
    }

    /// The samples held, oldest first.
    var samples: [TrafficSample] {
        Array(storage[next...] + storage[..<next])
    }
}

/// The ring of traffic samples shared by the sampler that writes it once a second and the route that reads
/// it when the dashboard polls; neither touches the request path.
final class TrafficHistory: Sendable {
    /// Five minutes of one sample a second, plus one so that the oldest second has a start.
    static let defaultCapacity = 301

    private let ring: NIOLockedValueBox<TrafficRing>

    init(capacity: Int = TrafficHistory.defaultCapacity) {
        ring = NIOLockedValueBox(TrafficRing(capacity: capacity))
    }

    func record(_ sample: TrafficSample) {
        ring.withLockedValue { $0.append(sample) }
    }

    /// The samples held, oldest first.
    var samples: [TrafficSample] {
        ring.withLockedValue { $0.samples }
    }
}
