import Foundation

/// The tables of the runs against LM Studio 0.4 hosts: slot bursts (olla's slot-aware routing against nginx's
/// round-robin) and multi-turn conversations (olla with and without prompt-cache affinity).
///
/// Times to first token are pooled over the rounds (every turn or stream of every round), since one round holds
/// few values; counts are summed over the rounds; the busiest host's share is the median of the rounds'.
extension Report {
    static let burstTargets = ["nginx", "olla"]
    /// With affinity, without, and each conversation sent straight to one host (what perfect affinity gives).
    static let conversationTargets = ["on", "off", "pinned"]

    // MARK: Checks

    mutating func checkBursts() {
        guard runs.contains("bursts") else { return }
        checkCompleted("burst", targets: Self.burstTargets, title: "slot bursts", unit: "streams")
    }

    mutating func checkConversations() {
        guard runs.contains("conversations") else { return }
        checkCompleted("conv", targets: Self.conversationTargets, title: "conversations", unit: "turns")
        for record in measurements.records where record.kind == "conv" && record["hosts"] == nil {
            problems.append(
                "conversations round \(record["round"] ?? "?"): affinity \(record["target"] ?? "?"): "
                    + "no /_sim/stats of the hosts"
            )
        }
    }

    private mutating func checkCompleted(_ kind: String, targets: [String], title: String, unit: String) {
        for target in targets {
            let records = measurements.records(kind, target: target)
            if records.isEmpty { problems.append("\(title): no measurement of \(target)") }
            for record in records {
                let failed = Int(record.number("failed") ?? 0)
                let total = record["requests"] ?? record["streams"] ?? "?"
                if failed > 0 || record["completed"] == nil {
                    problems.append(
                        "\(title) round \(record["round"] ?? "?"): \(target): \(failed) of \(total) \(unit) did not "
                            + "complete with data: [DONE]"
                    )
                }
            }
        }
    }

    // MARK: Slot bursts

    mutating func burstSection() -> [String] {
        let m = measurements
        let slots = (m.meta["burst_slots"] ?? "?").split(separator: " ").joined(separator: " and ")
        var out = [
            "Slot bursts: \(m.meta["burst_streams"] ?? "?") streamed chats at once x \(m.meta["burst_rounds"] ?? "?") "
                + "round(s), over two LM Studio 0.4 hosts with \(slots) slots of the model "
                + "(\(m.meta["burst_tokens"] ?? "?") tokens \(m.meta["burst_token_delay_ms"] ?? "?") ms apart, first "
                + "after \(m.meta["burst_first_token_ms"] ?? "?") ms; a request beyond the slots waits inside the "
                + "host, or in olla's queue); time to first token in ms, pooled over the rounds"
        ]
        var table = TextTable(header: ["", "nginx round-robin", "olla slot-aware", "olla/nginx"])
        let ttfts = Self.burstTargets.map { m.pooled("burst", target: $0, "ttfts_us").map { $0 / 1_000 } }
        let rows: [(String, ([Double]) -> Double?)] = [
            ("  time to first token p50", { Statistics.percentile(50, of: $0) }),
            ("  time to first token p90", { Statistics.percentile(90, of: $0) }),
            ("  time to first token p99", { Statistics.percentile(99, of: $0) }),
            ("  time to first token mean", { Statistics.mean($0) }),
        ]
        for (title, statistic) in rows {
            let values = ttfts.map(statistic)
            let ratio = values[0].flatMap { nginx in values[1].map { nginx > 0 ? $0 / nginx : .infinity } }
            table.row([title] + values.map { Self.format($0, decimals: 1) } + [Self.ratio(ratio)])
        }
        table.row(
            ["  streams without [DONE] (all rounds)"]
                + Self.burstTargets.map { target in
                    let failed = m.values("burst", target: target, "failed").reduce(0, +)
                    let started = m.values("burst", target: target, "streams").reduce(0, +)
                    return "\(Int(failed)) of \(Int(started))"
                }
        )
        out.append(table.rendered)
        out.append("per round (TTFT p50/p99 ms, nginx; olla):")
        for round in m.rounds("burst") {
            let cells = Self.burstTargets.map { target -> String in
                let record = m.record("burst", target: target, round: round)
                return "\(Self.format(record?.number("ttft_p50_us").map { $0 / 1_000 }, decimals: 1))/"
                    + Self.format(record?.number("ttft_p99_us").map { $0 / 1_000 }, decimals: 1)
            }
            out.append("  round \(round): \(cells.joined(separator: "; "))")
        }
        return out
    }

    // MARK: Multi-turn conversations

    mutating func conversationSection() -> [String] {
        let m = measurements
        var out = [
            "Multi-turn conversations: \(m.meta["conv_conversations"] ?? "?") conversations x "
                + "\(m.meta["conv_turns"] ?? "?") turns at once (each turn resends the history), x "
                + "\(m.meta["conv_rounds"] ?? "?") round(s), over \(m.meta["conv_hosts"] ?? "?") LM Studio 0.4 hosts "
                + "of \(m.meta["conv_parallel"] ?? "?") slots with the prompt cache (time to first token "
                + "\(m.meta["conv_first_token_ms"] ?? "?") ms + \(m.meta["conv_token_cost_us"] ?? "?") us per "
                + "uncached prompt token, \(m.meta["conv_pause_ms"] ?? "?") ms pause between turns); olla with "
                + "proxy.sticky_sessions.enabled true ('on') and false ('off'), and 'pinned': each conversation "
                + "straight to one host, what perfect affinity gives; same hosts; times in ms pooled over the rounds"
        ]
        let targets = Self.conversationTargets
        var table = TextTable(
            header: ["", "affinity on", "affinity off", "pinned (ideal)", "on/off", "target", "result"]
        )
        func ttfts(_ target: String, _ key: String) -> [Double] {
            m.pooled("conv", target: target, key).map { $0 / 1_000 }
        }
        let first = targets.map { Statistics.percentile(50, of: ttfts($0, "ttfts_turn1_us")) }
        table.row(["  TTFT turn 1 p50"] + first.map { Self.format($0, decimals: 1) })
        for percent in [50.0, 99.0] {
            let values = targets.map { Statistics.percentile(percent, of: ttfts($0, "ttfts_later_us")) }
            let ratio = values[0].flatMap { on in values[1].map { $0 > 0 ? on / $0 : .infinity } }
            var cells = ["  TTFT turns >= 2 p\(Int(percent))"] + values.map { Self.format($0, decimals: 1) }
            cells.append(Self.ratio(ratio))
            if percent == 50 {
                cells += [
                    "on <= 0.50x off",
                    verdict("TTFT p50 of turns >= 2 with affinity <= 0.5x without", ratio, atMost: 0.5),
                ]
            }
            table.row(cells)
        }
        func sum(_ target: String, _ key: String) -> Double { m.values("conv", target: target, key).reduce(0, +) }
        // Turn 1 cannot hit: its text is new to every host (each run labels its conversations). The hosts' rate
        // over every turn is shown too.
        let laterHits = targets.map { target -> Double? in
            let hits = sum(target, "cache_hits")
            let lookups = hits + sum(target, "cache_misses") - sum(target, "conversations")
            return lookups > 0 ? hits / lookups : nil
        }
        table.row(
            ["  prompt cache hits, turns >= 2"] + laterHits.map(Self.percent)
                + [
                    "", "on >= 90%",
                    verdict("prompt cache hits of turns >= 2 with affinity >= 90%", laterHits[0], atLeast: 0.9),
                ]
        )
        let allHits = targets.map { target -> Double? in
            let lookups = sum(target, "cache_hits") + sum(target, "cache_misses")
            return lookups > 0 ? sum(target, "cache_hits") / lookups : nil
        }
        table.row(["  prompt cache hits, all turns (hosts' own rate)"] + allHits.map(Self.percent))
        let reused = targets.map { target -> Double? in
            let tokens = sum(target, "cache_tokens_reused") + sum(target, "cache_tokens_processed")
            return tokens > 0 ? sum(target, "cache_tokens_reused") / tokens : nil
        }
        table.row(["  prompt tokens taken from a cache"] + reused.map(Self.percent))
        let busiest = targets.map { Statistics.median(m.values("conv", target: $0, "busiest_over_mean")) }
        table.row(
            ["  busiest host's requests / mean"] + busiest.map { Self.format($0, decimals: 2) }
                + ["", "on <= 1.25", verdict("busiest host / mean with affinity <= 1.25", busiest[0], atMost: 1.25)]
        )
        let sticky = targets.map { target in
            ConversationSummary.stickyValues.map { Int(sum(target, "sticky_\($0)")) }
        }
        table.row(
            ["  X-Olla-Sticky-Session " + ConversationSummary.stickyValues.joined(separator: "/")]
                + sticky.map { $0.map(String.init).joined(separator: "/") }
        )
        table.row(
            ["  turns without [DONE] (all rounds)"]
                + targets.map { "\(Int(sum($0, "failed"))) of \(Int(sum($0, "requests")))" }
        )
        out.append(table.rendered)
        out.append("per round (TTFT turns >= 2 p50 ms, hits of turns >= 2, requests per host; on | off | pinned):")
        for round in m.rounds("conv") {
            let cells = targets.map { target -> String in
                guard let record = m.record("conv", target: target, round: round) else { return "-" }
                let hits = record.number("cache_hits") ?? 0
                let lookups = hits + (record.number("cache_misses") ?? 0) - (record.number("conversations") ?? 0)
                return "\(Self.format(record.number("ttft_later_p50_us").map { $0 / 1_000 }, decimals: 1)), "
                    + "\(Self.percent(lookups > 0 ? hits / lookups : nil)), \(record["route_requests"] ?? "-")"
            }
            out.append("  round \(round): \(cells.joined(separator: " | "))")
        }
        let withHeader = targets.flatMap { target in
            ["hit", "miss", "repin", "disabled", "other"].map { sum(target, "sticky_\($0)") }
        }
        if withHeader.reduce(0, +) == 0 && m.records.contains(where: { $0.kind == "conv" }) {
            notes.append(
                "olla answered no turn with X-Olla-Sticky-Session: this build has no prompt-cache affinity "
                    + "(DESIGN.md 6.8), so 'on' and 'off' route alike and the affinity targets cannot be reached."
            )
        }
        return out
    }

    static func percent(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "-" }
        return String(format: "%.1f%%", value * 100)
    }
}
