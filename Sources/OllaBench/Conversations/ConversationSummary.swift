import Foundation

/// The figures of one conversation load: completion counts, the time to first token of first turns and of later
/// turns (which a host's prompt cache can shorten), and what olla said about each answer's host.
struct ConversationSummary {
    var conversations: Int
    var turns: Int
    var sent: Int
    var completed: Int
    /// Failure reasons with how many turns had each, most frequent first.
    var failures: [(reason: String, count: Int)]
    /// Time to first token of turn 1, in microseconds, in conversation order.
    var firstTurnTTFTs: [UInt64]
    /// Time to first token of turns 2 and later, in microseconds.
    var laterTurnTTFTs: [UInt64]
    /// Turns sent, by the answer's `X-Olla-Sticky-Session` (`none`: without one, or no answer).
    var sticky: [String: Int]
    /// Turns sent, by the answer's `X-Olla-Endpoint`.
    var endpoints: [String: Int]

    /// The values of `X-Olla-Sticky-Session` that the line always shows, in order.
    static let stickyValues = ["hit", "miss", "repin", "disabled", "none"]

    init(records: [[StreamRecord]], turns: Int) {
        conversations = records.count
        self.turns = turns
        sent = records.reduce(0) { $0 + $1.count }
        completed = records.reduce(0) { $0 + $1.count { $0.completed } }
        var reasons: [String: Int] = [:]
        for record in records.joined() where !record.completed {
            reasons[(record.failure ?? .noDone).description, default: 0] += 1
        }
        let notSent = records.count * turns - sent
        if notSent > 0 { reasons["not sent (an earlier turn of its conversation failed)"] = notSent }
        failures = reasons.map { (reason: $0.key, count: $0.value) }.sorted { $0.count > $1.count }
        var first: [UInt64] = []
        var later: [UInt64] = []
        var sticky: [String: Int] = [:]
        var endpoints: [String: Int] = [:]
        for conversation in records {
            for (turn, record) in conversation.enumerated() {
                if let ttft = record.timeToFirstEvent {
                    if turn == 0 { first.append(ttft / 1_000) } else { later.append(ttft / 1_000) }
                }
                sticky[record.stickySession ?? "none", default: 0] += 1
                if let endpoint = record.endpoint { endpoints[endpoint, default: 0] += 1 }
            }
        }
        firstTurnTTFTs = first
        laterTurnTTFTs = later
        self.sticky = sticky
        self.endpoints = endpoints
    }

    /// One line of `key=value` pairs, the form `bench/run` records and `olla-bench report` reads. Lists (the
    /// TTFTs in microseconds, the answers per endpoint) are comma-separated, so that the report can pool rounds.
    var line: String {
        var fields = [
            "conversations=\(conversations)",
            "turns=\(turns)",
            "requests=\(conversations * turns)",
            "completed=\(completed)",
            "failed=\(conversations * turns - completed)",
        ]
        func add(_ key: String, _ values: [UInt64]) {
            let sorted = values.sorted()
            for percent in [50.0, 99.0] {
                let value = StreamSummary.percentile(percent, of: sorted.map { $0 * 1_000 })
                fields.append("\(key)_p\(Int(percent))_us=\(value.map { String(format: "%.0f", $0) } ?? "nan")")
            }
        }
        add("ttft_turn1", firstTurnTTFTs)
        add("ttft_later", laterTurnTTFTs)
        for value in Self.stickyValues {
            fields.append("sticky_\(value)=\(sticky[value, default: 0])")
        }
        let other = sticky.filter { !Self.stickyValues.contains($0.key) }.values.reduce(0, +)
        if other > 0 { fields.append("sticky_other=\(other)") }
        let byEndpoint = endpoints.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }
        fields.append("endpoints=\(byEndpoint.isEmpty ? "-" : byEndpoint.joined(separator: ","))")
        fields.append("ttfts_turn1_us=\(Self.list(firstTurnTTFTs))")
        fields.append("ttfts_later_us=\(Self.list(laterTurnTTFTs))")
        return fields.joined(separator: " ")
    }

    private static func list(_ values: [UInt64]) -> String {
        values.isEmpty ? "-" : values.map(String.init).joined(separator: ",")
    }
}
