import Balancer
import NIOCore
import NIOHTTP1

/// One proxied request from the moment its body is complete to the end of its answer: choosing a host,
/// waiting in the queue, sending, failing over before the first byte reaches the client, streaming the
/// answer back, and ending a cut stream so the client can tell (DESIGN.md 6.4).
///
/// Lives on the client connection's event loop; every method runs there.
final class ForwardedRequest: UpstreamResponseReceiver {
    private var client: ClientConnectionHandler?
    private let context: ChannelHandlerContext
    private let services: ProxyServices
    private let pool: UpstreamConnectionPool
    private var snapshot: RoutingSnapshot
    private let head: HTTPRequestHead
    private let body: ByteBuffer
    private let target: ForwardTarget
    private let fields: JSONFieldScanner.Fields
    /// The hosts that may answer; nil until the model name is resolved.
    private var candidates: CandidateSet?
    private let requestID: String
    private let receivedAt: NIODeadline
    private let bodyReadyAt: NIODeadline
    /// The client's headers that go to every host, built once.
    private let forwardedHeaders: HTTPHeaders
    private let clientWantsTrailers: Bool

    private enum Phase {
        /// Some hosts were never probed yet; the request waits a moment for their first answer.
        case awaitingFirstProbes
        case choosing
        case queued(ticket: UInt64, since: NIODeadline)
        case connecting
        case awaitingHead
        case streaming
        case finished
    }

    private var phase = Phase.choosing
    /// The host holding a slot for this request; the slot is released exactly once, when this becomes nil.
    private var placement: Placement?
    private var connection: UpstreamConnection?
    private var connectionWasReused = false
    private var staleConnectionRetried = false
    private var tried = EndpointSet()
    private var failovers = 0
    private var lastFailure: String?
    /// When waiting for the host's response head ends (`response_header_timeout`).
    private var headDeadline: NIODeadline?
    /// When waiting in the queue ends (`queue_timeout`).
    private var queueDeadline: NIODeadline?
    private var lastReadAt = NIODeadline.uptimeNanoseconds(0)
    private var isEventStream = false
    private var responseIsChunked = false
    private var responseHasLength = true
    /// The model id the current host received, for `X-Olla-Model` and the record.
    private var sentModelID: String?
    private var upstreamKeepAlive = true
    private var responseStatus = 0
    private var bytesOut = 0
    private var timeToHead: Int64?
    private var overhead: Int64?
    private var queueTime: Int64 = 0
    private var connectStartedAt = NIODeadline.uptimeNanoseconds(0)
    private var connectTime: Int64 = 0
    private var readingPaused = false
    private var firstProbesDeadline: NIODeadline?
    /// Whether parts were written to the client since the last flush.
    private var unflushed = false

    init(
        client: ClientConnectionHandler,
        context: ChannelHandlerContext,
        services: ProxyServices,
        pool: UpstreamConnectionPool,
        snapshot: RoutingSnapshot,
        head: HTTPRequestHead,
        body: ByteBuffer,
        target: ForwardTarget,
        fields: JSONFieldScanner.Fields,
        clientAddress: ClientAddress,
        requestID: String,
        receivedAt: NIODeadline
    ) {
        self.client = client
        self.context = context
        self.services = services
        self.pool = pool
        self.snapshot = snapshot
        self.head = head
        self.body = body
        self.target = target
        self.fields = fields
        self.requestID = requestID
        self.receivedAt = receivedAt
        self.bodyReadyAt = .now()
        self.forwardedHeaders = Self.forwardedHeaders(of: head, client: clientAddress, requestID: requestID)
        // Rare, so only then split the header's list (which allocates).
        self.clientWantsTrailers =
            head.headers.contains(name: "te")
            && head.headers[canonicalForm: "te"].contains { $0.lowercased() == "trailers" }
    }

    // MARK: Choosing a host

    func start() {
        resolve()
    }

    /// Finds the hosts for the body's `model` (DESIGN.md 6.1), or takes every host when there is none.
    private func resolve() {
        guard let model = fields.model else {
            candidates = snapshot.models.anyModel
            return choose()
        }
        switch snapshot.models.resolve(model) {
        case .found(let set):
            candidates = set
            choose()
        case .ambiguous(let ids):
            failLocally(.modelAmbiguous(model, candidates: ids))
        case .notFound:
            guard !awaitFirstProbes() else { return }
            // A host that never listed its models (down since start-up) may well have this one.
            let listed = snapshot.models.anyModel.placements.map(\.endpoint.ordinal)
            let unlisted = snapshot.endpoints.filter { !listed.contains($0.ordinal) }.map(\.name)
            guard unlisted.isEmpty else {
                return failLocally(
                    .noHealthyEndpoints(
                        "The model '\(model)' is not on any reachable endpoint; "
                            + "\(unlisted.joined(separator: ", ")) could not be asked for its models yet."
                    )
                )
            }
            failLocally(.modelNotFound(model))
        }
    }

    /// Hosts never probed yet may have the model, or room: rather than answer 404 or 503 to a request that
    /// could be served a moment later (right after start-up or a reload), look again every 50 ms until
    /// their first probe must have finished (their `check_timeout`).
    /// - Returns: false when no host is waiting for its first probe, or the wait is over.
    private func awaitFirstProbes() -> Bool {
        let current = services.table.snapshot
        let unprobed = current.endpoints.filter { $0.status == .unknown }
        guard let longest = unprobed.map(\.configuration.checkTimeout).max() else { return false }
        let deadline = firstProbesDeadline ?? receivedAt + longest.timeAmount + .milliseconds(200)
        firstProbesDeadline = deadline
        guard NIODeadline.now() < deadline else { return false }
        phase = .awaitingFirstProbes
        context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(50)) { [self] in
            guard case .awaitingFirstProbes = self.phase else { return }
            self.phase = .choosing
            self.snapshot = self.services.table.snapshot
            self.resolve()
        }
        return true
    }

    private func choose() {
        guard let candidates else { return resolve() }
        switch services.table.acquire(candidates, excluding: tried, strategy: snapshot.strategy) {
        case .granted(let placement):
            begin(placement)
        case .full:
            enqueue()
        case .unavailable:
            failWithoutHost()
        }
    }

    private func enqueue() {
        let settings = snapshot.configuration.proxy
        guard settings.maxQueue > 0 else {
            return failLocally(.overloaded("Every endpoint with this model is at its max_concurrency."))
        }
        guard let candidates else { return resolve() }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let loop = context.eventLoop
        let result = services.table.enqueue(candidates, excluding: tried, strategy: snapshot.strategy) { placement in
            loop.execute { bound.value.granted(placement) }
        }
        switch result {
        case .granted(let placement):
            begin(placement)
        case .queued(let ticket):
            let now = NIODeadline.now()
            phase = .queued(ticket: ticket, since: now)
            queueDeadline = now + settings.queueTimeout.timeAmount
        case .full:
            failLocally(.overloaded("Every endpoint with this model is busy and the queue is full (max_queue)."))
        }
    }

    /// A queued request got a slot (on this loop, from the queue's callback).
    private func granted(_ placement: Placement) {
        guard case .queued(_, let since) = phase else {
            // The request gave up meanwhile; the slot was taken for it, so give it back.
            services.table.release(placement, outcome: nil)
            return
        }
        queueDeadline = nil
        queueTime += (NIODeadline.now() - since).nanoseconds
        begin(placement)
    }

    private func queueTimedOut(ticket: UInt64) {
        guard case .queued = phase else { return }
        // When the cancel fails the grant is on its way and will be used.
        if services.table.queue.cancel(ticket: ticket) {
            failLocally(.overloaded("No endpoint with this model had room within queue_timeout."))
        }
    }

    private func failWithoutHost() {
        if tried.isEmpty && awaitFirstProbes() { return }
        if tried.isEmpty {
            if let model = fields.model {
                failLocally(.modelUnavailable(model))
            } else {
                failLocally(.noHealthyEndpoints("No endpoint is healthy right now."))
            }
        } else {
            let detail = lastFailure.map { " Last error: \($0)." } ?? ""
            failLocally(.noHealthyEndpoints("Every endpoint that could serve this request failed.\(detail)"))
        }
    }

    // MARK: Sending

    private func begin(_ placement: Placement) {
        self.placement = placement
        tried.insert(placement.endpoint.ordinal)
        phase = .connecting
        connectStartedAt = .now()
        lease(fresh: false)
    }

    private func lease(fresh: Bool) {
        guard let endpoint = placement?.endpoint else { return }
        // The usual case, a kept-alive connection, without the closure a connect needs.
        if !fresh, let idle = pool.takeIdle(endpoint) {
            return leased(.success((idle, true)), endpoint: endpoint)
        }
        let timeout = snapshot.configuration.proxy.connectionTimeout.timeAmount
        pool.connect(endpoint, timeout: timeout) { [self] result in
            self.leased(result, endpoint: endpoint)
        }
    }

    private func leased(
        _ result: Result<(connection: UpstreamConnection, reused: Bool), any Error>,
        endpoint: EndpointRuntime
    ) {
        guard case .connecting = phase, placement?.endpoint === endpoint else {
            // The client left while connecting: an unused connection is still good.
            if case .success(let leased) = result { pool.giveBack(leased.connection, to: endpoint) }
            return
        }
        switch result {
        case .failure(let error):
            attemptFailed(reason: "cannot connect to \(endpoint.configuration.url): \(error)", markDown: true)
        case .success(let leased):
            connection = leased.connection
            connectionWasReused = leased.reused
            leased.connection.handler.receiver = self
            send(on: leased.connection)
        }
    }

    private func send(on connection: UpstreamConnection) {
        guard let placement else { return }
        let endpoint = placement.endpoint
        var headers = forwardedHeaders
        headers.add(name: "Host", value: endpoint.hostHeader)
        if let authorization = endpoint.authorization {
            headers.add(name: "Authorization", value: authorization)
        }
        let outgoing = bodyFor(placement)
        sentModelID = fields.model == nil ? nil : placement.modelID
        if outgoing.readableBytes > 0 || head.method == .POST || head.method == .PUT || head.method == .PATCH {
            headers.add(name: "Content-Length", value: String(outgoing.readableBytes))
        }
        let uri = endpoint.configuration.url.basePath + target.upstreamPath
        let upstreamHead = HTTPRequestHead(version: .http1_1, method: head.method, uri: uri, headers: headers)
        let now = NIODeadline.now()
        if overhead == nil {
            if !connectionWasReused { connectTime = (now - connectStartedAt).nanoseconds }
            overhead = max(0, (now - bodyReadyAt).nanoseconds - queueTime - connectTime)
        }
        phase = .awaitingHead
        connection.send(head: upstreamHead, body: outgoing)
        headDeadline = now + snapshot.configuration.proxy.responseHeaderTimeout.timeAmount
    }

    /// The body for a host: unchanged, or with `model` rewritten to the id this host listed (DESIGN.md 6.1).
    private func bodyFor(_ placement: Placement) -> ByteBuffer {
        guard let requested = fields.model, let range = fields.modelRange, requested != placement.modelID else {
            return body
        }
        let encoded = JSONFieldScanner.encodeString(placement.modelID)
        var rewritten = ByteBuffer()
        rewritten.reserveCapacity(body.readableBytes - range.count + encoded.count)
        let start = body.readerIndex
        rewritten.writeImmutableBuffer(body.getSlice(at: start, length: range.lowerBound)!)
        rewritten.writeBytes(encoded)
        rewritten.writeImmutableBuffer(
            body.getSlice(at: start + range.upperBound, length: body.readableBytes - range.upperBound)!
        )
        return rewritten
    }

    // MARK: The host's answer

    func upstreamReceived(head upstream: HTTPResponseHead) {
        guard case .awaitingHead = phase, let placement else { return }
        services.table.responseHeadArrived(for: placement)
        headDeadline = nil
        if upstream.status == .serviceUnavailable {
            // Nothing reached the client yet, so another host can still answer (DESIGN.md 6.4).
            return attemptFailed(reason: "\(placement.endpoint.name) answered 503", markDown: false)
        }
        let now = NIODeadline.now()
        timeToHead = (now - receivedAt).nanoseconds
        lastReadAt = now
        phase = .streaming
        responseStatus = Int(upstream.status.code)
        upstreamKeepAlive = upstream.isKeepAlive
        // One pass over the host's headers: what they say about the body, and the ones that go on.
        var headers = HTTPHeaders()
        headers.reserveCapacity(upstream.headers.count + 7)
        var hasLength = false
        var eventStream = false
        var connectionOptions = false
        for (name, value) in upstream.headers {
            if HeaderRules.isHopByHop(name) {
                if name.utf8.count == 10, name.equalsIgnoringASCIICase("connection") { connectionOptions = true }
                continue
            }
            if name.utf8.count == 14, name.equalsIgnoringASCIICase("content-length") { hasLength = true }
            if name.utf8.count == 12, name.equalsIgnoringASCIICase("content-type"),
                value.hasPrefixIgnoringASCIICase("text/event-stream")
            {
                eventStream = true
            }
            headers.add(name: name, value: value)
        }
        if connectionOptions {
            // Names listed in Connection are hop-by-hop for this message only (rare, so a second pass).
            let options = HeaderRules.connectionOptions(upstream.headers)
            for option in options { headers.remove(name: option) }
        }
        isEventStream = eventStream
        responseHasLength = hasLength
        responseIsChunked = !responseHasLength && head.version.minor >= 1
        addOllaHeaders(to: &headers, placement: placement)
        if clientWantsTrailers && responseIsChunked {
            headers.add(name: "Trailer", value: "X-Olla-Response-Time")
        }
        if !clientKeepsAlive {
            headers.add(name: "Connection", value: "close")
        }
        let clientHead = HTTPResponseHead(version: head.version, status: upstream.status, headers: headers)
        context.write(ClientConnectionHandler.wrapOutboundOut(.head(clientHead)), promise: nil)
        unflushed = true
    }

    func upstreamReceived(body part: ByteBuffer) {
        guard case .streaming = phase else { return }
        bytesOut += part.readableBytes
        lastReadAt = .now()
        context.write(ClientConnectionHandler.wrapOutboundOut(.body(.byteBuffer(part))), promise: nil)
        unflushed = true
    }

    func upstreamReadComplete() {
        guard case .streaming = phase, unflushed else { return }
        unflushed = false
        context.flush()
    }

    func upstreamReceivedEnd() {
        switch phase {
        case .streaming:
            break
        case .awaitingHead:
            // A 503 being skipped ends here; the connection was already dropped.
            return
        default:
            return
        }
        let connection = self.connection
        self.connection = nil
        if let connection, let placement {
            if upstreamKeepAlive {
                pool.giveBack(connection, to: placement.endpoint)
            } else {
                connection.close()
            }
        }
        var trailers: HTTPHeaders?
        if clientWantsTrailers && responseIsChunked {
            trailers = HTTPHeaders([
                ("X-Olla-Response-Time", "\((NIODeadline.now() - receivedAt).nanoseconds / 1_000_000)ms")
            ])
        }
        finish(
            outcome: .completed,
            hostSucceeded: responseStatus < 500,
            end: .end(trailers),
            keepAlive: clientKeepsAlive
        )
    }

    func upstreamFailed(_ error: any Error) {
        switch phase {
        case .awaitingHead, .connecting:
            connection = nil
            guard let placement else { return }
            if connectionWasReused && !staleConnectionRetried {
                // A kept-alive connection the host closed while it sat idle is not the host's failure:
                // try once more on a new connection to the same host.
                staleConnectionRetried = true
                headDeadline = nil
                phase = .connecting
                connectStartedAt = .now()
                lease(fresh: true)
                return
            }
            attemptFailed(reason: "\(placement.endpoint.name) closed the connection: \(error)", markDown: true)
        case .streaming:
            connection = nil
            failMidStream(reason: "the endpoint closed the connection before the answer ended")
        default:
            return
        }
    }

    // MARK: Failures

    /// The current host failed before anything reached the client: release it, maybe mark it down, and
    /// try the next candidate.
    private func attemptFailed(reason: String, markDown: Bool) {
        headDeadline = nil
        connection?.close()
        connection = nil
        guard let placement else { return }
        self.placement = nil
        let endpoint = placement.endpoint
        services.table.release(placement, outcome: RequestOutcome(succeeded: false, timeToHeadMicroseconds: nil))
        if markDown {
            services.table.reportConnectionFailure(of: endpoint, reason: reason)
        }
        failovers += 1
        lastFailure = reason
        services.observer.requestFailedOver(requestID: requestID, from: endpoint.name, reason: reason)
        phase = .choosing
        staleConnectionRetried = false
        choose()
    }

    /// The host failed after bytes reached the client: no retry; an event stream ends with an error event
    /// and no `[DONE]`, anything else is cut (DESIGN.md 6.4).
    private func failMidStream(reason: String) {
        connection?.close()
        connection = nil
        if let endpoint = placement?.endpoint {
            services.table.reportConnectionFailure(of: endpoint, reason: reason)
        }
        if isEventStream && responseIsChunked {
            let message = JSONFieldScanner.encodeString("olla: \(reason); the answer is incomplete")
            var event = ByteBuffer()
            event.writeStaticString("data: {\"error\":{\"message\":")
            event.writeBytes(message)
            event.writeStaticString(",\"type\":\"upstream_error\"}}\n\n")
            bytesOut += event.readableBytes
            context.write(ClientConnectionHandler.wrapOutboundOut(.body(.byteBuffer(event))), promise: nil)
            finish(outcome: .upstreamFailedMidStream, hostSucceeded: false, end: .end(nil), keepAlive: clientKeepsAlive)
        } else {
            // Without chunked framing the only way to say "incomplete" is to close.
            finish(outcome: .upstreamFailedMidStream, hostSucceeded: false, end: nil, keepAlive: false)
        }
    }

    /// The sweeper's check (through the client connection): response head, stream silence, queue.
    func checkDeadlines(now: NIODeadline) {
        switch phase {
        case .awaitingHead:
            if let deadline = headDeadline, deadline <= now, let endpoint = placement?.endpoint {
                headDeadline = nil
                attemptFailed(reason: "\(endpoint.name): \(UpstreamError.responseHeaderTimeout)", markDown: true)
            }
        case .streaming:
            if readingPaused {
                // Silence because the client is slow is not the host's fault.
                lastReadAt = now
            } else if now - lastReadAt >= snapshot.configuration.proxy.readTimeout.timeAmount {
                failMidStream(reason: UpstreamError.readTimeout.description)
            }
        case .queued(let ticket, _):
            if let deadline = queueDeadline, deadline <= now {
                queueDeadline = nil
                queueTimedOut(ticket: ticket)
            }
        default:
            break
        }
    }

    // MARK: The client's side

    /// The client went away: stop the host's work at once (close its connection) and give the slot back.
    func clientClosed() {
        switch phase {
        case .finished:
            return
        case .queued(let ticket, _):
            // When the cancel fails, the grant arrives later and releases its slot (see `granted`).
            _ = services.table.queue.cancel(ticket: ticket)
        default:
            break
        }
        connection?.close()
        connection = nil
        finish(outcome: .clientClosed, hostSucceeded: true, end: nil, keepAlive: false)
    }

    func clientWritabilityChanged(isWritable: Bool) {
        guard case .streaming = phase, let connection else { return }
        readingPaused = !isWritable
        connection.setReading(isWritable)
    }

    private var clientKeepsAlive: Bool {
        guard head.isKeepAlive, !(client?.closesAfterResponse ?? false) else { return false }
        // An HTTP/1.0 client learns where an answer without Content-Length ends only from the close.
        return head.version.minor >= 1 || responseHasLength
    }

    private func addOllaHeaders(to headers: inout HTTPHeaders, placement: Placement?) {
        headers.add(name: "X-Olla-Request-ID", value: requestID)
        if let placement {
            headers.add(name: "X-Olla-Endpoint", value: placement.endpoint.name)
            if fields.model != nil {
                headers.add(name: "X-Olla-Model", value: placement.modelID)
            }
            headers.add(name: "X-Olla-Backend-Type", value: placement.endpoint.configuration.type.rawValue)
        } else if let model = fields.model {
            // The client's own string (no host was chosen): echoed only when it cannot forge a header.
            if HeaderRules.isSafeEcho(model) { headers.add(name: "X-Olla-Model", value: model) }
            headers.add(name: "X-Olla-Backend-Type", value: EndpointType.lmStudio.rawValue)
        }
        let elapsed = timeToHead ?? (NIODeadline.now() - receivedAt).nanoseconds
        headers.add(name: "X-Olla-Response-Time", value: "\(elapsed / 1_000_000)ms")
    }

    /// Answers with olla's own error (no host answered); always before anything reached the client.
    private func failLocally(_ problem: ProxyError) {
        queueDeadline = nil
        responseStatus = Int(problem.status.code)
        var headers = HTTPHeaders([("Content-Type", "application/json")])
        if let retryAfter = problem.retryAfter { headers.add(name: "Retry-After", value: String(max(1, retryAfter))) }
        addOllaHeaders(to: &headers, placement: nil)
        let body = problem.body
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        let keepAlive = head.isKeepAlive && !(client?.closesAfterResponse ?? false)
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(
            ClientConnectionHandler.wrapOutboundOut(
                .head(HTTPResponseHead(version: head.version, status: problem.status, headers: headers))
            ),
            promise: nil
        )
        context.write(ClientConnectionHandler.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        bytesOut += body.readableBytes
        finish(outcome: .completed, hostSucceeded: true, end: .end(nil), keepAlive: keepAlive)
    }

    /// Ends the request: releases the slot, reports it, hands the connection back to the client handler,
    /// then writes the final part (which may at once start the next pipelined request).
    private func finish(
        outcome: RequestRecord.Outcome,
        hostSucceeded: Bool,
        end: HTTPServerResponsePart?,
        keepAlive: Bool
    ) {
        if case .finished = phase { return }
        phase = .finished
        headDeadline = nil
        queueDeadline = nil
        let endpoint = placement?.endpoint
        if let placement {
            self.placement = nil
            let latency = timeToHead.map { Int($0 / 1000) }
            services.table.release(
                placement,
                outcome: RequestOutcome(succeeded: hostSucceeded, timeToHeadMicroseconds: latency)
            )
        }
        let now = NIODeadline.now()
        services.observer.requestFinished(
            RequestRecord(
                requestID: requestID,
                method: head.method.rawValue,
                path: head.uri,
                model: sentModelID ?? fields.model,
                endpoint: endpoint?.name,
                status: outcome == .clientClosed && responseStatus == 0 ? 499 : responseStatus,
                outcome: outcome,
                durationNanoseconds: (now - receivedAt).nanoseconds,
                timeToHeadNanoseconds: timeToHead,
                overheadNanoseconds: overhead,
                queueNanoseconds: queueTime,
                bytesIn: body.readableBytes,
                bytesOut: bytesOut,
                failovers: failovers,
                isLocal: false
            )
        )
        let client = self.client
        self.client = nil
        if let end {
            if keepAlive {
                context.writeAndFlush(ClientConnectionHandler.wrapOutboundOut(end), promise: nil)
            } else {
                let context = self.context
                context.writeAndFlush(ClientConnectionHandler.wrapOutboundOut(end)).assumeIsolated().whenComplete {
                    _ in
                    context.close(promise: nil)
                }
            }
        } else {
            context.close(promise: nil)
        }
        // Last, as it may start the next pipelined request at once.
        client?.requestDone(keepAlive: keepAlive && end != nil, context: context)
    }

    // MARK: Headers to the host

    /// The client's headers minus hop-by-hop ones and credentials, plus the `X-Forwarded-*` set
    /// (DESIGN.md section 5). Host, auth and length are added per host in ``send(on:)``.
    static func forwardedHeaders(of head: HTTPRequestHead, client: ClientAddress, requestID: String) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.reserveCapacity(head.headers.count + 6)
        let options = HeaderRules.connectionOptions(head.headers)
        var forwardedFor: String?
        for (name, value) in head.headers {
            if HeaderRules.isHopByHop(name) || HeaderRules.isReplacedOnRequest(name) {
                if name.equalsIgnoringASCIICase("x-forwarded-for") {
                    forwardedFor = forwardedFor.map { "\($0), \(value)" } ?? value
                }
                continue
            }
            if !options.isEmpty, options.contains(name.lowercased()) { continue }
            headers.add(name: name, value: value)
        }
        headers.add(name: "X-Olla-Request-ID", value: requestID)
        if let ip = client.ip {
            headers.add(name: "X-Forwarded-For", value: forwardedFor.map { "\($0), \(ip)" } ?? ip)
        } else if let forwardedFor {
            headers.add(name: "X-Forwarded-For", value: forwardedFor)
        }
        if let host = head.headers.first(name: "host") {
            headers.add(name: "X-Forwarded-Host", value: host)
        }
        headers.add(name: "X-Forwarded-Proto", value: "http")
        return headers
    }
}
