import NIOCore
import NIOHTTP1
import NIOPosix

/// Opens many streamed chats against one target, spread over a ramp, and collects what each one did.
struct StreamLoad {
    /// Where and what to send.
    struct Target: Sendable {
        var host: String
        var port: Int
        var path: String
        var body: String
    }

    var target: Target
    var streams: Int
    /// The streams start evenly spread over this time, as clients of a busy proxy would arrive.
    var ramp: TimeAmount
    /// How long a stream may last after its start before it counts as timed out.
    var timeout: TimeAmount
    /// Events per answer the load expects, to size buffers (not checked).
    var expectedEvents: Int

    /// Runs the load to its end and returns one record per stream, in start order.
    func run(on group: any EventLoopGroup) throws -> [StreamRecord] {
        let head = Self.requestHead(host: target.host, port: target.port, path: target.path, body: target.body)
        let body = ByteBuffer(string: target.body)

        let start = NIODeadline.now() + .milliseconds(20)
        var results: [EventLoopFuture<StreamRecord>] = []
        results.reserveCapacity(streams)
        for index in 0..<streams {
            let loop = group.next()
            let startAt = start + .nanoseconds(ramp.nanoseconds * Int64(index) / Int64(max(streams, 1)))
            let result = loop.makePromise(of: StreamRecord.self)
            let target = self.target
            let deadline = startAt + timeout
            let expectedEvents = self.expectedEvents
            loop.scheduleTask(deadline: startAt) {
                result.completeWith(
                    Self.record(
                        host: target.host,
                        port: target.port,
                        head: head,
                        body: body,
                        deadline: deadline,
                        expectedEvents: expectedEvents,
                        on: loop
                    )
                )
            }
            results.append(result.futureResult)
        }
        return try EventLoopFuture.whenAllSucceed(results, on: group.next()).wait()
    }

    /// The head of a streamed JSON POST of `body` to `path`.
    static func requestHead(host: String, port: Int, path: String, body: String) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(host):\(port)")
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Accept", value: "text/event-stream")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        return HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: headers)
    }

    /// Sends one streamed request on a new connection now and records its answer. The future always succeeds: a
    /// failure is in the record.
    static func record(
        host: String,
        port: Int,
        head: HTTPRequestHead,
        body: ByteBuffer,
        deadline: NIODeadline,
        expectedEvents: Int,
        on loop: any EventLoop
    ) -> EventLoopFuture<StreamRecord> {
        let result = loop.makePromise(of: StreamRecord.self)
        let connect = ClientBootstrap(group: loop)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(
                        StreamRecorder(
                            head: head,
                            body: body,
                            deadline: deadline,
                            expectedEvents: expectedEvents,
                            promise: result
                        )
                    )
                }
            }
            .connect(host: host, port: port)
        connect.whenFailure { error in
            // A recorder that was added completes the promise itself when its channel goes; the first
            // completion wins.
            var record = StreamRecord()
            record.failure = .connect("\(error)")
            result.succeed(record)
        }
        return result.futureResult
    }
}
