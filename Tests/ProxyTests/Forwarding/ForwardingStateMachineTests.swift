import Balancer
import NIOCore
import Testing

@testable import Proxy

/// Every transition of a forwarded request (DESIGN.md 6.4), driven without a channel or a clock: each event
/// carries its time, and each test reads the action the machine returns.
@Suite struct ForwardingStateMachineTests {
    typealias Machine = ForwardedRequest.StateMachine

    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    let studioA = EndpointRuntime(configuration: Self.endpoint("studio-a", port: 1234), ordinal: 0)
    let studioB = EndpointRuntime(configuration: Self.endpoint("studio-b", port: 1235), ordinal: 1)

    static func endpoint(_ name: String, port: Int) -> EndpointConfiguration {
        EndpointConfiguration(
            name: name,
            url: EndpointURL(scheme: .http, host: "127.0.0.1", port: port, basePath: ""),
            priority: 100,
            maxConcurrency: 0
        )
    }

    var candidates: CandidateSet {
        CandidateSet(modelID: "qwen", placements: [placementA, placementB])
    }
    var placementA: Placement { Placement(endpoint: studioA, modelID: "qwen", state: .loaded) }
    var placementB: Placement { Placement(endpoint: studioB, modelID: "qwen", state: .loaded) }

    func machine(
        model: String? = "qwen",
        http11: Bool = true,
        keepAlive: Bool = true,
        trailers: Bool = false,
        maxQueue: Int = 8
    ) -> Machine {
        Machine(
            request: .init(model: model, isKeepAlive: keepAlive, allowsChunked: http11, wantsTrailers: trailers),
            limits: .init(
                maxQueue: maxQueue,
                queueTimeout: .seconds(30),
                responseHeaderTimeout: .seconds(600),
                readTimeout: .seconds(300)
            ),
            receivedAt: start,
            bodyReadyAt: start
        )
    }

    func at(_ milliseconds: Int64) -> NIODeadline { start + .milliseconds(milliseconds) }

    /// A machine that has sent the request to studio-a on a connection of `reused` kind.
    func awaitingHead(_ machine: inout Machine, reused: Bool = false) {
        _ = machine.resolved(.found(candidates), firstProbes: nil, now: at(0))
        _ = machine.acquired(.granted(placementA), firstProbes: nil, now: at(0))
        _ = machine.connected(reused: reused, now: at(1))
    }

    /// A machine streaming studio-a's answer.
    func streaming(_ machine: inout Machine, eventStream: Bool = true, hasLength: Bool = false) {
        awaitingHead(&machine)
        let facts = Machine.ResponseFacts(
            status: 200,
            hasLength: hasLength,
            isEventStream: eventStream,
            keepAlive: true
        )
        _ = machine.headReceived(facts, closing: false, now: at(5))
    }

    // MARK: Finding a host

    @Test func aFoundModelAsksForASlotThenConnectsThenSends() {
        var machine = machine()
        guard case .acquire(let set, let excluded) = machine.resolved(.found(candidates), firstProbes: nil, now: at(0))
        else { return unexpected("expected acquire") }
        #expect(set === candidates || set.placements.count == 2)
        #expect(excluded.isEmpty)
        guard
            case .connect(let placement, let fresh) = machine.acquired(
                .granted(placementA),
                firstProbes: nil,
                now: at(0)
            )
        else { return unexpected("expected connect") }
        #expect(placement.endpoint === studioA && !fresh)
        guard case .send(let sent) = machine.connected(reused: false, now: at(3)) else {
            return unexpected("expected send")
        }
        #expect(sent.endpoint === studioA)
        #expect(machine.sentModelID == "qwen")
        #expect(machine.overheadNanoseconds == 0)
    }

    @Test func anAmbiguousNameIsA404WithTheCandidates() {
        var machine = machine()
        guard
            case .answer(let problem) = machine.resolved(
                .ambiguous(["a/qwen", "b/qwen"]),
                firstProbes: nil,
                now: at(0)
            )
        else { return unexpected("expected an answer") }
        #expect(problem.code == "model_ambiguous" && problem.message.contains("a/qwen, b/qwen"))
        #expect(machine.responseStatus == 404)
    }

    @Test func anUnknownModelIs404ButWaitsWhileHostsAwaitTheirFirstProbe() {
        var machine = machine()
        guard case .resolveAgain = machine.resolved(.notFound(unlisted: []), firstProbes: .seconds(2), now: at(0))
        else { return unexpected("expected a wait for the first probes") }
        // Past check_timeout + 200 ms the wait is over.
        guard
            case .answer(let problem) = machine.resolved(
                .notFound(unlisted: []),
                firstProbes: .seconds(2),
                now: at(2201)
            )
        else { return unexpected("expected an answer") }
        #expect(problem.code == "model_not_found")
    }

    @Test func anUnknownModelWithUnlistedHostsIs503() {
        var machine = machine()
        guard
            case .answer(let problem) = machine.resolved(
                .notFound(unlisted: ["studio-b"]),
                firstProbes: nil,
                now: at(0)
            )
        else { return unexpected("expected an answer") }
        #expect(problem.code == "no_healthy_endpoints" && problem.retryAfter != nil)
        #expect(problem.message.contains("studio-b"))
    }

    @Test func noHealthyCandidateIs503ModelUnavailable() {
        var machine = machine()
        _ = machine.resolved(.found(candidates), firstProbes: nil, now: at(0))
        guard case .answer(let problem) = machine.acquired(.unavailable, firstProbes: nil, now: at(0)) else {
            return unexpected("expected an answer")
        }
        #expect(problem.code == "model_unavailable" && problem.status.code == 503 && problem.retryAfter != nil)
    }

    @Test func noHealthyHostWithoutAModelIs503NoHealthyEndpoints() {
        var machine = machine(model: nil)
        _ = machine.resolved(.found(candidates), firstProbes: nil, now: at(0))
        guard case .answer(let problem) = machine.acquired(.unavailable, firstProbes: nil, now: at(0)) else {
            return unexpected("expected an answer")
        }
        #expect(problem.code == "no_healthy_endpoints")
    }

    // MARK: The queue

    @Test func everyCandidateFullQueuesAndAGrantSends() {
        var machine = machine()
        _ = machine.resolved(.found(candidates), firstProbes: nil, now: at(0))
        guard case .enqueue = machine.acquired(.full, firstProbes: nil, now: at(0)) else {
            return unexpected("expected enqueue")
        }
        guard case .none = machine.enqueued(.queued(ticket: 7), now: at(0)) else { return unexpected("expected wait") }
        guard case .connect(let placement, _) = machine.granted(placementB, now: at(250)) else {
            return unexpected("expected connect")
        }
        #expect(placement.endpoint === studioB)
        #expect(machine.queueNanoseconds == 250_000_000)
    }

    @Test func fullWithoutAQueueIs503Overloaded() {
        var machine = machine(maxQueue: 0)
        _ = machine.resolved(.found(candidates), firstProbes: nil, now: at(0))
        guard case .answer(let problem) = machine.acquired(.full, firstProbes: nil, now: at(0)) else {
            return unexpected("expected an answer")
        }
        #expect(problem.code == "overloaded" && problem.retryAfter == 1)
    }

    @Test func aFullQueueIs503Overloaded() {
        var machine = machine()
        _ = machine.resolved(.found(candidates), firstProbes: nil, now: at(0))
        _ = machine.acquired(.full, firstProbes: nil, now: at(0))
        guard case .answer(let problem) = machine.enqueued(.full, now: at(0)) else {
            return unexpected("expected an answer")
        }
        #expect(problem.code == "overloaded" && problem.message.contains("max_queue"))
    }

    @Test func queueTimeoutLeavesTheQueueAndAnswers503() {
        var machine = machine()
        _ = machine.resolved(.found(candidates), firstProbes: nil, now: at(0))
        _ = machine.acquired(.full, firstProbes: nil, now: at(0))
        _ = machine.enqueued(.queued(ticket: 3), now: at(0))
        guard case .none = machine.deadlinePassed(now: at(29_999)) else { return unexpected("too early") }
        guard case .leaveQueue(let ticket) = machine.deadlinePassed(now: at(30_000)) else {
            return unexpected("expected to leave the queue")
        }
        #expect(ticket == 3)
        guard case .answer(let problem) = machine.queueLeft(true, now: at(30_000)) else {
            return unexpected("expected an answer")
        }
        #expect(problem.code == "overloaded" && problem.message.contains("queue_timeout"))
    }

    @Test func aGrantRacingTheQueueTimeoutIsUsed() {
        var machine = machine()
        _ = machine.resolved(.found(candidates), firstProbes: nil, now: at(0))
        _ = machine.acquired(.full, firstProbes: nil, now: at(0))
        _ = machine.enqueued(.queued(ticket: 3), now: at(0))
        _ = machine.deadlinePassed(now: at(30_000))
        // The queue could not let it go: a grant is on its way.
        guard case .none = machine.queueLeft(false, now: at(30_000)) else { return unexpected("expected a wait") }
        guard case .connect = machine.granted(placementA, now: at(30_001)) else {
            return unexpected("expected connect")
        }
    }

    @Test func clientGoneWhileQueuedLeavesTheQueueAndALateGrantIsGivenBack() {
        var machine = machine()
        _ = machine.resolved(.found(candidates), firstProbes: nil, now: at(0))
        _ = machine.acquired(.full, firstProbes: nil, now: at(0))
        _ = machine.enqueued(.queued(ticket: 9), now: at(0))
        guard case .finish(let held, .abandoned(let ticket), _, let outcome) = machine.clientClosed() else {
            return unexpected("expected finish")
        }
        #expect(held == nil && ticket == 9 && outcome == .clientClosed)
        guard case .releaseUnused(let placement) = machine.granted(placementA, now: at(10)) else {
            return unexpected("expected the late slot to be given back")
        }
        #expect(placement.endpoint === studioA)
    }

    // MARK: Failover before the first byte

    @Test func aConnectErrorFailsOverAndMarksTheHostDown() {
        var machine = machine()
        _ = machine.resolved(.found(candidates), firstProbes: nil, now: at(0))
        _ = machine.acquired(.granted(placementA), firstProbes: nil, now: at(0))
        guard case .failOver(let failed, _, let excluded) = machine.upstreamFailed(reason: "refused", now: at(1)) else {
            return unexpected("expected failover")
        }
        #expect(failed.placement.endpoint === studioA && failed.markDown)
        #expect(failed.reason.contains("cannot connect") && failed.reason.contains("refused"))
        #expect(excluded.contains(studioA.ordinal) && !excluded.contains(studioB.ordinal))
        guard case .connect(let next, _) = machine.acquired(.granted(placementB), firstProbes: nil, now: at(1)) else {
            return unexpected("expected connect to the next")
        }
        #expect(next.endpoint === studioB)
        #expect(machine.failovers == 1)
    }

    @Test func aResetBeforeTheHeadFailsOver() {
        var machine = machine()
        awaitingHead(&machine, reused: false)
        guard case .failOver(let failed, _, _) = machine.upstreamFailed(reason: "reset", now: at(2)) else {
            return unexpected("expected failover")
        }
        #expect(failed.markDown && failed.reason.contains("closed the connection"))
    }

    @Test func aStaleKeptAliveConnectionIsRetriedOnceOnANewOne() {
        var machine = machine()
        awaitingHead(&machine, reused: true)
        guard case .connect(let placement, let fresh) = machine.upstreamFailed(reason: "eof", now: at(2)) else {
            return unexpected("expected a retry")
        }
        #expect(placement.endpoint === studioA && fresh)
        #expect(machine.failovers == 0)
        guard case .send = machine.connected(reused: false, now: at(3)) else { return unexpected("expected send") }
        // The new connection fails too: that is the host's failure.
        guard case .failOver(let failed, _, _) = machine.upstreamFailed(reason: "eof", now: at(4)) else {
            return unexpected("expected failover")
        }
        #expect(failed.placement.endpoint === studioA && failed.markDown)
    }

    @Test func a503BeforeAnyByteFailsOverWithoutMarkingDown() {
        var machine = machine()
        awaitingHead(&machine)
        let facts = Machine.ResponseFacts(status: 503, hasLength: true, isEventStream: false, keepAlive: true)
        guard case .failOver(let failed, _, _) = machine.headReceived(facts, closing: false, now: at(3)) else {
            return unexpected("expected failover")
        }
        #expect(!failed.markDown && failed.reason.contains("503"))
    }

    @Test func otherErrorStatusesArePassedThrough() {
        var machine = machine()
        awaitingHead(&machine)
        let facts = Machine.ResponseFacts(status: 500, hasLength: true, isEventStream: false, keepAlive: true)
        guard case .forwardHead(let chunked, _, let keepAlive) = machine.headReceived(facts, closing: false, now: at(3))
        else { return unexpected("expected the head to go on") }
        #expect(!chunked && keepAlive)
        guard case .finish(_, .complete, let hostSucceeded, _) = machine.endReceived(closing: false) else {
            return unexpected("expected finish")
        }
        #expect(!hostSucceeded)
    }

    @Test func responseHeaderTimeoutFailsOverAndMarksDown() {
        var machine = machine()
        awaitingHead(&machine)
        guard case .none = machine.deadlinePassed(now: at(600_000)) else { return unexpected("too early") }
        guard case .failOver(let failed, _, _) = machine.deadlinePassed(now: at(600_001)) else {
            return unexpected("expected failover")
        }
        #expect(failed.markDown && failed.reason.contains("response_header_timeout"))
    }

    @Test func everyCandidateFailedIs503WithTheLastError() {
        var machine = machine()
        awaitingHead(&machine)
        _ = machine.upstreamFailed(reason: "reset", now: at(2))
        guard case .answer(let problem) = machine.acquired(.unavailable, firstProbes: .seconds(2), now: at(2)) else {
            return unexpected("expected an answer, not a wait for first probes after a try")
        }
        #expect(problem.code == "no_healthy_endpoints" && problem.message.contains("reset"))
    }

    // MARK: Streaming and its endings

    @Test func anAnswerEndsWithKeepAliveAndTheConnectionGoesBack() {
        var machine = machine(trailers: true)
        awaitingHead(&machine)
        let facts = Machine.ResponseFacts(status: 200, hasLength: false, isEventStream: true, keepAlive: true)
        guard case .forwardHead(let chunked, let trailer, _) = machine.headReceived(facts, closing: false, now: at(40))
        else { return unexpected("expected the head") }
        #expect(chunked && trailer)
        #expect(machine.timeToHeadNanoseconds == 40_000_000)
        guard case .forwardBody = machine.bodyReceived(now: at(41)) else { return unexpected("expected body") }
        guard
            case .finish(let placement, .complete(let keepAlive, let reuse, let trailers), true, .completed) =
                machine.endReceived(closing: false)
        else { return unexpected("expected finish") }
        #expect(placement?.endpoint === studioA && keepAlive && reuse && trailers)
        guard case .none = machine.bodyReceived(now: at(42)) else { return unexpected("nothing after the end") }
    }

    @Test func anHTTP10ClientWithoutALengthIsClosed() {
        var machine = machine(http11: false)
        awaitingHead(&machine)
        let facts = Machine.ResponseFacts(status: 200, hasLength: false, isEventStream: false, keepAlive: true)
        guard case .forwardHead(let chunked, _, let keepAlive) = machine.headReceived(facts, closing: false, now: at(3))
        else { return unexpected("expected the head") }
        #expect(!chunked && !keepAlive)
    }

    @Test func aDrainClosesAfterTheAnswer() {
        var machine = machine()
        streaming(&machine)
        guard case .finish(_, .complete(let keepAlive, _, _), _, _) = machine.endReceived(closing: true) else {
            return unexpected("expected finish")
        }
        #expect(!keepAlive)
    }

    @Test func anEventStreamCutMidwayEndsWithAnErrorEvent() {
        var machine = machine()
        streaming(&machine, eventStream: true)
        guard
            case .finish(let placement, .cut(let reason, let errorEvent, _), false, .upstreamFailedMidStream) =
                machine.upstreamFailed(reason: "eof", now: at(50))
        else { return unexpected("expected a cut") }
        #expect(placement?.endpoint === studioA && errorEvent && reason.contains("before the answer ended"))
        guard case .none = machine.upstreamFailed(reason: "eof", now: at(51)) else { return unexpected("once") }
    }

    @Test func aPlainAnswerCutMidwayIsCutByClosing() {
        var machine = machine()
        streaming(&machine, eventStream: false, hasLength: true)
        guard
            case .finish(_, .cut(_, let errorEvent, let keepAlive), _, _) = machine.upstreamFailed(
                reason: "eof",
                now: at(50)
            )
        else { return unexpected("expected a cut") }
        #expect(!errorEvent && !keepAlive)
    }

    @Test func streamSilenceOverReadTimeoutCutsUnlessTheClientIsSlow() {
        var machine = machine()
        streaming(&machine)
        guard case .setUpstreamReading(false) = machine.clientWritabilityChanged(isWritable: false) else {
            return unexpected("expected a pause")
        }
        // Paused by the client: silence does not count.
        guard case .none = machine.deadlinePassed(now: at(400_000)) else { return unexpected("not the host's fault") }
        guard case .setUpstreamReading(true) = machine.clientWritabilityChanged(isWritable: true) else {
            return unexpected("expected a resume")
        }
        guard case .none = machine.deadlinePassed(now: at(699_999)) else { return unexpected("too early") }
        guard case .finish(_, .cut(let reason, _, _), _, _) = machine.deadlinePassed(now: at(700_000)) else {
            return unexpected("expected a cut")
        }
        #expect(reason.contains("read_timeout"))
    }

    @Test func clientGoneWhileStreamingReleasesTheSlot() {
        var machine = machine()
        streaming(&machine)
        guard case .finish(let placement, .abandoned(nil), true, .clientClosed) = machine.clientClosed() else {
            return unexpected("expected finish")
        }
        #expect(placement?.endpoint === studioA)
        guard case .none = machine.clientClosed() else { return unexpected("once") }
    }

    @Test func clientGoneWhileConnectingReleasesTheSlotAndALateConnectionIsIgnored() {
        var machine = machine()
        _ = machine.resolved(.found(candidates), firstProbes: nil, now: at(0))
        _ = machine.acquired(.granted(placementA), firstProbes: nil, now: at(0))
        guard case .finish(let placement, .abandoned(nil), _, .clientClosed) = machine.clientClosed() else {
            return unexpected("expected finish")
        }
        #expect(placement?.endpoint === studioA)
        guard case .none = machine.connected(reused: false, now: at(1)) else { return unexpected("expected nothing") }
    }
}

/// Records that the machine returned another action than the one a test expected.
private func unexpected(_ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
    Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
}
