/// The failures a simulated host shows, switchable while it runs.
public struct SimulatorFaults: Sendable, Equatable {
    /// Which requests a fault applies to.
    public enum Scope: String, Sendable, Equatable {
        /// The POST routes: chat, completions, embeddings.
        case inference
        /// Every route except the `/_sim/*` control routes.
        case all
    }

    /// Closes the listener and every open connection, as if the process died; switching it off binds
    /// the same port again.
    public var refuseConnections: Bool
    /// Accepts requests in this scope and never answers them until the fault is cleared (they are then
    /// answered) or the client leaves. `nil` is off.
    public var hang: Scope?
    /// Answers requests in `errorScope` with this status and a JSON error body. `nil` is off.
    public var errorStatus: Int?
    /// Which requests `errorStatus` applies to.
    public var errorScope: Scope
    /// Closes the connection after this many events of a streamed answer, without the terminating
    /// chunk. `nil` is off.
    public var dropAfterChunks: Int?
    /// A delay before `/v1/models` and `/api/v0/models` answer.
    public var modelsDelay: Duration
    /// Model listings answer this status with an error body. `nil` is off.
    public var modelsStatus: Int?
    /// Model listings answer 200 with a body that is not a model list (truncated JSON).
    public var modelsMalformed: Bool
    /// `/api/v0/models` answers like an unknown path, as LM Studio before 0.3.6 does.
    public var apiV0Missing: Bool
    /// Inference answers LM Studio's 400 "No models loaded" whatever the request names.
    public var noModelsLoaded: Bool
    /// Inference requests are read and the connection is closed without any answer, as a host that
    /// crashes on a request does.
    public var resetInference: Bool

    /// Creates a set of faults; everything is off by default.
    public init(
        refuseConnections: Bool = false,
        hang: Scope? = nil,
        errorStatus: Int? = nil,
        errorScope: Scope = .inference,
        dropAfterChunks: Int? = nil,
        modelsDelay: Duration = .zero,
        modelsStatus: Int? = nil,
        modelsMalformed: Bool = false,
        apiV0Missing: Bool = false,
        noModelsLoaded: Bool = false,
        resetInference: Bool = false
    ) {
        self.refuseConnections = refuseConnections
        self.hang = hang
        self.errorStatus = errorStatus
        self.errorScope = errorScope
        self.dropAfterChunks = dropAfterChunks
        self.modelsDelay = modelsDelay
        self.modelsStatus = modelsStatus
        self.modelsMalformed = modelsMalformed
        self.apiV0Missing = apiV0Missing
        self.noModelsLoaded = noModelsLoaded
        self.resetInference = resetInference
    }

    /// No fault at all.
    public static let none = SimulatorFaults()
}

extension SimulatorFaults.Scope {
    /// Whether a request of this kind falls in the scope.
    func covers(isInference: Bool) -> Bool {
        self == .all || isInference
    }
}
