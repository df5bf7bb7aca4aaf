import NIOCore

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
