import Atomics

/// The live slot count of one model on one host (DESIGN.md 6.7): how many requests for it may run there at
/// once, and how many do.
///
/// One instance per (host, model) lives as long as the host does, across routing snapshots, so a request
/// acquired under one snapshot releases into the same counter under the next. Its capacity is rewritten by
/// the routing table whenever a probe changes what the host reports, so requests that wait in the queue
/// with candidates of an older snapshot see a model that has just loaded.
///
/// Capacity is one integer, read with one atomic load on the hot path:
/// - `n > 0`: an LM Studio 0.4 host reported `n` slots (the sum of its instances' `parallel`);
/// - ``unlimited``: slots unknown (an LM Studio 0.3 host, a plain OpenAI listing): only `max_concurrency`
///   limits the host;
/// - ``loading``: the model is not loaded there, so one request at a time, the one that loads it: LM Studio
///   starts a duplicate instance for each concurrent first request (lmstudio-real.md).
public final class ModelSlots: Sendable {
    /// Capacity of a model whose slots the host does not report.
    public static let unlimited = 0
    /// Capacity of a model that is not loaded on the host: one load at a time.
    public static let loading = -1

    /// Requests for this model on this host that are not finished yet.
    public let inFlight = ManagedAtomic<Int>(0)
    private let capacityValue: ManagedAtomic<Int>

    public init(capacity: Int = ModelSlots.unlimited) {
        self.capacityValue = ManagedAtomic(capacity)
    }

    /// The capacity, encoded as described on the type.
    public var capacity: Int {
        capacityValue.load(ordering: .relaxed)
    }

    /// Sets the capacity after a probe (routing table only, under its lock).
    func setCapacity(_ capacity: Int) {
        capacityValue.store(capacity, ordering: .relaxed)
    }

    /// The slots the host reported (LM Studio 0.4), or nil when it reports none or the model is not loaded.
    public var reportedSlots: Int? {
        let capacity = self.capacity
        return capacity > 0 ? capacity : nil
    }

    /// Whether the model is not loaded on the host, so only the request that loads it may run there.
    public var isLoading: Bool {
        capacity < 0
    }

    /// The most requests for this model that may run on the host at once, `Int.max` for no limit.
    @inlinable
    public var limit: Int {
        let capacity = self.capacity
        if capacity > 0 { return capacity }
        return capacity < 0 ? 1 : Int.max
    }

    /// Whether another request for this model may start on this host now.
    @inlinable
    public var hasRoom: Bool {
        inFlight.load(ordering: .relaxed) < limit
    }

    /// Free slots for ranking hosts inside a priority tier ("residency is not occupancy"): the reported slots
    /// not in use; where slots are unknown, one when nothing runs there and none otherwise.
    @inlinable
    public var freeSlots: Int {
        let capacity = self.capacity
        let running = inFlight.load(ordering: .relaxed)
        if capacity > 0 { return max(capacity - running, 0) }
        return running == 0 ? 1 : 0
    }

    /// Takes one slot if there is room.
    /// - Returns: false when every slot is in use (nothing was taken).
    func tryAcquire() -> Bool {
        inFlight.incrementIfBelow(limit)
    }

    /// Gives one slot back.
    func release() {
        let previous = inFlight.loadThenWrappingDecrement(ordering: .relaxed)
        precondition(previous > 0, "in-flight count of a model went negative")
    }

    /// The capacity for a model as a host listed it.
    public static func capacity(for model: HostedModel) -> Int {
        switch model.state {
        case .notLoaded:
            return loading
        case .loaded:
            guard let slots = model.slots, slots > 0 else { return unlimited }
            return slots
        case .unknown:
            return unlimited
        }
    }
}
