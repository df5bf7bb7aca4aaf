import Balancer
import NIOCore
import NIOHTTP1

/// A request answered by olla itself (listings, status, errors), with its whole body.
public struct LocalRequest {
    public let head: HTTPRequestHead
    public let body: ByteBuffer
    public let client: ClientAddress
    public let requestID: String
    public let snapshot: RoutingSnapshot
}

/// The answer to a ``LocalRequest``.
public struct LocalResponse: Sendable {
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: ByteBuffer

    public init(status: HTTPResponseStatus, headers: HTTPHeaders = HTTPHeaders(), body: ByteBuffer) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON answer.
    public static func json(_ status: HTTPResponseStatus = .ok, _ text: String) -> LocalResponse {
        LocalResponse(
            status: status,
            headers: HTTPHeaders([("Content-Type", "application/json")]),
            body: ByteBuffer(string: text)
        )
    }
}
