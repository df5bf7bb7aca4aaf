import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

/// `olla-bench conversations`: many multi-turn chat conversations at once, each turn resending the whole history.
struct ConversationsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conversations",
        abstract: "Run concurrent multi-turn streamed chats and time the first token of every turn.",
        discussion: """
            Each conversation sends its turns one after the other, each a streamed OpenAI chat whose `messages` \
            hold the whole history (user, assistant, user, ...) plus a new user message, after a pause (the user \
            reading and typing, --pause-ms); the conversations run at once. Prints one line of key=value pairs: conversations, turns, requests, completed, failed, \
            ttft_turn1_p50_us, ttft_turn1_p99_us, ttft_later_p50_us, ttft_later_p99_us (turns 2 and later), \
            sticky_hit, sticky_miss, sticky_repin, sticky_disabled, sticky_none (olla's X-Olla-Sticky-Session \
            per turn), endpoints (turns per X-Olla-Endpoint), ttfts_turn1_us and ttfts_later_us (every value, \
            comma-separated). A turn completes when its answer is 200 and has 'data: [DONE]'; a conversation \
            stops at its first failed turn. Failure reasons go to stderr.
            """
    )

    @Option(help: "The target's address.")
    var host = "127.0.0.1"

    @Option(
        name: .customLong("port"),
        help: "The target's port; repeated, conversation i goes to the (i mod count)th port (pinned to a host)."
    )
    var ports: [Int]

    @Option(help: "The path to POST to.")
    var path = "/v1/chat/completions"

    @Option(help: "The model to ask for.")
    var model: String

    @Option(help: "How many conversations run at once.")
    var conversations = 64

    @Option(help: "Turns per conversation.")
    var turns = 6

    @Option(help: "Names this run's conversations, so that their text differs from other runs' from the start.")
    var label = "run"

    @Option(help: "Bytes of the first user message (about 4 bytes a token).")
    var firstMessageBytes = 6_000

    @Option(help: "Bytes of each later user message.")
    var messageBytes = 1_200

    @Option(help: "Bytes of each assistant message put into the history.")
    var answerBytes = 400

    @Option(help: "max_tokens of every turn (not sent when 0).")
    var maxTokens = 0

    @Option(name: .customLong("ramp-ms"), help: "Start the conversations evenly over this many milliseconds.")
    var rampMilliseconds = 100

    @Option(
        name: .customLong("pause-ms"),
        help: "Mean pause before each turn after the first, in milliseconds (each is 0.5x to 1.5x of it)."
    )
    var pauseMilliseconds = 0

    @Option(help: "Seconds a turn may take before it counts as timed out.")
    var timeout = 60

    @Option(help: "Event loop threads of the client.")
    var threads = 1

    @Option(help: "Events per answer to size buffers for (tokens + 2).")
    var expectedEvents = 32

    func validate() throws {
        guard conversations >= 1, turns >= 1 else {
            throw ValidationError("--conversations and --turns must be at least 1")
        }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard !ports.isEmpty else { throw ValidationError("--port is required") }
        guard firstMessageBytes >= 1, messageBytes >= 1, answerBytes >= 1, maxTokens >= 0 else {
            throw ValidationError("message sizes must be at least 1 and --max-tokens positive")
        }
        guard rampMilliseconds >= 0, pauseMilliseconds >= 0, timeout >= 1 else {
            throw ValidationError("--ramp-ms, --pause-ms and --timeout must be positive")
        }
        guard label.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) else {
            throw ValidationError("--label may hold letters, digits, '-', '_' and '.' only")
        }
    }

    func run() throws {
        let load = ConversationLoad(
            host: host,
            ports: ports,
            path: path,
            model: model,
            conversations: conversations,
            turns: turns,
            label: label,
            firstMessageBytes: firstMessageBytes,
            messageBytes: messageBytes,
            answerBytes: answerBytes,
            maxTokens: maxTokens > 0 ? maxTokens : nil,
            ramp: .milliseconds(Int64(rampMilliseconds)),
            pause: .milliseconds(Int64(pauseMilliseconds)),
            timeout: .seconds(Int64(timeout)),
            expectedEvents: expectedEvents
        )
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        defer { try? group.syncShutdownGracefully() }
        let summary = ConversationSummary(records: try load.run(on: group), turns: turns)
        for failure in summary.failures {
            FileHandle.standardError.write(
                Data("olla-bench conversations: \(failure.count) x \(failure.reason)\n".utf8)
            )
        }
        print(summary.line)
    }
}
