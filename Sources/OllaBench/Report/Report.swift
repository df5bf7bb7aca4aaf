import Foundation

/// Turns a run's ``Measurements`` into the table of issue 7, with the targets olla must reach next to the figures.
///
/// Values are medians over the rounds. Differences (added latency) and ratios (olla / nginx) are computed inside
/// each round first, then the median is taken, so that a slow round slows every target alike and cancels out.
struct Report {
    /// A selection micro-benchmark result, per choice.
    struct Selection {
        var name: String
        var nanosecondsP50: Double?
        var mallocsP50: Double?
    }

    let measurements: Measurements
    let selections: [Selection]
    /// Things that did not work at all (no answers, errors, streams without `[DONE]`): the run fails.
    var problems: [String] = []
    /// Targets of the issue that the figures miss.
    var misses: [String] = []
    /// Targets of the issue that the run has no figure for (`--without-olla`).
    var unmeasured: [String] = []
    /// Notes printed under the tables (what a figure means in this run).
    var notes: [String] = []

    private static let targets = ["direct", "nginx", "olla"]
    /// The targets the run measured (`--without-olla` leaves olla out).
    private var measured: [String] {
        measurements.meta["targets"]?.split(separator: " ").map(String.init) ?? Self.targets
    }
    /// The parts the run did (`meta runs`): `main` (the table of issue 7 and the selection benchmark), `bursts`,
    /// `conversations`. A run that does not say did the main part only.
    var runs: Set<String> {
        Set(measurements.meta["runs"]?.split(separator: " ").map(String.init) ?? ["main"])
    }

    init(measurements: Measurements, selections: [Selection]) {
        self.measurements = measurements
        self.selections = selections
        if runs.contains("main") { checkThatEverythingWorked() }
        checkBursts()
        checkConversations()
    }

    // MARK: Checks

    private mutating func checkThatEverythingWorked() {
        let m = measurements
        for kind in ["tput", "lat"] {
            for target in Self.targets where !m.records(kind, target: target).isEmpty {
                for record in m.records(kind, target: target) {
                    let round = record["round"] ?? "?"
                    let requests = record.number("requests") ?? 0
                    let errors = record.number("errors") ?? 0
                    if requests == 0 {
                        problems.append("\(Self.title(kind)) round \(round): \(target) answered no request")
                    } else if errors > requests * 0.01 {
                        problems.append(
                            "\(Self.title(kind)) round \(round): \(target) had \(Int(errors)) errors "
                                + "(non-2xx or socket) in \(Int(requests)) requests"
                        )
                    }
                }
            }
        }
        for target in Self.targets {
            for record in m.records("stream", target: target) {
                let failed = Int(record.number("failed") ?? 0)
                if failed > 0 || record["streams"] == nil {
                    problems.append(
                        "streams round \(record["round"] ?? "?"): \(target): \(failed) of \(record["streams"] ?? "?") "
                            + "streams did not complete with data: [DONE]"
                    )
                }
            }
        }
        for kind in ["tput", "lat", "stream"] where m.records.contains(where: { $0.kind == kind }) {
            for target in measured where m.records(kind, target: target).isEmpty {
                problems.append("\(Self.title(kind)): no measurement of \(target)")
            }
        }
    }

    private static func title(_ kind: String) -> String {
        switch kind {
        case "tput": return "throughput"
        case "lat": return "latency"
        default: return kind
        }
    }

    // MARK: The table

    /// The whole report: the heading, the table, the selection table, the rounds, the tables of the LM Studio 0.4
    /// runs, and the problems.
    mutating func render() -> String {
        let m = measurements
        var out: [String] = []
        let mode = m.meta["mode"] ?? "full"
        if runs.contains("main") {
            out.append(
                "olla benchmark (\(mode) run, \(m.meta["date"] ?? "")): \(m.meta["rounds"] ?? "?") round(s), "
                    + "\(m.meta["seconds"] ?? "?") s per target and test, \(m.meta["streams"] ?? "?") streams; "
                    + "host of the small chats: \(m.meta["host"] ?? "?"), of the streams: lmstudio-sim; "
                    + "\(m.meta["cores"] ?? "?") cores"
            )
        } else {
            out.append(
                "olla benchmark (\(mode) run, \(m.meta["date"] ?? "")): \(runs.sorted().joined(separator: " and ")) "
                    + "only; \(m.meta["cores"] ?? "?") cores"
            )
        }
        if let command = m.meta["command"] { out.append("command: \(command)") }
        if let versions = m.meta["versions"] { out.append("versions: \(versions)") }
        if let load = m.meta["load"] { out.append("machine load before the run: \(load)") }
        if runs.contains("main") {
            out.append(
                "values are medians over the rounds; us = microseconds; 'added' = target minus direct, per round"
            )
            out.append("")
            var table = TextTable(header: ["", "direct", "nginx", "olla", "olla/nginx", "target", "result"])
            addThroughput(to: &table)
            addLatency(to: &table)
            addStreams(to: &table)
            addCost(to: &table)
            out.append(table.rendered)
            out.append("")
            out.append(contentsOf: selectionTable())
            out.append("")
            out.append(contentsOf: roundLines())
        }
        if runs.contains("bursts") {
            out.append("")
            out.append(contentsOf: burstSection())
        }
        if runs.contains("conversations") {
            out.append("")
            out.append(contentsOf: conversationSection())
        }
        if !notes.isEmpty {
            out.append("")
            out.append(contentsOf: notes.map { "NOTE: \($0)" })
        }
        if !problems.isEmpty {
            out.append("")
            out.append("DID NOT WORK:")
            out.append(contentsOf: problems.map { "  - \($0)" })
        }
        out.append("")
        if !misses.isEmpty { out.append("targets missed: " + misses.joined(separator: "; ")) }
        if !unmeasured.isEmpty { out.append("targets not measured: " + unmeasured.joined(separator: "; ")) }
        if misses.isEmpty && unmeasured.isEmpty { out.append("every target reached") }
        return out.joined(separator: "\n")
    }

    private mutating func addThroughput(to table: inout TextTable) {
        let m = measurements
        table.section("Throughput: small non-streamed chat POSTs, wrk, \(m.meta["connections"] ?? "32") connections")
        let ratio = Statistics.median(m.paired("tput", "olla", "nginx", "rps") { $1 > 0 ? $0 / $1 : nil })
        table.row(
            ["  requests/s"] + Self.targets.map { Self.format(Statistics.median(m.values("tput", target: $0, "rps"))) }
                + [Self.ratio(ratio), ">= 0.80x", verdict("throughput olla/nginx", ratio, atLeast: 0.8)]
        )
        table.row(
            ["  errors (all rounds)"]
                + Self.targets.map { Self.format(m.values("tput", target: $0, "errors").reduce(0, +)) }
        )
    }

    private mutating func addLatency(to table: inout TextTable) {
        let m = measurements
        table.section("Latency: the same requests over 1 connection (us)")
        for percentile in ["p50", "p99"] {
            let key = "\(percentile)_us"
            table.row(
                ["  \(percentile)"]
                    + Self.targets.map { Self.format(Statistics.median(m.values("lat", target: $0, key))) }
            )
        }
        let addedNginxP50 = Statistics.median(m.paired("lat", "nginx", "direct", "p50_us", -))
        let addedOllaP50 = Statistics.median(m.paired("lat", "olla", "direct", "p50_us", -))
        let addedNginxP99 = Statistics.median(m.paired("lat", "nginx", "direct", "p99_us", -))
        let addedOllaP99 = Statistics.median(m.paired("lat", "olla", "direct", "p99_us", -))
        let p50Ratio = addedNginxP50.flatMap { nginx in addedOllaP50.map { nginx > 0 ? $0 / nginx : .infinity } }
        table.row(
            [
                "  added p50", "-", Self.format(addedNginxP50), Self.format(addedOllaP50), Self.ratio(p50Ratio),
                "<= 2x nginx's added",
                verdict("added p50 at 1 conn <= 2x nginx's", addedOllaP50, atMost: addedNginxP50.map { 2 * $0 }),
            ]
        )
        table.row(
            [
                "  added p99", "-", Self.format(addedNginxP99), Self.format(addedOllaP99), "", "<= 1000 us",
                verdict("added p99 at 1 conn <= 1 ms", addedOllaP99, atMost: 1_000),
            ]
        )
    }

    private mutating func addStreams(to table: inout TextTable) {
        let m = measurements
        table.section(
            "Streaming: \(m.meta["streams"] ?? "?") concurrent streamed chats, \(m.meta["stream_tokens"] ?? "200") "
                + "tokens, \(m.meta["token_delay_ms"] ?? "10") ms apart (us)"
        )
        let rows: [(String, String, Double?)] = [
            ("  time to first token p50", "ttft_p50_us", nil),
            ("  time to first token p99", "ttft_p99_us", 1_000),
            ("  gap between chunks p50", "gap_p50_us", nil),
            ("  gap between chunks p99", "gap_p99_us", nil),
        ]
        for (title, key, _) in rows {
            table.row(
                [title] + Self.targets.map { Self.format(Statistics.median(m.values("stream", target: $0, key))) }
            )
        }
        for (title, key, limit) in rows {
            let nginx = Statistics.median(m.paired("stream", "nginx", "direct", key, -))
            let olla = Statistics.median(m.paired("stream", "olla", "direct", key, -))
            var cells = ["  added " + title.dropFirst(2), "-", Self.format(nginx), Self.format(olla), ""]
            if let limit {
                cells += ["<= \(Int(limit)) us", verdict("added TTFT p99 <= 1 ms", olla, atMost: limit)]
            }
            table.row(cells)
        }
        let ticksPerSecond = Double(m.meta["clk_tck"] ?? "") ?? 100
        table.row(
            ["  CPU s per run (direct: the host)"]
                + Self.targets.map { target in
                    let seconds = m.values("stream", target: target, "cpu_ticks").map { $0 / ticksPerSecond }
                    return Self.format(Statistics.median(seconds), decimals: 2)
                }
        )
        table.row(
            ["  listen queue overflows (all rounds)"]
                + Self.targets.map { Self.format(m.values("stream", target: $0, "listen_overflows").reduce(0, +)) }
        )
        let failed = Self.targets.map { m.values("stream", target: $0, "failed").reduce(0, +) }
        let started = Self.targets.map { m.values("stream", target: $0, "streams").reduce(0, +) }
        table.row(
            ["  streams without [DONE] (all rounds)"]
                + zip(failed, started).map { "\(Int($0)) of \(Int($1))" }
                + ["", "0", failed.allSatisfy({ $0 == 0 }) ? "ok" : "FAIL"]
        )
    }

    private mutating func addCost(to table: inout TextTable) {
        let m = measurements
        table.section("Cost (direct: the host's own)")
        let ticksPerSecond = Double(m.meta["clk_tck"] ?? "") ?? 100
        // CPU milliseconds per 1,000 requests is CPU microseconds per request.
        func cpuPerThousand(_ record: Measurements.Record) -> Double? {
            guard let ticks = record.number("cpu_ticks"), let requests = record.number("requests"), requests > 0
            else { return nil }
            return ticks / ticksPerSecond / requests * 1_000_000
        }
        let cpu = Self.targets.map { target in
            Statistics.median(m.records("tput", target: target).compactMap(cpuPerThousand))
        }
        let cpuRatio = Statistics.median(
            m.rounds("tput").compactMap { round in
                guard let olla = m.record("tput", target: "olla", round: round).flatMap(cpuPerThousand),
                    let nginx = m.record("tput", target: "nginx", round: round).flatMap(cpuPerThousand), nginx > 0
                else { return nil }
                return olla / nginx
            }
        )
        table.row(
            ["  CPU ms per 1,000 requests (32 conns)"] + cpu.map { Self.format($0, decimals: 1) }
                + [Self.ratio(cpuRatio), "<= 2.00x", verdict("CPU per request <= 2x nginx's", cpuRatio, atMost: 2)]
        )
        func megabytes(_ kb: Double?) -> Double? { kb.map { $0 / 1024 } }
        let idle = Self.targets.map { target in
            megabytes(
                m.records.first { $0.kind == "rss" && $0["target"] == target && $0["phase"] == "idle" }?
                    .number("kb")
            )
        }
        table.row(
            ["  RSS idle (MB)"] + idle.map { Self.format($0, decimals: 1) }
                + ["", "olla <= 30 MB", verdict("RSS idle <= 30 MB", idle[2], atMost: 30)]
        )
        let underLoad = Self.targets.map { megabytes(m.values("tput", target: $0, "rss_kb").max()) }
        table.row(["  RSS max under 32 conns (MB)"] + underLoad.map { Self.format($0, decimals: 1) })
        let streaming = Self.targets.map { megabytes(m.values("stream", target: $0, "rss_kb").max()) }
        table.row(
            ["  RSS max with \(m.meta["streams"] ?? "N") streams open (MB)"]
                + streaming.map { Self.format($0, decimals: 1) }
                + ["", "olla <= 150 MB", verdict("RSS with streams <= 150 MB", streaming[2], atMost: 150)]
        )
    }

    private mutating func selectionTable() -> [String] {
        let title = "Selection: 20 hosts, 200 models on 3-5 hosts each (ordo-one/benchmark, p50 per choice, release)"
        var table = TextTable(header: ["", "ns/choice", "mallocs/choice", "target", "result"])
        if selections.isEmpty {
            table.row(["  (not run)", "", "", "", ""])
            unmeasured.append("choosing a host <= 1 us with no allocation")
        }
        for selection in selections {
            let fast = selection.nanosecondsP50.map { $0 <= 1_000 } ?? false
            let noAllocation = selection.mallocsP50.map { $0 == 0 } ?? false
            let isTarget = selection.name != SelectionResults.harness
            var cells = [
                "  " + (selection.name == SelectionResults.harness ? "harness (the empty loop)" : selection.name),
                Self.format(selection.nanosecondsP50, decimals: 1),
                Self.format(selection.mallocsP50, decimals: 3),
            ]
            if isTarget {
                cells += ["<= 1000 ns, 0 allocs", fast && noAllocation ? "ok" : "MISS"]
                if !(fast && noAllocation) { misses.append("\(selection.name) <= 1 us with no allocation") }
            }
            table.row(cells)
        }
        return [title, table.rendered]
    }

    /// One line per round, so the spread between rounds can be judged.
    private func roundLines() -> [String] {
        let m = measurements
        var lines = [
            "per round (throughput req/s direct/nginx/olla, olla/nginx; added p50 us nginx/olla; "
                + "added TTFT p99 us nginx/olla):"
        ]
        for round in m.rounds("tput") {
            func value(_ kind: String, _ target: String, _ key: String) -> Double? {
                m.record(kind, target: target, round: round)?.number(key)
            }
            func added(_ kind: String, _ target: String, _ key: String) -> Double? {
                guard let a = value(kind, target, key), let b = value(kind, "direct", key) else { return nil }
                return a - b
            }
            let rps = Self.targets.map { Self.format(value("tput", $0, "rps")) }.joined(separator: "/")
            let ratio = value("tput", "olla", "rps").flatMap { olla in value("tput", "nginx", "rps").map { olla / $0 } }
            lines.append(
                "  round \(round): \(rps), \(Self.ratio(ratio)); "
                    + "\(Self.format(added("lat", "nginx", "p50_us")))/\(Self.format(added("lat", "olla", "p50_us"))); "
                    + "\(Self.format(added("stream", "nginx", "ttft_p99_us")))/"
                    + "\(Self.format(added("stream", "olla", "ttft_p99_us")))"
            )
        }
        return lines
    }

    // MARK: Verdicts and formatting

    mutating func verdict(_ name: String, _ value: Double?, atMost limit: Double?) -> String {
        guard let value, let limit else {
            unmeasured.append(name)
            return "n/a"
        }
        if value <= limit { return "ok" }
        misses.append(name)
        return "MISS"
    }

    mutating func verdict(_ name: String, _ value: Double?, atLeast limit: Double) -> String {
        guard let value else {
            unmeasured.append(name)
            return "n/a"
        }
        if value >= limit { return "ok" }
        misses.append(name)
        return "MISS"
    }

    static func format(_ value: Double?, decimals: Int = 0) -> String {
        guard let value, value.isFinite else { return "-" }
        return String(format: "%.\(decimals)f", value)
    }

    static func ratio(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "-" }
        return String(format: "%.2fx", value)
    }
}
