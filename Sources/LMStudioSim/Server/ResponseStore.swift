import NIOCore

/// The conversations an LM Studio 0.4 host keeps for `previous_response_id`, bounded: the oldest is
/// forgotten first.
///
/// `/v1/responses` and `/api/v1/chat` are stateful by default, so the next turn only works on the host that
/// answered the previous one; this store is what makes that testable.
struct ResponseStore: Sendable {
    /// What a stored response continues into.
    struct Conversation: Sendable, Equatable {
        let model: String
        /// 1 for a conversation's first answer.
        let turn: Int
        /// Every input and answer so far, as the bytes the next turn's prompt starts with.
        let transcript: [UInt8]
    }

    /// How many responses are kept.
    let limit: Int
    private var byID: [String: Conversation] = [:]
    private var order = CircularBuffer<String>()

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Responses held now.
    var count: Int { byID.count }

    func conversation(id: String) -> Conversation? {
        byID[id]
    }

    mutating func store(id: String, _ conversation: Conversation) {
        if byID.updateValue(conversation, forKey: id) != nil { return }
        order.append(id)
        while order.count > limit, let oldest = order.popFirst() {
            byID.removeValue(forKey: oldest)
        }
    }

    mutating func removeAll() {
        byID.removeAll()
        order.removeAll()
    }
}
