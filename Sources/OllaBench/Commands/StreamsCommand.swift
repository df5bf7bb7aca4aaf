import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

/// `olla-bench streams`: many concurrent streamed chats against one target, timed chunk by chunk.
struct StreamsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "streams",
        abstract: "Open concurrent streamed chats and time every chunk.",
        discussion: """
            Prints one line of key=value pairs: streams, completed, failed, events, ttft_p50_us, ttft_p99_us, \
            gap_p50_us, gap_p99_us, gap_max_us. TTFT is the time from writing the request to the first \
            'data:' event; a gap is the time between two consecutive 'data:' events of one stream (pooled over \
            all streams). A stream completes when its answer is 200 and has 'data: [DONE]'. Failure reasons go \
            to stderr. With --list-ttfts the line ends with ttfts_us, every stream's time to first token.
            """
    )

    @Option(help: "The target's address.")
    var host = "127.0.0.1"

    @Option(help: "The target's port.")
    var port: Int

    @Option(help: "The path to POST to.")
    var path = "/v1/chat/completions"

    @Option(help: "The model to ask for.")
    var model: String

    @Option(help: "How many streams.")
    var streams = 500

    @Option(name: .customLong("ramp-ms"), help: "Start the streams evenly over this many milliseconds.")
    var rampMilliseconds = 1_000

    @Option(help: "Seconds a stream may take before it counts as timed out.")
    var timeout = 60

    @Option(help: "Event loop threads of the client.")
    var threads = 1

    @Option(help: "Events per answer to size buffers for (tokens + 2).")
    var expectedEvents = 202

    @Flag(
        name: .customLong("list-ttfts"),
        help: "Also print every stream's time to first token: ttfts_us=, microseconds, comma-separated."
    )
    var listTTFTs = false

    func validate() throws {
        guard streams >= 1 else { throw ValidationError("--streams must be at least 1") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard rampMilliseconds >= 0, timeout >= 1 else {
            throw ValidationError("--ramp-ms and --timeout must be positive")
        }
    }

    func run() throws {
        let body =
            #"{"model":"\#(model)","messages":[{"role":"user","content":"Count to two hundred."}],"stream":true}"#
        let load = StreamLoad(
            target: StreamLoad.Target(host: host, port: port, path: path, body: body),
            streams: streams,
            ramp: .milliseconds(Int64(rampMilliseconds)),
            timeout: .seconds(Int64(timeout)),
            expectedEvents: expectedEvents
        )
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        defer { try? group.syncShutdownGracefully() }
        let records = try load.run(on: group)
        let summary = StreamSummary(records: records)
        for failure in summary.failures {
            FileHandle.standardError.write(Data("olla-bench streams: \(failure.count) x \(failure.reason)\n".utf8))
        }
        guard listTTFTs else {
            print(summary.line)
            return
        }
        let ttfts = records.compactMap(\.timeToFirstEvent).map { String($0 / 1_000) }
        print(summary.line + " ttfts_us=" + (ttfts.isEmpty ? "-" : ttfts.joined(separator: ",")))
    }
}
