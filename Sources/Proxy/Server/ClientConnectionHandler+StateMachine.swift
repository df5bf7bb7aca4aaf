import NIOCore
import NIOHTTP1

extension ClientConnectionHandler {
    /// Every decision of a client connection, without I/O: when a request starts and ends, which requests wait
    /// their turn (HTTP pipelining), the limits a request is held to (`max_body_size`, the bound on buffered
    /// bodies, `read_timeout`), which heads and bytes are refused and how (DESIGN.md 6.5), whether the
    /// connection stays open after an answer, and when it closes (drain, `idle_timeout`, an early answer).
    ///
    /// It receives events (the connection opened, a part of a request arrived, the head, a body part, the end,
    /// the answer done, a parser error, a drain, a deadline, the client gone) and returns the ``Action`` that
    /// ``ClientConnectionHandler`` performs; events where time matters carry it, and the route is passed in as
    /// it is decided, so a test drives the machine without a channel, a clock or a router. In the manner of
    /// async-http-client's `HTTP1ConnectionStateMachine`, like ``ForwardedRequest/StateMachine``.
    ///
    /// The handler keeps what is I/O or memory: the body bytes themselves, their reservation against
    /// `max_buffered_body` (an atomic shared by every connection: the machine is told when it is refused), and
    /// the ``ForwardedRequest`` in progress.
    struct StateMachine {
        /// Where the connection is.
        enum State {
            /// Between requests (kept alive), or before the first.
            case idle
            /// A request's head was read and routed; its body is being read.
            case receiving(RouteDecision)
            /// olla's own answer is being written (a local route, or an error); the write is synchronous, so the
            /// handler reports ``requestDone(keepAlive:now:)`` right after.
            case answering
            /// A proxied request is in progress (``ForwardedRequest``), until it reports
            /// ``requestDone(keepAlive:now:)``.
            case forwarding
            /// The last answer ends the connection (answered early, not kept alive, or a drain): whatever the
            /// client still sends is dropped, and a new request closes the connection at once. The writer of the
            /// answer closes it once the answer is flushed (after a lingering close for an early answer).
            case discarding
            case closed
        }

        /// The limits of `server` in force when a request's head arrived.
        struct Limits {
            var maxBodySize: Int
            var readTimeout: TimeAmount
            var idleTimeout: TimeAmount
        }

        enum Action {
            case none
            /// Read this part now: report it with ``headReceived(_:limits:route:newRequestID:now:)``,
            /// ``bodyReceived(_:)`` or ``endReceived()``.
            case process(HTTPServerRequestPart)
            /// Stop reading from the socket (parts are held, or the connection is about to close).
            case pauseReading
            /// Read from the socket again: the held parts were all handled.
            case resumeReading
            /// Take the held parts with ``nextHeldPart()`` and process each, then report ``replayEnded(now:)``.
            case replayHeldParts
            /// The connection is admitted: watch its deadlines (``deadlinePassed(now:)``) and let it start.
            case watchDeadlines
            case close
            /// Write `100 Continue`: the client waits for it before sending the body (curl does).
            case writeContinue
            /// Keep this body part, after reserving its bytes against `max_buffered_body`; when that is refused,
            /// report ``bufferedBodyRefused()``.
            case buffer(ByteBuffer)
            /// Answer before the request was read to its end, without keep-alive, and drop what the client still
            /// sends before closing (``LingeringCloseHandler``); then report ``requestDone(keepAlive:now:)``.
            case answerEarly(ProxyError)
            /// Answer with olla's error once the request was read whole; then report ``requestDone(keepAlive:now:)``.
            case answer(ProxyError, keepAlive: Bool)
            /// Answer from the local route; then report ``requestDone(keepAlive:now:)``.
            case answerLocally(LocalRoute, keepAlive: Bool)
            /// Check the body as the route needs (``bodyRefused(_:)`` when it is not), then hand the request to a
            /// ``ForwardedRequest``, which reports ``requestDone(keepAlive:now:)`` when its answer is written.
            case forward(ForwardTarget)
            /// The forwarded request checks its own deadlines.
            case checkForwardedDeadlines(NIODeadline)
            /// The client went away while its request was forwarded: tell the forwarded request.
            case abandonForwarded
        }

        private(set) var state = State.idle
        /// The head of the request being read or answered; nil between requests.
        private(set) var head: HTTPRequestHead?
        /// The id of the last request that had one: the client's `X-Request-ID` or olla's own.
        private(set) var requestID = ""
        /// When the last request's head arrived (or, for a head that could not be parsed, when that was seen).
        private(set) var receivedAt = NIODeadline.uptimeNanoseconds(0)
        /// Body bytes of the last request that had a head, counted as they arrive (also those refused).
        private(set) var bodyBytes = 0
        private var maxBodySize = 0
        /// `server.idle_timeout` of the last request (or of the configuration when the connection opened).
        private var idleTimeout = TimeAmount.zero
        /// When an idle kept-alive connection is closed (`server.idle_timeout`).
        private(set) var idleDeadline: NIODeadline?
        /// When a request still being read is cut (`server.read_timeout`).
        private(set) var readDeadline: NIODeadline?
        /// Parts of requests that arrived while an answer was still being written (HTTP pipelining), handled in
        /// order once it is done. Reading stops meanwhile, so this holds at most what the last read brought.
        private var held: [HTTPServerRequestPart] = []
        /// A pipelined request that could not be parsed, answered once the requests held before it are (with the
        /// request id taken when it was seen).
        private var pendingParseError: (ProxyError, String)?
        private(set) var readingPaused = false
        private var replaying = false
        /// Close once the current answer is written (graceful drain, or an unreadable pipelined request).
        private(set) var closesAfterResponse = false

        /// Whether a response is being produced, so a new request must wait its turn.
        private var isAnswering: Bool {
            switch state {
            case .forwarding, .answering: return true
            default: return false
            }
        }

        /// The number of parts held for later.
        var heldParts: Int { held.count }

        // MARK: The connection

        /// The connection was accepted by the socket; `admitted`: it is within `max_connections`.
        mutating func connectionOpened(admitted: Bool, idleTimeout: TimeAmount, now: NIODeadline) -> Action {
            guard admitted else {
                state = .closed
                return .close
            }
            self.idleTimeout = idleTimeout
            idleDeadline = now + idleTimeout
            return .watchDeadlines
        }

        /// The connection closed; a forwarded request learns that its client is gone.
        mutating func connectionClosed() -> Action {
            idleDeadline = nil
            readDeadline = nil
            let wasForwarding: Bool
            if case .forwarding = state { wasForwarding = true } else { wasForwarding = false }
            state = .closed
            return wasForwarding ? .abandonForwarded : .none
        }

        /// Graceful drain: an idle connection closes now, a busy one once its answer is written.
        mutating func quiesce() -> Action {
            if case .idle = state, held.isEmpty { return .close }
            closesAfterResponse = true
            return .none
        }

        // MARK: Reading a request

        /// A part of a request arrived from the decoder. While an answer is in progress, or parts already wait, it
        /// is held for later and reading stops until the answers caught up (pipelining); else it is processed now.
        mutating func partReceived(_ part: HTTPServerRequestPart) -> Action {
            guard isAnswering || !held.isEmpty else { return .process(part) }
            held.append(part)
            return pauseReading()
        }

        /// A request's head arrived.
        /// - Parameters:
        ///   - limits: the server's limits now, which hold for this request.
        ///   - route: where the request goes; decided only for a head that is not refused.
        ///   - newRequestID: an id of olla's, taken when the client sent no usable `X-Request-ID`.
        mutating func headReceived(
            _ head: HTTPRequestHead,
            limits: Limits,
            route: @autoclosure () -> RouteDecision,
            newRequestID: @autoclosure () -> String,
            now: NIODeadline
        ) -> Action {
            switch state {
            case .idle:
                break
            case .discarding:
                // A request sent behind an answer that ends the connection (an early 413, a `Connection: close`):
                // dropped, as the lingering close drops what follows, so that the answer is not cut by a close.
                return .none
            default:
                // A new head while the last request's body was still expected: the decoder never does that.
                return .close
            }
            idleDeadline = nil
            receivedAt = now
            self.head = head
            bodyBytes = 0
            maxBodySize = limits.maxBodySize
            idleTimeout = limits.idleTimeout
            requestID = ClientConnectionHandler.requestID(from: head.headers) ?? newRequestID()
            readDeadline = now + limits.readTimeout
            if let refusal = HeaderRules.refusal(of: head) {
                return answerEarly(.invalidRequest("Malformed HTTP request: \(refusal)."))
            }
            if let declared = head.headers.first(name: "content-length").flatMap({ Int($0) }),
                declared > limits.maxBodySize
            {
                return answerEarly(tooLarge)
            }
            state = .receiving(route())
            // curl waits for this before sending a large body.
            if head.headers.contains(name: "expect"), head.headers.first(name: "expect")?.lowercased() == "100-continue"
            {
                return .writeContinue
            }
            return .none
        }

        /// A part of the body arrived: kept while the body stays within `max_body_size`, 413 past it.
        mutating func bodyReceived(_ part: ByteBuffer) -> Action {
            guard case .receiving = state else { return .none }
            bodyBytes += part.readableBytes
            guard bodyBytes <= maxBodySize else { return answerEarly(tooLarge) }
            return .buffer(part)
        }

        /// The part of ``Action/buffer(_:)`` would take the bytes held over all connections past
        /// `max_buffered_body`: 503 `overloaded`, which frees what this request held.
        mutating func bufferedBodyRefused() -> Action {
            guard case .receiving = state else { return .none }
            return answerEarly(
                .overloaded(
                    "olla holds as many request bodies as it may (server.request_limits.max_buffered_body); try again."
                )
            )
        }

        /// The request was read to its end: answer it locally or forward it.
        mutating func endReceived() -> Action {
            readDeadline = nil
            switch state {
            case .receiving(let decision):
                switch decision {
                case .respond(let route):
                    state = .answering
                    return .answerLocally(route, keepAlive: keepsAlive)
                case .forward(let target):
                    state = .forwarding
                    return .forward(target)
                }
            case .discarding:
                return .none
            default:
                return .close
            }
        }

        /// The body of a request to forward is not what its route needs (the JSON check): olla answers, and the
        /// connection stays open as the request asked.
        mutating func bodyRefused(_ problem: ProxyError) -> Action {
            guard case .forwarding = state else { return .none }
            state = .answering
            return .answer(problem, keepAlive: keepsAlive)
        }

        /// The decoder or the channel failed. A request that cannot be parsed ends the connection, after a JSON
        /// answer when nothing was sent yet; what follows an early answer is dropped, whatever it is.
        /// - Parameter newRequestID: an id of olla's for the answer, taken when no request of this connection had
        ///   one yet.
        mutating func errorCaught(
            _ error: any Error,
            newRequestID: @autoclosure () -> String,
            now: NIODeadline
        ) -> Action {
            guard let parserError = error as? HTTPParserError else { return .close }
            if isAnswering || !held.isEmpty {
                if case .discarding = state { return .none }
                // A pipelined request that cannot be parsed: the whole requests held before it are still answered,
                // in order; then its own 400, and the end of the connection (``replayEnded(now:)``). What was held
                // of the request itself goes.
                if let lastEnd = held.lastIndex(where: { if case .end = $0 { return true } else { return false } }) {
                    held.removeSubrange((lastEnd + 1)...)
                } else {
                    held.removeAll()
                }
                pendingParseError = (Self.problem(parserError), newRequestID())
                return pauseReading()
            }
            switch state {
            case .discarding:
                // Answered already (413, 503 for memory): what the client sends after is dropped.
                return .none
            case .idle, .receiving:
                let problem = Self.problem(parserError)
                if case .idle = state {
                    // A head that could not be parsed never started a request: it gets an id of its own (not the
                    // last request's, on a kept-alive connection), no body, and is timed from now.
                    requestID = newRequestID()
                    bodyBytes = 0
                    receivedAt = now
                } else if requestID.isEmpty {
                    requestID = newRequestID()
                }
                return answerEarly(problem)
            default:
                return .close
            }
        }

        // MARK: Ending a request

        /// The last part of the current answer was written. `keepAlive`: the answer left the connection open.
        /// The next request may start: the ones held meanwhile are replayed in order.
        mutating func requestDone(keepAlive: Bool, now: @autoclosure () -> NIODeadline) -> Action {
            guard isAnswering else { return .none }
            head = nil
            guard keepAlive, !closesAfterResponse else {
                // The writer of the last part closes the connection once it is flushed.
                state = .discarding
                held.removeAll()
                return .none
            }
            state = .idle
            idleDeadline = now() + idleTimeout
            // A held request answered at once ends here again; the replay under way goes on from there.
            guard !replaying, !held.isEmpty || readingPaused else { return .none }
            replaying = true
            return .replayHeldParts
        }

        /// The next held part to process during ``Action/replayHeldParts``, until one request needs time (it is
        /// forwarded) or the connection ends.
        mutating func nextHeldPart() -> HTTPServerRequestPart? {
            guard !held.isEmpty, !isAnswering else { return nil }
            switch state {
            case .closed, .discarding: return nil
            default: return held.removeFirst()
            }
        }

        /// The replay of held parts stopped: reading resumes once none is left.
        mutating func replayEnded(now: NIODeadline) -> Action {
            replaying = false
            if held.isEmpty, case .idle = state, let (problem, id) = pendingParseError {
                // Every request before the one that could not be parsed was answered: now its answer, and the end.
                pendingParseError = nil
                requestID = id
                bodyBytes = 0
                receivedAt = now
                idleDeadline = nil
                return answerEarly(problem)
            }
            guard held.isEmpty, readingPaused else { return .none }
            readingPaused = false
            return .resumeReading
        }

        // MARK: Time

        /// The sweep's look at the clock: `idle_timeout` between requests, `read_timeout` while one is read, then
        /// the forwarded request's own deadlines.
        mutating func deadlinePassed(now: NIODeadline) -> Action {
            if let deadline = idleDeadline, deadline <= now, case .idle = state, held.isEmpty {
                idleDeadline = nil
                return .close
            }
            if let deadline = readDeadline, deadline <= now {
                readDeadline = nil
                guard case .receiving = state else { return .none }
                return answerEarly(
                    ProxyError(
                        status: .requestTimeout,
                        code: "request_timeout",
                        type: "invalid_request_error",
                        message: "The request was not received within server.read_timeout."
                    )
                )
            }
            if case .forwarding = state { return .checkForwardedDeadlines(now) }
            return .none
        }

        // MARK: Answers

        private var tooLarge: ProxyError {
            .requestTooLarge("The request body is larger than max_body_size (\(maxBodySize) bytes).")
        }

        /// Answers before the request was read to its end, so without keep-alive.
        /// The answer to a request that could not be parsed.
        private static func problem(_ parserError: HTTPParserError) -> ProxyError {
            if case .headerOverflow = parserError {
                return .requestTooLarge("The request head is larger than max_header_size.", headers: true)
            }
            return .invalidRequest("Malformed HTTP request: \(parserError).")
        }

        private mutating func answerEarly(_ problem: ProxyError) -> Action {
            readDeadline = nil
            state = .answering
            return .answerEarly(problem)
        }

        private mutating func pauseReading() -> Action {
            guard !readingPaused else { return .none }
            readingPaused = true
            return .pauseReading
        }

        /// Whether the connection stays open after olla's own answer (always with a length): the request asked
        /// for it and the connection is not closing.
        private var keepsAlive: Bool {
            KeepAlive.allowed(
                requested: head?.isKeepAlive ?? false,
                http11: true,
                closing: closesAfterResponse,
                responseHasLength: true
            )
        }
    }
}
