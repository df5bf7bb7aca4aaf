import Foundation

/// A value guarded by a lock, for the small pieces of state the probes share between tasks.
///
/// Health does not depend on NIOConcurrencyHelpers, and `Mutex` needs macOS 15 while the package
/// supports macOS 14, so this wraps Foundation's `NSLock`.
final class LockedValue<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) {
        self.value = value
    }

    /// Runs `body` with the value, holding the lock; never `await` or call back into this box inside.
    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
