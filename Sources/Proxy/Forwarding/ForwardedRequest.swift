import Balancer
import NIOCore
import NIOHTTP1

/// One proxied request from the moment its body is complete to the end of its answer. Its decisions (which
/// answer, wait, fail over, cut) are made by its ``StateMachine``; this class only performs the actions: it
/// asks the routing table for slots, leases connections from the pool, writes to the host and to the client,
/// and reports the outcome.
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
    private let requestID: String
    /// The client's header lines that go to every host, built once.
    private let headersToHost: HeaderBlock
    private var machine: StateMachine
    private var connection: UpstreamConnection?
    private var bytesOut = 0
    /// Whether parts were written to the client since the last flush.
    private var unflushed = false
    /// A host's refusal held while deciding whether it means "not my conversation" (DESIGN.md 6.9).
    private var heldAnswer: (head: ResponseParser.Head, body: ByteBuffer, overflowed: Bool)?
    /// Learns the response ids of a stateful answer (nil for other routes).
    private var responseIDs: ResponseIDScanner?
    /// A refusal is read whole up to this size; a larger one is not "not found".
    static let heldAnswerLimit = 64 * 1024
    /// Prompt-cache affinity (DESIGN.md 6.8): the settings when on, the request's key, and whether the last
    /// grant went to the key's first-ranked host.
    private let sticky: StickySessionSettings?
    private let affinity: AffinityKey?
    private var affinityFirstRanked = false
    private let sessionID: String?
    private var stickyOutcome: StickySessions.Outcome?
    /// Whether the answer's body goes to the client in chunks (``ChunkedBody``).
    private var chunkedBody = false

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
        self.headersToHost = ForwardedHeaders.toHost(of: head, client: clientAddress, requestID: requestID)
        let proxy = snapshot.configuration.proxy
        self.machine = StateMachine(
            request: .init(
                model: fields.model,
                isKeepAlive: head.isKeepAlive,
                allowsChunked: head.version.minor >= 1,
                // Rare, so only then split the header's list (which allocates).
                wantsTrailers: head.headers.contains(name: "te")
                    && head.headers[canonicalForm: "te"].contains { $0.lowercased() == "trailers" },
                continuesConversation: fields.previousResponseID != nil
            ),
            limits: .init(
                maxQueue: proxy.maxQueue,
                queueTimeout: proxy.queueTimeout.timeAmount,
                responseHeaderTimeout: proxy.responseHeaderTimeout.timeAmount,
                readTimeout: proxy.readTimeout.timeAmount
            ),
            receivedAt: receivedAt,
            bodyReadyAt: .now()
        )
        if target.keepsConversations { responseIDs = ResponseIDScanner() }
        let sticky = snapshot.configuration.proxy.stickySessions
        self.sticky = sticky.enabled ? sticky : nil
        let sessionID = sticky.enabled ? AffinityKey.sessionID(in: head.headers) : nil
        self.sessionID = sessionID
        // Affinity places requests under `priority` only; the other strategies are pure load spreading.
        self.affinity =
            sticky.enabled && snapshot.strategy == .priority
            ? AffinityKey.of(
                sessionID: sessionID,
                head: head,
                body: body,
                fields: fields,
                client: clientAddress,
                settings: sticky
            ) : nil
    }

    func start() {
        resolve()
    }

    // MARK: Running the machine's actions

    private func run(_ action: StateMachine.Action) {
        switch action {
        case .none, .forwardBody, .holdAnswer, .holdBody:
            break
        case .acquire(let candidates, let excluded):
            let admission: RoutingTable.Admission
            if let affinity, let sticky, !machine.isPinned {
                let placed = services.table.acquire(
                    candidates,
                    excluding: excluded,
                    affinity: affinity.hash,
                    loadFactor: sticky.loadFactor
                )
                admission = placed.admission
                affinityFirstRanked = placed.firstRanked
            } else {
                admission = services.table.acquire(candidates, excluding: excluded, strategy: snapshot.strategy)
            }
            run(machine.acquired(admission, firstProbes: self.firstProbesWait(), now: .now()))
        case .enqueue(let candidates, let excluded):
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            let loop = context.eventLoop
            let result = services.table.enqueue(candidates, excluding: excluded, strategy: snapshot.strategy) {
                placement in
                loop.execute {
                    let request = bound.value
                    request.run(request.machine.granted(placement, now: .now()))
                }
            }
            run(machine.enqueued(result, now: .now()))
        case .resolveAgain(let wait):
            context.eventLoop.assumeIsolated().scheduleTask(in: wait) { [self] in
                self.snapshot = self.services.table.snapshot
                self.resolve()
            }
        case .connect(let placement, let fresh):
            connect(to: placement.endpoint, fresh: fresh)
        case .send(let placement):
            send(placement)
        case .failOver(let failed, let candidates, let excluded):
            dropConnection()
            let endpoint = failed.placement.endpoint
            services.table.release(
                failed.placement,
                outcome: RequestOutcome(succeeded: false, timeToHeadMicroseconds: nil)
            )
            if failed.markDown { services.table.reportConnectionFailure(of: endpoint, reason: failed.reason) }
            services.observer.requestFailedOver(requestID: requestID, from: endpoint.name, reason: failed.reason)
            run(.acquire(candidates, excluding: excluded))
        case .forwardHead:
            // Only ``upstreamReceived(head:)`` gets this action, and writes the head itself.
            assertionFailure("forwardHead outside upstreamReceived(head:)")
        case .leaveQueue(let ticket):
            run(machine.queueLeft(services.table.queue.cancel(ticket: ticket), now: .now()))
        case .releaseUnused(let placement):
            services.table.release(placement, outcome: nil)
        case .answer(let problem):
            answer(problem)
        case .finish(let placement, let ending, let hostSucceeded, let outcome):
            finish(placement, ending, hostSucceeded: hostSucceeded, outcome: outcome)
        case .setUpstreamReading(let enabled):
            connection?.setReading(enabled)
        }
    }

    /// Finds the hosts for the body's `model` (DESIGN.md 6.1), or takes every host when there is none.
    private func resolve() {
        let resolution: StateMachine.Resolution
        if let conversation = fields.previousResponseID, let name = services.table.responsePins.lookup(conversation) {
            resolution = pinnedResolution(endpoint: name)
        } else if let model = fields.model {
            switch snapshot.models.resolve(model) {
            case .found(let set):
                resolution = .found(set)
            case .ambiguous(let ids):
                resolution = .ambiguous(ids)
            case .notFound:
                let listed = snapshot.models.anyModel.placements.map(\.endpoint.ordinal)
                let unlisted = snapshot.endpoints.filter { !listed.contains($0.ordinal) }.map(\.name)
                resolution = .notFound(unlisted: unlisted)
            }
        } else {
            resolution = .found(snapshot.models.anyModel)
        }
        run(machine.resolved(resolution, firstProbes: firstProbesWait(), now: .now()))
    }

    /// The one host that holds the conversation, when it can take the request (DESIGN.md 6.9).
    private func pinnedResolution(endpoint name: String) -> StateMachine.Resolution {
        guard let endpoint = snapshot.endpoint(named: name) else {
            return .conversationUnavailable(endpoint: name, reason: "it is no longer configured")
        }
        guard endpoint.status.isRoutable else {
            let reason = endpoint.health.lastError.map { "\(endpoint.status): \($0)" } ?? "\(endpoint.status)"
            return .conversationUnavailable(endpoint: name, reason: reason)
        }
        let candidates: CandidateSet
        if let model = fields.model {
            guard case .found(let set) = snapshot.models.resolve(model) else {
                return .conversationUnavailable(endpoint: name, reason: "it does not list the model '\(model)'")
            }
            candidates = set
        } else {
            candidates = snapshot.models.anyModel
        }
        let placements = candidates.placements.filter { $0.endpoint === endpoint }
        guard !placements.isEmpty else {
            return .conversationUnavailable(endpoint: name, reason: "it does not list the model")
        }
        return .pinned(CandidateSet(modelID: candidates.modelID, placements: placements))
    }

    /// The longest `check_timeout` of hosts that were never probed, nil when every host was.
    private func firstProbesWait() -> TimeAmount? {
        let current = services.table.snapshot
        return current.endpoints.lazy.filter { $0.status == .unknown }.map(\.configuration.checkTimeout.timeAmount)
            .max()
    }

    // MARK: The host's side

    private func connect(to endpoint: EndpointRuntime, fresh: Bool) {
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
        guard case .connecting(_, let attempt) = machine.state, attempt.placement.endpoint === endpoint else {
            // The client left while connecting: an unused connection is still good.
            if case .success(let leased) = result { pool.giveBack(leased.connection, to: endpoint) }
            return
        }
        switch result {
        case .failure(let error):
            run(machine.upstreamFailed(reason: "\(error)", now: .now()))
        case .success(let leased):
            connection = leased.connection
            leased.connection.handler.receiver = self
            run(machine.connected(reused: leased.reused, now: .now()))
        }
    }

    private func send(_ placement: Placement) {
        guard let connection else { return }
        let request = RequestHeadWriter.request(
            method: head.method,
            basePath: placement.endpoint.configuration.url.basePath,
            path: target.upstreamPath,
            clientLines: headersToHost,
            endpoint: placement.endpoint,
            body: bodyFor(placement)
        )
        connection.send(request.head, body: request.separateBody, isHEAD: head.method == .HEAD)
    }

    /// `X-Olla-Sticky-Session`, `X-Olla-Sticky-Key-Source` and `X-Olla-Session-ID` (DESIGN.md section 5), when
    /// affinity is on; counts the outcome once, for the host that answers.
    private func addStickyHeaders<Lines: HeaderLines>(to headers: inout Lines) {
        guard sticky != nil else { return }
        if let affinity, !machine.isPinned {
            let now = Int64(NIODeadline.now().uptimeNanoseconds / 1_000_000_000)
            let outcome = services.table.stickySessions.record(
                key: affinity.hash,
                firstRanked: affinityFirstRanked,
                now: now
            )
            headers.add(name: "X-Olla-Sticky-Session", value: outcome.rawValue)
            headers.add(name: "X-Olla-Sticky-Key-Source", value: affinity.source.rawValue)
            stickyOutcome = outcome
        } else {
            headers.add(name: "X-Olla-Sticky-Session", value: StickySessions.Outcome.disabled.rawValue)
            stickyOutcome = .disabled
        }
        if let sessionID { headers.add(name: "X-Olla-Session-ID", value: sessionID) }
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

    private func dropConnection() {
        connection?.close()
        connection = nil
    }

    func upstreamReceived(head upstream: ResponseParser.Head) {
        guard case .awaitingHead = machine.state else { return }
        var response = ForwardedHeaders.toClient(from: upstream, version: head.version)
        let facts = StateMachine.ResponseFacts(
            status: Int(upstream.status.code),
            hasLength: response.hasLength,
            isEventStream: response.isEventStream,
            keepAlive: upstream.keepAlive
        )
        if let placement = machine.placement {
            // A model that was loading there is loaded now: the host is asked at once (DESIGN.md 6.7).
            services.table.responseHeadArrived(for: placement)
        }
        let action = machine.headReceived(facts, closing: closesAfterResponse, now: .now())
        if case .holdAnswer = action {
            heldAnswer = (upstream, ByteBuffer(), false)
            return
        }
        guard case .forwardHead(let chunked, let announceTrailer, let keepAlive) = action,
            let placement = machine.placement
        else {
            return run(action)
        }
        ForwardedHeaders.addOlla(
            to: &response.head,
            requestID: requestID,
            placement: placement,
            requestedModel: fields.model,
            elapsedNanoseconds: machine.timeToHeadNanoseconds ?? 0
        )
        addStickyHeaders(to: &response.head)
        let written = ResponseHeadWriter.finishForwarded(
            &response,
            status: upstream.status,
            method: head.method,
            chunked: chunked,
            announceTrailer: announceTrailer,
            keepAlive: keepAlive
        )
        chunkedBody = written.chunkedBody
        context.write(NIOAny(written.head), promise: nil)
        unflushed = true
    }

    func upstreamReceived(body part: ByteBuffer, framed: ByteBuffer?) {
        switch machine.bodyReceived(now: .now()) {
        case .forwardBody:
            break
        case .holdBody:
            return hold(part)
        default:
            return
        }
        if responseIDs != nil, machine.responseStatus < 300, let endpoint = machine.placement?.endpoint.name {
            for id in responseIDs!.scan(part) { services.table.responsePins.learn(id, endpoint: endpoint) }
        }
        bytesOut += part.readableBytes
        if chunkedBody {
            // A whole chunk of the host's goes on with its own framing; a part of one is framed anew.
            if let framed {
                context.write(NIOAny(framed), promise: nil)
            } else {
                ChunkedBody.write(part, context: context)
            }
        } else {
            context.write(NIOAny(part), promise: nil)
        }
        unflushed = true
    }

    func upstreamReadComplete() {
        guard unflushed, case .streaming = machine.state else { return }
        unflushed = false
        context.flush()
    }

    func upstreamReceivedEnd() {
        if case .holdingAnswer = machine.state, let held = heldAnswer {
            let notFound = !held.overflowed && ConversationRefusal.saysNotFound(held.body)
            return run(machine.heldAnswerEnded(notFound: notFound, closing: closesAfterResponse))
        }
        run(machine.endReceived(closing: closesAfterResponse))
    }

    private func hold(_ part: ByteBuffer) {
        guard var held = heldAnswer else { return }
        heldAnswer = nil
        if held.body.readableBytes + part.readableBytes <= Self.heldAnswerLimit {
            var part = part
            held.body.writeBuffer(&part)
        } else {
            held.overflowed = true
        }
        heldAnswer = held
    }

    func upstreamFailed(_ error: any Error) {
        connection = nil
        run(machine.upstreamFailed(reason: "\(error)", now: .now()))
    }

    // MARK: The client's side

    /// The sweeper's check (through the client connection): response head, stream silence, queue.
    func checkDeadlines(now: NIODeadline) {
        run(machine.deadlinePassed(now: now))
    }

    /// The client went away: stop the host's work at once (close its connection) and give the slot back.
    func clientClosed() {
        run(machine.clientClosed())
    }

    func clientWritabilityChanged(isWritable: Bool) {
        run(machine.clientWritabilityChanged(isWritable: isWritable))
    }

    private var closesAfterResponse: Bool { client?.closesAfterResponse ?? false }

    /// Answers with olla's own error (no host answered); always before anything reached the client.
    private func answer(_ problem: ProxyError) {
        var response = problem.response
        ForwardedHeaders.addOlla(
            to: &response.headers,
            requestID: requestID,
            placement: nil,
            requestedModel: fields.model,
            elapsedNanoseconds: (NIODeadline.now() - machine.receivedAt).nanoseconds
        )
        let keepAlive = machine.keepAlive(responseHasLength: true, closing: closesAfterResponse)
        bytesOut += response.body.readableBytes
        let written = response.write(to: context, version: head.version, keepAlive: keepAlive, method: head.method)
        complete(endpoint: nil, outcome: .completed, keepAlive: keepAlive, closeAfter: written)
    }

    /// Ends the exchange: gives the host's connection back or closes it, releases the slot, ends the answer.
    private func finish(
        _ placement: Placement?,
        _ ending: StateMachine.Ending,
        hostSucceeded: Bool,
        outcome: RequestRecord.Outcome
    ) {
        if let placement {
            let latency = machine.timeToHeadNanoseconds.map { Int($0 / 1000) }
            services.table.release(
                placement,
                outcome: RequestOutcome(succeeded: hostSucceeded, timeToHeadMicroseconds: latency)
            )
        }
        // An answer framed by its length (or by the close) has nothing left to write: a flush, and a write to wait for
        // only when the connection closes after it.
        func flushEnd(keepAlive: Bool) -> EventLoopFuture<Void> {
            guard keepAlive && !closesAfterResponse else { return context.writeAndFlush(NIOAny(ByteBuffer())) }
            context.flush()
            return context.eventLoop.makeSucceededVoidFuture()
        }
        switch ending {
        case .heldAnswer(let keepAlive, let reuseUpstream):
            if let connection, let placement, reuseUpstream {
                pool.giveBack(connection, to: placement.endpoint)
            } else {
                connection?.close()
            }
            connection = nil
            guard let held = heldAnswer else {
                return answer(.noHealthyEndpoints("The endpoint's answer was lost."))
            }
            heldAnswer = nil
            var response = LocalResponse(
                status: held.head.status,
                // The host's own headers but hop-by-hop ones; the length is the held body's.
                headers: HTTPHeaders(held.head.headers.filter { !HeaderRules.isHopByHop($0.name) }),
                body: held.body
            )
            ForwardedHeaders.addOlla(
                to: &response.headers,
                requestID: requestID,
                placement: placement,
                requestedModel: fields.model,
                elapsedNanoseconds: machine.timeToHeadNanoseconds ?? 0
            )
            bytesOut += held.body.readableBytes
            let written = response.write(to: context, version: head.version, keepAlive: keepAlive)
            complete(endpoint: placement?.endpoint, outcome: outcome, keepAlive: keepAlive, closeAfter: written)
        case .complete(let keepAlive, let reuseUpstream, let trailers):
            if let connection, let placement, reuseUpstream {
                pool.giveBack(connection, to: placement.endpoint)
            } else {
                connection?.close()
            }
            connection = nil
            let written: EventLoopFuture<Void>
            if chunkedBody {
                var trailerLines: HeaderBlock?
                if trailers {
                    let total = (NIODeadline.now() - machine.receivedAt).nanoseconds / 1_000_000
                    trailerLines = HeaderBlock(capacity: 48)
                    trailerLines!.add(name: "X-Olla-Response-Time", value: "\(total)ms")
                }
                written = context.writeAndFlush(NIOAny(ChunkedBody.end(trailers: trailerLines)))
            } else {
                written = flushEnd(keepAlive: keepAlive)
            }
            complete(endpoint: placement?.endpoint, outcome: outcome, keepAlive: keepAlive, closeAfter: written)
        case .cut(let reason, let errorEvent, let keepAlive):
            dropConnection()
            if let endpoint = placement?.endpoint {
                services.table.reportConnectionFailure(of: endpoint, reason: reason)
            }
            guard errorEvent else {
                context.close(promise: nil)
                return complete(endpoint: placement?.endpoint, outcome: outcome, keepAlive: false, closeAfter: nil)
            }
            var event = ByteBuffer()
            event.writeStaticString("data: {\"error\":{\"message\":")
            event.writeBytes(JSONFieldScanner.encodeString("olla: \(reason); the answer is incomplete"))
            event.writeStaticString(",\"type\":\"upstream_error\"}}\n\n")
            bytesOut += event.readableBytes
            let written: EventLoopFuture<Void>
            if chunkedBody {
                ChunkedBody.write(event, context: context)
                written = context.writeAndFlush(NIOAny(ChunkedBody.end()))
            } else {
                written = flushEnd(keepAlive: keepAlive)
            }
            complete(endpoint: placement?.endpoint, outcome: outcome, keepAlive: keepAlive, closeAfter: written)
        case .abandoned(let ticket):
            if let ticket { _ = services.table.queue.cancel(ticket: ticket) }
            dropConnection()
            context.close(promise: nil)
            complete(endpoint: placement?.endpoint, outcome: outcome, keepAlive: false, closeAfter: nil)
        }
    }

    /// The request is over: its record goes to the observer, the connection closes once `closeAfter` is written
    /// unless kept alive, and the client handler may start the next request (last, as it may do so at once).
    private func complete(
        endpoint: EndpointRuntime?,
        outcome: RequestRecord.Outcome,
        keepAlive: Bool,
        closeAfter written: EventLoopFuture<Void>?
    ) {
        // Every ending let the host's connection go already; a connection still held here would keep this request
        // alive through its handler (``UpstreamHandler/receiver``).
        if connection != nil {
            assertionFailure("a request completed while holding its host's connection")
            dropConnection()
        }
        // A drain may have begun since the answer's head said keep-alive.
        let keepAlive = keepAlive && !closesAfterResponse
        let status = machine.responseStatus
        services.observer.requestFinished(
            RequestRecord(
                requestID: requestID,
                method: head.method.rawValue,
                path: head.uri,
                model: machine.sentModelID ?? fields.model,
                endpoint: endpoint?.name,
                status: outcome == .clientClosed && status == 0 ? 499 : status,
                outcome: outcome,
                durationNanoseconds: (NIODeadline.now() - machine.receivedAt).nanoseconds,
                timeToHeadNanoseconds: machine.timeToHeadNanoseconds,
                overheadNanoseconds: machine.overheadNanoseconds,
                queueNanoseconds: machine.queueNanoseconds,
                bytesIn: body.readableBytes,
                bytesOut: bytesOut,
                failovers: machine.failovers,
                isLocal: false,
                affinity: stickyOutcome
            )
        )
        if let written, !keepAlive {
            let context = self.context
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
        let client = self.client
        self.client = nil
        client?.requestDone(keepAlive: keepAlive && written != nil, context: context)
    }
}
