import Balancer
import Testing

@testable import Health

@Suite struct EndpointHealthStateMachineTests {
    typealias StateMachine = EndpointHealth.StateMachine

    private static let interval: Duration = .seconds(5)

    /// Starts a probe at `now`, which must be due.
    private func start(_ machine: inout StateMachine, at now: Duration) {
        #expect(machine.nextAction(now: now) == .probe)
    }

    @Test func firstProbeIsDueAtOnceAndHostIsUnknownUntilThen() {
        var machine = StateMachine(interval: Self.interval, now: .seconds(10))
        #expect(machine.status == .unknown)
        #expect(machine.nextAction(now: .seconds(10)) == .probe)
        #expect(machine.isProbing)
    }

    @Test func goodProbeMakesHostHealthyAndSchedulesNextOneIntervalAfterItsStart() {
        var machine = StateMachine(interval: Self.interval, now: .zero)
        start(&machine, at: .zero)
        let transition = machine.probeSucceeded(now: .milliseconds(30))
        #expect(transition == .init(from: .unknown, to: .healthy))
        #expect(machine.status == .healthy)
        #expect(machine.nextAction(now: .seconds(1)) == .wait(until: .seconds(5)))
        #expect(machine.nextAction(now: .seconds(5)) == .probe)
    }

    @Test func repeatedGoodProbesReportNoTransition() {
        var machine = StateMachine(interval: Self.interval, now: .zero)
        start(&machine, at: .zero)
        _ = machine.probeSucceeded(now: .zero)
        start(&machine, at: .seconds(5))
        #expect(machine.probeSucceeded(now: .seconds(5)) == nil)
        #expect(machine.status == .healthy)
    }

    @Test(arguments: [
        (StateMachine.Failure.offline, EndpointStatus.offline),
        (StateMachine.Failure.unhealthy, EndpointStatus.unhealthy),
    ])
    func failedProbeTakesHealthyHostOutAtOnce(failure: StateMachine.Failure, status: EndpointStatus) {
        var machine = StateMachine(interval: Self.interval, now: .zero)
        start(&machine, at: .zero)
        _ = machine.probeSucceeded(now: .zero)
        start(&machine, at: .seconds(5))
        #expect(machine.probeFailed(failure, now: .seconds(6)) == .init(from: .healthy, to: status))
        #expect(machine.status == status)
        #expect(machine.consecutiveFailures == 1)
    }

    @Test func firstProbeFailingMovesUnknownHostOut() {
        var machine = StateMachine(interval: Self.interval, now: .zero)
        start(&machine, at: .zero)
        #expect(machine.probeFailed(.offline, now: .seconds(1)) == .init(from: .unknown, to: .offline))
    }

    @Test func failureKindChangesAreTransitionsButRepeatedFailuresAreNot() {
        var machine = StateMachine(interval: .seconds(1), now: .zero)
        start(&machine, at: .zero)
        #expect(machine.probeFailed(.offline, now: .zero) == .init(from: .unknown, to: .offline))
        start(&machine, at: machine.nextProbeAt)
        #expect(machine.probeFailed(.offline, now: machine.nextProbeAt) == nil)
        start(&machine, at: machine.nextProbeAt)
        #expect(machine.probeFailed(.unhealthy, now: machine.nextProbeAt) == .init(from: .offline, to: .unhealthy))
        start(&machine, at: machine.nextProbeAt)
        #expect(machine.probeSucceeded(now: machine.nextProbeAt) == .init(from: .unhealthy, to: .healthy))
        #expect(machine.consecutiveFailures == 0)
    }

    @Test func failingHostBacksOffOneTwoFourEightTimesTheIntervalCappedAtSixtySeconds() {
        var machine = StateMachine(interval: Self.interval, now: .zero)
        var now: Duration = .zero
        var delays: [Duration] = []
        for _ in 0..<8 {
            start(&machine, at: now)
            _ = machine.probeFailed(.offline, now: now + .milliseconds(100))
            delays.append(machine.nextProbeAt - now)
            // Nothing happens before the back-off is over.
            #expect(
                machine.nextAction(now: machine.nextProbeAt - .milliseconds(1)) == .wait(until: machine.nextProbeAt)
            )
            now = machine.nextProbeAt
        }
        #expect(delays == [5, 10, 20, 40, 60, 60, 60, 60].map { Duration.seconds($0) })
    }

    @Test func backoffFromOneSecondIntervalDoublesUpToTheCap() {
        let machine = StateMachine(interval: .seconds(1), now: .zero)
        let delays = (1...9).map { machine.backoff(afterFailures: $0) }
        #expect(delays == [1, 2, 4, 8, 16, 32, 60, 60, 60].map { Duration.seconds($0) })
        #expect(machine.backoff(afterFailures: 1000) == .seconds(60))
    }

    @Test func intervalLongerThanTheCapIsNeverShortenedByBackoff() {
        let machine = StateMachine(interval: .seconds(120), now: .zero)
        #expect(machine.backoff(afterFailures: 1) == .seconds(120))
        #expect(machine.backoff(afterFailures: 5) == .seconds(120))
    }

    @Test func recoveryResetsTheBackoff() {
        var machine = StateMachine(interval: .seconds(1), now: .zero)
        var now: Duration = .zero
        for _ in 0..<4 {
            start(&machine, at: now)
            _ = machine.probeFailed(.offline, now: now)
            now = machine.nextProbeAt
        }
        #expect(machine.consecutiveFailures == 4)
        start(&machine, at: now)
        _ = machine.probeSucceeded(now: now)
        start(&machine, at: machine.nextProbeAt)
        _ = machine.probeFailed(.offline, now: machine.nextProbeAt)
        #expect(machine.consecutiveFailures == 1)
        #expect(machine.nextProbeAt == now + .seconds(2))
    }

    @Test func slowProbeSchedulesTheNextOneNoEarlierThanItsEnd() {
        var machine = StateMachine(interval: .seconds(1), now: .zero)
        start(&machine, at: .zero)
        _ = machine.probeSucceeded(now: .milliseconds(1500))
        #expect(machine.nextAction(now: .milliseconds(1500)) == .probe)
    }

    @Test func passiveFailureTakesHealthyHostOutAndAsksForQuickProbe() {
        var machine = StateMachine(interval: Self.interval, now: .zero)
        start(&machine, at: .zero)
        _ = machine.probeSucceeded(now: .zero)
        #expect(machine.connectionFailed(now: .seconds(2)) == .init(from: .healthy, to: .offline))
        #expect(machine.status == .offline)
        #expect(machine.nextAction(now: .seconds(2)) == .wait(until: .seconds(2) + StateMachine.quickProbeDelay))
        #expect(machine.nextAction(now: .seconds(2) + StateMachine.quickProbeDelay) == .probe)
        // A second report of the same failure changes nothing.
        #expect(machine.connectionFailed(now: .seconds(2)) == nil)
    }

    @Test func passiveFailureDuringProbeWaitsForItThenProbesSoon() {
        var machine = StateMachine(interval: Self.interval, now: .zero)
        start(&machine, at: .zero)
        _ = machine.probeSucceeded(now: .zero)
        start(&machine, at: .seconds(5))
        _ = machine.connectionFailed(now: .seconds(5))
        // Never two probes at once.
        #expect(machine.nextAction(now: .seconds(6)) == .busy)
        #expect(machine.probeSucceeded(now: .seconds(6)) == .init(from: .offline, to: .healthy))
        // The requested probe is already due, not one interval later.
        #expect(machine.nextAction(now: .seconds(6)) == .probe)
    }

    @Test func passiveFailureKeepsTheBackoffOfAHostAlreadyFailing() {
        var machine = StateMachine(interval: Self.interval, now: .zero)
        start(&machine, at: .zero)
        _ = machine.probeFailed(.unhealthy, now: .zero)
        #expect(machine.connectionFailed(now: .seconds(1)) == .init(from: .unhealthy, to: .offline))
        #expect(machine.nextAction(now: .seconds(1)) == .wait(until: .seconds(5)))
    }

    @Test func requestedProbeRunsAtOnceOrRightAfterTheRunningOne() {
        var machine = StateMachine(interval: Self.interval, now: .zero)
        start(&machine, at: .zero)
        _ = machine.probeSucceeded(now: .zero)
        machine.probeRequested(now: .seconds(1))
        #expect(machine.nextAction(now: .seconds(1)) == .probe)
        machine.probeRequested(now: .seconds(1))
        #expect(machine.nextAction(now: .seconds(1)) == .busy)
        _ = machine.probeSucceeded(now: .seconds(2))
        #expect(machine.nextAction(now: .seconds(2)) == .probe)
        _ = machine.probeSucceeded(now: .seconds(2))
        // Once served, the request is forgotten: the usual interval again.
        #expect(machine.nextAction(now: .seconds(2)) == .wait(until: .seconds(7)))
    }

    @Test func carriedOverStatusIsKeptUntilTheFirstProbe() {
        var machine = StateMachine(interval: Self.interval, status: .healthy, now: .zero)
        #expect(machine.status == .healthy)
        start(&machine, at: .zero)
        #expect(machine.probeSucceeded(now: .zero) == nil)
    }
}
