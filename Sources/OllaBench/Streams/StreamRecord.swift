/// What one streamed chat did, in nanoseconds of the monotonic clock.
struct StreamRecord: Sendable {
    /// Why a stream did not complete, as the summary counts it.
    enum Failure: Sendable, Hashable, CustomStringConvertible {
        case connect(String)
        case status(UInt)
        case closedEarly
        case noDone
        case timedOut
        case error(String)

        var description: String {
            switch self {
            case .connect(let reason): return "connect failed (\(reason))"
            case .status(let code): return "status \(code)"
            case .closedEarly: return "connection closed before the end of the answer"
            case .noDone: return "answer ended without data: [DONE]"
            case .timedOut: return "timed out"
            case .error(let reason): return "error (\(reason))"
            }
        }
    }

    /// When the request was written.
    var sentAt: UInt64 = 0
    /// Time from the request to the first `data:` event.
    var timeToFirstEvent: UInt64?
    /// Time between each two consecutive `data:` events (0 for events that arrived in the same read).
    var gaps: [UInt64] = []
    var dataEvents = 0
    var sawDone = false
    var failure: Failure?
    /// The answer's `X-Olla-Sticky-Session` (`hit`, `miss`, `repin`, `disabled`), when it had one.
    var stickySession: String?
    /// The answer's `X-Olla-Endpoint`: the host olla chose, when it said.
    var endpoint: String?

    var completed: Bool { failure == nil && sawDone }
}
