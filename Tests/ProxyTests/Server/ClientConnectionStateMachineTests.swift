import NIOCore
import NIOHTTP1
import Testing

@testable import Proxy

/// Every transition of a client connection, driven without a channel, a clock or a router: each event carries
/// its time and the route its head was given, and each test reads the action the machine returns.
@Suite struct ClientConnectionStateMachineTests {
    typealias Machine = ClientConnectionHandler.StateMachine

    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    let limits = Machine.Limits(maxBodySize: 1000, readTimeout: .seconds(30), idleTimeout: .seconds(75))
    let chat = RouteDecision.forward(ForwardTarget(upstreamPath: "/v1/chat/completions", requiresJSONBody: true))
    let health = RouteDecision.respond { _ in .json(.ok, "{\"status\":\"healthy\"}") }

    func at(_ milliseconds: Int64) -> NIODeadline { start + .milliseconds(milliseconds) }

    /// A machine of an admitted connection, idle since `at(0)`.
    func opened() -> Machine {
        var machine = Machine()
        _ = machine.connectionOpened(admitted: true, idleTimeout: limits.idleTimeout, now: at(0))
        return machine
    }

    func head(
        _ method: HTTPMethod = .POST,
        _ uri: String = "/olla/lmstudio/v1/chat/completions",
        version: HTTPVersion = .http1_1,
        _ headers: [(String, String)] = []
    ) -> HTTPRequestHead {
        HTTPRequestHead(version: version, method: method, uri: uri, headers: HTTPHeaders([("Host", "olla")] + headers))
    }

    func bytes(_ count: Int) -> ByteBuffer { ByteBuffer(repeating: UInt8(ascii: "x"), count: count) }

    /// Reports a head, with olla's id `olla-1` when the client sent none.
    func receive(
        _ head: HTTPRequestHead,
        _ machine: inout Machine,
        route: RouteDecision,
        at milliseconds: Int64 = 0
    ) -> Machine.Action {
        machine.headReceived(head, limits: limits, route: route, newRequestID: "olla-1", now: at(milliseconds))
    }

    /// A machine forwarding a chat request that arrived at `at(0)`.
    func forwarding() -> Machine {
        var machine = opened()
        _ = receive(head(), &machine, route: chat)
        _ = machine.bodyReceived(bytes(10))
        _ = machine.endReceived()
        return machine
    }

    // MARK: Requests

    @Test func aRequestReadWholeIsForwarded() {
        var machine = opened()
        guard case .process(.head(let part)) = machine.partReceived(.head(head())) else {
            return unexpected("an idle connection processes a head at once")
        }
        guard case .none = receive(part, &machine, route: chat, at: 5) else { return unexpected("expected nothing") }
        guard case .receiving = machine.state else { return unexpected("expected receiving") }
        #expect(machine.requestID == "olla-1" && machine.receivedAt == at(5))
        #expect(machine.idleDeadline == nil && machine.readDeadline == at(30_005))
        guard case .buffer(let first) = machine.bodyReceived(bytes(10)) else { return unexpected("expected buffer") }
        guard case .buffer = machine.bodyReceived(bytes(990)) else { return unexpected("expected buffer") }
        #expect(first.readableBytes == 10 && machine.bodyBytes == 1000)
        guard case .forward(let target) = machine.endReceived() else { return unexpected("expected forward") }
        #expect(target.upstreamPath == "/v1/chat/completions")
        guard case .forwarding = machine.state else { return unexpected("expected forwarding") }
        #expect(machine.readDeadline == nil)
    }

    @Test func theClientsRequestIDIsKeptAndNoneIsMade() {
        var machine = opened()
        var made = 0
        func newID() -> String {
            made += 1
            return "olla-2"
        }
        _ = machine.headReceived(
            head(.GET, "/internal/health", [("X-Request-ID", "client-7")]),
            limits: limits,
            route: health,
            newRequestID: newID(),
            now: at(0)
        )
        #expect(machine.requestID == "client-7" && made == 0)
    }

    @Test func aLocalAnswerKeepsTheConnectionAndArmsTheIdleDeadline() {
        var machine = opened()
        _ = receive(head(.GET, "/internal/health"), &machine, route: health)
        guard case .answerLocally(_, let keepAlive) = machine.endReceived() else {
            return unexpected("expected a local answer")
        }
        #expect(keepAlive)
        guard case .answering = machine.state else { return unexpected("expected answering") }
        guard case .none = machine.requestDone(keepAlive: true, now: at(20)) else { return unexpected("nothing held") }
        guard case .idle = machine.state else { return unexpected("expected idle") }
        #expect(machine.idleDeadline == at(20) + limits.idleTimeout && machine.head == nil)
        // The next request starts as the first did.
        guard case .none = receive(head(.GET, "/internal/health"), &machine, route: health, at: 30) else {
            return unexpected("expected a second request")
        }
    }

    @Test func connectionCloseEndsTheConnectionAfterALocalAnswer() {
        var machine = opened()
        _ = receive(head(.GET, "/internal/health", [("Connection", "close")]), &machine, route: health)
        guard case .answerLocally(_, false) = machine.endReceived() else { return unexpected("expected no keep-alive") }
        guard case .none = machine.requestDone(keepAlive: false, now: at(1)) else { return unexpected("nothing") }
        guard case .discarding = machine.state else { return unexpected("expected discarding") }
        #expect(machine.idleDeadline == nil)
        // The client sends another request anyway: it is dropped, and the connection closes once the answer is out
        // (closing at once could cut the answer still being written).
        guard case .process(.head(let next)) = machine.partReceived(.head(head())) else {
            return unexpected("expected to process")
        }
        guard case .none = receive(next, &machine, route: chat) else { return unexpected("expected it dropped") }
        guard case .discarding = machine.state else { return unexpected("expected discarding") }
    }

    @Test func http10KeepsTheConnectionOnlyWhenItAsks() {
        var plain = opened()
        _ = receive(head(.GET, "/internal/health", version: .http1_0), &plain, route: health)
        guard case .answerLocally(_, false) = plain.endReceived() else { return unexpected("expected no keep-alive") }

        var asking = opened()
        _ = receive(
            head(.GET, "/internal/health", version: .http1_0, [("Connection", "keep-alive")]),
            &asking,
            route: health
        )
        guard case .answerLocally(_, true) = asking.endReceived() else { return unexpected("expected keep-alive") }
    }

    @Test func aBodyRefusedByTheJSONCheckIsAnsweredOnAKeptConnection() {
        var machine = forwarding()
        guard case .answer(let problem, true) = machine.bodyRefused(.invalidRequest("not JSON")) else {
            return unexpected("expected an answer with keep-alive")
        }
        #expect(problem.status == .badRequest)
        guard case .answering = machine.state else { return unexpected("expected answering") }
    }

    // MARK: Limits

    @Test func aDeclaredBodyOverMaxBodySizeIs413AnsweredEarlyWithoutRouting() {
        var machine = opened()
        var routed = 0
        func route() -> RouteDecision {
            routed += 1
            return chat
        }
        let action = machine.headReceived(
            head(.POST, "/olla/lmstudio/v1/chat/completions", [("Content-Length", "1001")]),
            limits: limits,
            route: route(),
            newRequestID: "olla-1",
            now: at(0)
        )
        guard case .answerEarly(let problem) = action else { return unexpected("expected an early answer") }
        #expect(problem.status == .payloadTooLarge && problem.code == "request_too_large")
        #expect(problem.message.contains("1000 bytes") && routed == 0)
        #expect(machine.readDeadline == nil)
        guard case .answering = machine.state else { return unexpected("expected answering") }
        guard case .none = machine.requestDone(keepAlive: false, now: at(1)) else { return unexpected("nothing") }
        guard case .discarding = machine.state else { return unexpected("expected discarding") }
        // What the client still sends is dropped.
        guard case .none = machine.bodyReceived(bytes(500)) else { return unexpected("expected the body dropped") }
        guard case .none = machine.endReceived() else { return unexpected("expected the end dropped") }
    }

    @Test func aStreamedBodyOverMaxBodySizeIs413AnsweredEarly() {
        var machine = opened()
        _ = receive(
            head(.POST, "/olla/lmstudio/v1/chat/completions", [("Transfer-Encoding", "chunked")]),
            &machine,
            route: chat
        )
        guard case .buffer = machine.bodyReceived(bytes(600)) else { return unexpected("expected buffer") }
        guard case .answerEarly(let problem) = machine.bodyReceived(bytes(401)) else {
            return unexpected("expected an early answer")
        }
        #expect(problem.status == .payloadTooLarge && machine.bodyBytes == 1001)
    }

    @Test func aRefusedBufferReservationIs503Overloaded() {
        var machine = opened()
        _ = receive(head(), &machine, route: chat)
        guard case .buffer = machine.bodyReceived(bytes(100)) else { return unexpected("expected buffer") }
        guard case .answerEarly(let problem) = machine.bufferedBodyRefused() else {
            return unexpected("expected an early answer")
        }
        #expect(problem.status == .serviceUnavailable && problem.code == "overloaded" && problem.retryAfter == 1)
        #expect(problem.message.contains("max_buffered_body"))
        _ = machine.requestDone(keepAlive: false, now: at(1))
        guard case .none = machine.bufferedBodyRefused() else { return unexpected("answered already") }
    }

    @Test func aHeadRefusedByTheRulesIs400WithoutRouting() {
        for headers in [[("Host", "other")], [("Transfer-Encoding", "gzip")]] {
            var machine = opened()
            var routed = 0
            func route() -> RouteDecision {
                routed += 1
                return chat
            }
            let action = machine.headReceived(
                head(.POST, "/olla/lmstudio/v1/chat/completions", headers),
                limits: limits,
                route: route(),
                newRequestID: "olla-1",
                now: at(0)
            )
            guard case .answerEarly(let problem) = action else { return unexpected("expected an early answer") }
            #expect(problem.status == .badRequest && problem.message.hasPrefix("Malformed HTTP request"))
            #expect(routed == 0 && machine.head != nil)
        }
    }

    @Test func expectContinueWritesTheInterimAnswer() {
        var asking = opened()
        guard
            case .writeContinue = receive(
                head(.POST, "/olla/lmstudio/v1/chat/completions", [("Expect", "100-Continue")]),
                &asking,
                route: chat
            )
        else {
            return unexpected("expected 100 Continue")
        }
        guard case .receiving = asking.state else { return unexpected("expected receiving") }
        var other = opened()
        guard
            case .none = receive(
                head(.POST, "/olla/lmstudio/v1/chat/completions", [("Expect", "something")]),
                &other,
                route: chat
            )
        else {
            return unexpected("expected nothing")
        }
    }

    // MARK: Parse errors

    @Test func aParseErrorWhileIdleIs400TimedFromNow() {
        var machine = opened()
        guard
            case .answerEarly(let problem) = machine.errorCaught(
                HTTPParserError.invalidHeaderToken,
                newRequestID: "olla-9",
                now: at(500)
            )
        else {
            return unexpected("expected an early answer")
        }
        #expect(problem.status == .badRequest && problem.message.contains("Malformed HTTP request"))
        #expect(machine.receivedAt == at(500) && machine.requestID == "olla-9")
        var overflowing = opened()
        guard
            case .answerEarly(let tooLarge) = overflowing.errorCaught(
                HTTPParserError.headerOverflow,
                newRequestID: "olla-9",
                now: at(500)
            )
        else {
            return unexpected("expected an early answer")
        }
        #expect(tooLarge.status == .requestHeaderFieldsTooLarge && tooLarge.code == "request_too_large")
    }

    @Test func aParseErrorAfterAKeptAliveRequestGetsAnIDOfItsOwn() {
        var machine = forwarding()
        #expect(machine.requestID == "olla-1" && machine.bodyBytes == 10)
        guard case .none = machine.requestDone(keepAlive: true, now: at(200)) else {
            return unexpected("expected nothing")
        }
        guard
            case .answerEarly = machine.errorCaught(
                HTTPParserError.invalidHeaderToken,
                newRequestID: "olla-2",
                now: at(300)
            )
        else {
            return unexpected("expected an early answer")
        }
        #expect(machine.requestID == "olla-2" && machine.bodyBytes == 0 && machine.receivedAt == at(300))
    }

    @Test func aParseErrorWhileReceivingIs400TimedFromTheHead() {
        var machine = opened()
        _ = receive(head(), &machine, route: chat, at: 10)
        guard
            case .answerEarly(let problem) = machine.errorCaught(
                HTTPParserError.invalidChunkSize,
                newRequestID: "olla-9",
                now: at(500)
            )
        else {
            return unexpected("expected an early answer")
        }
        #expect(problem.status == .badRequest)
        #expect(machine.receivedAt == at(10) && machine.requestID == "olla-1")
        #expect(machine.readDeadline == nil)
    }

    @Test func aParseErrorBehindAnAnswerIsAnsweredAfterTheWholeRequestsBeforeIt() {
        var machine = forwarding()
        // Behind the forwarded request: a whole one, then the head of one whose bytes cannot be parsed.
        guard case .pauseReading = machine.partReceived(.head(head(.GET, "/internal/health"))) else {
            return unexpected("expected a pause")
        }
        _ = machine.partReceived(.end(nil))
        _ = machine.partReceived(.head(head()))
        guard case .none = machine.errorCaught(HTTPParserError.invalidMethod, newRequestID: "olla-9", now: at(5)) else {
            return unexpected("reading is paused already")
        }
        // The broken request's own parts go; the whole one before it stays, and the connection is not closing yet.
        #expect(!machine.closesAfterResponse && machine.heldParts == 2)
        guard case .replayHeldParts = machine.requestDone(keepAlive: true, now: at(6)) else {
            return unexpected("expected the held request replayed")
        }
        guard case .head(let held) = machine.nextHeldPart() else { return unexpected("expected the held head") }
        _ = receive(held, &machine, route: health, at: 6)
        guard case .end = machine.nextHeldPart(), case .answerLocally(_, true) = machine.endReceived() else {
            return unexpected("expected the held request answered, kept alive")
        }
        _ = machine.requestDone(keepAlive: true, now: at(7))
        let none = machine.nextHeldPart()
        #expect(none == nil)
        // Then the broken request's 400, with an id of its own, and the connection ends after it.
        guard case .answerEarly(let problem) = machine.replayEnded(now: at(8)) else {
            return unexpected("expected the 400 after the held request")
        }
        #expect(problem.status == .badRequest && machine.requestID == "olla-9" && machine.receivedAt == at(8))

        // Nothing whole held: the 400 follows the current answer at once.
        var alone = forwarding()
        guard case .pauseReading = alone.errorCaught(HTTPParserError.invalidMethod, newRequestID: "olla-8", now: at(5))
        else {
            return unexpected("expected a pause")
        }
        guard case .replayHeldParts = alone.requestDone(keepAlive: true, now: at(6)) else {
            return unexpected("expected the replay that ends in the 400")
        }
        let nothing = alone.nextHeldPart()
        #expect(nothing == nil)
        guard case .answerEarly = alone.replayEnded(now: at(7)) else { return unexpected("expected the 400") }

        // The current answer ends the connection: nothing more is answered.
        var closing = forwarding()
        _ = closing.errorCaught(HTTPParserError.invalidMethod, newRequestID: "olla-7", now: at(5))
        guard case .none = closing.requestDone(keepAlive: false, now: at(6)) else { return unexpected("expected none") }
        guard case .discarding = closing.state else { return unexpected("expected discarding") }
    }

    @Test func aParseErrorAfterAnEarlyAnswerIsIgnored() {
        var machine = opened()
        _ = receive(
            head(.POST, "/olla/lmstudio/v1/chat/completions", [("Content-Length", "5000")]),
            &machine,
            route: chat
        )
        _ = machine.requestDone(keepAlive: false, now: at(1))
        guard case .none = machine.errorCaught(HTTPParserError.invalidChunkSize, newRequestID: "olla-9", now: at(2))
        else {
            return unexpected("expected the error ignored")
        }
        guard case .discarding = machine.state else { return unexpected("expected discarding") }
    }

    @Test func aRequestBehindAnAnswerThatEndsTheConnectionIsDroppedNotClosedOn() {
        var machine = opened()
        guard
            case .answerEarly = receive(
                head(.POST, "/olla/lmstudio/v1/chat/completions", [("Content-Length", "5000")]),
                &machine,
                route: chat
            )
        else {
            return unexpected("expected an early answer")
        }
        _ = machine.requestDone(keepAlive: false, now: at(1))
        // Closing here would drop the 413 still being written; the lingering close reads and drops the rest.
        guard case .none = receive(head(), &machine, route: chat, at: 2) else {
            return unexpected("expected the request dropped")
        }
        guard case .discarding = machine.state else { return unexpected("expected discarding") }
        guard case .none = machine.endReceived() else { return unexpected("expected nothing") }
    }

    @Test func anErrorOtherThanParsingCloses() {
        var machine = opened()
        guard case .close = machine.errorCaught(ChannelError.ioOnClosedChannel, newRequestID: "olla-9", now: at(1))
        else {
            return unexpected("expected close")
        }
    }

    // MARK: Pipelining

    @Test func heldRequestsAreReplayedInOrderOnceTheAnswerIsDone() {
        var machine = forwarding()
        let second = head(.GET, "/internal/health")
        let third = head(.POST, "/olla/lmstudio/v1/embeddings")
        guard case .pauseReading = machine.partReceived(.head(second)) else { return unexpected("expected a pause") }
        for part: HTTPServerRequestPart in [.end(nil), .head(third), .body(bytes(4)), .end(nil)] {
            guard case .none = machine.partReceived(part) else { return unexpected("expected the part held") }
        }
        #expect(machine.heldParts == 5 && machine.readingPaused)
        guard case .replayHeldParts = machine.requestDone(keepAlive: true, now: at(10)) else {
            return unexpected("expected a replay")
        }
        // The second request, answered at once: its answer ends inside the replay, which goes on.
        guard case .head(let replayed) = machine.nextHeldPart(), replayed.uri == second.uri else {
            return unexpected("expected the second head first")
        }
        _ = receive(replayed, &machine, route: health, at: 10)
        guard case .end = machine.nextHeldPart() else { return unexpected("expected its end") }
        guard case .answerLocally = machine.endReceived() else { return unexpected("expected a local answer") }
        guard case .none = machine.requestDone(keepAlive: true, now: at(11)) else {
            return unexpected("no replay inside the replay")
        }
        // The third request is forwarded, so the replay stops there.
        guard case .head(let last) = machine.nextHeldPart(), last.uri == third.uri else {
            return unexpected("expected the third head")
        }
        _ = receive(last, &machine, route: chat, at: 11)
        guard case .body(let body) = machine.nextHeldPart(), case .buffer = machine.bodyReceived(body) else {
            return unexpected("expected its body")
        }
        guard case .end = machine.nextHeldPart(), case .forward = machine.endReceived() else {
            return unexpected("expected its end, forwarded")
        }
        let none = machine.nextHeldPart()
        #expect(none == nil)
        guard case .resumeReading = machine.replayEnded(now: at(12)) else {
            return unexpected("expected reading resumed")
        }
        #expect(!machine.readingPaused)
    }

    @Test func aPartHeldBehindAnAnswerStopsTheReplayAtTheNextForward() {
        var machine = forwarding()
        _ = machine.partReceived(.head(head()))
        _ = machine.partReceived(.end(nil))
        _ = machine.partReceived(.head(head(.GET, "/internal/health")))
        _ = machine.requestDone(keepAlive: true, now: at(10))
        guard case .head(let next) = machine.nextHeldPart() else { return unexpected("expected a head") }
        _ = receive(next, &machine, route: chat, at: 10)
        _ = machine.nextHeldPart()
        _ = machine.endReceived()
        // Forwarding again: the third head waits, and reading stays paused.
        let none = machine.nextHeldPart()
        #expect(none == nil && machine.heldParts == 1)
        guard case .none = machine.replayEnded(now: at(12)) else { return unexpected("reading stays paused") }
        guard case .none = machine.partReceived(.end(nil)) else { return unexpected("expected the part held") }
        #expect(machine.heldParts == 2)
    }

    @Test func aPartArrivingWhileHeldPartsWaitQueuesBehindThem() {
        var machine = forwarding()
        _ = machine.partReceived(.head(head(.GET, "/internal/health")))
        _ = machine.requestDone(keepAlive: true, now: at(10))
        // Idle again, but the held head comes first: what arrives now waits behind it.
        guard case .idle = machine.state else { return unexpected("expected idle") }
        guard case .none = machine.partReceived(.end(nil)) else { return unexpected("expected the part held") }
        #expect(machine.heldParts == 2)
        guard case .head = machine.nextHeldPart(), case .end = machine.nextHeldPart() else {
            return unexpected("expected the parts in the order they came")
        }
    }

    // MARK: Drain

    @Test func aDrainClosesAnIdleConnectionAtOnce() {
        var machine = opened()
        guard case .close = machine.quiesce() else { return unexpected("expected close") }
    }

    @Test func aDrainClosesABusyConnectionAfterItsAnswer() {
        var machine = forwarding()
        guard case .none = machine.quiesce() else { return unexpected("expected to wait for the answer") }
        #expect(machine.closesAfterResponse)
        _ = machine.requestDone(keepAlive: true, now: at(5))
        guard case .discarding = machine.state else { return unexpected("expected discarding") }

        var reading = opened()
        _ = receive(head(.GET, "/internal/health"), &reading, route: health)
        _ = reading.quiesce()
        guard case .answerLocally(_, false) = reading.endReceived() else {
            return unexpected("expected an answer without keep-alive")
        }
    }

    // MARK: Time

    @Test func theIdleDeadlineClosesOnlyAnIdleConnectionWithNothingHeld() {
        var machine = opened()
        guard case .none = machine.deadlinePassed(now: at(74_999)) else { return unexpected("too early") }
        guard case .close = machine.deadlinePassed(now: at(75_000)) else { return unexpected("expected close") }
        guard case .none = machine.deadlinePassed(now: at(75_050)) else { return unexpected("once") }

        var replaying = forwarding()
        _ = replaying.partReceived(.head(head()))
        _ = replaying.requestDone(keepAlive: true, now: at(10))
        // Idle, but a held request is about to be replayed.
        guard case .idle = replaying.state else { return unexpected("expected idle") }
        guard case .none = replaying.deadlinePassed(now: at(200_000)) else {
            return unexpected("a held request keeps the connection")
        }
    }

    @Test func theReadDeadlineAnswers408OnlyWhileARequestIsRead() {
        var machine = opened()
        _ = receive(head(), &machine, route: chat, at: 0)
        guard case .none = machine.deadlinePassed(now: at(29_999)) else { return unexpected("too early") }
        guard case .answerEarly(let problem) = machine.deadlinePassed(now: at(30_000)) else {
            return unexpected("expected 408")
        }
        #expect(problem.status == .requestTimeout && problem.code == "request_timeout")

        var forwarded = forwarding()
        guard case .checkForwardedDeadlines(let now) = forwarded.deadlinePassed(now: at(40_000)) else {
            return unexpected("expected the forwarded request's deadlines")
        }
        #expect(now == at(40_000))
    }

    // MARK: The connection

    @Test func aConnectionOverMaxConnectionsIsClosed() {
        var machine = Machine()
        guard case .close = machine.connectionOpened(admitted: false, idleTimeout: .seconds(75), now: at(0)) else {
            return unexpected("expected close")
        }
        guard case .closed = machine.state else { return unexpected("expected closed") }
        var admitted = Machine()
        guard case .watchDeadlines = admitted.connectionOpened(admitted: true, idleTimeout: .seconds(75), now: at(0))
        else { return unexpected("expected the connection admitted") }
        #expect(admitted.idleDeadline == at(75_000))
    }

    @Test func aClientGoneWhileForwardingTellsTheForwardedRequest() {
        var machine = forwarding()
        guard case .abandonForwarded = machine.connectionClosed() else { return unexpected("expected abandon") }
        guard case .closed = machine.state else { return unexpected("expected closed") }
        // The forwarded request ends, and nothing starts after it.
        guard case .none = machine.requestDone(keepAlive: false, now: at(1)) else { return unexpected("nothing") }

        var idle = opened()
        guard case .none = idle.connectionClosed() else { return unexpected("nothing to tell") }
        #expect(idle.idleDeadline == nil)
    }
}

/// Records that the machine returned another action than the one a test expected.
private func unexpected(_ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
    Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
}
