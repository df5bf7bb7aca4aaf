import Atomics

extension ManagedAtomic where Value == Int {
    /// Adds one unless the value has reached `limit`, without a lock: the take of a host's or a model's slot.
    /// - Returns: whether it added one.
    func incrementIfBelow(_ limit: Int) -> Bool {
        var current = load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = weakCompareExchange(expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }
}
