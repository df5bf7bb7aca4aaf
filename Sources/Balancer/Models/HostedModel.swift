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
        root: String? = nil
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
    }
}
