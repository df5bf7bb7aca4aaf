import ArgumentParser
import Foundation

/// `olla-bench report`: prints the table of a run from its raw measurements.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Print the benchmark table from the raw measurements of bench/run.",
        discussion: """
            Exits 3 when something did not work at all (a target answered nothing, more than 1% errors, a stream \
            without data: [DONE]); with --strict, also 4 when a target of the issue is missed.
            """
    )

    @Argument(help: "The raw measurements file written by bench/run.")
    var measurements: String

    @Option(help: "The JMH export of the selection benchmark (swift package benchmark --format jmh).")
    var selection: String?

    @Flag(help: "Exit 4 when a target is missed.")
    var strict = false

    func run() throws {
        let text = try String(contentsOfFile: measurements, encoding: .utf8)
        var selections: [Report.Selection] = []
        if let selection {
            selections = try SelectionResults.load(path: selection)
        }
        var report = Report(measurements: Measurements(text: text), selections: selections)
        print(report.render())
        if !report.problems.isEmpty { throw ExitCode(3) }
        if strict, !report.misses.isEmpty { throw ExitCode(4) }
    }
}
