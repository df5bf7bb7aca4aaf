import NIOCore

/// The text of one simulated conversation: deterministic, distinct from every other conversation from its first
/// bytes on, and sized so that the history grows by a known amount per turn.
///
/// Turn `k`'s request carries the whole history in OpenAI chat `messages`: user 1, assistant 1, ..., user `k`. The
/// assistant messages are made up here (the answers streamed back are not kept): a host's prompt cache only needs
/// the next prompt to start with the previous one, and the words do not matter to it.
struct ConversationScript {
    /// Makes this run's conversations differ from those of other runs against the same hosts, so that no turn 1
    /// finds a prompt cached by an earlier run.
    var label: String
    var index: Int
    /// Bytes of the first user message (a document or a long question).
    var firstMessageBytes: Int
    /// Bytes of each later user message.
    var messageBytes: Int
    /// Bytes of each assistant message put into the history.
    var answerBytes: Int

    /// A few dozen short words, so that the text looks like text and needs no JSON escaping.
    private static let words = [
        "the", "host", "model", "token", "prompt", "cache", "slot", "answer", "question", "about", "which", "when",
        "balancer", "request", "stream", "latency", "first", "next", "turn", "history", "again", "under", "load",
        "queue", "fast", "slow", "warm", "cold", "green", "river", "stone", "paper", "window", "garden", "music",
        "number", "seven", "eleven", "north", "south", "east", "west", "light", "shadow", "summer", "winter",
        "bridge", "valley", "market", "letter", "silver", "copper", "engine", "signal", "harbor", "forest",
    ]

    /// The user message of turn `turn` (1-based). It starts with the conversation's own name, so that the first
    /// bytes of `messages` (what olla's prefix hash reads) differ between conversations.
    func userMessage(turn: Int) -> String {
        let heading =
            turn == 1
            ? "conversation \(label)-\(index): please read this and answer my questions. " : "question \(turn): "
        return heading
            + Self.text(bytes: (turn == 1 ? firstMessageBytes : messageBytes) - heading.utf8.count, seed: seed(turn, 1))
    }

    /// The assistant's message after turn `turn`, as the client puts it into the history.
    func assistantMessage(turn: Int) -> String {
        let heading = "answer \(turn): "
        return heading + Self.text(bytes: answerBytes - heading.utf8.count, seed: seed(turn, 2))
    }

    /// The JSON body of turn `turn`: `model`, `stream: true`, `max_tokens` when given, and the history.
    func body(turn: Int, model: String, maxTokens: Int?) -> String {
        var body = #"{"model":"\#(model)","stream":true,"#
        if let maxTokens { body += #""max_tokens":\#(maxTokens),"# }
        body += #""messages":["#
        for earlier in 1..<max(turn, 1) {
            body += #"{"role":"user","content":"\#(userMessage(turn: earlier))"},"#
            body += #"{"role":"assistant","content":"\#(assistantMessage(turn: earlier))"},"#
        }
        body += #"{"role":"user","content":"\#(userMessage(turn: turn))"}]}"#
        return body
    }

    /// The pause before turn `turn` (the user reading and typing): between half and one and a half times `mean`,
    /// drawn from the conversation's own sequence, so that the conversations drift apart as real ones do.
    func pause(beforeTurn turn: Int, mean: TimeAmount) -> TimeAmount {
        guard mean > .zero, turn > 1 else { return .zero }
        var state = seed(turn, 3) | 1
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        let fraction = 0.5 + Double(state % 1_000) / 1_000
        return .nanoseconds(Int64(Double(mean.nanoseconds) * fraction))
    }

    private func seed(_ turn: Int, _ part: Int) -> UInt64 {
        // FNV-1a over the label, mixed with the indices: the same text in every process.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in label.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return hash ^ (UInt64(index) &* 0x9e37_79b9_7f4a_7c15) ^ (UInt64(turn) << 32) ^ UInt64(part)
    }

    /// About `bytes` bytes of words drawn by a xorshift generator from `seed`.
    private static func text(bytes: Int, seed: UInt64) -> String {
        var state = seed | 1
        var text = ""
        text.reserveCapacity(max(bytes, 0) + 16)
        while text.utf8.count < bytes {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            if !text.isEmpty { text += " " }
            text += words[Int(state % UInt64(words.count))]
        }
        return text
    }
}
