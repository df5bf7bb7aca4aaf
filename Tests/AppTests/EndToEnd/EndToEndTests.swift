import Testing

/// Runs the tests it marks one at a time: every test of olla over real sockets (in-process routers,
/// simulated hosts, `olla` subprocesses).
///
/// Each of them starts several servers and many measure time. Run all at once on two cores in a debug build,
/// they starve one another (probes and clients time out as they never would on a real machine); the unit
/// tests of every target still run in parallel beside the one end-to-end test running.
struct EndToEndGate: SuiteTrait, TestTrait, TestScoping {
    /// Applies to each test of a marked suite, not once around the suite.
    var isRecursive: Bool { true }

    func provideScope(
        for test: Test,
        testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        await Self.turns.wait()
        do {
            try await function()
        } catch {
            await Self.turns.signal()
            throw error
        }
        await Self.turns.signal()
    }

    private static let turns = TurnQueue()

    /// A FIFO of tests waiting for their turn.
    private actor TurnQueue {
        private var busy = false
        private var waiting: [CheckedContinuation<Void, Never>] = []

        func wait() async {
            guard busy else {
                busy = true
                return
            }
            await withCheckedContinuation { waiting.append($0) }
        }

        func signal() {
            if waiting.isEmpty {
                busy = false
            } else {
                waiting.removeFirst().resume()
            }
        }
    }
}

extension Trait where Self == EndToEndGate {
    /// One end-to-end test at a time; see ``EndToEndGate``.
    static var endToEnd: Self { Self() }
}
