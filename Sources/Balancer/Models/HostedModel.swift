/// Whether a host has a model in memory, as LM Studio's `/api/v0/models` reports it.
public enum ModelState: String, Sendable, Equatable, Codable {
    case loaded
    case notLoaded = "not-loaded"
    /// The host did not say (a plain `/v1/models` listing).
    case unknown
}

/// One model as one host lists it, with whatever the host told about it.
public struct HostedModel: Sendable, Equatable {
    public var id: String
    public var state: ModelState
    /// `llm`, `vlm`, `embeddings`, or nil when the host did not say.
    public var type: String?
    public var maxContextLength: Int?
    public var publisher: String?
    public var arch: String?
    public var compatibilityType: String?
    public var quantization: String?
    public var ownedBy: String?
    /// The `root` field of the reference document's `/v1/models` shape, a short name for the model.
    public var root: String?
    /// LM Studio 0.4's `display_name`.
    public var displayName: String?
    /// LM Studio 0.4's `params_string` (`"4B"`) and `size_bytes`.
    public var paramsString: String?
    public var sizeBytes: Int?
    /// LM Studio 0.4's `capabilities` that are flags (`vision`, `trained_for_tool_use`), by name.
    public var capabilities: [String: Bool]?
    /// Requests the host serves at once for this model (LM Studio 0.4: the sum of its loaded instances'
    /// `parallel`); nil when the host does not say (LM Studio 0.3, OpenAI-compatible servers).
    public var slots: Int?
    /// The loaded instances an LM Studio 0.4 host reported (`loaded_instances`), nil for older hosts.
    public var loadedInstances: [LoadedInstance]?

    public init(
        id: String,
        state: ModelState = .unknown,
        type: String? = nil,
        maxContextLength: Int? = nil,
        publisher: String? = nil,
        arch: String? = nil,
        compatibilityType: String? = nil,
        quantization: String? = nil,
        ownedBy: String? = nil,
        root: String? = nil,
        displayName: String? = nil,
        paramsString: String? = nil,
        sizeBytes: Int? = nil,
        capabilities: [String: Bool]? = nil,
        slots: Int? = nil,
        loadedInstances: [LoadedInstance]? = nil
    ) {
        self.id = id
        self.state = state
        self.type = type
        self.maxContextLength = maxContextLength
        self.publisher = publisher
        self.arch = arch
        self.compatibilityType = compatibilityType
        self.quantization = quantization
        self.ownedBy = ownedBy
        self.root = root
        self.displayName = displayName
        self.paramsString = paramsString
        self.sizeBytes = sizeBytes
        self.capabilities = capabilities
        self.slots = slots
        self.loadedInstances = loadedInstances
    }
}

/// One loaded instance of a model on an LM Studio 0.4 host (`loaded_instances[]` of `/api/v1/models`).
public struct LoadedInstance: Sendable, Equatable {
    /// The instance id: the model key, or `key:2`, `key:3` for duplicates.
    public var id: String
    public var contextLength: Int?
    /// Requests this instance serves at once, as counted for the model's slots (1 when the host gave none).
    public var parallel: Int

    public init(id: String, contextLength: Int? = nil, parallel: Int = 1) {
        self.id = id
        self.contextLength = contextLength
        self.parallel = parallel
    }
}
