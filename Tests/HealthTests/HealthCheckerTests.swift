import AsyncHTTPClient
import Balancer
import LMStudioSim
import Logging
import ServiceLifecycle
import Testing

@testable import Health

@Suite struct HealthCheckerTests {
    @Test func firstProbeRunsAtStartupAndPublishesModelsWithState() async throws {
        let models = [
            SimulatedModel(id: "qwen2.5-7b-instruct", state: .loaded),
            SimulatedModel(id: "text-embedding-nomic-embed-text-v1.5", type: .embeddings, state: .notLoaded),
        ]
        try await withSimulators([.init(name: "a", models: models)]) { simulators in
            // A long interval: only the probe at start-up can make the host healthy in time.
            let table = RoutingTable(endpoints: [
                try endpoint("a", for: simulators[0], interval: .seconds(30), timeout: .seconds(5))
            ])
            try await withHealthChecker(table) { _, log in
                let runtime = try table.runtime("a")
                #expect(runtime.status == .unknown)
                try await waitUntil("a is healthy", within: .seconds(10)) { runtime.status == .healthy }
                let entry = try #require(table.snapshot.models.entry(id: "text-embedding-nomic-embed-text-v1.5"))
                #expect(entry.placements.map(\.state) == [.notLoaded])
                #expect(entry.details.type == "embeddings")
                #expect(table.snapshot.models.entry(id: "qwen2.5-7b-instruct")?.placements.map(\.state) == [.loaded])
                let health = runtime.health
                #expect(health.lastError == nil)
                #expect(health.consecutiveFailures == 0)
                #expect(health.probeLatencyMilliseconds != nil)
                let lastCheckAt = try #require(health.lastCheckAt)
                let nextCheckAt = try #require(health.nextCheckAt)
                // The next probe is one interval after this one started; the probe itself may take a while here.
                #expect(abs(nextCheckAt - lastCheckAt - 30) < 5)
                #expect(
                    log.infoMessages == ["endpoint a: model list changed (2 models)", "endpoint a: unknown -> healthy"]
                )
            }
        }
    }

    /// Also with a client that retries connection attempts (AsyncHTTPClient's default), which reports the
    /// refusal only when `check_timeout` runs out.
    @Test(arguments: [false, true])
    func hostThatRefusesConnectionsLeavesRotationAndComesBack(clientRetriesConnecting: Bool) async throws {
        var clientConfiguration = HealthChecker.httpClientConfiguration
        clientConfiguration.connectionPool.retryConnectionEstablishment = clientRetriesConnecting
        try await withSimulators([.init(name: "a")]) { simulators in
            let host = simulators[0]
            let table = RoutingTable(endpoints: [try endpoint("a", for: host)])
            try await withHealthChecker(table, clientConfiguration: clientConfiguration) { _, log in
                let runtime = try table.runtime("a")
                try await waitUntil("a is healthy", within: .seconds(10)) { runtime.status == .healthy }
                // On a loaded machine the very first probe may time out; count transitions from here on.
                let wentDown = log.infoCount(containing: "endpoint a: healthy -> offline")
                let cameBack = log.infoCount(containing: "endpoint a: offline -> healthy")

                try await host.setFaults(SimulatorFaults(refuseConnections: true))
                let outAfter = try await waitUntil("a is offline", within: testInterval + testTimeout + slack) {
                    runtime.status == .offline
                }
                #expect(outAfter <= testInterval + testTimeout + slack)
                #expect(runtime.health.lastError == "connection refused")
                // Known while down, so a request gets "unavailable" rather than "unknown model".
                #expect(table.snapshot.models.entry(id: "qwen2.5-7b-instruct") != nil)

                try await host.setFaults(.none)
                try await waitUntil("a is healthy again", within: testInterval + slack) { runtime.status == .healthy }
                #expect(runtime.health.lastError == nil)
                #expect(log.infoCount(containing: "endpoint a: healthy -> offline") == wentDown + 1)
                #expect(log.infoCount(containing: "endpoint a: offline -> healthy") == cameBack + 1)
            }
        }
    }

    @Test func hostThatHangsLeavesRotationWithinIntervalAndTimeout() async throws {
        try await withSimulators([.init(name: "a")]) { simulators in
            let host = simulators[0]
            let table = RoutingTable(endpoints: [try endpoint("a", for: host)])
            try await withHealthChecker(table) { _, log in
                let runtime = try table.runtime("a")
                try await waitUntil("a is healthy", within: .seconds(10)) { runtime.status == .healthy }

                try await host.setFaults(SimulatorFaults(hang: .all))
                try await waitUntil("a is offline", within: testInterval + testTimeout + slack) {
                    runtime.status == .offline
                }
                #expect(runtime.health.lastError == "no answer within 800ms")
                #expect(runtime.health.consecutiveFailures == 1)

                try await host.setFaults(.none)
                try await waitUntil("a is healthy again", within: testInterval + slack) { runtime.status == .healthy }
                #expect(log.infoMessages.contains("endpoint a: healthy -> offline (no answer within 800ms)"))
            }
        }
    }

    @Test func addedModelBecomesRoutableAndRemovedOneIsDropped() async throws {
        let models = [SimulatedModel(id: "qwen2.5-7b-instruct"), SimulatedModel(id: "phi-3-mini-4k-instruct")]
        try await withSimulators([.init(name: "a", models: models)]) { simulators in
            let host = simulators[0]
            let table = RoutingTable(endpoints: [try endpoint("a", for: host)])
            try await withHealthChecker(table) { _, _ in
                try await waitUntil("qwen is routable", within: .seconds(10)) {
                    table.routes("qwen2.5-7b-instruct", to: "a")
                }
                #expect(!table.routes("mistral-7b-instruct-v0.3", to: "a"))

                host.addModel(SimulatedModel(id: "mistral-7b-instruct-v0.3", state: .notLoaded))
                try await waitUntil("the added model is routable", within: testInterval + slack) {
                    table.routes("mistral-7b-instruct-v0.3", to: "a")
                }
                #expect(
                    table.snapshot.models.entry(id: "mistral-7b-instruct-v0.3")?.placements.first?.state == .notLoaded
                )

                host.removeModel(id: "phi-3-mini-4k-instruct")
                try await waitUntil("the removed model is gone", within: testInterval + slack) {
                    table.snapshot.models.entry(id: "phi-3-mini-4k-instruct") == nil
                }
                if case .notFound = table.snapshot.models.resolve("phi-3-mini-4k-instruct") {
                } else {
                    Issue.record("the removed model still resolves")
                }
                #expect(table.routes("qwen2.5-7b-instruct", to: "a"))
            }
        }
    }

    @Test func hostWithoutApiV0ModelsIsHealthyWithItsOpenAIModelIds() async throws {
        let configuration = SimulatorConfiguration(name: "old", faults: SimulatorFaults(apiV0Missing: true))
        try await withSimulators([configuration]) { simulators in
            let table = RoutingTable(endpoints: [try endpoint("old", for: simulators[0])])
            try await withHealthChecker(table) { _, _ in
                let runtime = try table.runtime("old")
                try await waitUntil("old is healthy", within: .seconds(10)) { runtime.status == .healthy }
                let entry = try #require(table.snapshot.models.entry(id: "qwen2.5-7b-instruct"))
                #expect(entry.placements.map(\.state) == [.unknown])
                #expect(table.routes("qwen2.5-7b-instruct", to: "old"))
                #expect(simulators[0].stats.requestsByRoute["GET /api/v0/models", default: 0] >= 1)
            }
        }
    }

    @Test func malformedModelListMarksHostUnhealthyWithTheReason() async throws {
        try await withSimulators([.init(name: "a")]) { simulators in
            let host = simulators[0]
            let table = RoutingTable(endpoints: [try endpoint("a", for: host)])
            try await withHealthChecker(table) { _, log in
                let runtime = try table.runtime("a")
                try await waitUntil("a is healthy", within: .seconds(10)) { runtime.status == .healthy }

                try await host.setFaults(SimulatorFaults(modelsMalformed: true))
                try await waitUntil("a is unhealthy", within: testInterval + slack) { runtime.status == .unhealthy }
                #expect(runtime.health.lastError == "model list from /api/v0/models is not valid JSON")
                #expect(
                    log.infoMessages.contains(
                        "endpoint a: healthy -> unhealthy (model list from /api/v0/models is not valid JSON)"
                    )
                )
                // The models it listed before stay known.
                #expect(table.snapshot.models.entry(id: "qwen2.5-7b-instruct") != nil)
            }
        }
    }

    /// DESIGN.md 6.3: one interval after the first failure, then 2 and 4 intervals while it keeps failing.
    @Test func failingHostIsProbedWithExponentialBackOff() async throws {
        let configuration = SimulatorConfiguration(name: "a", faults: SimulatorFaults(modelsStatus: 500))
        try await withSimulators([configuration]) { simulators in
            let host = simulators[0]
            let table = RoutingTable(endpoints: [try endpoint("a", for: host)])
            try await withHealthChecker(table) { _, _ in
                let runtime = try table.runtime("a")
                // When each probe ended and when the next one was due, as the prober itself records them.
                var probedAt: [Double] = []
                var scheduled: [Double] = []
                // Four probes: at start-up, then after 1, 2 and 4 intervals (7 s in all).
                try await waitUntil("four probes", within: .seconds(7) + slack * 2) {
                    let health = runtime.health
                    if let at = health.lastCheckAt, let next = health.nextCheckAt, at != probedAt.last {
                        probedAt.append(at)
                        scheduled.append(next - at)
                    }
                    return probedAt.count >= 4
                }
                // The waits the prober chose: 1, 2, 4, 8 intervals, counted from the start of the failed probe
                // (so from its end, less the time the probe took).
                for (wait, wanted) in zip(scheduled, [1.0, 2, 4, 8]) {
                    let interval = wanted * testInterval.inSeconds
                    // A probe asks up to three routes (/v1/models, /api/v0/models, /api/v1/models); on a loaded
                    // two-core machine one can take most of a second.
                    #expect(wait <= interval + 0.05 && wait >= interval - 0.9, "waits \(scheduled)")
                }
                #expect(runtime.status == .unhealthy)
                #expect((host.stats.requestsByRoute["GET /v1/models"] ?? 0) >= 4)
                let gaps = zip(probedAt, probedAt.dropFirst()).map { Duration.milliseconds(Int(($1 - $0) * 1000)) }
                let expected: [Duration] = [testInterval, testInterval * 2, testInterval * 4]
                for (gap, wanted) in zip(gaps, expected) {
                    // Probes are due an interval after the previous one started, and these times are when they
                    // ended: a slow first probe (a new connection on a busy machine) shortens the gap after it.
                    #expect(gap >= wanted - .milliseconds(900), "gaps \(gaps), expected \(expected)")
                    #expect(gap <= wanted + slack, "gaps \(gaps), expected \(expected)")
                }
                // Each wait longer than the one before: back-off, not a fixed interval (the scheduled waits above
                // say by how much).
                for (shorter, longer) in zip(gaps, gaps.dropFirst()) {
                    #expect(longer > shorter * 6 / 5, "gaps \(gaps)")
                }
            }
        }
    }

    @Test func httpErrorFromModelListingMarksHostUnhealthy() async throws {
        let configuration = SimulatorConfiguration(name: "a", faults: SimulatorFaults(modelsStatus: 500))
        try await withSimulators([configuration]) { simulators in
            let table = RoutingTable(endpoints: [try endpoint("a", for: simulators[0])])
            try await withHealthChecker(table) { _, _ in
                let runtime = try table.runtime("a")
                try await waitUntil("a is unhealthy", within: .seconds(10)) { runtime.status == .unhealthy }
                #expect(runtime.health.lastError == "HTTP 500 from /v1/models")
                #expect(table.snapshot.models.entries.isEmpty)
            }
        }
    }

    @Test func healthCheckPathTheHostDoesNotServeMakesItUnhealthy() async throws {
        try await withSimulators([.init(name: "a")]) { simulators in
            var configuration = try endpoint("a", for: simulators[0])
            // LM Studio answers 200 to this, with its "Unexpected endpoint" error.
            configuration.healthCheckURL = "/health"
            let table = RoutingTable(endpoints: [configuration])
            try await withHealthChecker(table) { _, _ in
                let runtime = try table.runtime("a")
                try await waitUntil("a is unhealthy", within: .seconds(10)) { runtime.status == .unhealthy }
                #expect(
                    runtime.health.lastError
                        == #"/health is not served by the host ("Unexpected endpoint or method")"#
                )
            }
        }
    }

    @Test func probesSendTheEndpointsCredentials() async throws {
        let configuration = SimulatorConfiguration(name: "locked", authToken: "s3cret")
        try await withSimulators([configuration]) { simulators in
            let table = RoutingTable(endpoints: [
                try endpoint("with-token", for: simulators[0], auth: .bearer(token: "s3cret")),
                try endpoint("without-token", for: simulators[0]),
            ])
            try await withHealthChecker(table) { _, _ in
                let good = try table.runtime("with-token")
                let bad = try table.runtime("without-token")
                try await waitUntil("both are probed", within: .seconds(10)) {
                    good.status == .healthy && bad.status == .unhealthy
                }
                #expect(bad.health.lastError == "HTTP 401 from /v1/models")
            }
        }
    }

    @Test func passiveFailureReportTakesHostOutAndReprobesItSoon() async throws {
        try await withSimulators([.init(name: "a")]) { simulators in
            // A long interval, so only the quick re-probe can bring the host back in time.
            let table = RoutingTable(endpoints: [
                try endpoint("a", for: simulators[0], interval: .seconds(30), timeout: .seconds(5))
            ])
            try await withHealthChecker(table) { _, log in
                let runtime = try table.runtime("a")
                try await waitUntil("a is healthy", within: .seconds(10)) { runtime.status == .healthy }

                table.reportConnectionFailure(of: runtime, reason: "connection reset by peer")
                #expect(runtime.status == .offline)
                try await waitUntil("a is healthy again", within: .seconds(10)) { runtime.status == .healthy }
                #expect(log.infoMessages.contains("endpoint a: healthy -> offline (connection reset by peer)"))
                #expect(log.infoCount(containing: "endpoint a: offline -> healthy") == 1)
            }
        }
    }

    @Test func probeNowProbesAtOnce() async throws {
        try await withSimulators([.init(name: "a")]) { simulators in
            let host = simulators[0]
            let table = RoutingTable(endpoints: [
                try endpoint("a", for: host, interval: .seconds(30), timeout: .seconds(5))
            ])
            try await withHealthChecker(table) { checker, _ in
                let runtime = try table.runtime("a")
                try await waitUntil("a is healthy", within: .seconds(10)) { runtime.status == .healthy }
                host.addModel(SimulatedModel(id: "mistral-7b-instruct-v0.3"))
                checker.probeNow(runtime)
                try await waitUntil("the new model is routable", within: .seconds(10)) {
                    table.routes("mistral-7b-instruct-v0.3", to: "a")
                }
            }
        }
    }

    @Test func hangingHostDoesNotDelayTheProbesOfTheOthers() async throws {
        var configurations = (0..<9).map { SimulatorConfiguration(name: "sim-\($0)") }
        configurations.append(SimulatorConfiguration(name: "hung", faults: SimulatorFaults(hang: .all)))
        try await withSimulators(configurations) { simulators in
            let endpoints = try simulators.map { try endpoint($0.name, for: $0) }
            let table = RoutingTable(endpoints: endpoints)
            try await withHealthChecker(table) { _, _ in
                let runtimes = try simulators.map { try table.runtime($0.name) }
                let healthy = runtimes.filter { $0.name != "hung" }
                let hung = try table.runtime("hung")
                var checks: [String: [Double]] = [:]
                try await waitUntil("every healthy host was probed four times", within: .seconds(6)) {
                    for runtime in healthy {
                        if let at = runtime.health.lastCheckAt, checks[runtime.name, default: []].last != at {
                            checks[runtime.name, default: []].append(at)
                        }
                    }
                    return healthy.allSatisfy { checks[$0.name, default: []].count >= 4 }
                }
                for runtime in healthy {
                    #expect(runtime.status == .healthy)
                    let times = checks[runtime.name, default: []]
                    let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
                    let longest = gaps.max() ?? 0
                    #expect(longest < (testInterval + .milliseconds(300)).inSeconds, "\(runtime.name): \(gaps)")
                }
                #expect(hung.status == .offline)
                #expect(hung.health.lastError == "no answer within 800ms")
            }
        }
    }

    @Test func reconcileStartsProbingAddedHostsAndStopsProbingRemovedOnes() async throws {
        try await withSimulators([.init(name: "a"), .init(name: "b")]) { simulators in
            let (a, b) = (simulators[0], simulators[1])
            let onlyA = OllaConfiguration(endpoints: [try endpoint("a", for: a)])
            let table = RoutingTable(configuration: onlyA)
            try await withHealthChecker(table) { checker, _ in
                let runtimeA = try table.runtime("a")
                try await waitUntil("a is healthy", within: .seconds(10)) { runtimeA.status == .healthy }
                #expect(b.stats.requests == 0)

                let changes = table.apply(
                    OllaConfiguration(endpoints: [try endpoint("a", for: a), try endpoint("b", for: b)])
                )
                let runtimeB = try #require(changes.added.first)
                #expect(runtimeB.status == .unknown)
                checker.reconcile()
                try await waitUntil("b is healthy", within: .seconds(10)) { runtimeB.status == .healthy }
                #expect(changes.kept.first === runtimeA)

                _ = table.apply(OllaConfiguration(endpoints: [try endpoint("b", for: b)]))
                checker.reconcile()
                // Probes of a that started before the reload may still land; count from when b was probed after it.
                let probedB = runtimeB.health.lastCheckAt ?? 0
                try await waitUntil("b was probed once more", within: testInterval + slack) {
                    (runtimeB.health.lastCheckAt ?? 0) > probedB
                }
                let requestsToA = a.stats.requests
                let probedAgain = runtimeB.health.lastCheckAt ?? 0
                try await waitUntil("b was probed twice more", within: testInterval + slack) {
                    (runtimeB.health.lastCheckAt ?? 0) > probedAgain
                }
                #expect(a.stats.requests == requestsToA)
                #expect(runtimeA.status == .offline)
            }
        }
    }

    @Test func runReturnsOnGracefulShutdown() async throws {
        try await withSimulators([.init(name: "a")]) { simulators in
            let table = RoutingTable(endpoints: [try endpoint("a", for: simulators[0])])
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
            let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
            let checker = HealthChecker(table: table, httpClient: client, logger: quiet)
            let group = ServiceGroup(services: [checker], logger: quiet)
            let finished = LockedValue(false)
            let running = Task {
                try await group.run()
                finished.withLock { $0 = true }
            }
            let runtime = try table.runtime("a")
            do {
                try await waitUntil("a is healthy", within: .seconds(10)) { runtime.status == .healthy }
                await group.triggerGracefulShutdown()
                try await waitUntil("the service group returned", within: .seconds(10)) { finished.withLock { $0 } }
            } catch {
                running.cancel()
            }
            _ = try await running.value
            try await client.shutdown()
        }
    }
}
