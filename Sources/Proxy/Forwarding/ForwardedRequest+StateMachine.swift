import Balancer
import NIOCore

extension ForwardedRequest {
    /// Every decision of a forwarded request (DESIGN.md 6.4), without I/O: which answer when no host can take
    /// it, when to wait for first probes or in the queue, when to fail over, when a stale kept-alive
    /// connection earns one more try, when a stream is cut, and how the exchange ends.
    ///
    /// It receives events (the model resolved, a slot granted, connected, the head arrived, a body part, the
    /// end, the host gone, a deadline, the client gone) and returns the ``Action`` that
    /// ``ForwardedRequest`` performs; every event carries the time it happened, so a test drives the machine
    /// without a clock or a channel. In the manner of async-http-client's `HTTP1ConnectionStateMachine`.
    struct StateMachine {
        /// Where the request is.
        enum State {
            /// Not started.
            case initialized
            /// Some hosts were never probed; the model is looked up again shortly.
            case awaitingFirstProbes
            /// A slot is being asked for (acquire or enqueue).
            case choosing(CandidateSet)
            case queued(CandidateSet, ticket: UInt64, since: NIODeadline, deadline: NIODeadline)
            /// The queue's deadline passed; the queue is asked to let the request go.
            case leavingQueue(CandidateSet, since: NIODeadline)
            case connecting(CandidateSet, Attempt)
            case awaitingHead(CandidateSet, Attempt, deadline: NIODeadline)
            /// A conversation olla cannot place was refused by this host: its answer is held until it is read
            /// whole, to tell "I do not hold that conversation" (try the next host) from any other refusal.
            case holdingAnswer(CandidateSet, Attempt, ResponseFacts)
            case streaming(Stream)
            case finished
        }

        /// One try at one host.
        struct Attempt {
            var placement: Placement
            var connectStartedAt: NIODeadline
            /// The connection was kept alive from an earlier request (the host may have closed it meanwhile).
            var reusedConnection = false
            var staleConnectionRetried = false
        }

        /// What the answer being streamed to the client is.
        struct Stream {
            var placement: Placement
            var lastReadAt: NIODeadline
            var isEventStream: Bool
            /// Sent to the client with chunked framing (no `Content-Length`, HTTP/1.1).
            var isChunked: Bool
            var hasLength: Bool
            var upstreamKeepAlive: Bool
            /// The client stopped reading, so the host's silence is not the host's fault.
            var readingPaused = false
        }

        /// The timeouts and queue bound in force when the request arrived.
        struct Limits {
            var maxQueue: Int
            var queueTimeout: TimeAmount
            var responseHeaderTimeout: TimeAmount
            var readTimeout: TimeAmount
        }

        /// What the request asked for, as far as decisions go.
        struct Request {
            var model: String?
            var isKeepAlive: Bool
            /// HTTP/1.1 or later: a response without a length can be chunked.
            var allowsChunked: Bool
            var wantsTrailers: Bool
            /// The body continues a stored conversation (`previous_response_id`, DESIGN.md 6.9).
            var continuesConversation = false
        }

        /// A host that failed before anything reached the client.
        struct FailedAttempt {
            var placement: Placement
            var reason: String
            /// A connection error or timeout takes the host out of rotation; a 503 answer does not.
            var markDown: Bool
        }

        /// How the answer to the client ends.
        enum Ending: Equatable {
            /// The host's answer ended: write the end (with trailers when asked for), keep the client's
            /// connection when `keepAlive`, give the host's connection back when `reuseUpstream`.
            case complete(keepAlive: Bool, reuseUpstream: Bool, trailers: Bool)
            /// The answer held while deciding (``State/holdingAnswer(_:_:_:)``) is the answer: write it whole.
            case heldAnswer(keepAlive: Bool, reuseUpstream: Bool)
            /// The host failed mid-stream (for `reason`): an event stream gets an error event and a proper end
            /// when `errorEvent`; anything else is cut by closing the client's connection.
            case cut(reason: String, errorEvent: Bool, keepAlive: Bool)
            /// The client went away: close everything (and leave the queue with this ticket, when queued).
            case abandoned(leavingQueue: UInt64?)
        }

        enum Action {
            case none
            /// Ask the table for a slot among the candidates not tried yet; report with ``acquired(_:now:)``.
            case acquire(CandidateSet, excluding: EndpointSet)
            /// Every candidate is full: queue; report with ``enqueued(_:now:)``.
            case enqueue(CandidateSet, excluding: EndpointSet)
            /// Look the model up again after this wait (hosts still waiting for their first probe).
            case resolveAgain(after: TimeAmount)
            /// Lease a connection to the host (a new one when `fresh`); report with ``connected(reused:now:)`` or
            /// ``upstreamFailed(reason:now:)``.
            case connect(Placement, fresh: Bool)
            /// Write the request to the host.
            case send(Placement)
            /// Give the slot back, mark the host down when asked, note the failover; then ask for a slot again.
            case failOver(FailedAttempt, then: CandidateSet, excluding: EndpointSet)
            /// Write the host's response head, with the chunked framing and the trailer announced as said.
            case forwardHead(chunked: Bool, announceTrailer: Bool, keepAlive: Bool)
            case forwardBody
            /// Ask the queue to let the request go; report with ``queueLeft(_:now:)``.
            case leaveQueue(ticket: UInt64)
            /// A slot granted after the request ended: give it back.
            case releaseUnused(Placement)
            /// olla answers with its own error; no host holds a slot.
            case answer(ProxyError)
            /// End the exchange: release the host's slot (when one is held) with `hostSucceeded`, end the answer.
            case finish(Placement?, Ending, hostSucceeded: Bool, outcome: RequestRecord.Outcome)
            /// Pause or resume reading the host's answer (back-pressure from the client).
            case setUpstreamReading(Bool)
            /// Keep the host's answer (head, then body parts) instead of writing it: see ``State/holdingAnswer(_:_:_:)``.
            case holdAnswer
            case holdBody
        }

        private(set) var state = State.initialized
        let request: Request
        let limits: Limits
        let receivedAt: NIODeadline
        /// Hosts tried so far; never tried twice.
        private(set) var tried = EndpointSet()
        private(set) var failovers = 0
        private(set) var lastFailure: String?
        private var firstProbesDeadline: NIODeadline?
        /// The request goes to the host that holds its conversation, and to no other.
        private(set) var isPinned = false
        /// A host answered that it does not hold the conversation; its answer is kept, to be passed on when no
        /// other host holds it either.
        private var heldRefusal: ResponseFacts?
        private var holdingSince: NIODeadline?
        private(set) var queueNanoseconds: Int64 = 0
        private(set) var connectNanoseconds: Int64 = 0
        private(set) var timeToHeadNanoseconds: Int64?
        /// olla's own time before the request first left for a host: neither queue nor connect time.
        private(set) var overheadNanoseconds: Int64?
        let bodyReadyAt: NIODeadline
        private(set) var responseStatus = 0
        /// The model id the host received (nil when the body named none), for `X-Olla-Model` and the record.
        private(set) var sentModelID: String?

        /// - Parameters:
        ///   - receivedAt: when the request's head arrived.
        ///   - bodyReadyAt: when its body was complete and forwarding began.
        init(request: Request, limits: Limits, receivedAt: NIODeadline, bodyReadyAt: NIODeadline) {
            self.request = request
            self.limits = limits
            self.receivedAt = receivedAt
            self.bodyReadyAt = bodyReadyAt
        }

        /// The host whose slot the request holds, if any.
        var placement: Placement? {
            switch state {
            case .connecting(_, let attempt), .awaitingHead(_, let attempt, _), .holdingAnswer(_, let attempt, _):
                return attempt.placement
            case .streaming(let stream): return stream.placement
            default: return nil
            }
        }

        // MARK: Finding a host

        /// What looking the model up gave (DESIGN.md 6.1).
        enum Resolution {
            case found(CandidateSet)
            case ambiguous([String])
            /// No host lists the model. `unlisted`: hosts that never listed their models (down since start-up).
            case notFound(unlisted: [String])
            /// The body continues a conversation that olla saw this host answer: only it can go on with it.
            case pinned(CandidateSet)
            /// The host holding the conversation is down, or no longer has the model.
            case conversationUnavailable(endpoint: String, reason: String)
        }

        /// The model was looked up. `firstProbes`: the longest `check_timeout` of hosts never probed yet, nil
        /// when every host has been probed.
        mutating func resolved(
            _ resolution: Resolution,
            firstProbes: @autoclosure () -> TimeAmount?,
            now: NIODeadline
        ) -> Action {
            switch state {
            case .initialized, .awaitingFirstProbes: break
            default: return .none
            }
            switch resolution {
            case .found(let candidates):
                state = .choosing(candidates)
                return .acquire(candidates, excluding: tried)
            case .pinned(let candidates):
                isPinned = true
                state = .choosing(candidates)
                return .acquire(candidates, excluding: tried)
            case .conversationUnavailable(let endpoint, let reason):
                return answer(.conversationUnavailable(endpoint: endpoint, reason: reason))
            case .ambiguous(let ids):
                return answer(.modelAmbiguous(request.model ?? "", candidates: ids))
            case .notFound(let unlisted):
                if let wait = waitForFirstProbes(firstProbes(), now: now) { return wait }
                guard unlisted.isEmpty else {
                    // A host that never listed its models may well have this one.
                    return answer(
                        .noHealthyEndpoints(
                            "The model '\(request.model ?? "")' is not on any reachable endpoint; "
                                + "\(unlisted.joined(separator: ", ")) could not be asked for its models yet."
                        )
                    )
                }
                return answer(.modelNotFound(request.model ?? ""))
            }
        }

        /// Hosts never probed may have the model, or room: rather than answer 404 or 503 to a request that could
        /// be served a moment later (right after start-up or a reload), look again every 50 ms until their first
        /// probe must have finished.
        private mutating func waitForFirstProbes(_ longest: TimeAmount?, now: NIODeadline) -> Action? {
            guard tried.isEmpty, let longest else { return nil }
            let deadline = firstProbesDeadline ?? receivedAt + longest + .milliseconds(200)
            firstProbesDeadline = deadline
            guard now < deadline else { return nil }
            state = .awaitingFirstProbes
            return .resolveAgain(after: .milliseconds(50))
        }

        /// The table answered ``Action/acquire(_:excluding:)``.
        mutating func acquired(
            _ admission: RoutingTable.Admission,
            firstProbes: @autoclosure () -> TimeAmount?,
            now: NIODeadline
        ) -> Action {
            guard case .choosing(let candidates) = state else {
                if case .granted(let placement) = admission { return .releaseUnused(placement) }
                return .none
            }
            switch admission {
            case .granted(let placement):
                return begin(placement, candidates: candidates, now: now)
            case .full:
                guard limits.maxQueue > 0 else {
                    return answer(.overloaded("Every endpoint with this model is at its max_concurrency."))
                }
                return .enqueue(candidates, excluding: tried)
            case .unavailable:
                if let refusal = heldRefusal {
                    // No other host holds the conversation either: the last refusal is the answer.
                    state = .finished
                    responseStatus = refusal.status
                    return .finish(
                        nil,
                        .heldAnswer(
                            keepAlive: keepAlive(responseHasLength: true, closing: false),
                            reuseUpstream: false
                        ),
                        hostSucceeded: true,
                        outcome: .completed
                    )
                }
                if isPinned {
                    let endpoint = candidates.placements.first?.endpoint.name ?? "its endpoint"
                    let detail = lastFailure ?? "\(endpoint) is not healthy"
                    return answer(.conversationUnavailable(endpoint: endpoint, reason: detail))
                }
                if let wait = waitForFirstProbes(firstProbes(), now: now) { return wait }
                if tried.isEmpty {
                    if let model = request.model { return answer(.modelUnavailable(model)) }
                    return answer(.noHealthyEndpoints("No endpoint is healthy right now."))
                }
                let detail = lastFailure.map { " Last error: \($0)." } ?? ""
                return answer(.noHealthyEndpoints("Every endpoint that could serve this request failed.\(detail)"))
            }
        }

        /// The queue answered ``Action/enqueue(_:excluding:)``.
        mutating func enqueued(_ result: AdmissionQueue.Enqueued, now: NIODeadline) -> Action {
            guard case .choosing(let candidates) = state else {
                if case .granted(let placement) = result { return .releaseUnused(placement) }
                return .none
            }
            switch result {
            case .granted(let placement):
                return begin(placement, candidates: candidates, now: now)
            case .queued(let ticket):
                state = .queued(candidates, ticket: ticket, since: now, deadline: now + limits.queueTimeout)
                return .none
            case .full:
                return answer(.overloaded("Every endpoint with this model is busy and the queue is full (max_queue)."))
            }
        }

        /// A queued request was given a slot.
        mutating func granted(_ placement: Placement, now: NIODeadline) -> Action {
            switch state {
            case .queued(let candidates, _, let since, _), .leavingQueue(let candidates, let since):
                queueNanoseconds += (now - since).nanoseconds
                return begin(placement, candidates: candidates, now: now)
            default:
                // The request ended meanwhile; the slot was taken for it, so give it back.
                return .releaseUnused(placement)
            }
        }

        /// The queue answered ``Action/leaveQueue(ticket:)``: `left` is false when a grant is already on its way.
        mutating func queueLeft(_ left: Bool, now: NIODeadline) -> Action {
            guard case .leavingQueue = state, left else { return .none }
            return answer(.overloaded("No endpoint with this model had room within queue_timeout."))
        }

        private mutating func begin(_ placement: Placement, candidates: CandidateSet, now: NIODeadline) -> Action {
            tried.insert(placement.endpoint.ordinal)
            state = .connecting(candidates, Attempt(placement: placement, connectStartedAt: now))
            return .connect(placement, fresh: false)
        }

        // MARK: Sending

        /// A connection to the host is ready: send.
        mutating func connected(reused: Bool, now: NIODeadline) -> Action {
            guard case .connecting(let candidates, var attempt) = state else { return .none }
            attempt.reusedConnection = reused
            if !reused { connectNanoseconds += (now - attempt.connectStartedAt).nanoseconds }
            if overheadNanoseconds == nil {
                overheadNanoseconds = max(0, (now - bodyReadyAt).nanoseconds - queueNanoseconds - connectNanoseconds)
            }
            state = .awaitingHead(candidates, attempt, deadline: now + limits.responseHeaderTimeout)
            sentModelID = request.model == nil ? nil : attempt.placement.modelID
            return .send(attempt.placement)
        }

        /// The connection failed or closed: before the head it is a failover (or, for a kept-alive connection, one
        /// retry on a new one); during the stream it cuts the answer.
        mutating func upstreamFailed(reason: String, now: NIODeadline) -> Action {
            switch state {
            case .holdingAnswer(let candidates, let attempt, _):
                // Nothing of the held answer reached the client: as good as no answer.
                return failOver(
                    attempt.placement,
                    reason: "\(attempt.placement.endpoint.name) closed the connection: \(reason)",
                    markDown: true,
                    candidates: candidates
                )
            case .connecting(let candidates, let attempt):
                return failOver(
                    attempt.placement,
                    reason: "cannot connect to \(attempt.placement.endpoint.configuration.url): \(reason)",
                    markDown: true,
                    candidates: candidates
                )
            case .awaitingHead(let candidates, var attempt, _):
                if attempt.reusedConnection && !attempt.staleConnectionRetried {
                    // A kept-alive connection the host closed while it sat idle is not the host's failure.
                    attempt.staleConnectionRetried = true
                    attempt.reusedConnection = false
                    attempt.connectStartedAt = now
                    state = .connecting(candidates, attempt)
                    return .connect(attempt.placement, fresh: true)
                }
                let endpoint = attempt.placement.endpoint.name
                return failOver(
                    attempt.placement,
                    reason: "\(endpoint) closed the connection: \(reason)",
                    markDown: true,
                    candidates: candidates
                )
            case .streaming(let stream):
                return cut(stream, reason: "the endpoint closed the connection before the answer ended")
            default:
                return .none
            }
        }

        private mutating func failOver(
            _ placement: Placement,
            reason: String,
            markDown: Bool,
            candidates: CandidateSet
        ) -> Action {
            failovers += 1
            lastFailure = reason
            state = .choosing(candidates)
            let failed = FailedAttempt(placement: placement, reason: reason, markDown: markDown)
            return .failOver(failed, then: candidates, excluding: tried)
        }

        // MARK: The host's answer

        /// What the host's response head says about its body.
        struct ResponseFacts {
            var status: Int
            var hasLength: Bool
            var isEventStream: Bool
            var keepAlive: Bool
        }

        /// The host's response head arrived. A 503 before anything reached the client fails over; anything else
        /// goes to the client as it is.
        mutating func headReceived(_ facts: ResponseFacts, closing: Bool, now: NIODeadline) -> Action {
            guard case .awaitingHead(let candidates, let attempt, _) = state else { return .none }
            if facts.status == 503 {
                return failOver(
                    attempt.placement,
                    reason: "\(attempt.placement.endpoint.name) answered 503",
                    markDown: false,
                    candidates: candidates
                )
            }
            timeToHeadNanoseconds = (now - receivedAt).nanoseconds
            responseStatus = facts.status
            if request.continuesConversation && !isPinned && (facts.status == 400 || facts.status == 404) {
                state = .holdingAnswer(candidates, attempt, facts)
                holdingSince = now
                return .holdAnswer
            }
            let stream = Stream(
                placement: attempt.placement,
                lastReadAt: now,
                isEventStream: facts.isEventStream,
                isChunked: !facts.hasLength && request.allowsChunked,
                hasLength: facts.hasLength,
                upstreamKeepAlive: facts.keepAlive
            )
            state = .streaming(stream)
            return .forwardHead(
                chunked: stream.isChunked,
                announceTrailer: request.wantsTrailers && stream.isChunked,
                keepAlive: keepAlive(responseHasLength: facts.hasLength, closing: closing)
            )
        }

        /// A part of the host's body arrived.
        mutating func bodyReceived(now: NIODeadline) -> Action {
            if case .holdingAnswer = state { return .holdBody }
            guard case .streaming(var stream) = state else { return .none }
            stream.lastReadAt = now
            state = .streaming(stream)
            return .forwardBody
        }

        /// The host's answer ended.
        mutating func endReceived(closing: Bool) -> Action {
            guard case .streaming(let stream) = state else { return .none }
            state = .finished
            let ending = Ending.complete(
                keepAlive: keepAlive(responseHasLength: stream.hasLength, closing: closing),
                reuseUpstream: stream.upstreamKeepAlive,
                trailers: request.wantsTrailers && stream.isChunked
            )
            return .finish(stream.placement, ending, hostSucceeded: responseStatus < 500, outcome: .completed)
        }

        /// A held answer (``State/holdingAnswer(_:_:_:)``) was read whole. `notFound`: it says the host does not
        /// hold the conversation, so the next candidate is tried (DESIGN.md 6.9); anything else is the answer.
        mutating func heldAnswerEnded(notFound: Bool, closing: Bool) -> Action {
            guard case .holdingAnswer(let candidates, let attempt, let facts) = state else { return .none }
            guard notFound else {
                state = .finished
                let ending = Ending.heldAnswer(
                    keepAlive: keepAlive(responseHasLength: true, closing: closing),
                    reuseUpstream: facts.keepAlive
                )
                return .finish(attempt.placement, ending, hostSucceeded: true, outcome: .completed)
            }
            heldRefusal = facts
            let endpoint = attempt.placement.endpoint.name
            return failOver(
                attempt.placement,
                reason: "\(endpoint) does not hold the conversation",
                markDown: false,
                candidates: candidates
            )
        }

        /// The host failed after bytes reached the client: no retry (DESIGN.md 6.4).
        private mutating func cut(_ stream: Stream, reason: String) -> Action {
            state = .finished
            // Without chunked framing the only way to say "incomplete" is to close.
            let ending: Ending =
                stream.isEventStream && stream.isChunked
                ? .cut(reason: reason, errorEvent: true, keepAlive: keepAlive(responseHasLength: false, closing: false))
                : .cut(reason: reason, errorEvent: false, keepAlive: false)
            return .finish(stream.placement, ending, hostSucceeded: false, outcome: .upstreamFailedMidStream)
        }

        // MARK: Time and the client

        /// The sweep's look at the clock: the response head, the stream's silence, the queue.
        mutating func deadlinePassed(now: NIODeadline) -> Action {
            switch state {
            case .awaitingHead(let candidates, let attempt, let deadline) where deadline <= now:
                let endpoint = attempt.placement.endpoint.name
                return failOver(
                    attempt.placement,
                    reason: "\(endpoint): \(UpstreamError.responseHeaderTimeout)",
                    markDown: true,
                    candidates: candidates
                )
            case .streaming(var stream):
                if stream.readingPaused {
                    stream.lastReadAt = now
                    state = .streaming(stream)
                    return .none
                }
                guard now - stream.lastReadAt >= limits.readTimeout else { return .none }
                return cut(stream, reason: UpstreamError.readTimeout.description)
            case .holdingAnswer(let candidates, let attempt, _):
                guard let since = holdingSince, now - since >= limits.readTimeout else { return .none }
                return failOver(
                    attempt.placement,
                    reason: "\(attempt.placement.endpoint.name): \(UpstreamError.readTimeout)",
                    markDown: true,
                    candidates: candidates
                )
            case .queued(let candidates, let ticket, let since, let deadline) where deadline <= now:
                state = .leavingQueue(candidates, since: since)
                return .leaveQueue(ticket: ticket)
            default:
                return .none
            }
        }

        /// The client can take more, or cannot: pause or resume the host.
        mutating func clientWritabilityChanged(isWritable: Bool) -> Action {
            guard case .streaming(var stream) = state else { return .none }
            stream.readingPaused = !isWritable
            state = .streaming(stream)
            return .setUpstreamReading(isWritable)
        }

        /// The client went away: the host's work stops at once and the slot is given back.
        mutating func clientClosed() -> Action {
            let placement = self.placement
            switch state {
            case .finished:
                return .none
            case .queued(_, let ticket, _, _):
                // When the leave fails, the grant arrives later and releases its slot (``granted(_:now:)``).
                state = .finished
                return .finish(nil, .abandoned(leavingQueue: ticket), hostSucceeded: true, outcome: .clientClosed)
            default:
                state = .finished
                return .finish(placement, .abandoned(leavingQueue: nil), hostSucceeded: true, outcome: .clientClosed)
            }
        }

        // MARK: Endings

        private mutating func answer(_ problem: ProxyError) -> Action {
            state = .finished
            responseStatus = Int(problem.status.code)
            return .answer(problem)
        }

        /// Whether the client's connection stays open after this answer: the client asked for it, the
        /// connection is not closing (drain), and an HTTP/1.0 client can tell where the answer ends.
        func keepAlive(responseHasLength: Bool, closing: Bool) -> Bool {
            KeepAlive.allowed(
                requested: request.isKeepAlive,
                http11: request.allowsChunked,
                closing: closing,
                responseHasLength: responseHasLength
            )
        }
    }
}
