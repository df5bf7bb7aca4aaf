import Balancer
import NIOCore
import NIOHTTP1

/// The last handler of a client connection's pipeline: reads each request (head and bounded body), asks
/// the router where it goes, answers local routes, and hands proxied requests to ``ForwardedRequest``.
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
    private var client = ClientAddress(ip: nil, isLoopback: false)
    private var context: ChannelHandlerContext?

    private enum State {
        /// Between requests.
        case idle
        /// Reading a request's body.
        case receiving
        /// A response was sent early (413); the rest of the request is ignored and the connection closes.
        case discarding
        /// A proxied request is in progress.
        case forwarding(ForwardedRequest)
        /// A local answer is being written.
        case answering
        case closed
    }

    private var state = State.idle
    // The request being read; kept in the handler rather than in a per-request object.
    private var head: HTTPRequestHead?
    private var decision: RouteDecision?
    private var snapshot: RoutingSnapshot?
    private var body: ByteBuffer?
    private var bodyBytes = 0
    /// Body bytes of this connection counted in ``ProxyServices/bufferedBodies``, given back when the request ends.
    private var heldBodyBytes = 0
    private var requestID = ""
    private var receivedAt = NIODeadline.uptimeNanoseconds(0)
    /// When an idle keep-alive connection is closed (`server.idle_timeout`).
    private var idleDeadline: NIODeadline?
    /// When a request still being read is cut (`server.read_timeout`).
    private var readDeadline: NIODeadline?
    var sweepIndex = -1
    /// Parts of requests that arrived while an answer was still being written (HTTP pipelining), handled in
    /// order once it is done. Reading stops meanwhile, so this holds at most what the last read brought.
    private var pipelined: [HTTPServerRequestPart] = []
    private var readingPaused = false
    private var replaying = false
    /// Close once the current answer is written (graceful drain, or an unreadable pipelined request).
    private(set) var closesAfterResponse = false

    init(services: ProxyServices, loop: LoopResources) {
        self.services = services
        self.pool = loop.pool
        self.sweeper = loop.sweeper
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelActive(context: ChannelHandlerContext) {
        client = ClientAddress(context.channel.remoteAddress)
        let limit = services.table.snapshot.configuration.server.maxConnections
        guard services.connections.admit(context.channel, limit: limit) else {
            state = .closed
            context.close(promise: nil)
            return
        }
        sweeper.add(self)
        armIdleTimer(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        releaseBody()
        services.connections.remove(context.channel)
        sweeper.remove(self)
        idleDeadline = nil
        readDeadline = nil
        if case .forwarding(let request) = state {
            request.clientClosed()
        }
        state = .closed
        self.context = nil
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if case .forwarding(let request) = state {
            request.clientWritabilityChanged(isWritable: context.channel.isWritable)
        }
        context.fireChannelWritabilityChanged()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if isAnswering || !pipelined.isEmpty {
            // A pipelined request: keep it for later, and read no more until the answers caught up.
            pipelined.append(part)
            pauseReading(context: context)
            return
        }
        handle(part, context: context)
    }

    /// Whether a response is being produced, so a new request must wait its turn.
    private var isAnswering: Bool {
        switch state {
        case .forwarding, .answering: return true
        default: return false
        }
    }

    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            receiveHead(head, context: context)
        case .body(let part):
            receiveBody(part, context: context)
        case .end:
            receiveEnd(context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // Graceful drain: an idle connection closes now, a busy one once its answer is written.
        if case .idle = state, pipelined.isEmpty {
            context.close(promise: nil)
        } else {
            closesAfterResponse = true
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.close(promise: nil)
            return
        }
        if isAnswering || !pipelined.isEmpty {
            // A pipelined request that cannot be parsed: finish the answers before it, then close.
            closesAfterResponse = true
            pipelined.removeAll()
            pauseReading(context: context)
            return
        }
        // A request that cannot be parsed ends the connection, after a JSON answer when nothing was sent yet.
        switch state {
        case .discarding:
            // Answered already (413, 503 for memory): what the client sends after is dropped, whatever it is.
            return
        case .idle, .receiving:
            let problem: ProxyError
            if case .headerOverflow = parserError {
                problem = .requestTooLarge("The request head is larger than max_header_size.", headers: true)
            } else {
                problem = .invalidRequest("Malformed HTTP request: \(parserError).")
            }
            if requestID.isEmpty { requestID = services.requestIDs.next() }
            // A head that could not be parsed never started a request: it is timed from now.
            if case .idle = state { receivedAt = .now() }
            answerEarly(problem, context: context)
        default:
            context.close(promise: nil)
        }
    }

    // MARK: Reading a request

    private func receiveHead(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard case .idle = state else {
            // A new head while the last request's body was still expected: the decoder never does that.
            context.close(promise: nil)
            return
        }
        idleDeadline = nil
        receivedAt = .now()
        let snapshot = services.table.snapshot
        let server = snapshot.configuration.server
        self.snapshot = snapshot
        self.head = head
        self.body = nil
        self.bodyBytes = 0
        self.requestID = Self.requestID(from: head.headers) ?? services.requestIDs.next()
        self.state = .receiving
        readDeadline = receivedAt + server.readTimeout.timeAmount
        if let refusal = HeaderRules.refusal(of: head) {
            answerEarly(.invalidRequest("Malformed HTTP request: \(refusal)."), context: context)
            return
        }
        if let declared = head.headers.first(name: "content-length").flatMap({ Int($0) }), declared > server.maxBodySize
        {
            rejectTooLarge(context: context)
            return
        }
        decision = services.router.route(head, client: client, snapshot: snapshot)
        if head.headers.contains(name: "expect") {
            // curl waits for this before sending a large body.
            if head.headers.first(name: "expect")?.lowercased() == "100-continue" {
                let interim = ResponseHeadWriter.interimContinue(version: head.version)
                context.writeAndFlush(wrapOutboundOut(interim), promise: nil)
            }
        }
    }

    private func receiveBody(_ part: ByteBuffer, context: ChannelHandlerContext) {
        guard case .receiving = state, let snapshot else { return }
        let server = snapshot.configuration.server
        bodyBytes += part.readableBytes
        guard bodyBytes <= server.maxBodySize else {
            rejectTooLarge(context: context)
            return
        }
        guard services.bufferedBodies.reserve(part.readableBytes, limit: server.maxBufferedBody) else {
            releaseBody()
            let problem = ProxyError.overloaded(
                "olla holds as many request bodies as it may (server.request_limits.max_buffered_body); try again."
            )
            answerEarly(problem, context: context)
            return
        }
        heldBodyBytes += part.readableBytes
        if body == nil {
            body = part
        } else {
            var part = part
            body!.writeBuffer(&part)
        }
    }

    private func receiveEnd(context: ChannelHandlerContext) {
        readDeadline = nil
        switch state {
        case .receiving:
            break
        case .discarding:
            return
        default:
            context.close(promise: nil)
            return
        }
        guard let head, let snapshot, let decision else { return }
        let body = self.body ?? ByteBuffer()
        self.body = nil
        switch decision {
        case .respond(let route):
            state = .answering
            let response = route(
                LocalRequest(head: head, body: body, client: client, requestID: requestID, snapshot: snapshot)
            )
            writeLocal(response, keepAlive: head.isKeepAlive, context: context, version: head.version)
        case .forward(let target):
            forward(target, head: head, body: body, snapshot: snapshot, context: context)
        }
    }

    private func forward(
        _ target: ForwardTarget,
        head: HTTPRequestHead,
        body: ByteBuffer,
        snapshot: RoutingSnapshot,
        context: ChannelHandlerContext
    ) {
        var fields = JSONFieldScanner.Fields()
        if target.requiresJSONBody || body.readableBytes > 0 {
            let scanned = body.withUnsafeReadableBytes { JSONFieldScanner.scan($0) }
            switch scanned {
            case .success(let found):
                fields = found
            case .failure(let malformed):
                // Only the inference routes need JSON; anything else under the prefix goes through as is.
                if target.requiresJSONBody {
                    return answer(
                        .invalidRequest("The request body is not valid JSON: \(malformed)."),
                        context: context
                    )
                }
            }
        }
        if fields.modelIsNotAString {
            return answer(.invalidRequest("The field 'model' must be a string."), context: context)
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
            requestID: requestID,
            receivedAt: receivedAt
        )
        state = .forwarding(request)
        request.start()
    }

    private func rejectTooLarge(context: ChannelHandlerContext) {
        let limit = snapshot?.configuration.server.maxBodySize ?? 0
        let problem = ProxyError.requestTooLarge("The request body is larger than max_body_size (\(limit) bytes).")
        answerEarly(problem, context: context)
    }

    private func readTimedOut() {
        guard let context, case .receiving = state else { return }
        let problem = ProxyError(
            status: .requestTimeout,
            code: "request_timeout",
            type: "invalid_request_error",
            message: "The request was not received within server.read_timeout."
        )
        answerEarly(problem, context: context)
    }

    /// Answers before the request was read to its end, then closes without losing the answer: the rest of the
    /// request is read and dropped (``LingeringCloseHandler``).
    private func answerEarly(_ problem: ProxyError, context: ChannelHandlerContext) {
        readDeadline = nil
        state = .answering
        body = nil
        releaseBody()
        writeLocal(
            problem.response,
            keepAlive: false,
            context: context,
            version: head?.version ?? .http1_1,
            lingering: true
        )
    }

    private func releaseBody() {
        services.bufferedBodies.release(heldBodyBytes)
        heldBodyBytes = 0
    }

    // MARK: Answering

    private func answer(_ problem: ProxyError, context: ChannelHandlerContext) {
        state = .answering
        writeLocal(
            problem.response,
            keepAlive: head?.isKeepAlive ?? false,
            context: context,
            version: head?.version ?? .http1_1
        )
    }

    private func writeLocal(
        _ response: LocalResponse,
        keepAlive: Bool,
        context: ChannelHandlerContext,
        version: HTTPVersion,
        lingering: Bool = false
    ) {
        let keepAlive = KeepAlive.allowed(
            requested: keepAlive,
            http11: true,
            closing: closesAfterResponse,
            responseHasLength: true
        )
        var response = response
        response.headers.add(name: "X-Olla-Request-ID", value: requestID)
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
                durationNanoseconds: (NIODeadline.now() - receivedAt).nanoseconds,
                bytesIn: bodyBytes,
                bytesOut: response.body.readableBytes
            )
        )
        if case .answering = state {
            requestDone(keepAlive: keepAlive, context: context)
        }
    }

    /// Called once the last part of the current response has been written: the next request may start.
    func requestDone(keepAlive: Bool, context: ChannelHandlerContext) {
        releaseBody()
        let idleTimeout = snapshot?.configuration.server.idleTimeout
        head = nil
        decision = nil
        snapshot = nil
        body = nil
        guard keepAlive, !closesAfterResponse else {
            // The writer of the last part closes the connection once it is flushed.
            state = .discarding
            pipelined.removeAll()
            return
        }
        state = .idle
        armIdleTimer(context: context, timeout: idleTimeout)
        handlePipelined(context: context)
    }

    /// Handles the requests that waited for the last answer, in order, until one of them needs time.
    private func handlePipelined(context: ChannelHandlerContext) {
        // A pipelined request answered at once ends in requestDone again; the loop below goes on from there.
        guard !replaying else { return }
        replaying = true
        defer { replaying = false }
        while !pipelined.isEmpty, !isAnswering {
            if case .closed = state { return }
            if case .discarding = state { return }
            handle(pipelined.removeFirst(), context: context)
        }
        if pipelined.isEmpty && readingPaused {
            readingPaused = false
            try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
            context.read()
        }
    }

    private func pauseReading(context: ChannelHandlerContext) {
        guard !readingPaused else { return }
        readingPaused = true
        try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
    }

    // MARK: Timers and ids

    /// - Parameter timeout: `server.idle_timeout` of the request just answered, when there was one; else the
    ///   current configuration's is read.
    private func armIdleTimer(context: ChannelHandlerContext, timeout: Duration? = nil) {
        let timeout = timeout ?? services.table.snapshot.configuration.server.idleTimeout
        idleDeadline = .now() + timeout.timeAmount
    }

    /// The sweeper's check: idle and read timeouts here, the forwarded request's own after.
    func checkDeadlines(now: NIODeadline) {
        if let deadline = idleDeadline, deadline <= now, case .idle = state, pipelined.isEmpty {
            idleDeadline = nil
            context?.close(promise: nil)
            return
        }
        if let deadline = readDeadline, deadline <= now {
            readDeadline = nil
            readTimedOut()
            return
        }
        if case .forwarding(let request) = state {
            request.checkDeadlines(now: now)
        }
    }

    /// The client's `X-Request-ID` when it is at most 128 printable ASCII characters (DESIGN.md section 5).
    static func requestID(from headers: HTTPHeaders) -> String? {
        guard let value = headers.first(name: "x-request-id"), !value.isEmpty, value.utf8.count <= 128,
            value.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E })
        else { return nil }
        return value
    }
}
