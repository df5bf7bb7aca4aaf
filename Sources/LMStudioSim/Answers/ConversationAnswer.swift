import NIOCore

/// What an answer of a 0.4 route (`/api/v1/chat`, `/v1/responses`, `/v1/messages`) carries, and its bodies:
/// the plain answer and the server-sent events of a streamed one, written straight into byte buffers.
///
/// A stream is numbered like the OpenAI ones (see `SimulatorHTTPHandler`): event 0 opens the answer and carries
/// the greeting, events 1...tokens carry a token each, event tokens + 1 closes it.
struct ConversationAnswer {
    let kind: Route.InferenceKind
    let model: String
    let created: Int
    /// The instance that answers (`key`, `key:2`...), known once a slot is granted.
    var instanceID: String
    /// `resp_...`: always on `/v1/responses`, on `/api/v1/chat` only when the answer is stored.
    let responseID: String?
    let previousResponseID: String?
    /// `msg_...`: the Responses output item's id, or the Anthropic message's.
    let messageID: String
    let store: Bool
    /// The first delta's text (greeting, with the turn on stateful routes), as a JSON string literal.
    let greetingJSON: String
    /// The whole text, as a JSON string literal.
    let textJSON: String
    let promptTokens: Int
    let completionTokens: Int
    /// Whether the answer stopped at the request's token limit (Anthropic's `max_tokens` stop reason).
    let stoppedAtLimit: Bool
    var timeToFirstTokenSeconds: Double
    let tokensPerSecond: Double
    /// The prompt tokens the slot had cached (the Responses usage's `input_tokens_details.cached_tokens`), known
    /// once a slot is granted.
    var cachedTokens = 0
    /// The prompt tokens the slot processed and cached (`input_tokens_details.cache_write_tokens`), 0 with the
    /// prompt cache off.
    var cacheWriteTokens = 0

    // MARK: Plain answers

    /// The plain answer of the route.
    func write(into buffer: inout ByteBuffer) {
        switch kind {
        case .apiV1Chat: writeChatResult(into: &buffer)
        case .messages: writeAnthropicMessage(into: &buffer)
        default: writeResponse(completed: true, into: &buffer)
        }
    }

    /// `/api/v1/chat`: `{model_instance_id, output, stats, response_id}`.
    private func writeChatResult(into buffer: inout ByteBuffer) {
        buffer.writeStaticString(#"{"model_instance_id":"#)
        buffer.writeJSONString(instanceID)
        buffer.writeStaticString(#","output":[{"type":"message","content":"#)
        buffer.writeString(textJSON)
        buffer.writeStaticString(#"}],"stats":{"input_tokens":"#)
        buffer.writeDecimal(promptTokens)
        buffer.writeStaticString(#","total_output_tokens":"#)
        buffer.writeDecimal(completionTokens)
        buffer.writeStaticString(#","tokens_per_second":"#)
        buffer.writeString(String(tokensPerSecond))
        buffer.writeStaticString(#","time_to_first_token_seconds":"#)
        buffer.writeString(String(timeToFirstTokenSeconds))
        buffer.writeStaticString("}")
        if let responseID {
            buffer.writeStaticString(#","response_id":"#)
            buffer.writeJSONString(responseID)
        }
        buffer.writeStaticString("}")
    }

    /// `/v1/responses`: an OpenAI `response` object, complete or as `response.created` shows it.
    private func writeResponse(completed: Bool, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(#"{"id":"#)
        buffer.writeJSONString(responseID ?? "")
        buffer.writeStaticString(#","object":"response","created_at":"#)
        buffer.writeDecimal(created)
        buffer.writeStaticString(completed ? #","status":"completed""# : #","status":"in_progress""#)
        buffer.writeStaticString(#","error":null,"incomplete_details":null,"instructions":null,"model":"#)
        buffer.writeJSONString(model)
        buffer.writeStaticString(#","output":["#)
        if completed { writeOutputItem(completed: true, into: &buffer) }
        buffer.writeStaticString(#"],"parallel_tool_calls":true,"previous_response_id":"#)
        if let previousResponseID {
            buffer.writeJSONString(previousResponseID)
        } else {
            buffer.writeStaticString("null")
        }
        buffer.writeStaticString(store ? #","store":true"# : #","store":false"#)
        buffer.writeStaticString(#","text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"usage":"#)
        if completed {
            buffer.writeStaticString(#"{"input_tokens":"#)
            buffer.writeDecimal(promptTokens)
            buffer.writeStaticString(#","output_tokens":"#)
            buffer.writeDecimal(completionTokens)
            buffer.writeStaticString(#","total_tokens":"#)
            buffer.writeDecimal(promptTokens + completionTokens)
            // The official SDK's `ResponseUsage` requires both details objects and these fields in them.
            buffer.writeStaticString(#","input_tokens_details":{"cached_tokens":"#)
            buffer.writeDecimal(cachedTokens)
            buffer.writeStaticString(#","cache_write_tokens":"#)
            buffer.writeDecimal(cacheWriteTokens)
            buffer.writeStaticString(#"},"output_tokens_details":{"reasoning_tokens":0}}"#)
        } else {
            buffer.writeStaticString("null")
        }
        buffer.writeStaticString("}")
    }

    private func writeOutputItem(completed: Bool, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(#"{"id":"#)
        buffer.writeJSONString(messageID)
        buffer.writeStaticString(#","type":"message","status":"#)
        buffer.writeStaticString(completed ? #""completed""# : #""in_progress""#)
        buffer.writeStaticString(#","role":"assistant","content":["#)
        if completed { writeOutputText(textJSON, into: &buffer) }
        buffer.writeStaticString("]}")
    }

    private func writeOutputText(_ textJSON: String, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(#"{"type":"output_text","text":"#)
        buffer.writeString(textJSON)
        buffer.writeStaticString(#","annotations":[]}"#)
    }

    /// `/v1/messages`: an Anthropic `message`.
    private func writeAnthropicMessage(into buffer: inout ByteBuffer) {
        writeAnthropicHead(content: true, into: &buffer)
        buffer.writeStaticString(#","stop_reason":"#)
        buffer.writeStaticString(stoppedAtLimit ? #""max_tokens""# : #""end_turn""#)
        buffer.writeStaticString(#","stop_sequence":null,"usage":{"input_tokens":"#)
        buffer.writeDecimal(promptTokens)
        buffer.writeStaticString(#","output_tokens":"#)
        buffer.writeDecimal(completionTokens)
        buffer.writeStaticString("}}")
    }

    private func writeAnthropicHead(content: Bool, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(#"{"id":"#)
        buffer.writeJSONString(messageID)
        buffer.writeStaticString(#","type":"message","role":"assistant","model":"#)
        buffer.writeJSONString(model)
        buffer.writeStaticString(#","content":["#)
        if content {
            buffer.writeStaticString(#"{"type":"text","text":"#)
            buffer.writeString(textJSON)
            buffer.writeStaticString("}")
        }
        buffer.writeStaticString("]")
    }

    // MARK: Streamed answers

    /// Event `event` of the stream (0 opens, 1...completionTokens are tokens, completionTokens + 1 closes).
    func writeEvent(_ event: Int, into buffer: inout ByteBuffer) {
        let deltaJSON: String? =
            switch event {
            case 0: greetingJSON
            case 1...completionTokens: SimulatorSettings.tokenTextJSON(event)
            default: nil
            }
        switch kind {
        case .apiV1Chat: writeChatEvent(event, deltaJSON: deltaJSON, into: &buffer)
        case .messages: writeAnthropicEvent(event, deltaJSON: deltaJSON, into: &buffer)
        default: writeResponseEvent(event, deltaJSON: deltaJSON, into: &buffer)
        }
    }

    private func writeChatEvent(_ event: Int, deltaJSON: String?, into buffer: inout ByteBuffer) {
        if event == 0 {
            Self.open("chat.start", into: &buffer)
            buffer.writeStaticString(#","model_instance_id":"#)
            buffer.writeJSONString(instanceID)
            Self.close(into: &buffer)
            Self.open("prompt_processing.start", into: &buffer)
            Self.close(into: &buffer)
            Self.open("prompt_processing.progress", into: &buffer)
            buffer.writeStaticString(#","progress":1.0"#)
            Self.close(into: &buffer)
            Self.open("prompt_processing.end", into: &buffer)
            Self.close(into: &buffer)
            Self.open("message.start", into: &buffer)
            Self.close(into: &buffer)
        }
        if let deltaJSON {
            Self.open("message.delta", into: &buffer)
            buffer.writeStaticString(#","content":"#)
            buffer.writeString(deltaJSON)
            Self.close(into: &buffer)
        } else {
            Self.open("message.end", into: &buffer)
            Self.close(into: &buffer)
            Self.open("chat.end", into: &buffer)
            buffer.writeStaticString(#","result":"#)
            writeChatResult(into: &buffer)
            Self.close(into: &buffer)
        }
    }

    private func writeResponseEvent(_ event: Int, deltaJSON: String?, into buffer: inout ByteBuffer) {
        // Sequence numbers: four opening events, a delta per token (the greeting included), four closing.
        if event == 0 {
            Self.open("response.created", into: &buffer)
            writeSequence(0, into: &buffer)
            buffer.writeStaticString(#","response":"#)
            writeResponse(completed: false, into: &buffer)
            Self.close(into: &buffer)
            Self.open("response.in_progress", into: &buffer)
            writeSequence(1, into: &buffer)
            buffer.writeStaticString(#","response":"#)
            writeResponse(completed: false, into: &buffer)
            Self.close(into: &buffer)
            Self.open("response.output_item.added", into: &buffer)
            writeSequence(2, into: &buffer)
            buffer.writeStaticString(#","output_index":0,"item":"#)
            writeOutputItem(completed: false, into: &buffer)
            Self.close(into: &buffer)
            Self.open("response.content_part.added", into: &buffer)
            writeSequence(3, into: &buffer)
            writeItemPosition(into: &buffer)
            buffer.writeStaticString(#","part":"#)
            writeOutputText(#""""#, into: &buffer)
            Self.close(into: &buffer)
        }
        if let deltaJSON {
            Self.open("response.output_text.delta", into: &buffer)
            writeSequence(4 + event, into: &buffer)
            writeItemPosition(into: &buffer)
            buffer.writeStaticString(#","delta":"#)
            buffer.writeString(deltaJSON)
            // The official SDK's text delta and done events require `logprobs`; OpenAI sends an empty list.
            buffer.writeStaticString(#","logprobs":[]"#)
            Self.close(into: &buffer)
            return
        }
        let base = 4 + event
        Self.open("response.output_text.done", into: &buffer)
        writeSequence(base, into: &buffer)
        writeItemPosition(into: &buffer)
        buffer.writeStaticString(#","text":"#)
        buffer.writeString(textJSON)
        buffer.writeStaticString(#","logprobs":[]"#)
        Self.close(into: &buffer)
        Self.open("response.content_part.done", into: &buffer)
        writeSequence(base + 1, into: &buffer)
        writeItemPosition(into: &buffer)
        buffer.writeStaticString(#","part":"#)
        writeOutputText(textJSON, into: &buffer)
        Self.close(into: &buffer)
        Self.open("response.output_item.done", into: &buffer)
        writeSequence(base + 2, into: &buffer)
        buffer.writeStaticString(#","output_index":0,"item":"#)
        writeOutputItem(completed: true, into: &buffer)
        Self.close(into: &buffer)
        Self.open("response.completed", into: &buffer)
        writeSequence(base + 3, into: &buffer)
        buffer.writeStaticString(#","response":"#)
        writeResponse(completed: true, into: &buffer)
        Self.close(into: &buffer)
    }

    private func writeSequence(_ number: Int, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(#","sequence_number":"#)
        buffer.writeDecimal(number)
    }

    private func writeItemPosition(into buffer: inout ByteBuffer) {
        buffer.writeStaticString(#","item_id":"#)
        buffer.writeJSONString(messageID)
        buffer.writeStaticString(#","output_index":0,"content_index":0"#)
    }

    private func writeAnthropicEvent(_ event: Int, deltaJSON: String?, into buffer: inout ByteBuffer) {
        if event == 0 {
            Self.open("message_start", into: &buffer)
            buffer.writeStaticString(#","message":"#)
            writeAnthropicHead(content: false, into: &buffer)
            buffer.writeStaticString(#","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":"#)
            buffer.writeDecimal(promptTokens)
            buffer.writeStaticString(#","output_tokens":1}}"#)
            Self.close(into: &buffer)
            Self.open("content_block_start", into: &buffer)
            buffer.writeStaticString(#","index":0,"content_block":{"type":"text","text":""}"#)
            Self.close(into: &buffer)
            Self.open("ping", into: &buffer)
            Self.close(into: &buffer)
        }
        if let deltaJSON {
            Self.open("content_block_delta", into: &buffer)
            buffer.writeStaticString(#","index":0,"delta":{"type":"text_delta","text":"#)
            buffer.writeString(deltaJSON)
            buffer.writeStaticString("}")
            Self.close(into: &buffer)
            return
        }
        Self.open("content_block_stop", into: &buffer)
        buffer.writeStaticString(#","index":0"#)
        Self.close(into: &buffer)
        Self.open("message_delta", into: &buffer)
        buffer.writeStaticString(#","delta":{"stop_reason":"#)
        buffer.writeStaticString(stoppedAtLimit ? #""max_tokens""# : #""end_turn""#)
        buffer.writeStaticString(#","stop_sequence":null},"usage":{"output_tokens":"#)
        buffer.writeDecimal(completionTokens)
        buffer.writeStaticString("}")
        Self.close(into: &buffer)
        Self.open("message_stop", into: &buffer)
        Self.close(into: &buffer)
    }

    /// Writes `event: <name>` and opens the data object with its `type`; `close` ends both.
    private static func open(_ name: StaticString, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("event: ")
        buffer.writeStaticString(name)
        buffer.writeStaticString("\ndata: {\"type\":\"")
        buffer.writeStaticString(name)
        buffer.writeStaticString("\"")
    }

    private static func close(into buffer: inout ByteBuffer) {
        buffer.writeStaticString("}\n\n")
    }
}
