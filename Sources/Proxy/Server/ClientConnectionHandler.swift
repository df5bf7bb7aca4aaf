import Balancer
import NIOCore
import NIOHTTP1

/// The last handler of a client connection's pipeline: reads each request (head and bounded body), asks
/// the router where it goes, answers local routes, and hands proxied requests to ``ForwardedRequest``. Its
/// decisions (limits, timeouts, pipelining, drain, refusals, keep-alive) are made by its ``StateMachine``; this
/// class only performs the actions: it keeps the body, writes answers, and starts forwarded requests.
///
/// Pipeline: `HTTPRequestDecoder` (with `max_header_size`), then this; no response encoder: every answer is
/// written as bytes (``ResponseHeadWriter``, ``ChunkedBody``). It handles
/// pipelining and quiescing itself rather than through `HTTPServerPipelineHandler`, which turns the socket's
/// read interest off and on around every response (two `epoll_ctl` calls per request) even when the client
/// never pipelines. Events consumed: `HTTPServerRequestPart`, writability, `channelInactive`, HTTP parser
/// errors, `ChannelShouldQuiesceEvent`. Events emitted: `ByteBuffer` writes (heads, bodies, chunks).
final class ClientConnectionHandler: ChannelInboundHandler, DeadlineChecking {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = ByteBuffer

    private let services: ProxyServices
    private let pool: UpstreamConnectionPool
    private let sweeper: DeadlineSweeper
    private let snapshots: LoopSnapshot
    private let requestIDs: RequestIDGenerator
    private var client = ClientAddress(ip: nil, isLoopback: false)
    private var context: ChannelHandlerContext?
    private var machine = StateMachine()
    // The request being read, kept in the handler rather than in a per-request object: the routing snapshot
    // of its head (whose configuration holds for the whole request) and its body.
    private var snapshot: RoutingSnapshot?
    private var body: ByteBuffer?
    /// Body bytes of this connection counted in ``ProxyServices/bufferedBodies``, given back when the request ends.
    private var heldBodyBytes = 0
    /// The request being forwarded (the machine is in ``StateMachine/State/forwarding``).
    private var forwarded: ForwardedRequest?
    var sweepIndex = -1

    /// Close once the current answer is written (graceful drain, or an unreadable pipelined request).
    var closesAfterResponse: Bool { machine.closesAfterResponse }

    init(services: ProxyServices, loop: LoopResources) {
        self.services = services
        self.pool = loop.pool
        self.sweeper = loop.sweeper
        self.snapshots = loop.snapshot
        self.requestIDs = loop.requestIDs
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelActive(context: ChannelHandlerContext) {
        client = ClientAddress(context.channel.remoteAddress)
        let server = snapshots.current.configuration.server
        let admitted = services.connections.admit(context.channel, limit: server.maxConnections)
        run(
            machine.connectionOpened(admitted: admitted, idleTimeout: server.idleTimeout.timeAmount, now: .now()),
            context: context
        )
    }

    func channelInactive(context: ChannelHandlerContext) {
        releaseBody()
        services.connections.remove(context.channel)
        sweeper.remove(self)
        run(machine.connectionClosed(), context: context)
        forwarded = nil
        self.context = nil
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        forwarded?.clientWritabilityChanged(isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        run(machine.partReceived(unwrapInboundIn(data)), context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        run(machine.quiesce(), context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        run(machine.errorCaught(error, newRequestID: requestIDs.next(), now: .now()), context: context)
    }

    /// The sweeper's check: idle and read timeouts here, the forwarded request's own after.
    func checkDeadlines(now: NIODeadline) {
        guard let context else { return }
        run(machine.deadlinePassed(now: now), context: context)
    }

    /// Called once the last part of the current response has been written: the next request may start.
    func requestDone(keepAlive: Bool, context: ChannelHandlerContext) {
        releaseBody()
        snapshot = nil
        body = nil
        forwarded = nil
        run(machine.requestDone(keepAlive: keepAlive, now: .now()), context: context)
    }

    // MARK: Running the machine's actions

    private func run(_ action: StateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .process(let part):
            process(part, context: context)
        case .pauseReading:
            try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
        case .resumeReading:
            try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
            context.read()
        case .replayHeldParts:
            while let part = machine.nextHeldPart() {
                process(part, context: context)
            }
            run(machine.replayEnded(now: .now()), context: context)
        case .watchDeadlines:
            sweeper.add(self)
            context.fireChannelActive()
        case .close:
            context.close(promise: nil)
        case .writeContinue:
            let interim = ResponseHeadWriter.interimContinue(version: machine.head?.version ?? .http1_1)
            context.writeAndFlush(wrapOutboundOut(interim), promise: nil)
        case .buffer(let part):
            buffer(part, context: context)
        case .answerEarly(let problem):
            body = nil
            releaseBody()
            writeLocal(problem.response, keepAlive: false, context: context, lingering: true)
        case .answer(let problem, let keepAlive):
            writeLocal(problem.response, keepAlive: keepAlive, context: context)
        case .answerLocally(let route, let keepAlive):
            guard let head = machine.head, let snapshot else { return }
            let request = LocalRequest(
                head: head,
                body: takeBody(),
                client: client,
                requestID: machine.requestID,
                snapshot: snapshot
            )
            writeLocal(route(request), keepAlive: keepAlive, context: context)
        case .forward(let target):
            forward(target, context: context)
        case .checkForwardedDeadlines(let now):
            forwarded?.checkDeadlines(now: now)
        case .abandonForwarded:
            forwarded?.clientClosed()
        }
    }

    // MARK: Reading a request

    private func process(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            let snapshot = snapshots.current
            let server = snapshot.configuration.server
            let action = machine.headReceived(
                head,
                limits: .init(
                    maxBodySize: server.maxBodySize,
                    readTimeout: server.readTimeout.timeAmount,
                    idleTimeout: server.idleTimeout.timeAmount
                ),
                route: services.router.route(head, client: client, snapshot: snapshot),
                newRequestID: requestIDs.next(),
                now: .now()
            )
            self.snapshot = snapshot
            run(action, context: context)
        case .body(let part):
            run(machine.bodyReceived(part), context: context)
        case .end:
            run(machine.endReceived(), context: context)
        }
    }

    /// Keeps a body part once its bytes are counted against `max_buffered_body`.
    private func buffer(_ part: ByteBuffer, context: ChannelHandlerContext) {
        guard let snapshot else { return }
        guard services.bufferedBodies.reserve(part.readableBytes, limit: snapshot.configuration.server.maxBufferedBody)
        else {
            return run(machine.bufferedBodyRefused(), context: context)
        }
        heldBodyBytes += part.readableBytes
        if body == nil {
            body = part
        } else {
            var part = part
            body!.writeBuffer(&part)
        }
    }

    /// The body read so far, given up by the handler (it goes to the answer or the forwarded request).
    private func takeBody() -> ByteBuffer {
        let body = self.body ?? ByteBuffer()
        self.body = nil
        return body
    }

    private func forward(_ target: ForwardTarget, context: ChannelHandlerContext) {
        guard let head = machine.head, let snapshot else { return }
        let body = takeBody()
        var fields = JSONFieldScanner.Fields()
        if target.requiresJSONBody || body.readableBytes > 0 {
            let scanned = body.withUnsafeReadableBytes { JSONFieldScanner.scan($0) }
            switch scanned {
            case .success(let found):
                fields = found
            case .failure(let malformed):
                // Only the inference routes need JSON; anything else under the prefix goes through as is.
                if target.requiresJSONBody {
                    let problem = ProxyError.invalidRequest("The request body is not valid JSON: \(malformed).")
                    return run(machine.bodyRefused(problem), context: context)
                }
            }
        }
        if fields.modelIsNotAString {
            return run(machine.bodyRefused(.invalidRequest("The field 'model' must be a string.")), context: context)
        }
        let request = ForwardedRequest(
            client: self,
            context: context,
            services: services,
            pool: pool,
            snapshot: snapshot,
            head: head,
            body: body,
            target: target,
            fields: fields,
            clientAddress: client,
            requestID: machine.requestID,
            receivedAt: machine.receivedAt
        )
        forwarded = request
        request.start()
    }

    private func releaseBody() {
        services.bufferedBodies.release(heldBodyBytes)
        heldBodyBytes = 0
    }

    // MARK: Answering

    /// Writes olla's own answer, logs it, and ends the request. `lingering`: the answer came before the request
    /// was read to its end; the connection closes without losing it, as the rest of the request is read and
    /// dropped (``LingeringCloseHandler``).
    private func writeLocal(
        _ response: LocalResponse,
        keepAlive: Bool,
        context: ChannelHandlerContext,
        lingering: Bool = false
    ) {
        let head = machine.head
        let requestID = machine.requestID
        var response = response
        response.headers.add(name: "X-Olla-Request-ID", value: requestID)
        let version = head?.version ?? .http1_1
        let written = response.write(to: context, version: version, keepAlive: keepAlive, method: head?.method)
        if lingering {
            // Enough for a client to finish sending a body of the largest allowed size, or 64 MB.
            let maxBytes = max(snapshot?.configuration.server.maxBodySize ?? 0, 64 * 1024 * 1024)
            LingeringCloseHandler.begin(after: written, context: context, maxBytes: maxBytes)
        } else if !keepAlive {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
        services.observer.requestFinished(
            .local(
                requestID: requestID,
                method: head?.method.rawValue ?? "-",
                path: head?.uri ?? "-",
                status: Int(response.status.code),
                durationNanoseconds: (NIODeadline.now() - machine.receivedAt).nanoseconds,
                bytesIn: machine.bodyBytes,
                bytesOut: response.body.readableBytes
            )
        )
        requestDone(keepAlive: keepAlive, context: context)
    }

    /// The client's `X-Request-ID` when it is at most 128 printable ASCII characters (DESIGN.md section 5).
    static func requestID(from headers: HTTPHeaders) -> String? {
        guard let value = headers.first(name: "x-request-id"), !value.isEmpty, value.utf8.count <= 128,
            value.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E })
        else { return nil }
        return value
    }
}
