import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// A callback that continues a request on its own event loop (after a hang or a wait in the queue).
typealias Resumption = @Sendable () -> Void

/// A callback that continues a request waiting for a slot of a 0.4 instance: with the slot it got, or nil
/// when its instance went away and it should look for a slot again.
typealias SlotWaiter = @Sendable (SlotGrant?) -> Void

/// Everything about a running simulated host that changes: models, faults, counters, recorded
/// requests, the admission queue, hung requests and open connections, under one lock.
///
/// Each request takes the lock a few times for a moment; nothing waits while holding it.
final class SimulatorState: Sendable {
    private struct Shared: Sendable {
        var catalog: ModelCatalog
        var faults: SimulatorFaults
        var stats = SimulatorStats()
        var recorded = CircularBuffer<(head: HTTPRequestHead, body: ByteBuffer?)>(initialCapacity: 64)
        var admission: AdmissionQueue<Resumption>
        var hung: [Int: Resumption] = [:]
        var connections: [Int: any Channel] = [:]
        var nextConnectionID = 1
        var nextExchangeID = 1
        var port = 0
        var controlPort: Int?
        var acceptsConnections = false
        let api: SimulatorAPI
        var tuning: SimulatorTuning {
            didSet { timeToFirstToken = TimeAmount(tuning.timeToFirstToken) }
        }
        /// `tuning.timeToFirstToken`, converted once rather than per request.
        var timeToFirstToken: TimeAmount
        /// 0.4: instances and slots.
        var pool = InstancePool<SlotWaiter>()
        /// 0.4: responses kept for `previous_response_id`.
        var responses: ResponseStore
    }

    /// What a request needs to know at the moment it is looked at.
    struct View {
        let catalog: ModelCatalog
        let faults: SimulatorFaults
        let tuning: SimulatorTuning
        let timeToFirstToken: TimeAmount
    }

    /// How many requests `recordedRequests` keeps.
    static let recordedLimit = 64

    private let shared: NIOLockedValueBox<Shared>

    init(
        models: [SimulatedModel],
        faults: SimulatorFaults,
        maxConcurrentRequests: Int,
        api: SimulatorAPI = .v0_3,
        tuning: SimulatorTuning = SimulatorTuning(),
        responseStoreLimit: Int = 1024
    ) {
        var initial = Shared(
            catalog: ModelCatalog(models: models),
            faults: faults,
            admission: AdmissionQueue(limit: max(0, maxConcurrentRequests)),
            api: api,
            tuning: tuning,
            timeToFirstToken: TimeAmount(tuning.timeToFirstToken),
            responses: ResponseStore(limit: responseStoreLimit)
        )
        initial.pool.promptCache = tuning.promptCache
        initial.pool.autoEvict = tuning.autoEvict
        if api == .v0_4 {
            for model in initial.catalog.models where model.state == .loaded {
                initial.pool.ensureLoaded(
                    modelID: model.id,
                    parallel: model.parallel,
                    contextLength: Self.defaultContextLength(model)
                )
            }
            initial.catalog = initial.catalog.with(instances: initial.pool.listing)
        }
        shared = NIOLockedValueBox(initial)
    }

    /// The context length of an instance loaded without one: LM Studio's 4096, or less if the model is smaller.
    static func defaultContextLength(_ model: SimulatedModel) -> Int {
        min(4096, model.maxContextLength)
    }

    // MARK: Requests

    /// Counts and records a request that arrived, and returns its exchange id with the current view.
    func recordArrival(head: HTTPRequestHead, body: ByteBuffer?, routeKey: String) -> (id: Int, view: View) {
        shared.withLockedValue { shared in
            shared.stats.requests += 1
            shared.stats.requestsByRoute[routeKey, default: 0] += 1
            if shared.recorded.count == Self.recordedLimit {
                shared.recorded.removeFirst()
            }
            shared.recorded.append((head, body))
            let id = shared.nextExchangeID
            shared.nextExchangeID += 1
            return (id, Self.view(of: shared))
        }
    }

    /// The models and faults now.
    var view: View {
        shared.withLockedValue { Self.view(of: $0) }
    }

    private static func view(of shared: Shared) -> View {
        View(
            catalog: shared.catalog,
            faults: shared.faults,
            tuning: shared.tuning,
            timeToFirstToken: shared.timeToFirstToken
        )
    }

    /// Takes an inference slot for exchange `id` (true), or queues `waiter` to be resumed when one frees.
    func admit(id: Int, waiter: @escaping Resumption) -> Bool {
        shared.withLockedValue { shared in
            if shared.admission.enter(id: id, waiter: waiter) {
                shared.stats.inFlight += 1
                shared.stats.maxInFlightSeen = max(shared.stats.maxInFlightSeen, shared.stats.inFlight)
                return true
            }
            shared.stats.queued += 1
            return false
        }
    }

    /// Ends an exchange: frees its inference slot when it held one, and returns the queued request that
    /// takes the slot over, for the caller to resume.
    func finish(heldSlot: Bool, outcome: Outcome) -> Resumption? {
        shared.withLockedValue { shared in
            switch outcome {
            case .completed: shared.stats.completed += 1
            case .clientLeft: shared.stats.clientDisconnects += 1
            case .dropped: shared.stats.droppedStreams += 1
            case .serverClosed: break
            }
            guard heldSlot else { return nil }
            return Self.releaseSlot(&shared)
        }
    }

    /// How an exchange ended.
    enum Outcome {
        case completed
        case clientLeft
        case dropped
        case serverClosed
    }

    /// Ends an exchange that was still waiting in the queue. When the queue had already handed it a
    /// slot (its resumption is on the way), that slot is freed and passed on.
    func abandonQueued(id: Int, outcome: Outcome) -> Resumption? {
        shared.withLockedValue { shared in
            if outcome == .clientLeft { shared.stats.clientDisconnects += 1 }
            if shared.admission.cancel(id: id) {
                shared.stats.queued -= 1
                return nil
            }
            return Self.releaseSlot(&shared)
        }
    }

    private static func releaseSlot(_ shared: inout Shared) -> Resumption? {
        if let next = shared.admission.leave() {
            // The slot passes to the next request: in flight stays the same.
            shared.stats.queued -= 1
            return next
        }
        shared.stats.inFlight -= 1
        return nil
    }

    /// Parks a request under the hang fault until the faults change; false when the fault was cleared
    /// in the meantime (the caller looks at the request again instead).
    func parkHung(id: Int, isInference: Bool, resume: @escaping Resumption) -> Bool {
        shared.withLockedValue { shared in
            guard let hang = shared.faults.hang, hang.covers(isInference: isInference) else { return false }
            shared.hung[id] = resume
            return true
        }
    }

    /// Forgets a parked request whose client left.
    func unparkHung(id: Int) {
        shared.withLockedValue { _ = $0.hung.removeValue(forKey: id) }
    }

    // MARK: Faults

    var faults: SimulatorFaults {
        shared.withLockedValue { $0.faults }
    }

    /// Replaces the faults; returns the parked requests, to be resumed (they look at the faults again).
    func replaceFaults(_ faults: SimulatorFaults) -> [Resumption] {
        shared.withLockedValue { shared in
            shared.faults = faults
            return Self.takeHung(&shared)
        }
    }

    /// Applies a `POST /_sim/faults` object; returns the new faults and the parked requests to resume.
    func mergeFaults(json: [String: Any]) throws(ControlRequestError) -> (SimulatorFaults, [Resumption]) {
        let outcome = shared.withLockedValue { shared -> Result<(SimulatorFaults, [Resumption]), ControlRequestError> in
            do throws(ControlRequestError) {
                shared.faults = try shared.faults.applying(json: json)
                return .success((shared.faults, Self.takeHung(&shared)))
            } catch {
                return .failure(error)
            }
        }
        return try outcome.get()
    }

    private static func takeHung(_ shared: inout Shared) -> [Resumption] {
        let parked = Array(shared.hung.sorted { $0.key < $1.key }.map(\.value))
        shared.hung.removeAll()
        return parked
    }

    // MARK: Models

    var models: [SimulatedModel] {
        shared.withLockedValue { $0.catalog.models }
    }

    var catalog: ModelCatalog {
        shared.withLockedValue { $0.catalog }
    }

    /// Adds or replaces a model; on 0.4 its instances follow its state and `parallel`. Returns the requests
    /// to resume (waiters that got a slot or lost their instance).
    @discardableResult
    func addModel(_ model: SimulatedModel) -> [Resumption] {
        shared.withLockedValue { shared in
            shared.catalog = shared.catalog.adding(model)
            return Self.syncInstances(&shared, model: model)
        }
    }

    /// Removes a model; false when there was none with that id. On 0.4 its instances go too.
    func removeModel(id: String) -> (removed: Bool, resume: [Resumption]) {
        shared.withLockedValue { shared in
            guard let catalog = shared.catalog.removing(id: id) else { return (false, []) }
            shared.catalog = catalog
            guard shared.api == .v0_4 else { return (true, []) }
            let waiters = shared.pool.unloadAll(modelID: id)
            Self.refreshInstances(&shared)
            return (true, Self.retries(waiters))
        }
    }

    /// Changes a model's state; false when there is no model with that id. On 0.4, `loaded` gives it an
    /// instance when it has none and `not-loaded` unloads every instance.
    func setModelState(id: String, state: SimulatedModel.State) -> (found: Bool, resume: [Resumption]) {
        shared.withLockedValue { shared in
            guard var model = shared.catalog.model(id: id) else { return (false, []) }
            model.state = state
            shared.catalog = shared.catalog.adding(model)
            return (true, Self.syncInstances(&shared, model: model))
        }
    }

    /// Changes a model's `parallel`, on its loaded instances too; false when there is no such model.
    func setParallel(id: String, parallel: Int) -> (found: Bool, resume: [Resumption]) {
        shared.withLockedValue { shared in
            guard var model = shared.catalog.model(id: id) else { return (false, []) }
            model.parallel = max(1, parallel)
            shared.catalog = shared.catalog.adding(model)
            guard shared.api == .v0_4 else { return (true, []) }
            let served = shared.pool.setParallel(modelID: id, model.parallel)
            Self.refreshInstances(&shared)
            return (true, Self.resumptions(served))
        }
    }

    private static func syncInstances(_ shared: inout Shared, model: SimulatedModel) -> [Resumption] {
        guard shared.api == .v0_4 else { return [] }
        var resume: [Resumption] = []
        if model.state == .loaded {
            shared.pool.ensureLoaded(
                modelID: model.id,
                parallel: model.parallel,
                contextLength: defaultContextLength(model)
            )
        } else {
            resume += retries(shared.pool.unloadAll(modelID: model.id))
        }
        resume += resumptions(shared.pool.setParallel(modelID: model.id, model.parallel))
        refreshInstances(&shared)
        return resume
    }

    /// Waiters handed their slots, ready to be resumed.
    private static func resumptions(_ served: [(SlotWaiter, SlotGrant)]) -> [Resumption] {
        served.map { pair -> Resumption in
            let (waiter, grant) = pair
            return { waiter(grant) }
        }
    }

    /// Waiters whose instance went away, ready to look for a slot again.
    private static func retries(_ waiters: [SlotWaiter]) -> [Resumption] {
        waiters.map { waiter -> Resumption in { waiter(nil) } }
    }

    /// Makes the catalog (what the listings and the model lookups say) match the loaded instances.
    private static func refreshInstances(_ shared: inout Shared) {
        shared.catalog = shared.catalog.with(instances: shared.pool.listing)
    }

    // MARK: Instances and slots (0.4)

    /// Finds a slot for an admitted request (see `InstancePool.acquire`); a load that evicted other models
    /// refreshes the listings at once.
    func acquireInstanceSlot(
        model: SimulatedModel,
        instanceID: String?,
        exchangeID: Int,
        prompt: [UInt8],
        waiter: @escaping SlotWaiter
    ) -> InstancePool<SlotWaiter>.Acquisition {
        shared.withLockedValue { shared in
            let acquisition = shared.pool.acquire(
                modelID: model.id,
                instanceID: instanceID,
                parallel: model.parallel,
                contextLength: Self.defaultContextLength(model),
                exchangeID: exchangeID,
                prompt: prompt,
                waiter: waiter
            )
            if case .load = acquisition {
                Self.refreshInstances(&shared)
            }
            return acquisition
        }
    }

    /// Starts a load through `/api/v1/models/load`; the instance id it will have.
    func startLoad(model: SimulatedModel, contextLength: Int?, parallel: Int?) -> (serial: Int, id: String) {
        shared.withLockedValue { shared in
            shared.pool.startLoad(
                modelID: model.id,
                parallel: parallel ?? model.parallel,
                contextLength: contextLength ?? Self.defaultContextLength(model)
            )
        }
    }

    /// Ends a load: the instance is listed from now on, and exchange `exchangeID` (if any) gets a slot on it.
    func completeLoad(serial: Int, exchangeID: Int?, prompt: [UInt8]) -> SlotGrant? {
        shared.withLockedValue { shared in
            let grant = shared.pool.completeLoad(serial: serial, exchangeID: exchangeID, prompt: prompt)
            Self.refreshInstances(&shared)
            return grant
        }
    }

    /// Ends an exchange's use of its instance (waiting or holding a slot); returns the waiter to resume.
    func leaveInstance(exchangeID: Int, modelID: String) -> Resumption? {
        shared.withLockedValue { shared in
            shared.pool.leave(exchangeID: exchangeID, modelID: modelID).map { Self.resumptions([$0])[0] }
        }
    }

    /// Unloads an instance; nil when no loaded instance has that id, else its waiters to resume.
    func unload(instanceID: String) -> [Resumption]? {
        shared.withLockedValue { shared in
            guard let waiters = shared.pool.unload(instanceID: instanceID) else { return nil }
            Self.refreshInstances(&shared)
            return Self.retries(waiters)
        }
    }

    // MARK: Stored responses and tuning (0.4)

    func conversation(id: String) -> ResponseStore.Conversation? {
        shared.withLockedValue { $0.responses.conversation(id: id) }
    }

    func storeResponse(id: String, _ conversation: ResponseStore.Conversation) {
        shared.withLockedValue { $0.responses.store(id: id, conversation) }
    }

    var tuning: SimulatorTuning {
        shared.withLockedValue { $0.tuning }
    }

    func setTuning(_ tuning: SimulatorTuning) {
        shared.withLockedValue { shared in
            shared.tuning = tuning
            shared.pool.promptCache = tuning.promptCache
            shared.pool.autoEvict = tuning.autoEvict
        }
    }

    /// Applies a `POST /_sim/settings` object: tuning keys, and `parallel` per model id.
    func mergeSettings(json: [String: Any]) throws(ControlRequestError) -> [Resumption] {
        let tuning = try self.tuning.applying(json: json)
        var parallel: [String: Int] = [:]
        if let value = json["parallel"] {
            guard let object = value as? [String: Any] else {
                throw ControlRequestError(message: "'parallel' must be an object of model ids and slot counts")
            }
            for (id, count) in object {
                guard let count = JSONValue.int(count), count >= 1 else {
                    throw ControlRequestError(message: "'parallel' of '\(id)' must be a positive integer")
                }
                guard catalog.model(id: id) != nil else {
                    throw ControlRequestError(message: "no model '\(id)'")
                }
                parallel[id] = count
            }
        }
        setTuning(tuning)
        var resume: [Resumption] = []
        for (id, count) in parallel.sorted(by: { $0.key < $1.key }) {
            resume += setParallel(id: id, parallel: count).resume
        }
        return resume
    }

    // MARK: Stats and recorded requests

    var stats: SimulatorStats {
        shared.withLockedValue { shared in
            var stats = shared.stats
            stats.openConnections = shared.connections.count
            if shared.api == .v0_4 {
                let pool = shared.pool
                stats.maxConcurrencyByModel = pool.maxConcurrency
                stats.inProgressByModel = pool.inProgress
                stats.waitingByModel = pool.waiting
                stats.loadsByModel = pool.loads
                stats.promptCacheHits = pool.cacheHits
                stats.promptCacheMisses = pool.cacheMisses
                stats.promptTokensProcessed = pool.tokensProcessed
                stats.promptTokensReused = pool.tokensReused
                stats.storedResponses = shared.responses.count
            }
            return stats
        }
    }

    /// Sets the counters to zero; what is happening now (in flight, queued, open) stays.
    func resetStats() {
        shared.withLockedValue { shared in
            shared.stats = SimulatorStats(
                inFlight: shared.stats.inFlight,
                maxInFlightSeen: shared.stats.inFlight,
                queued: shared.stats.queued
            )
            shared.pool.resetCounters()
        }
    }

    var recordedRequests: [RecordedRequest] {
        let recorded = shared.withLockedValue { Array($0.recorded) }
        return recorded.map { head, body in
            RecordedRequest(
                method: head.method.rawValue,
                uri: head.uri,
                headers: head.headers.map { ($0.name, $0.value) },
                body: body.map { Array($0.readableBytesView) } ?? []
            )
        }
    }

    func clearRecordedRequests() {
        shared.withLockedValue { $0.recorded.removeAll() }
    }

    // MARK: Connections and ports

    /// Tracks a new connection; nil when the host refuses connections or has stopped (close it).
    func registerConnection(_ channel: any Channel) -> Int? {
        shared.withLockedValue { shared in
            guard shared.acceptsConnections, !shared.faults.refuseConnections else { return nil }
            let id = shared.nextConnectionID
            shared.nextConnectionID += 1
            shared.connections[id] = channel
            shared.stats.connectionsAccepted += 1
            return id
        }
    }

    /// Forgets a closed connection; false when the host had already taken it to close it itself.
    func unregisterConnection(id: Int) -> Bool {
        shared.withLockedValue { $0.connections.removeValue(forKey: id) != nil }
    }

    /// Takes every open connection, to close them as a dying process would.
    func takeAllConnections() -> [any Channel] {
        shared.withLockedValue { shared in
            let channels = Array(shared.connections.values)
            shared.connections.removeAll()
            return channels
        }
    }

    /// Whether new connections are kept (false before start and after stop).
    func setAcceptsConnections(_ accepts: Bool) {
        shared.withLockedValue { $0.acceptsConnections = accepts }
    }

    var port: Int {
        get { shared.withLockedValue { $0.port } }
        set { shared.withLockedValue { $0.port = newValue } }
    }

    var controlPort: Int? {
        get { shared.withLockedValue { $0.controlPort } }
        set { shared.withLockedValue { $0.controlPort = newValue } }
    }
}
