import Logging
import Proxy

/// Writes one log line per request at `info` (DESIGN.md 6.6): id, method, path, model, endpoint, status,
/// duration, bytes, failovers; and one line per failover at `warning`.
struct RequestLog: RequestObserver {
    let logger: Logger
    /// When set, request lines are written here in ``LineLogHandler``'s format without going through
    /// swift-log's metadata dictionary: this runs once per request. Nil where olla is embedded (tests), so
    /// that the logger given decides.
    var direct: DirectOutput?

    /// A sink and format for request lines, and whether `info` is enabled at all.
    struct DirectOutput: Sendable {
        var sink: LogSink
        var format: LineLogHandler.Format
        var enabled: Bool
    }

    func requestFinished(_ record: RequestRecord) {
        if let direct {
            if direct.enabled { direct.sink.write(Self.line(record, format: direct.format)) }
            return
        }
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

    /// The line ``LineLogHandler`` would write for the record (keys in the same sorted order), appended
    /// field by field into one string: this runs once per request.
    static func line(_ record: RequestRecord, format: LineLogHandler.Format) -> String {
        var line = ""
        line.reserveCapacity(240)
        let json = format == .json
        func field(_ key: StaticString, _ value: String) {
            if json {
                line += ",\""
                line += key.description
                line += "\":"
                line += LineLogHandler.jsonString(value)
            } else {
                line += " "
                line += key.description
                line += "="
                line += LineLogHandler.textValue(value)
            }
        }
        if json {
            line += "{\"time\":\""
            line += LineLogHandler.timestamp()
            line += "\",\"level\":\"info\",\"msg\":\"request\""
        } else {
            line += LineLogHandler.timestamp()
            line += " info request"
        }
        field("bytes_in", String(record.bytesIn))
        field("bytes_out", String(record.bytesOut))
        field("duration_ms", milliseconds(record.durationNanoseconds))
        if let endpoint = record.endpoint { field("endpoint", endpoint) }
        if record.failovers > 0 { field("failovers", String(record.failovers)) }
        field("id", record.requestID)
        field("method", record.method)
        if let model = record.model { field("model", model) }
        if record.outcome != .completed { field("outcome", record.outcome.rawValue) }
        field("path", record.path)
        field("status", String(record.status))
        line += json ? "}\n" : "\n"
        return line
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
