import Atomics
import NIOConcurrencyHelpers

/// The live routing state of one olla process: the current ``RoutingSnapshot``, the per-host model lists
/// it was built from, and the admission queue. The meeting point of Health (which publishes) and Proxy
/// (which reads and acquires), which never import each other.
public final class RoutingTable: Sendable {
    private struct State {
        var configuration: OllaConfiguration
        var endpoints: [EndpointRuntime]
        /// Models of each endpoint's last successful model probe, by endpoint name.
        var listings: [String: [HostedModel]] = [:]
        /// The live slot counter of each (endpoint name, model id), kept across snapshots so that a request
        /// releases into the counter it acquired from (DESIGN.md 6.7).
        var slots: [String: [String: ModelSlots]] = [:]
        var snapshot: RoutingSnapshot
    }

    private let state: NIOLockedValueBox<State>
    private let current: NIOLockedValueBox<RoutingSnapshot>
    private let rotation = ManagedAtomic<Int>(0)
    /// Snapshots published so far, bumped under ``current``'s lock with each new one.
    private let published = ManagedAtomic<Int>(0)
    private let passiveFailureHandler = NIOLockedValueBox<(@Sendable (EndpointRuntime, String) -> Void)?>(nil)
    private let modelLoadHandler = NIOLockedValueBox<(@Sendable (EndpointRuntime) -> Void)?>(nil)
    /// Requests waiting for a host with room.
    public let queue: AdmissionQueue
    /// Which host holds which stateful conversation (DESIGN.md 6.9), bounded by `proxy.response_pinning`.
    public let responsePins: ResponsePins
    /// Keys of prompt-cache affinity seen lately, and its counters (DESIGN.md 6.8).
    public let stickySessions: StickySessions

    public init(configuration: OllaConfiguration) {
        let endpoints = configuration.endpoints.enumerated().map { ordinal, endpoint in
            EndpointRuntime(configuration: endpoint, ordinal: ordinal)
        }
        let snapshot = RoutingSnapshot(
            configuration: configuration,
            endpoints: endpoints,
            models: .empty
        )
        self.state = NIOLockedValueBox(State(configuration: configuration, endpoints: endpoints, snapshot: snapshot))
        self.current = NIOLockedValueBox(snapshot)
        self.queue = AdmissionQueue(capacity: configuration.proxy.maxQueue)
        self.responsePins = ResponsePins(configuration.proxy.responsePinning)
        self.stickySessions = StickySessions(configuration.proxy.stickySessions)
    }

    /// The snapshot to route with now.
    public var snapshot: RoutingSnapshot {
        current.withLockedValue { $0 }
    }

    /// How many snapshots were published so far, without a lock: a reader that kept the snapshot of this count
    /// (``publishedSnapshot``) still has the current one, and need not take the lock to read it again.
    public var publications: Int {
        published.load(ordering: .acquiring)
    }

    /// The current snapshot and its publication count, read together.
    public var publishedSnapshot: (snapshot: RoutingSnapshot, publication: Int) {
        current.withLockedValue { ($0, published.load(ordering: .relaxed)) }
    }

    // MARK: Publishing (Health, reload)

    /// Records what a host lists after a successful model probe.
    /// - Returns: whether the list changed (and a new snapshot was published).
    @discardableResult
    public func publishModels(_ models: [HostedModel], for endpoint: EndpointRuntime) -> Bool {
        let changed = state.withLockedValue { state -> Bool in
            guard state.endpoints.contains(where: { $0 === endpoint }) else { return false }
            guard state.listings[endpoint.name] != models else { return false }
            state.listings[endpoint.name] = models
            rebuild(&state)
            return true
        }
        if changed { drainQueue() }
        return changed
    }

    /// Sets a host's health, and offers its slots to queued requests when it becomes routable.
    /// - Returns: the previous status.
    @discardableResult
    public func setStatus(_ status: EndpointStatus, of endpoint: EndpointRuntime) -> EndpointStatus {
        let previous = endpoint.setStatus(status)
        if status.isRoutable && !previous.isRoutable { drainQueue() }
        return previous
    }

    /// Called by the proxy when a real request could not reach a host: out of rotation at once, and Health
    /// is asked for a quick re-probe (DESIGN.md 6.3, passive health).
    public func reportConnectionFailure(of endpoint: EndpointRuntime, reason: String) {
        let previous = endpoint.setStatus(.offline)
        guard previous != .offline else { return }
        endpoint.updateHealth { $0.lastError = reason }
        passiveFailureHandler.withLockedValue { $0 }?(endpoint, reason)
    }

    /// Sets the callback run when the proxy reports a connection failure (Health installs it).
    public func onConnectionFailure(_ handler: @escaping @Sendable (EndpointRuntime, String) -> Void) {
        passiveFailureHandler.withLockedValue { $0 = handler }
    }

    /// Called by the proxy when the response head of a request arrives from its host. When the request's model
    /// was not loaded there, this request loaded it (LM Studio loads just in time before it answers), so Health
    /// is asked to re-probe the host at once: the index learns of the load, and the model's slots open up
    /// (DESIGN.md 6.7, one load at a time).
    @inlinable
    public func responseHeadArrived(for placement: Placement) {
        guard placement.slots.isLoading else { return }
        modelLoaded(on: placement.endpoint)
    }

    @usableFromInline
    func modelLoaded(on endpoint: EndpointRuntime) {
        modelLoadHandler.withLockedValue { $0 }?(endpoint)
    }

    /// Sets the callback run when a request for a model that was not loaded on its host got its response head
    /// (Health installs it, to re-probe that host).
    public func onModelLoad(_ handler: @escaping @Sendable (EndpointRuntime) -> Void) {
        modelLoadHandler.withLockedValue { $0 = handler }
    }

    /// The result of ``apply(_:)``.
    public struct Changes: Sendable {
        public var added: [EndpointRuntime]
        public var removed: [EndpointRuntime]
        public var kept: [EndpointRuntime]
        /// Runtimes no longer in the snapshot: those of removed hosts, and those replaced by a successor for
        /// changed settings. Nothing new is sent to them; their idle connections can go.
        public var retired: [EndpointRuntime]
    }

    /// Switches to a new configuration (reload). Endpoints with the same name, URL and settings keep their
    /// runtime (health, models, counters); new ones start `unknown` and are routed once probed; one whose
    /// settings changed but not its URL gets a successor runtime with its health, models and counters.
    /// Removed endpoints are marked offline; requests already sent to them finish.
    public func apply(_ configuration: OllaConfiguration) -> Changes {
        let changes = state.withLockedValue { state -> Changes in
            var changes = Changes(added: [], removed: [], kept: [], retired: [])
            let old = Dictionary(state.endpoints.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            var used = Set<Int>()
            var reserved = Set<Int>()
            for endpoint in configuration.endpoints {
                if let previous = old[endpoint.name], previous.configuration.url == endpoint.url {
                    reserved.insert(previous.ordinal)
                }
            }
            var endpoints: [EndpointRuntime] = []
            var listings: [String: [HostedModel]] = [:]
            for endpoint in configuration.endpoints {
                if let previous = old[endpoint.name], previous.configuration == endpoint {
                    endpoints.append(previous)
                    used.insert(previous.ordinal)
                    changes.kept.append(previous)
                    listings[endpoint.name] = state.listings[endpoint.name]
                } else if let previous = old[endpoint.name], previous.configuration.url == endpoint.url {
                    let runtime = EndpointRuntime(configuration: endpoint, succeeding: previous)
                    endpoints.append(runtime)
                    used.insert(previous.ordinal)
                    changes.kept.append(runtime)
                    listings[endpoint.name] = state.listings[endpoint.name]
                } else {
                    var ordinal = 0
                    while used.contains(ordinal) || reserved.contains(ordinal) { ordinal += 1 }
                    used.insert(ordinal)
                    let runtime = EndpointRuntime(configuration: endpoint, ordinal: ordinal)
                    endpoints.append(runtime)
                    changes.added.append(runtime)
                }
            }
            for runtime in state.endpoints where !endpoints.contains(where: { $0 === runtime }) {
                // A runtime replaced by a successor shares its status, which must stay the host's.
                if !changes.kept.contains(where: { $0.name == runtime.name }) {
                    changes.removed.append(runtime)
                    runtime.setStatus(.offline)
                }
                runtime.retire()
                changes.retired.append(runtime)
            }
            state.configuration = configuration
            queue.setCapacity(configuration.proxy.maxQueue)
            responsePins.setLimits(configuration.proxy.responsePinning)
            stickySessions.setSettings(configuration.proxy.stickySessions)
            state.endpoints = endpoints
            state.listings = listings
            // A host that is kept (or succeeded) keeps its model counters; a new one under an old name starts
            // afresh, as its in-flight count does.
            let keptNames = Set(changes.kept.map(\.name))
            state.slots = state.slots.filter { keptNames.contains($0.key) }
            rebuild(&state)
            return changes
        }
        drainQueue()
        return changes
    }

    private func rebuild(_ state: inout State) {
        let listings = state.endpoints.compactMap { endpoint in
            state.listings[endpoint.name].map { (endpoint: endpoint, models: $0) }
        }
        var slots = state.slots
        var listed: [String: Set<String>] = [:]
        let models = ModelIndex(listings: listings, aliases: state.configuration.modelAliases) { endpoint, model in
            listed[endpoint.name, default: []].insert(model.id)
            let capacity = model.id.isEmpty ? ModelSlots.unlimited : ModelSlots.capacity(for: model)
            if let counter = slots[endpoint.name]?[model.id] {
                counter.setCapacity(capacity)
                return counter
            }
            let counter = ModelSlots(capacity: capacity)
            slots[endpoint.name, default: [:]][model.id] = counter
            return counter
        }
        // A model a host no longer lists loses its counter once nothing runs on it; until then a request that
        // comes back to it counts together with those still running.
        for (name, counters) in slots {
            slots[name] = counters.filter { id, counter in
                listed[name]?.contains(id) == true || counter.inFlight.load(ordering: .relaxed) > 0
            }
        }
        state.slots = slots
        let snapshot = RoutingSnapshot(
            configuration: state.configuration,
            endpoints: state.endpoints,
            models: models
        )
        state.snapshot = snapshot
        current.withLockedValue {
            $0 = snapshot
            published.wrappingIncrement(ordering: .releasing)
        }
    }

    // MARK: Acquiring (Proxy)

    /// The result of ``acquire(_:excluding:strategy:)``.
    public enum Admission: Sendable {
        /// A slot was taken on this host for this model; give it back with ``release(_:outcome:)``.
        case granted(Placement)
        case full
        case unavailable
    }

    /// Chooses a host among `candidates` and takes a slot on it: a place under its `max_concurrency` and a
    /// slot of the model there (DESIGN.md 6.2, 6.7).
    public func acquire(
        _ candidates: CandidateSet,
        excluding excluded: EndpointSet,
        strategy: LoadBalancerStrategy
    ) -> Admission {
        acquire(candidates, excluding: excluded, strategy: strategy, underQueueLock: false)
    }

    private func acquire(
        _ candidates: CandidateSet,
        excluding excluded: EndpointSet,
        strategy: LoadBalancerStrategy,
        underQueueLock: Bool
    ) -> Admission {
        // Another request may fill the chosen host between the choice and the take; choose again then.
        for _ in 0...candidates.placements.count {
            let turn = rotation.loadThenWrappingIncrement(ordering: .relaxed)
            switch EndpointSelector.choose(from: candidates, strategy: strategy, excluding: excluded, rotation: turn) {
            case .chosen(let placement):
                // The model slot first: it is the one more likely to be taken meanwhile.
                guard placement.slots.tryAcquire() else { continue }
                if placement.endpoint.tryAcquire() { return .granted(placement) }
                placement.slots.release()
                // A waiter may have been passed over while this request held the model slot; offer it again,
                // unless this runs for the queue itself (which goes on through its waiters).
                if !underQueueLock { drainQueue() }
            case .full:
                return .full
            case .unavailable:
                return .unavailable
            }
        }
        return .full
    }

    /// Chooses a host for a request with an affinity key by rendezvous hashing (DESIGN.md 6.8) and takes a
    /// slot on it; when no host of the best tier can take it, chooses as ``acquire(_:excluding:strategy:)``.
    /// - Returns: the admission, and whether the key's first-ranked host took it.
    public func acquire(
        _ candidates: CandidateSet,
        excluding excluded: EndpointSet,
        affinity key: UInt64,
        loadFactor: Double
    ) -> (admission: Admission, firstRanked: Bool) {
        for _ in 0...candidates.placements.count {
            guard
                let choice = EndpointSelector.chooseByAffinity(
                    from: candidates,
                    key: key,
                    loadFactor: loadFactor,
                    excluding: excluded
                )
            else { break }
            let placement = choice.placement
            guard placement.slots.tryAcquire() else { continue }
            if placement.endpoint.tryAcquire() { return (.granted(placement), choice.isFirstRanked) }
            placement.slots.release()
            drainQueue()
        }
        return (acquire(candidates, excluding: excluded, strategy: .priority), false)
    }

    /// Queues a request whose candidates are all full; see ``AdmissionQueue/enqueue(_:excluding:acquire:grant:)``.
    public func enqueue(
        _ candidates: CandidateSet,
        excluding excluded: EndpointSet,
        strategy: LoadBalancerStrategy,
        grant: @escaping AdmissionQueue.Grant
    ) -> AdmissionQueue.Enqueued {
        queue.enqueue(
            candidates,
            excluding: excluded,
            acquire: { candidates, excluded in
                if case .granted(let placement) = self.acquire(
                    candidates,
                    excluding: excluded,
                    strategy: strategy,
                    underQueueLock: true
                ) {
                    return placement
                }
                return nil
            },
            grant: grant
        )
    }

    /// Gives back the slot taken by ``acquire(_:excluding:strategy:)`` or granted by the queue (the host's
    /// place and the model's slot), exactly once per request, and records how the request went.
    public func release(_ placement: Placement, outcome: RequestOutcome?) {
        if let outcome { placement.endpoint.record(outcome) }
        // Handed over under the queue's lock, the slot is never free while a waiter could use it (FIFO).
        if queue.hasWaiters {
            switch queue.handOver(slotOf: placement) {
            case .whole:
                return
            case .placeOnly:
                placement.slots.release()
                drainQueue()
                return
            case .none:
                break
            }
        }
        placement.slots.release()
        placement.endpoint.releaseSlot()
        // A waiter that queued between the hand-over and the release still gets the slot.
        drainQueue()
    }

    private func drainQueue() {
        guard queue.hasWaiters else { return }
        let strategy = snapshot.strategy
        queue.drain { candidates, excluded in
            if case .granted(let placement) = self.acquire(
                candidates,
                excluding: excluded,
                strategy: strategy,
                underQueueLock: true
            ) {
                return placement
            }
            return nil
        }
    }
}
