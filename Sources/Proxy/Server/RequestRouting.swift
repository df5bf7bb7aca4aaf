import Balancer
import NIOHTTP1

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
