import Atomics

/// The health of an endpoint as olla sees it (DESIGN.md 6.3).
public enum EndpointStatus: UInt8, Sendable, Equatable, CaseIterable, AtomicValue, CustomStringConvertible {
    /// Before the first probe answered: not routed.
    case unknown = 0
    /// The last probe succeeded: routed.
    case healthy = 1
    /// The host answered, but with an HTTP error or a body that is not a model list.
    case unhealthy = 2
    /// The host could not be reached: connection refused, reset or timed out.
    case offline = 3

    public var description: String {
        switch self {
        case .unknown: return "unknown"
        case .healthy: return "healthy"
        case .unhealthy: return "unhealthy"
        case .offline: return "offline"
        }
    }

    /// Whether requests may be sent to an endpoint in this state.
    public var isRoutable: Bool { self == .healthy }
}
