import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A response as the test client saw it, with the arrival time of each body part.
struct TestResponse: Sendable {
    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var parts: [(at: ContinuousClock.Instant, bytes: ByteBuffer)] = []
    /// True when the response ended properly; false when the connection closed first.
    var complete = false

    var body: String {
        parts.map { String(buffer: $0.bytes) }.joined()
    }

    func json() throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(body.utf8))
        guard let dictionary = object as? [String: Any] else {
            throw TestClientError.notAnObject(body)
        }
        return dictionary
    }

    /// The server-sent events (`data:` payloads) with the time each one was complete.
    var events: [(at: ContinuousClock.Instant, data: String)] {
        var pending = ""
        var events: [(ContinuousClock.Instant, String)] = []
        for part in parts {
            pending += String(buffer: part.bytes)
            while let end = pending.range(of: "\n\n") {
                let event = String(pending[..<end.lowerBound])
                pending = String(pending[end.upperBound...])
                if event.hasPrefix("data: ") {
                    events.append((part.at, String(event.dropFirst(6))))
                }
            }
        }
        return events
    }
}

enum TestClientError: Error {
    case timedOut(String)
    case closedWithoutResponse
    case notAnObject(String)
}

/// One HTTP/1.1 connection: requests are written as given, responses are collected in order as they
/// arrive, so a test can look at heads, single events and arrival times, or wait for a whole answer.
final class TestConnection: Sendable {
    private struct Received {
        var responses: [TestResponse] = []
        var current: TestResponse?
        var taken = 0
        var closed = false
    }

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTPClientResponsePart
        let received: NIOLockedValueBox<Received>

        init(received: NIOLockedValueBox<Received>) {
            self.received = received
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let now = ContinuousClock.now
            received.withLockedValue { received in
                switch unwrapInboundIn(data) {
                case .head(let head):
                    received.current = TestResponse(status: head.status, headers: head.headers)
                case .body(let bytes):
                    received.current?.parts.append((now, bytes))
                case .end:
                    if var response = received.current {
                        response.complete = true
                        received.responses.append(response)
                    }
                    received.current = nil
                }
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            received.withLockedValue { received in
                if let response = received.current {
                    received.responses.append(response)
                    received.current = nil
                }
                received.closed = true
            }
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    let channel: any Channel
    private let received: NIOLockedValueBox<Received>

    private init(channel: any Channel, received: NIOLockedValueBox<Received>) {
        self.channel = channel
        self.received = received
    }

    static func open(port: Int, host: String = "127.0.0.1") async throws -> TestConnection {
        let received = NIOLockedValueBox(Received())
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(2))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(Collector(received: received))
                }
            }
            .connect(host: host, port: port)
            .get()
        return TestConnection(channel: channel, received: received)
    }

    /// Writes a request; a body gets a Content-Length unless the headers say otherwise.
    func send(_ method: HTTPMethod, _ uri: String, headers: [(String, String)] = [], body: String? = nil) {
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: uri)
        head.headers.add(name: "Host", value: "127.0.0.1")
        for (name, value) in headers {
            head.headers.add(name: name, value: value)
        }
        if let body, !head.headers.contains(name: "content-length") {
            head.headers.add(name: "Content-Length", value: String(body.utf8.count))
        }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body {
            channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: body))), promise: nil)
        }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }

    /// The next response, once it has ended or the connection has closed.
    func response(within timeout: Duration = .seconds(5)) async throws -> TestResponse {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let next: TestResponse?? = received.withLockedValue { received in
                if received.taken < received.responses.count {
                    received.taken += 1
                    return .some(received.responses[received.taken - 1])
                }
                return received.closed ? .some(nil) : nil
            }
            if let next {
                guard let next else { throw TestClientError.closedWithoutResponse }
                return next
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw TestClientError.timedOut("no response within \(timeout)")
    }

    /// The response being received now (head seen, not ended), if any.
    var partialResponse: TestResponse? {
        received.withLockedValue { $0.current }
    }

    /// Whether any response head has arrived.
    var hasSeenHead: Bool {
        received.withLockedValue { $0.current != nil || !$0.responses.isEmpty }
    }

    var isClosed: Bool {
        received.withLockedValue { $0.closed }
    }

    func close() async {
        try? await channel.close()
    }
}

/// Sends one request on a new connection and returns the response.
func exchange(
    port: Int,
    _ method: HTTPMethod,
    _ uri: String,
    headers: [(String, String)] = [],
    body: String? = nil,
    within timeout: Duration = .seconds(5)
) async throws -> TestResponse {
    let connection = try await TestConnection.open(port: port)
    connection.send(method, uri, headers: headers, body: body)
    do {
        let response = try await connection.response(within: timeout)
        await connection.close()
        return response
    } catch {
        await connection.close()
        throw error
    }
}

/// Writes raw bytes on a new connection and returns everything read until the server closes it.
func rawExchange(port: Int, _ bytes: [UInt8], within timeout: Duration = .seconds(5)) async throws -> String {
    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let box: NIOLockedValueBox<(bytes: [UInt8], closed: Bool)>
        init(box: NIOLockedValueBox<(bytes: [UInt8], closed: Bool)>) { self.box = box }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            box.withLockedValue { $0.bytes += buffer.readableBytesView }
        }
        func channelInactive(context: ChannelHandlerContext) {
            box.withLockedValue { $0.closed = true }
        }
    }
    let box = NIOLockedValueBox((bytes: [UInt8](), closed: false))
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(Collector(box: box))
            }
        }
        .connect(host: "127.0.0.1", port: port)
        .get()
    try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    let closed = await eventually(within: timeout) { box.withLockedValue { $0.closed } }
    try? await channel.close()
    guard closed else { throw TestClientError.timedOut("server did not close the raw connection") }
    return String(decoding: box.withLockedValue { $0.bytes }, as: UTF8.self)
}

/// Polls `condition` every few milliseconds until it holds or the deadline passes.
func eventually(within timeout: Duration = .seconds(5), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return try await condition()
}

/// Whether a TCP connection to the port is accepted.
func canConnect(port: Int) async -> Bool {
    do {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(1))
            .connect(host: "127.0.0.1", port: port)
            .get()
        try? await channel.close()
        return true
    } catch {
        return false
    }
}

let chatModel = "qwen2.5-7b-instruct"

func chatBody(model: String = chatModel, stream: Bool = false, maxTokens: Int? = nil) -> String {
    var body = #"{"model":"\#(model)","messages":[{"role":"user","content":"Hi"}],"stream":\#(stream)"#
    if let maxTokens { body += #","max_tokens":\#(maxTokens)"# }
    return body + "}"
}
