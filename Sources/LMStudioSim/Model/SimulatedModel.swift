/// A model that a simulated LM Studio host lists and answers for.
///
/// The descriptive fields (`publisher`, `arch`, `compatibilityType`, `quantization`) only appear in
/// `/api/v0/models`; they default to values guessed from the id, the way LM Studio derives them from
/// the model file it downloaded.
public struct SimulatedModel: Sendable, Equatable {
    /// What kind of model it is, as LM Studio's `type` field says.
    public enum ModelType: String, Sendable, Equatable, CaseIterable {
        case llm
        case vlm
        case embeddings
    }

    /// Whether the model is in memory, as LM Studio's `state` field says.
    public enum State: String, Sendable, Equatable, CaseIterable {
        case loaded
        case notLoaded = "not-loaded"
    }

    /// The id clients send as `model`.
    public var id: String
    /// The model's kind.
    public var type: ModelType
    /// Whether it is loaded.
    public var state: State
    /// The longest context the model accepts.
    public var maxContextLength: Int
    /// Who published the model file.
    public var publisher: String
    /// The model architecture.
    public var arch: String
    /// The file format (`gguf` or `mlx`).
    public var compatibilityType: String
    /// The quantisation of the weights.
    public var quantization: String
    /// How many requests one instance of the model serves at once on an LM Studio 0.4 host
    /// (`loaded_instances[].config.parallel`); LM Studio's default is 4.
    public var parallel: Int

    /// Creates a model whose descriptive fields are derived from its id.
    ///
    /// - Parameters:
    ///   - id: The id clients send as `model`.
    ///   - type: The model's kind; `llm` by default.
    ///   - state: `loaded` by default.
    ///   - maxContextLength: Defaults to 2048 for embeddings models and 32768 for the others.
    ///   - parallel: Requests served at once per instance on a 0.4 host; 4 by default.
    public init(
        id: String,
        type: ModelType = .llm,
        state: State = .loaded,
        maxContextLength: Int? = nil,
        parallel: Int = 4
    ) {
        let lowered = id.lowercased()
        self.id = id
        self.type = type
        self.state = state
        self.maxContextLength = maxContextLength ?? (type == .embeddings ? 2048 : 32768)
        self.publisher = Self.publisher(forLoweredID: lowered)
        self.arch = Self.arch(forLoweredID: lowered)
        self.compatibilityType = lowered.contains("mlx") ? "mlx" : "gguf"
        self.quantization = Self.quantization(forLoweredID: lowered, isMLX: lowered.contains("mlx"))
        self.parallel = max(1, parallel)
    }

    /// Creates a model with every field given.
    public init(
        id: String,
        type: ModelType,
        state: State,
        maxContextLength: Int,
        publisher: String,
        arch: String,
        compatibilityType: String,
        quantization: String,
        parallel: Int = 4
    ) {
        self.id = id
        self.type = type
        self.state = state
        self.maxContextLength = maxContextLength
        self.publisher = publisher
        self.arch = arch
        self.compatibilityType = compatibilityType
        self.quantization = quantization
        self.parallel = max(1, parallel)
    }

    private static func publisher(forLoweredID id: String) -> String {
        if let slash = id.firstIndex(of: "/") {
            return String(id[..<slash])
        }
        if id.contains("nomic") { return "nomic-ai" }
        return "lmstudio-community"
    }

    // Ordered so that the more specific family names win ("qwen2-vl" before "qwen2").
    private static let architectures: [(needle: String, arch: String)] = [
        ("qwen2-vl", "qwen2_vl"), ("qwen3", "qwen3"), ("qwen2", "qwen2"), ("qwen", "qwen2"),
        ("llama", "llama"), ("mistral", "mistral"), ("mixtral", "mixtral"), ("gemma", "gemma2"),
        ("phi", "phi3"), ("nomic", "nomic-bert"), ("bge", "bert"), ("deepseek", "deepseek2"),
    ]

    private static func arch(forLoweredID id: String) -> String {
        for entry in architectures where id.contains(entry.needle) {
            return entry.arch
        }
        return "llama"
    }

    private static let quantizationTags = [
        "q2_k", "q3_k_s", "q3_k_m", "q3_k_l", "q4_0", "q4_1", "q4_k_s", "q4_k_m", "q5_0", "q5_1", "q5_k_s",
        "q5_k_m", "q6_k", "q8_0", "f16", "bf16", "f32",
    ]

    private static func quantization(forLoweredID id: String, isMLX: Bool) -> String {
        // The longest tag that appears wins, so "q4_k_m" is not reported as "q4_k_s" or "q4_0".
        let found = quantizationTags.filter { id.contains($0) }.max { $0.count < $1.count }
        if let found {
            return found.uppercased()
        }
        for bits in ["3bit", "4bit", "6bit", "8bit"] where id.contains(bits) {
            return bits
        }
        return isMLX ? "4bit" : "Q4_K_M"
    }
}
