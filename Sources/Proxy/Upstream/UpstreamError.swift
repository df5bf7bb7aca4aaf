/// Failures of the upstream side that are not NIO's own errors.
enum UpstreamError: Error, CustomStringConvertible {
    case tlsUnavailable
    case tlsHandshakeTimeout
    case closedDuringTLSHandshake
    case responseHeaderTimeout
    case readTimeout

    var description: String {
        switch self {
        case .tlsUnavailable: return "TLS is not available for https hosts"
        case .tlsHandshakeTimeout: return "TLS handshake not finished within connection_timeout"
        case .closedDuringTLSHandshake: return "the host closed the connection during the TLS handshake"
        case .responseHeaderTimeout: return "no response head within response_header_timeout"
        case .readTimeout: return "no data within read_timeout"
        }
    }
}
