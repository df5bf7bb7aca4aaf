import ArgumentParser

/// `olla-bench`: the parts of issue 7's benchmark that are better written in Swift than in `bench/run`'s bash.
@main
struct OllaBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "olla-bench",
        abstract: "Load client and report of olla's benchmark (driven by bench/run).",
        subcommands: [
            StreamsCommand.self, ConversationsCommand.self, HostStatsCommand.self, ReportCommand.self,
        ]
    )
}
