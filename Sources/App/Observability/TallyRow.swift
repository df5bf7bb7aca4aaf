import Atomics

/// A row of counts that one thread adds to and any thread reads: each count is an atomic word that its only
/// writer loads and stores (no read-modify-write, no lock, no cache line shared with another writer), and that a
/// scrape loads. Rows are how ``OllaMetrics`` keeps a request's counts on its own event loop.
final class TallyRow: @unchecked Sendable {
    let count: Int
    private let words: UnsafeMutablePointer<UnsafeAtomic<Int64>.Storage>

    init(count: Int) {
        self.count = count
        // Whole cache lines of its own, so that two loops' rows never share one.
        let bytes = max(1, count) * MemoryLayout<UnsafeAtomic<Int64>.Storage>.stride
        let raw = UnsafeMutableRawPointer.allocate(byteCount: (bytes + 63) / 64 * 64, alignment: 64)
        words = raw.bindMemory(to: UnsafeAtomic<Int64>.Storage.self, capacity: count)
        words.initialize(repeating: UnsafeAtomic<Int64>.Storage(0), count: count)
    }

    deinit {
        words.deinitialize(count: count)
        words.deallocate()
    }

    /// Adds `amount` to count `index`.
    /// - Important: Only from the row's own thread: a load and a store are an addition only for a sole writer.
    @inline(__always)
    func add(_ amount: Int64, at index: Int) {
        let word = UnsafeAtomic<Int64>(at: words + index)
        word.store(word.load(ordering: .relaxed) &+ amount, ordering: .relaxed)
    }

    /// Count `index` now, from any thread.
    func value(at index: Int) -> Int64 {
        UnsafeAtomic<Int64>(at: words + index).load(ordering: .relaxed)
    }
}
