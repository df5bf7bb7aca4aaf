import Logging
import Proxy

/// Writes one log line per request at `info` (DESIGN.md 6.6): id, method, path, model, endpoint, status,
/// duration, bytes, failovers; and one line per failover at `warning`.
struct RequestLog: RequestObserver {
    let logger: Logger

    func requestFinished(_ record: RequestRecord) {
        guard logger.logLevel <= .info else { return }
        var metadata: Logger.Metadata = [
            "id": .string(record.requestID),
            "method": .string(record.method),
            "path": .string(record.path),
            "status": .stringConvertible(record.status),
            "duration_ms": .string(Self.milliseconds(record.durationNanoseconds)),
            "bytes_in": .stringConvertible(record.bytesIn),
            "bytes_out": .stringConvertible(record.bytesOut),
        ]
        if let model = record.model { metadata["model"] = .string(model) }
        if let endpoint = record.endpoint { metadata["endpoint"] = .string(endpoint) }
        if record.failovers > 0 { metadata["failovers"] = .stringConvertible(record.failovers) }
        if record.outcome != .completed { metadata["outcome"] = .string(record.outcome.rawValue) }
        logger.info("request", metadata: metadata)
    }

    func requestFailedOver(requestID: String, from endpoint: String, reason: String) {
        logger.warning(
            "failover",
            metadata: ["id": .string(requestID), "endpoint": .string(endpoint), "reason": .string(reason)]
        )
    }

    /// `12.345` for 12 345 678 ns, without Foundation's formatter.
    static func milliseconds(_ nanoseconds: Int64) -> String {
        let micros = max(0, nanoseconds / 1000)
        let fraction = String(micros % 1000)
        return "\(micros / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }
}

/// Hands every event to each of several observers (logs and metrics).
struct ObserverFanOut: RequestObserver {
    let observers: [any RequestObserver]

    func requestFinished(_ record: RequestRecord) {
        for observer in observers { observer.requestFinished(record) }
    }

    func requestFailedOver(requestID: String, from endpoint: String, reason: String) {
        for observer in observers { observer.requestFailedOver(requestID: requestID, from: endpoint, reason: reason) }
    }
}
