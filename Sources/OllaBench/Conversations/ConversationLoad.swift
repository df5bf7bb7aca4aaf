import NIOCore
import NIOPosix

/// Runs many multi-turn conversations at once against one target: the conversations run concurrently, the turns
/// of each one in order, each turn a streamed chat that resends the whole history.
struct ConversationLoad {
    var host: String
    /// Conversation `i` goes to `ports[i % ports.count]`.
    var ports: [Int]
    var path: String
    var model: String
    var conversations: Int
    var turns: Int
    /// Makes the conversations of this run unlike those of any other (see ``ConversationScript/label``).
    var label: String
    var firstMessageBytes: Int
    var messageBytes: Int
    var answerBytes: Int
    var maxTokens: Int?
    /// The conversations start evenly spread over this time.
    var ramp: TimeAmount
    /// The mean pause between the end of a turn and the next (see ``ConversationScript/pause(beforeTurn:mean:)``).
    var pause: TimeAmount
    /// How long one turn may take before it counts as timed out.
    var timeout: TimeAmount
    var expectedEvents: Int

    /// Runs every conversation to its end (or to its first failed turn, after which it stops) and returns the
    /// records of each conversation's turns, in turn order.
    func run(on group: any EventLoopGroup) throws -> [[StreamRecord]] {
        let start = NIODeadline.now() + .milliseconds(20)
        var results: [EventLoopFuture<[StreamRecord]>] = []
        results.reserveCapacity(conversations)
        for index in 0..<conversations {
            let loop = group.next()
            let startAt = start + .nanoseconds(ramp.nanoseconds * Int64(index) / Int64(max(conversations, 1)))
            let script = ConversationScript(
                label: label,
                index: index,
                firstMessageBytes: firstMessageBytes,
                messageBytes: messageBytes,
                answerBytes: answerBytes
            )
            let promise = loop.makePromise(of: [StreamRecord].self)
            loop.scheduleTask(deadline: startAt) {
                promise.completeWith(runConversation(script, port: ports[index % ports.count], on: loop))
            }
            results.append(promise.futureResult)
        }
        return try EventLoopFuture.whenAllSucceed(results, on: group.next()).wait()
    }

    /// The turns of one conversation, one after the other on `loop`.
    private func runConversation(
        _ script: ConversationScript,
        port: Int,
        on loop: any EventLoop
    ) -> EventLoopFuture<[StreamRecord]> {
        let load = self
        @Sendable func turn(_ number: Int, _ records: [StreamRecord]) -> EventLoopFuture<[StreamRecord]> {
            let body = script.body(turn: number, model: load.model, maxTokens: load.maxTokens)
            let head = StreamLoad.requestHead(host: load.host, port: port, path: load.path, body: body)
            return StreamLoad.record(
                host: load.host,
                port: port,
                head: head,
                body: ByteBuffer(string: body),
                deadline: .now() + load.timeout,
                expectedEvents: load.expectedEvents,
                on: loop
            ).flatMap { record in
                let records = records + [record]
                guard record.completed, number < load.turns else { return loop.makeSucceededFuture(records) }
                let pause = script.pause(beforeTurn: number + 1, mean: load.pause)
                guard pause > .zero else { return turn(number + 1, records) }
                return loop.scheduleTask(in: pause) {}.futureResult.flatMap { turn(number + 1, records) }
            }
        }
        return turn(1, [])
    }
}
