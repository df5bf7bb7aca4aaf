import Atomics

/// The request body bytes olla holds at once over all client connections, against
/// `server.request_limits.max_buffered_body` (DESIGN.md section 4): each body is kept whole for replay on
/// failover, so without this bound a few hundred clients sending large bodies at once would take every byte
/// of the machine's memory.
///
/// A body part that would take the total past the bound is refused, and its request answered 503
/// `overloaded` with `Retry-After`, which frees what that request held at once. (Pausing the reading of the
/// unfinished bodies instead would stop growth but free nothing, and every paused client would keep holding its
/// part of the budget until `read_timeout`.)
final class BufferedBodies: Sendable {
    private let held = ManagedAtomic<Int>(0)

    /// Bytes held now.
    var bytes: Int { held.load(ordering: .relaxed) }

    /// Counts `count` more bytes.
    /// - Returns: false, counting nothing, when that would take the total past `limit`.
    func reserve(_ count: Int, limit: Int) -> Bool {
        let total = held.wrappingIncrementThenLoad(by: count, ordering: .relaxed)
        guard total > limit else { return true }
        held.wrappingDecrement(by: count, ordering: .relaxed)
        return false
    }

    /// Gives back bytes counted by ``reserve(_:limit:)``.
    func release(_ count: Int) {
        guard count > 0 else { return }
        held.wrappingDecrement(by: count, ordering: .relaxed)
    }
}
