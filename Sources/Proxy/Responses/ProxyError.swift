import NIOCore
import NIOHTTP1

/// An error olla answers itself, in OpenAI's envelope (DESIGN.md 6.5):
/// `{"error":{"message":"...","type":"...","code":"..."}}`.
public struct ProxyError: Error, Sendable {
    public var status: HTTPResponseStatus
    public var code: String
    public var type: String
    public var message: String
    /// Seconds for `Retry-After`; set on every 503.
    public var retryAfter: Int?

    public init(status: HTTPResponseStatus, code: String, type: String, message: String, retryAfter: Int? = nil) {
        self.status = status
        self.code = code
        self.type = type
        self.message = message
        self.retryAfter = retryAfter
    }

    public static func invalidRequest(_ message: String) -> ProxyError {
        ProxyError(status: .badRequest, code: "invalid_request", type: "invalid_request_error", message: message)
    }

    public static func modelNotFound(_ model: String) -> ProxyError {
        ProxyError(
            status: .notFound,
            code: "model_not_found",
            type: "invalid_request_error",
            message: "The model '\(model)' is not available on any endpoint."
        )
    }

    public static func modelAmbiguous(_ model: String, candidates: [String]) -> ProxyError {
        ProxyError(
            status: .notFound,
            code: "model_ambiguous",
            type: "invalid_request_error",
            message: "The model name '\(model)' matches several models: \(candidates.joined(separator: ", ")). "
                + "Use one of these ids."
        )
    }

    public static func modelUnavailable(_ model: String) -> ProxyError {
        ProxyError(
            status: .serviceUnavailable,
            code: "model_unavailable",
            type: "server_error",
            message: "No healthy endpoint has the model '\(model)' right now.",
            retryAfter: 5
        )
    }

    public static func noHealthyEndpoints(_ detail: String) -> ProxyError {
        ProxyError(
            status: .serviceUnavailable,
            code: "no_healthy_endpoints",
            type: "server_error",
            message: detail,
            retryAfter: 5
        )
    }

    public static func conversationUnavailable(endpoint: String, reason: String) -> ProxyError {
        ProxyError(
            status: .serviceUnavailable,
            code: "conversation_unavailable",
            type: "server_error",
            message: "The conversation of previous_response_id is held by the endpoint \(endpoint), which cannot "
                + "take it now (\(reason)); only that endpoint can continue it.",
            retryAfter: 5
        )
    }

    public static func overloaded(_ detail: String) -> ProxyError {
        ProxyError(
            status: .serviceUnavailable,
            code: "overloaded",
            type: "server_error",
            message: detail,
            retryAfter: 1
        )
    }

    public static func requestTooLarge(_ detail: String, headers: Bool = false) -> ProxyError {
        ProxyError(
            status: headers ? .requestHeaderFieldsTooLarge : .payloadTooLarge,
            code: "request_too_large",
            type: "invalid_request_error",
            message: detail
        )
    }

    public static func notFound(_ path: String) -> ProxyError {
        ProxyError(
            status: .notFound,
            code: "not_found",
            type: "invalid_request_error",
            message: "No route for \(path)."
        )
    }

    public static func methodNotAllowed(_ method: HTTPMethod, _ path: String, allowed: String) -> ProxyError {
        ProxyError(
            status: .methodNotAllowed,
            code: "method_not_allowed",
            type: "invalid_request_error",
            message: "\(method.rawValue) is not allowed on \(path); use \(allowed)."
        )
    }

    public static let unauthorized = ProxyError(
        status: .unauthorized,
        code: "unauthorized",
        type: "invalid_request_error",
        message: "A valid API key is required: send Authorization: Bearer <key>."
    )

    public static let forbidden = ProxyError(
        status: .forbidden,
        code: "forbidden",
        type: "invalid_request_error",
        message: "This route answers loopback clients only (server.internal_loopback_only)."
    )

    /// The JSON body.
    public var body: ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(64 + message.utf8.count)
        buffer.writeStaticString("{\"error\":{\"message\":")
        buffer.writeBytes(JSONFieldScanner.encodeString(message))
        buffer.writeStaticString(",\"type\":")
        buffer.writeBytes(JSONFieldScanner.encodeString(type))
        buffer.writeStaticString(",\"code\":")
        buffer.writeBytes(JSONFieldScanner.encodeString(code))
        buffer.writeStaticString("}}")
        return buffer
    }

    /// The answer as a local response, `Retry-After` included.
    public var response: LocalResponse {
        var headers = HTTPHeaders([("Content-Type", "application/json")])
        if let retryAfter { headers.add(name: "Retry-After", value: String(max(1, retryAfter))) }
        return LocalResponse(status: status, headers: headers, body: body)
    }
}
