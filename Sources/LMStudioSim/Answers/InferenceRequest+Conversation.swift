import Foundation
import NIOCore

extension InferenceRequest {
    /// Reads the body of a 0.4 route: `/api/v1/chat` and `/v1/responses` (`input`, `previous_response_id`,
    /// `store`) or `/v1/messages` (Anthropic's `messages`). These routes are not on the benchmark's path, so
    /// Foundation reads them.
    static func parseConversation(_ body: ByteBuffer?, kind: Route.InferenceKind) -> Result<InferenceRequest, Failure> {
        guard let object = jsonObject(body) else {
            return .failure(Failure(message: "Invalid JSON in request body: expected a JSON object."))
        }
        var request = InferenceRequest(model: nil, stream: false, maxTokens: nil, inputs: [], promptTokens: 1)
        if let failure = readModelAndStream(object, into: &request) { return .failure(failure) }
        if let store = object["store"], !(store is NSNull) {
            guard let store = JSONValue.bool(store) else {
                return .failure(Failure(message: "'store' must be a boolean."))
            }
            request.store = store
        }
        if let previous = object["previous_response_id"], !(previous is NSNull) {
            guard let previous = JSONValue.string(previous), !previous.isEmpty else {
                return .failure(Failure(message: "'previous_response_id' must be a string."))
            }
            request.previousResponseID = previous
        }
        for key in ["max_tokens", "max_output_tokens", "n_predict"] {
            guard let value = object[key], !(value is NSNull) else { continue }
            guard let limit = JSONValue.int(value) else {
                return .failure(Failure(message: "'\(key)' must be an integer."))
            }
            if limit > 0 { request.maxTokens = min(limit, request.maxTokens ?? .max) }
        }
        let inputKey = kind == .messages ? "messages" : "input"
        guard let input = object[inputKey], !(input is NSNull) else {
            return .failure(Failure(message: "'\(inputKey)' is required."))
        }
        if kind == .messages {
            guard input is [Any] else { return .failure(Failure(message: "'messages' must be an array.")) }
        } else {
            guard input is String || input is [Any] else {
                return .failure(Failure(message: "'input' must be a string or an array."))
            }
        }
        // Instructions come first in the prompt, as the model sees them.
        let instructions = ["system", "system_prompt", "instructions"].compactMap { object[$0] }
        request.prompt = instructions.flatMap(serialized) + serialized(input)
        request.promptTokens = max(1, (request.prompt.count + 3) / 4)
        return .success(request)
    }

    /// The prompt bytes of a chat, completion or embeddings body: its `messages`, else `input`, else `prompt`,
    /// serialised; the whole body when it has none of them.
    static func promptBytes(of body: ByteBuffer?) -> [UInt8] {
        guard let object = jsonObject(body) else { return body.map { Array($0.readableBytesView) } ?? [] }
        guard let value = ["messages", "input", "prompt"].lazy.compactMap({ object[$0] }).first else {
            return body.map { Array($0.readableBytesView) } ?? []
        }
        return serialized(value)
    }

    private static func jsonObject(_ body: ByteBuffer?) -> [String: Any]? {
        guard let body, body.readableBytes > 0 else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
    }

    /// A JSON value as canonical bytes (sorted keys), so that the same conversation gives the same prefix.
    private static func serialized(_ value: Any) -> [UInt8] {
        let options: JSONSerialization.WritingOptions = [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes]
        return (try? JSONSerialization.data(withJSONObject: value, options: options)).map { Array($0) } ?? []
    }
}
