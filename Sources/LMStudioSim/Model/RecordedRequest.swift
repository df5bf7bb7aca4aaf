/// A request as the simulated host received it, for tests that check what a proxy forwarded.
public struct RecordedRequest: Sendable {
    /// The method, e.g. `POST`.
    public var method: String
    /// The request target exactly as sent, query included.
    public var uri: String
    /// The headers in the order and spelling they were sent.
    public var headers: [(String, String)]
    /// The body bytes.
    public var body: [UInt8]

    /// Creates a recorded request.
    public init(method: String, uri: String, headers: [(String, String)], body: [UInt8]) {
        self.method = method
        self.uri = uri
        self.headers = headers
        self.body = body
    }

    /// The values of a header, compared without case, in the order they were sent.
    public func headerValues(_ name: String) -> [String] {
        headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1)
    }

    /// The body decoded as UTF-8.
    public var bodyText: String {
        String(decoding: body, as: UTF8.self)
    }
}
