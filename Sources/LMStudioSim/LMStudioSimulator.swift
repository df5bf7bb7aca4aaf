import NIOCore
import NIOPosix

/// A simulated LM Studio host on a real socket: the five endpoints with LM Studio's shapes,
/// configurable models and timing, and faults that can be switched on and off while it runs. With
/// `SimulatorConfiguration.api` `.v0_4` it speaks LM Studio 0.4: `/api/v1/*`, `/v1/responses`,
/// `/v1/messages`, slots per model instance, just-in-time loads and a prompt cache.
///
/// ```swift
/// let host = LMStudioSimulator(configuration: .init(name: "sim-a"))
/// try await host.start()
/// // ... send requests to host.baseURL ...
/// try await host.stop()
/// ```
public final class LMStudioSimulator: Sendable {
    /// The configuration the simulator was created with.
    public let configuration: SimulatorConfiguration
    private let state: SimulatorState
    private let listener: SimulatorListener

    /// Creates a simulator; nothing is bound until `start()`.
    public init(
        configuration: SimulatorConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.configuration = configuration
        let settings = SimulatorSettings(configuration)
        state = SimulatorState(
            models: configuration.models,
            faults: configuration.faults,
            maxConcurrentRequests: configuration.maxConcurrentRequests,
            api: configuration.api,
            tuning: configuration.tuning,
            responseStoreLimit: configuration.responseStoreLimit
        )
        listener = SimulatorListener(settings: settings, state: state, group: eventLoopGroup)
    }

    /// Runs `body` with a started simulator and stops it afterwards, also when `body` throws.
    public static func withRunning<Result>(
        configuration: SimulatorConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        _ body: (LMStudioSimulator) async throws -> Result
    ) async throws -> Result {
        let simulator = LMStudioSimulator(configuration: configuration, eventLoopGroup: eventLoopGroup)
        try await simulator.start()
        do {
            let result = try await body(simulator)
            try await simulator.stop()
            return result
        } catch {
            try? await simulator.stop()
            throw error
        }
    }

    /// Binds the listening socket; `port` is valid afterwards.
    public func start() async throws {
        try await listener.start()
    }

    /// Closes the listener and every connection; calling it again does nothing.
    public func stop() async throws {
        await listener.stop()
    }

    /// The host's name, as reported in `X-Sim-Host`.
    public var name: String { configuration.name }

    /// The port the host listens on (the same one again after `refuseConnections` is switched off).
    public var port: Int { state.port }

    /// The port of the control-only listener, when the configuration asked for one.
    public var controlPort: Int? { state.controlPort }

    /// The URL of the host, e.g. `http://127.0.0.1:1234` (`https` when it has a certificate).
    public var baseURL: String {
        let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
        return "\(configuration.tls == nil ? "http" : "https")://\(host):\(port)"
    }

    /// The faults switched on now.
    public var faults: SimulatorFaults { state.faults }

    /// Switches faults on and off. Requests parked by `hang` are looked at again; switching
    /// `refuseConnections` closes or re-binds the listener before this returns.
    public func setFaults(_ faults: SimulatorFaults) async throws {
        for resume in state.replaceFaults(faults) {
            resume()
        }
        try await listener.reconcile()
    }

    /// Changes some faults and keeps the others.
    public func updateFaults(_ change: (inout SimulatorFaults) -> Void) async throws {
        var faults = state.faults
        change(&faults)
        try await setFaults(faults)
    }

    /// The models the host has now, in listing order.
    public var models: [SimulatedModel] { state.models }

    /// Adds a model, or replaces the one with the same id. On a 0.4 host its instances follow: a `loaded` model
    /// gets one if it has none, a `not-loaded` one loses all, and every instance gets the model's `parallel`.
    public func addModel(_ model: SimulatedModel) {
        for resume in state.addModel(model) {
            resume()
        }
    }

    /// Removes a model (and on 0.4 its instances); nothing happens when there is none with that id.
    public func removeModel(id: String) {
        for resume in state.removeModel(id: id).resume {
            resume()
        }
    }

    /// Changes a model's state; returns false when there is no model with that id. On a 0.4 host `loaded` adds
    /// an instance when there is none (not counted as a load) and `not-loaded` unloads every instance.
    @discardableResult
    public func setModelState(id: String, to newState: SimulatedModel.State) -> Bool {
        let (found, resume) = state.setModelState(id: id, state: newState)
        for waiter in resume {
            waiter()
        }
        return found
    }

    /// Changes how many requests each instance of a model serves at once (0.4); false when there is no such
    /// model. Requests waiting inside the host take the new slots at once.
    @discardableResult
    public func setParallel(modelID: String, _ parallel: Int) -> Bool {
        let (found, resume) = state.setParallel(id: modelID, parallel: parallel)
        for waiter in resume {
            waiter()
        }
        return found
    }

    /// The timings and switches in force now (the configuration's, unless changed since).
    public var tuning: SimulatorTuning { state.tuning }

    /// Replaces the timings and switches; requests already planned keep the ones they started with.
    public func setTuning(_ tuning: SimulatorTuning) {
        state.setTuning(tuning)
    }

    /// Changes some timings and switches and keeps the others.
    public func updateTuning(_ change: (inout SimulatorTuning) -> Void) {
        var tuning = state.tuning
        change(&tuning)
        state.setTuning(tuning)
    }

    /// What the host has seen since start or the last `resetStats()`.
    public var stats: SimulatorStats { state.stats }

    /// The last 64 requests (control routes excepted), exactly as received, oldest first.
    public var recordedRequests: [RecordedRequest] { state.recordedRequests }

    /// Sets the counters to zero; requests in flight or queued stay counted as such.
    public func resetStats() {
        state.resetStats()
    }

    /// Forgets the recorded requests.
    public func clearRecordedRequests() {
        state.clearRecordedRequests()
    }
}
