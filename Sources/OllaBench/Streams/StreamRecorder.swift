import NIOCore
import NIOHTTP1

/// Sends one streamed chat request on a fresh connection and timestamps every server-sent event of the answer.
///
/// Consumes `HTTPClientResponsePart`s from NIOHTTP1's client codec; emits the request on `channelActive`. When the
/// channel closes (after the answer's end, an error or the deadline) it completes its promise with the
/// ``StreamRecord``, exactly once.
final class StreamRecorder: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let head: HTTPRequestHead
    private let body: ByteBuffer
    private let deadline: NIODeadline
    private let expectedEvents: Int
    private let promise: EventLoopPromise<StreamRecord>
    private var record = StreamRecord()
    private var scanner = EventScanner()
    private var lastEventAt: UInt64 = 0
    private var sawEnd = false
    private var finished = false
    private var timeout: Scheduled<Void>?

    /// - Parameters:
    ///   - deadline: when the stream counts as timed out and its connection is closed.
    ///   - expectedEvents: how many events the answer should have, to size the gap list once.
    init(
        head: HTTPRequestHead,
        body: ByteBuffer,
        deadline: NIODeadline,
        expectedEvents: Int,
        promise: EventLoopPromise<StreamRecord>
    ) {
        self.head = head
        self.body = body
        self.deadline = deadline
        self.expectedEvents = expectedEvents
        self.promise = promise
    }

    func channelActive(context: ChannelHandlerContext) {
        record.gaps.reserveCapacity(expectedEvents)
        let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        timeout = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            if record.failure == nil { record.failure = .timedOut }
            loopBoundContext.value.close(promise: nil)
        }
        record.sentAt = NIODeadline.now().uptimeNanoseconds
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let response):
            if response.status != .ok, record.failure == nil {
                record.failure = .status(response.status.code)
            }
            record.stickySession = response.headers.first(name: "X-Olla-Sticky-Session")
            record.endpoint = response.headers.first(name: "X-Olla-Endpoint")
        case .body(let part):
            // One timestamp per read: events that arrive together are counted as arriving together.
            let now = NIODeadline.now().uptimeNanoseconds
            let found = scanner.scan(part)
            for _ in 0..<found.dataEvents {
                if record.timeToFirstEvent == nil {
                    record.timeToFirstEvent = now - record.sentAt
                } else {
                    record.gaps.append(now - lastEventAt)
                }
                lastEventAt = now
            }
            record.dataEvents += found.dataEvents
            if found.done { record.sawDone = true }
        case .end:
            sawEnd = true
            if !record.sawDone, record.failure == nil { record.failure = .noDone }
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if record.failure == nil { record.failure = .error("\(error)") }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        finish()
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        timeout?.cancel()
        if !sawEnd, record.failure == nil { record.failure = .closedEarly }
        promise.succeed(record)
    }
}
