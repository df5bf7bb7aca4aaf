import Balancer

/// How one request went, handed to the ``RequestObserver`` once it is over (logs, metrics).
public struct RequestRecord: Sendable {
    /// How the exchange ended.
    public enum Outcome: String, Sendable {
        /// The whole answer reached the client (whatever its status).
        case completed
        /// The client went away before the answer ended.
        case clientClosed = "client_closed"
        /// The host failed after bytes had reached the client: the answer was cut.
        case upstreamFailedMidStream = "upstream_failed_mid_stream"
    }

    public var requestID: String
    public var method: String
    public var path: String
    /// The id the host received (or the requested name when no host was chosen).
    public var model: String?
    public var endpoint: String?
    public var status: Int
    public var outcome: Outcome
    public var durationNanoseconds: Int64
    /// From the request's arrival to the host's response head.
    public var timeToHeadNanoseconds: Int64?
    /// Time spent in olla itself before the request left for the host: routing, body handling, header
    /// building; neither waiting in the queue nor connecting to the host.
    public var overheadNanoseconds: Int64?
    public var queueNanoseconds: Int64
    public var bytesIn: Int
    public var bytesOut: Int
    public var failovers: Int
    /// Whether olla answered it without a host (listings, status routes, its own errors).
    public var isLocal: Bool
    /// What prompt-cache affinity came to (DESIGN.md 6.8); nil when it is off or olla answered itself.
    public var affinity: StickySessions.Outcome? = nil
}

extension RequestRecord {
    /// The record of an answer olla made without a host: a listing, a status route, or an error found before a
    /// request was forwarded.
    static func local(
        requestID: String,
        method: String,
        path: String,
        status: Int,
        durationNanoseconds: Int64,
        bytesIn: Int,
        bytesOut: Int
    ) -> RequestRecord {
        RequestRecord(
            requestID: requestID,
            method: method,
            path: path,
            model: nil,
            endpoint: nil,
            status: status,
            outcome: .completed,
            durationNanoseconds: durationNanoseconds,
            timeToHeadNanoseconds: nil,
            overheadNanoseconds: nil,
            queueNanoseconds: 0,
            bytesIn: bytesIn,
            bytesOut: bytesOut,
            failovers: 0,
            isLocal: true
        )
    }
}

/// Receives the events of the data path that logs and metrics need.
///
/// - Important: Called on the event loop of the request; implementations must not block.
public protocol RequestObserver: Sendable {
    func requestFinished(_ record: RequestRecord)
    /// A request moved to another host before anything reached its client.
    func requestFailedOver(requestID: String, from endpoint: String, reason: String)
}

/// An observer that does nothing (tests, benchmarks of the bare path).
public struct SilentRequestObserver: RequestObserver {
    public init() {}
    public func requestFinished(_ record: RequestRecord) {}
    public func requestFailedOver(requestID: String, from endpoint: String, reason: String) {}
}
