import Foundation
import NIOCore

/// The fields of a chat, completion or embeddings request body that the simulator acts on.
struct InferenceRequest {
    /// The `model` field, when there is one.
    var model: String?
    /// The `stream` field.
    var stream: Bool
    /// The smaller of `max_tokens` and `n_predict`, when either is a positive integer.
    var maxTokens: Int?
    /// The `input` of an embeddings request, one entry per vector to answer.
    var inputs: [String]
    /// A stand-in for the prompt's token count: a token per four bytes of body.
    var promptTokens: Int
    /// 0.4 stateful routes: the conversation to continue.
    var previousResponseID: String? = nil
    /// 0.4 stateful routes: whether the answer is kept for a later `previous_response_id`.
    var store = true
    /// 0.4: the prompt as bytes (the body's `messages`, else `input`, else `prompt`, serialised), for the prompt
    /// cache and the stored conversation; empty when not needed.
    var prompt: [UInt8] = []

    /// Why a body could not be read, as the message of a 400 answer.
    struct Failure: Error {
        let message: String
    }

    /// Reads a request body; fails on anything that is not a JSON object with sensibly typed fields.
    ///
    /// Chat and completion bodies go through `RequestFieldScanner` first; embeddings (whose `input` is
    /// needed) and anything the scanner declines are read with Foundation.
    static func parse(_ body: ByteBuffer?, needsInput: Bool = false) -> Result<InferenceRequest, Failure> {
        if !needsInput, let body, let fields = RequestFieldScanner.scan(body) {
            var maxTokens: Int?
            if let limit = fields.maxTokens, limit > 0 { maxTokens = limit }
            if let limit = fields.nPredict, limit > 0 { maxTokens = min(limit, maxTokens ?? limit) }
            return .success(
                InferenceRequest(
                    model: fields.model,
                    stream: fields.stream ?? false,
                    maxTokens: maxTokens,
                    inputs: [],
                    promptTokens: max(1, (body.readableBytes + 3) / 4)
                )
            )
        }
        guard let body, body.readableBytes > 0,
            let parsed = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)),
            let object = parsed as? [String: Any]
        else {
            return .failure(Failure(message: "Invalid JSON in request body: expected a JSON object."))
        }
        var request = InferenceRequest(
            model: nil,
            stream: false,
            maxTokens: nil,
            inputs: [],
            promptTokens: max(1, (body.readableBytes + 3) / 4)
        )
        if let failure = readModelAndStream(object, into: &request) { return .failure(failure) }
        for key in ["max_tokens", "n_predict"] {
            if let limit = object[key].flatMap(JSONValue.int), limit > 0 {
                request.maxTokens = min(limit, request.maxTokens ?? .max)
            }
        }
        switch object["input"] {
        case let text as String: request.inputs = [text]
        case let list as [Any]: request.inputs = list.map { ($0 as? String) ?? String(describing: $0) }
        case nil: request.inputs = []
        case let other?: request.inputs = [String(describing: other)]
        }
        return .success(request)
    }
}

extension InferenceRequest {
    /// Reads `model` (a string) and `stream` (a boolean) of every inference route's body, as LM Studio checks them.
    /// - Returns: why the body is refused, or nil.
    static func readModelAndStream(_ object: [String: Any], into request: inout InferenceRequest) -> Failure? {
        if let model = object["model"], !(model is NSNull) {
            guard let model = JSONValue.string(model) else { return Failure(message: "'model' must be a string.") }
            request.model = model
        }
        if let stream = object["stream"], !(stream is NSNull) {
            guard let stream = JSONValue.bool(stream) else { return Failure(message: "'stream' must be a boolean.") }
            request.stream = stream
        }
        return nil
    }
}
