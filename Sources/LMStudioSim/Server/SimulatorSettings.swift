import NIOCore
import NIOHTTP1

/// The parts of the configuration that never change while the host runs, prepared for the handlers:
/// timings as `TimeAmount`, the header sets every response starts from, the expected credential.
struct SimulatorSettings: Sendable {
    let name: String
    let host: String
    let requestedPort: Int
    let requestedControlPort: Int?
    let tokensPerAnswer: Int
    let tokenDelay: TimeAmount
    let timeToFirstToken: TimeAmount
    let limitsConcurrency: Bool
    let expectedAuthorization: String?
    let maxBodySize: Int
    let tls: SimulatorTLS?
    let api: SimulatorAPI
    let responseStoreLimit: Int
    /// `content-type: application/json` and `x-sim-host`.
    let jsonHeaders: HTTPHeaders
    /// The headers of a streamed answer.
    let eventStreamHeaders: HTTPHeaders
    /// The host name as a JSON string literal.
    let nameJSON: String
    /// The greeting that opens every answer, naming the host, as a JSON string literal.
    let greetingJSON: String
    /// The whole answer text for `tokensPerAnswer` tokens, as a JSON string literal.
    private let defaultAnswerTextJSON: String

    init(_ configuration: SimulatorConfiguration) {
        name = configuration.name
        host = configuration.host
        requestedPort = configuration.port
        requestedControlPort = configuration.controlPort
        tokensPerAnswer = max(1, configuration.tokensPerAnswer)
        tokenDelay = TimeAmount(configuration.tokenDelay)
        timeToFirstToken = TimeAmount(configuration.timeToFirstToken)
        limitsConcurrency = configuration.maxConcurrentRequests > 0
        expectedAuthorization = configuration.authToken.map { "Bearer \($0)" }
        maxBodySize = configuration.maxBodySize
        tls = configuration.tls
        api = configuration.api
        responseStoreLimit = configuration.responseStoreLimit
        jsonHeaders = [
            "content-type": "application/json; charset=utf-8",
            "x-sim-host": configuration.name,
        ]
        eventStreamHeaders = [
            "content-type": "text/event-stream",
            "cache-control": "no-cache",
            "x-sim-host": configuration.name,
            "transfer-encoding": "chunked",
        ]
        nameJSON = jsonQuoted(configuration.name)
        greetingJSON = jsonQuoted(Self.greeting(name: configuration.name))
        defaultAnswerTextJSON = jsonQuoted(
            Self.answerText(name: configuration.name, tokens: max(1, configuration.tokensPerAnswer))
        )
    }

    static func greeting(name: String) -> String {
        "Hello from \(name)."
    }

    /// The text of token `index` (1-based) after the greeting, as a JSON string literal.
    static func tokenTextJSON(_ index: Int) -> String {
        "\" token\(index)\""
    }

    /// The whole text of an answer: the greeting, then the tokens.
    static func answerText(name: String, tokens: Int) -> String {
        var text = greeting(name: name)
        for index in 1...max(1, tokens) {
            text += " token\(index)"
        }
        return text
    }

    /// The whole text of an answer with `tokens` tokens, as a JSON string literal.
    func answerTextJSON(tokens: Int) -> String {
        tokens == tokensPerAnswer ? defaultAnswerTextJSON : jsonQuoted(Self.answerText(name: name, tokens: tokens))
    }
}

/// The routes of an LM Studio host that the simulator answers.
enum Route: Equatable {
    case openAIModels
    case lmStudioModels
    /// 0.4: `GET /api/v1/models`.
    case apiV1Models
    /// 0.4: `POST /api/v1/models/load`.
    case loadModel
    /// 0.4: `POST /api/v1/models/unload`.
    case unloadModel
    case inference(InferenceKind)
    case unknown

    /// The POST routes that generate.
    enum InferenceKind: Equatable {
        case chat
        case completion
        case embeddings
        /// 0.4: `POST /api/v1/chat`, LM Studio's own stateful chat.
        case apiV1Chat
        /// 0.4: `POST /v1/responses`, OpenAI's Responses shape.
        case responses
        /// 0.4: `POST /v1/messages`, Anthropic's shape.
        case messages

        /// The routes whose answers can be continued with `previous_response_id`.
        var isStateful: Bool { self == .apiV1Chat || self == .responses }

        /// The 0.4 routes, whose bodies and answers have shapes of their own.
        var isConversation: Bool { self == .apiV1Chat || self == .responses || self == .messages }
    }

    init(method: HTTPMethod, path: String, api: SimulatorAPI) {
        switch (method, path) {
        case (.GET, "/v1/models"): self = .openAIModels
        case (.GET, "/api/v0/models"): self = .lmStudioModels
        case (.POST, "/v1/chat/completions"): self = .inference(.chat)
        case (.POST, "/v1/completions"): self = .inference(.completion)
        case (.POST, "/v1/embeddings"): self = .inference(.embeddings)
        // The 0.4 routes come last, so the 0.3 ones are matched as fast as before.
        case _ where api == .v0_3: self = .unknown
        case (.GET, "/api/v1/models"): self = .apiV1Models
        case (.POST, "/api/v1/chat"): self = .inference(.apiV1Chat)
        case (.POST, "/v1/responses"): self = .inference(.responses)
        case (.POST, "/v1/messages"): self = .inference(.messages)
        case (.POST, "/api/v1/models/load"): self = .loadModel
        case (.POST, "/api/v1/models/unload"): self = .unloadModel
        default: self = .unknown
        }
    }

    var isInference: Bool {
        if case .inference = self { return true }
        return false
    }

    /// The key of `SimulatorStats.requestsByRoute`.
    var statsKey: String {
        switch self {
        case .openAIModels: "GET /v1/models"
        case .lmStudioModels: "GET /api/v0/models"
        case .inference(.chat): "POST /v1/chat/completions"
        case .inference(.completion): "POST /v1/completions"
        case .inference(.embeddings): "POST /v1/embeddings"
        case .apiV1Models: "GET /api/v1/models"
        case .loadModel: "POST /api/v1/models/load"
        case .unloadModel: "POST /api/v1/models/unload"
        case .inference(.apiV1Chat): "POST /api/v1/chat"
        case .inference(.responses): "POST /v1/responses"
        case .inference(.messages): "POST /v1/messages"
        case .unknown: "other"
        }
    }

    /// The path of a request target: without the query, and without a trailing slash, which LM Studio's
    /// router ignores too.
    static func path(of uri: String) -> String {
        var path = uri.utf8.firstIndex(of: UInt8(ascii: "?")).map { String(uri[..<$0]) } ?? uri
        if path.count > 1, path.hasSuffix("/") {
            path.removeLast()
        }
        return path
    }
}
