import NIOCore

/// The bodies a simulated host answers with, written straight into byte buffers in the shapes of
/// LM Studio's OpenAI-compatible API (no JSON encoder on the way).
enum AnswerBody {
    /// What every generated answer carries.
    struct Envelope {
        /// `chatcmpl-...` or `cmpl-...`.
        let id: String
        let created: Int
        /// The model id as the request named it.
        let model: String
        /// The host name, JSON-quoted, for `system_fingerprint`.
        let hostNameJSON: String
    }

    /// A `chat.completion` object.
    static func chatCompletion(
        _ envelope: Envelope,
        contentJSON: String,
        promptTokens: Int,
        completionTokens: Int,
        into buffer: inout ByteBuffer
    ) {
        buffer.writeStaticString(#"{"id":"#)
        buffer.writeJSONString(envelope.id)
        buffer.writeStaticString(#","object":"chat.completion","created":"#)
        buffer.writeDecimal(envelope.created)
        buffer.writeStaticString(#","model":"#)
        buffer.writeJSONString(envelope.model)
        buffer.writeStaticString(#","choices":[{"index":0,"message":{"role":"assistant","content":"#)
        buffer.writeString(contentJSON)
        buffer.writeStaticString(#"},"logprobs":null,"finish_reason":"stop"}],"#)
        writeUsage(prompt: promptTokens, completion: completionTokens, into: &buffer)
        buffer.writeStaticString(#","system_fingerprint":"#)
        buffer.writeString(envelope.hostNameJSON)
        buffer.writeStaticString("}")
    }

    /// A `text_completion` object.
    static func textCompletion(
        _ envelope: Envelope,
        textJSON: String,
        promptTokens: Int,
        completionTokens: Int,
        into buffer: inout ByteBuffer
    ) {
        buffer.writeStaticString(#"{"id":"#)
        buffer.writeJSONString(envelope.id)
        buffer.writeStaticString(#","object":"text_completion","created":"#)
        buffer.writeDecimal(envelope.created)
        buffer.writeStaticString(#","model":"#)
        buffer.writeJSONString(envelope.model)
        buffer.writeStaticString(#","choices":[{"index":0,"text":"#)
        buffer.writeString(textJSON)
        buffer.writeStaticString(#","logprobs":null,"finish_reason":"stop"}],"#)
        writeUsage(prompt: promptTokens, completion: completionTokens, into: &buffer)
        buffer.writeStaticString(#","system_fingerprint":"#)
        buffer.writeString(envelope.hostNameJSON)
        buffer.writeStaticString("}")
    }

    /// An embeddings list with one small deterministic vector per input.
    static func embeddings(
        _ envelope: Envelope,
        inputs: [String],
        promptTokens: Int,
        into buffer: inout ByteBuffer
    ) {
        buffer.writeStaticString(#"{"object":"list","data":["#)
        for (index, input) in (inputs.isEmpty ? [""] : inputs).enumerated() {
            if index > 0 { buffer.writeStaticString(",") }
            buffer.writeStaticString(#"{"object":"embedding","embedding":["#)
            for (position, value) in embeddingVector(for: input).enumerated() {
                if position > 0 { buffer.writeStaticString(",") }
                writeMicros(value, into: &buffer)
            }
            buffer.writeStaticString(#"],"index":"#)
            buffer.writeDecimal(index)
            buffer.writeStaticString("}")
        }
        buffer.writeStaticString(#"],"model":"#)
        buffer.writeJSONString(envelope.model)
        buffer.writeStaticString(#","usage":{"prompt_tokens":"#)
        buffer.writeDecimal(promptTokens)
        buffer.writeStaticString(#","total_tokens":"#)
        buffer.writeDecimal(promptTokens)
        buffer.writeStaticString(#"},"system_fingerprint":"#)
        buffer.writeString(envelope.hostNameJSON)
        buffer.writeStaticString("}")
    }

    /// The length of the vectors `embeddings` answers.
    static let embeddingDimensions = 8

    /// The vector for an input, in millionths: the same input always gives the same vector.
    static func embeddingVector(for input: String) -> [Int] {
        // FNV-1a over the input seeds a xorshift generator.
        var state: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in input.utf8 {
            state = (state ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        if state == 0 { state = 1 }
        return (0..<embeddingDimensions).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Int(state % 2_000_001) - 1_000_000
        }
    }

    /// One server-sent event of a streamed chat answer: the opening one carries the role.
    static func chatChunkEvent(
        _ envelope: Envelope,
        withRole: Bool,
        contentJSON: String?,
        into buffer: inout ByteBuffer
    ) {
        buffer.writeStaticString(#"data: {"id":"#)
        buffer.writeJSONString(envelope.id)
        buffer.writeStaticString(#","object":"chat.completion.chunk","created":"#)
        buffer.writeDecimal(envelope.created)
        buffer.writeStaticString(#","model":"#)
        buffer.writeJSONString(envelope.model)
        buffer.writeStaticString(#","system_fingerprint":"#)
        buffer.writeString(envelope.hostNameJSON)
        buffer.writeStaticString(#","choices":[{"index":0,"delta":{"#)
        if withRole {
            buffer.writeStaticString(#""role":"assistant""#)
            if contentJSON != nil { buffer.writeStaticString(",") }
        }
        if let contentJSON {
            buffer.writeStaticString(#""content":"#)
            buffer.writeString(contentJSON)
        }
        if contentJSON == nil && !withRole {
            buffer.writeStaticString(#"},"logprobs":null,"finish_reason":"stop"}]}"#)
        } else {
            buffer.writeStaticString(#"},"logprobs":null,"finish_reason":null}]}"#)
        }
        buffer.writeStaticString("\n\n")
    }

    /// One server-sent event of a streamed text completion; `textJSON` nil is the closing one.
    static func completionChunkEvent(_ envelope: Envelope, textJSON: String?, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(#"data: {"id":"#)
        buffer.writeJSONString(envelope.id)
        buffer.writeStaticString(#","object":"text_completion","created":"#)
        buffer.writeDecimal(envelope.created)
        buffer.writeStaticString(#","model":"#)
        buffer.writeJSONString(envelope.model)
        buffer.writeStaticString(#","system_fingerprint":"#)
        buffer.writeString(envelope.hostNameJSON)
        buffer.writeStaticString(#","choices":[{"index":0,"text":"#)
        if let textJSON {
            buffer.writeString(textJSON)
            buffer.writeStaticString(#","logprobs":null,"finish_reason":null}]}"#)
        } else {
            buffer.writeStaticString(#""","logprobs":null,"finish_reason":"stop"}]}"#)
        }
        buffer.writeStaticString("\n\n")
    }

    /// The event that ends every stream.
    static let doneEvent: StaticString = "data: [DONE]\n\n"

    /// An error in OpenAI's envelope, as LM Studio sends it.
    static func error(message: String, type: String, param: String? = nil, code: String? = nil) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeStaticString(#"{"error":{"message":"#)
        buffer.writeJSONString(message)
        buffer.writeStaticString(#","type":"#)
        buffer.writeJSONString(type)
        buffer.writeStaticString(#","param":"#)
        writeOptional(param, into: &buffer)
        buffer.writeStaticString(#","code":"#)
        writeOptional(code, into: &buffer)
        buffer.writeStaticString("}}")
        return buffer
    }

    /// LM Studio's answer to a chat when no model is loaded (and just-in-time loading cannot help).
    static let noModelsLoaded = error(
        message: "No models loaded. Please load a model in the developer page or use the 'lms load' command.",
        type: "invalid_request_error",
        param: "model"
    )

    /// LM Studio's 200 answer to a path or method it does not serve.
    static func unknownEndpoint(method: String, path: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeStaticString(#"{"error":"#)
        buffer.writeJSONString("Unexpected endpoint or method. (\(method) \(path))")
        buffer.writeStaticString("}")
        return buffer
    }

    /// A model listing cut short: a 200 whose body is not a model list.
    static let truncatedModelList = ByteBuffer(string: #"{"object":"list","data":[{"id":"trunc"#)

    private static func writeUsage(prompt: Int, completion: Int, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(#""usage":{"prompt_tokens":"#)
        buffer.writeDecimal(prompt)
        buffer.writeStaticString(#","completion_tokens":"#)
        buffer.writeDecimal(completion)
        buffer.writeStaticString(#","total_tokens":"#)
        buffer.writeDecimal(prompt + completion)
        buffer.writeStaticString("}")
    }

    private static func writeOptional(_ value: String?, into buffer: inout ByteBuffer) {
        if let value {
            buffer.writeJSONString(value)
        } else {
            buffer.writeStaticString("null")
        }
    }

    /// Writes millionths as a decimal number with six places, e.g. `-0.031250`.
    private static func writeMicros(_ micros: Int, into buffer: inout ByteBuffer) {
        if micros < 0 { buffer.writeStaticString("-") }
        let magnitude = abs(micros)
        buffer.writeDecimal(magnitude / 1_000_000)
        buffer.writeStaticString(".")
        let fraction = String(magnitude % 1_000_000)
        buffer.writeRepeatingByte(UInt8(ascii: "0"), count: 6 - fraction.utf8.count)
        buffer.writeString(fraction)
    }
}
