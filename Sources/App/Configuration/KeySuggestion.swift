/// The known key a mistyped one most likely meant (`prot` -> `port`, `check_intervall` -> `check_interval`).
enum KeySuggestion {
    /// The closest of `candidates` to `key`, when it is close enough to be a typo; `nil` otherwise.
    ///
    /// Closeness is the edit distance counting a swap of two neighbours as one edit, compared without
    /// case, and allowed to grow with the length of the key (one edit for short keys, up to three).
    static func closest(to key: String, among candidates: some Sequence<String>) -> String? {
        let typed = Array(key.lowercased())
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            let known = Array(candidate.lowercased())
            let allowed = max(1, min(3, known.count / 3))
            let distance = editDistance(typed, known)
            guard distance <= allowed, distance < known.count else { continue }
            if best == nil || distance < best!.distance {
                best = (candidate, distance)
            }
        }
        return best?.candidate
    }

    /// Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps.
    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var value = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    value = min(value, table[i - 2][j - 2] + 1)
                }
                table[i][j] = value
            }
        }
        return table[a.count][b.count]
    }
}
