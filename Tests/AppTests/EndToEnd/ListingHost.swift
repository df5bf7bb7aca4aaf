import Balancer
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A host with fixed model listings (`/v1/models`, `/api/v0/models`, `/api/v1/models`, each settable while it
/// runs, or left out) that answers any POST with a small chat completion after `answerDelay`; for what
/// `lmstudio-sim` does not speak yet (LM Studio 0.4's `/api/v1/models`, a `root` in `/v1/models`). It counts the
/// chats it serves at once, and the listings it was asked for.
final class ListingHost: Sendable {
    /// What one GET path answers.
    enum Answer: Sendable {
        case json(String)
        /// A body of that many bytes with a Content-Length, larger than a probe reads.
        case oversized(Int)
    }

    struct State: Sendable {
        var answers: [String: Answer] = [:]
        var answerDelay: Duration = .zero
        var running = 0
        var mostAtOnce = 0
        var chats = 0
        var gets: [String: Int] = [:]
        /// Run when a chat arrives (with the count of chats so far), before its answer; may change the state.
        var onChat: (@Sendable (inout State) -> Void)?
    }

    private let channel: any Channel
    let state: NIOLockedValueBox<State>

    var port: Int { channel.localAddress?.port ?? 0 }

    private init(channel: any Channel, state: NIOLockedValueBox<State>) {
        self.channel = channel
        self.state = state
    }

    /// The answer of LM Studio 0.3 to a path it does not serve.
    static func unexpectedEndpoint(_ path: String) -> Answer {
        .json(#"{"error":"Unexpected endpoint or method. (GET \#(path))"}"#)
    }

    static func withRunning(
        _ answers: [String: Answer],
        answerDelay: Duration = .zero,
        _ body: (ListingHost) async throws -> Void
    ) async throws {
        let state = NIOLockedValueBox(State(answers: answers, answerDelay: answerDelay))
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(state: state))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let host = ListingHost(channel: channel, state: state)
        do {
            try await body(host)
            try await channel.close()
        } catch {
            try? await channel.close()
            throw error
        }
    }

    /// The endpoint configuration olla uses for this host.
    func endpoint(
        named name: String,
        priority: Int = 100,
        checkInterval: Duration = .seconds(1),
        checkTimeout: Duration = .milliseconds(900)
    ) -> EndpointConfiguration {
        EndpointConfiguration(
            name: name,
            url: EndpointURL(scheme: .http, host: "127.0.0.1", port: port, basePath: ""),
            priority: priority,
            checkInterval: checkInterval,
            checkTimeout: checkTimeout
        )
    }

    func set(_ path: String, _ answer: Answer?) {
        state.withLockedValue { $0.answers[path] = answer }
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let state: NIOLockedValueBox<State>
        var head: HTTPRequestHead?
        var body = ByteBuffer()

        init(state: NIOLockedValueBox<State>) {
            self.state = state
        }

        func write(_ context: ChannelHandlerContext, _ text: String, length: Int? = nil) {
            var headers = HTTPHeaders([("Content-Type", "application/json")])
            headers.add(name: "Content-Length", value: String(length ?? text.utf8.count))
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))),
                promise: nil
            )
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                body.clear()
            case .body(var part):
                body.writeBuffer(&part)
            case .end:
                guard let head else { return }
                if head.method == .GET {
                    let answer = state.withLockedValue { state -> Answer? in
                        state.gets[head.uri, default: 0] += 1
                        return state.answers[head.uri]
                    }
                    switch answer {
                    case .json(let text)?:
                        write(context, text)
                    case .oversized(let bytes)?:
                        write(context, String(repeating: " ", count: bytes), length: bytes)
                    case nil:
                        write(context, #"{"error":"Unexpected endpoint or method. (GET \#(head.uri))"}"#)
                    }
                    return
                }
                let model =
                    (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any])?["model"]
                    as? String ?? ""
                let delay = state.withLockedValue { state -> Duration in
                    state.running += 1
                    state.chats += 1
                    state.mostAtOnce = max(state.mostAtOnce, state.running)
                    state.onChat?(&state)
                    return state.answerDelay
                }
                let answer =
                    #"{"id":"chatcmpl-1","object":"chat.completion","model":"\#(model)","choices":[{"index":0,"#
                    + #""message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}"#
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: TimeAmount(delay)) {
                    let (handler, context) = bound.value
                    handler.state.withLockedValue { $0.running -= 1 }
                    handler.write(context, answer)
                }
            }
        }
    }
}
