import Balancer
import NIOCore
import NIOHTTP1

/// Who sent a request, as the server saw the connection.
public struct ClientAddress: Sendable {
    /// The peer's IP address as text, nil for a Unix socket.
    public let ip: String?
    public let isLoopback: Bool

    public init(ip: String?, isLoopback: Bool) {
        self.ip = ip
        self.isLoopback = isLoopback
    }

    init(_ address: SocketAddress?) {
        switch address {
        case .v4(let v4)?:
            self.ip = address?.ipAddress
            // 127.0.0.0/8
            self.isLoopback = (UInt32(bigEndian: v4.address.sin_addr.s_addr) >> 24) == 127
        case .v6?:
            let ip = address?.ipAddress
            self.ip = ip
            self.isLoopback = ip == "::1" || (ip?.hasPrefix("::ffff:127.") ?? false)
        default:
            self.ip = nil
            self.isLoopback = address == nil || address?.protocol == .unix
        }
    }
}

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

/// Answers a request locally; runs on the request's event loop, so it must be quick.
public typealias LocalRoute = @Sendable (LocalRequest) -> LocalResponse

/// What to do with a request, decided from its head alone.
public enum RouteDecision: Sendable {
    case forward(ForwardTarget)
    case respond(LocalRoute)
}

/// Decides, from a request head, whether it is proxied or answered locally. App's router implements it.
public protocol RequestRouter: Sendable {
    func route(_ head: HTTPRequestHead, client: ClientAddress, snapshot: RoutingSnapshot) -> RouteDecision
}
