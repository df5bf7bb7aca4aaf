/// The last few label sets an event loop counted into, with their rows, found by comparing keys before any
/// hashing: the strings of a label set come from the configuration and the model index, and strings of the same
/// storage compare equal without reading their bytes. With up to ``capacity`` label sets in turn (a few hosts,
/// a few statuses), a request hashes nothing.
struct RecentRows<Key: Equatable, Rows> {
    static var capacity: Int { 8 }

    private var keys: [Key] = []
    private var rows: [Rows] = []
    /// The entry to replace next, once full.
    private var next = 0

    /// The rows of `key`, when it is among the recent ones.
    func rows(for key: Key) -> Rows? {
        for index in keys.indices where keys[index] == key { return rows[index] }
        return nil
    }

    /// Keeps `key`'s rows, in place of the oldest once full.
    mutating func remember(_ key: Key, _ rows: Rows) {
        guard keys.count == Self.capacity else {
            keys.append(key)
            self.rows.append(rows)
            return
        }
        keys[next] = key
        self.rows[next] = rows
        next = (next + 1) % Self.capacity
    }
}
