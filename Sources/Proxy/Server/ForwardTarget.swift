/// Where a proxied request goes on the host.
public struct ForwardTarget: Sendable {
    /// The path on the host, prefix stripped, query kept (`/v1/chat/completions?x=1`).
    public var upstreamPath: String
    /// The route needs a JSON object body with a `model` (chat, completions, embeddings): 400 otherwise.
    public var requiresJSONBody: Bool
    /// The host keeps the conversation (`/v1/responses`, `/api/v1/chat`): olla learns the response ids of its
    /// answers and routes `previous_response_id` to it (DESIGN.md 6.9).
    public var keepsConversations: Bool

    public init(upstreamPath: String, requiresJSONBody: Bool, keepsConversations: Bool = false) {
        self.upstreamPath = upstreamPath
        self.requiresJSONBody = requiresJSONBody
        self.keepsConversations = keepsConversations
    }
}
