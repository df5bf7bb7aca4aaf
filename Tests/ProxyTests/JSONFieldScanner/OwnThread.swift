import Foundation
import Testing

/// Runs CPU-bound `work` on a thread of its own and returns its result.
///
/// Swift Testing runs tests on the cooperative pool, which has one thread per core: seconds of generating and
/// fuzzing there would starve the tasks of every other test running at the same time (probes, timers and
/// clients of the end-to-end tests). The work returns its findings; the test checks them back on its task.
func onOwnThread<Result: Sendable>(_ work: @escaping @Sendable () -> Result) async -> Result {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: work()) }
        thread.start()
    }
}

/// Runs every test of a suite on a serial dispatch queue instead of the cooperative pool, for suites of
/// synchronous, CPU-bound tests (megabyte bodies, deep nesting) that would otherwise hold a pool thread for
/// seconds; see ``onOwnThread(_:)``.
struct OffCooperativePool: SuiteTrait, TestTrait, TestScoping {
    var isRecursive: Bool { true }

    func provideScope(
        for test: Test,
        testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        try await withTaskExecutorPreference(Self.executor) {
            try await function()
        }
    }

    private static let executor = SerialQueueExecutor()

    /// A task executor on a dispatch queue, whose threads are not the cooperative pool's.
    private final class SerialQueueExecutor: TaskExecutor {
        private let queue = DispatchQueue(label: "olla.proxy-tests.cpu-bound")

        func enqueue(_ job: consuming ExecutorJob) {
            let job = UnownedJob(job)
            queue.async {
                job.runSynchronously(on: self.asUnownedTaskExecutor())
            }
        }
    }
}

extension Trait where Self == OffCooperativePool {
    /// Runs the suite's tests off the cooperative pool; see ``OffCooperativePool``.
    static var offCooperativePool: Self { Self() }
}
