import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// A callback that continues a request on its own event loop (after a hang or a wait in the queue).
typealias Resumption = @Sendable () -> Void

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
    }

    /// What a request needs to know at the moment it is looked at.
    struct View {
        let catalog: ModelCatalog
        let faults: SimulatorFaults
    }

    /// How many requests `recordedRequests` keeps.
    static let recordedLimit = 64

    private let shared: NIOLockedValueBox<Shared>

    init(models: [SimulatedModel], faults: SimulatorFaults, maxConcurrentRequests: Int) {
        shared = NIOLockedValueBox(
            Shared(
                catalog: ModelCatalog(models: models),
                faults: faults,
                admission: AdmissionQueue(limit: max(0, maxConcurrentRequests))
            )
        )
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
            return (id, View(catalog: shared.catalog, faults: shared.faults))
        }
    }

    /// The models and faults now.
    var view: View {
        shared.withLockedValue { View(catalog: $0.catalog, faults: $0.faults) }
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

    func addModel(_ model: SimulatedModel) {
        shared.withLockedValue { $0.catalog = $0.catalog.adding(model) }
    }

    /// Removes a model; false when there was none with that id.
    @discardableResult
    func removeModel(id: String) -> Bool {
        shared.withLockedValue { shared in
            guard let catalog = shared.catalog.removing(id: id) else { return false }
            shared.catalog = catalog
            return true
        }
    }

    /// Changes a model's state; false when there is no model with that id.
    @discardableResult
    func setModelState(id: String, state: SimulatedModel.State) -> Bool {
        shared.withLockedValue { shared in
            guard var model = shared.catalog.model(id: id) else { return false }
            model.state = state
            shared.catalog = shared.catalog.adding(model)
            return true
        }
    }

    // MARK: Stats and recorded requests

    var stats: SimulatorStats {
        shared.withLockedValue { shared in
            var stats = shared.stats
            stats.openConnections = shared.connections.count
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
