import NIOCore

/// How a host says it does not hold a conversation (`previous_response_id`, DESIGN.md 6.9): OpenAI's 400 with
/// the code `previous_response_not_found`, or a message that a response was not found.
enum ConversationRefusal {
    /// Whether a refusal's body (at most ``ForwardedRequest/heldAnswerLimit`` bytes) says so.
    static func saysNotFound(_ body: ByteBuffer) -> Bool {
        let text = String(buffer: body).lowercased()
        if text.contains("previous_response_not_found") { return true }
        return text.contains("not found") && text.contains("response")
    }
}
