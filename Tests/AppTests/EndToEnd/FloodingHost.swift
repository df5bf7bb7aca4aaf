import Balancer
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A host that lists model `m` and answers a chat with `chunks` parts of `chunkSize` bytes, offered all at once;
/// it counts what the kernel took, and says it stalled when nothing more was taken for 300 ms. With an
/// `oversizedListing`, its `/v1/models` answer is that many bytes instead (with or without Content-Length).
final class FloodingHost: Sendable {
    private let channel: any Channel
    private let progress: NIOLockedValueBox<(bytes: Int, at: ContinuousClock.Instant)>

    var port: Int { channel.localAddress?.port ?? 0 }
    var bytesWritten: Int { progress.withLockedValue { $0.bytes } }
    var stalled: Bool {
        progress.withLockedValue { $0.bytes > 0 && ContinuousClock.now - $0.at > .milliseconds(300) }
    }

    private init(channel: any Channel, progress: NIOLockedValueBox<(bytes: Int, at: ContinuousClock.Instant)>) {
        self.channel = channel
        self.progress = progress
    }

    /// A model list of `bytes` bytes, declared in Content-Length or sent chunked.
    struct OversizedListing: Sendable {
        var bytes: Int
        var declared: Bool
    }

    static func start(
        chunks: Int = 1,
        chunkSize: Int = 1,
        oversizedListing: OversizedListing? = nil
    ) async throws -> FloodingHost {
        let progress = NIOLockedValueBox((bytes: 0, at: ContinuousClock.now))
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(
                        Handler(chunks: chunks, chunkSize: chunkSize, oversized: oversizedListing, progress: progress)
                    )
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return FloodingHost(channel: channel, progress: progress)
    }

    func stop() async throws {
        try await channel.close()
    }

    /// Runs `body` with a started host and stops it afterwards, also when `body` throws.
    static func withRunning(
        chunks: Int = 1,
        chunkSize: Int = 1,
        oversizedListing: OversizedListing? = nil,
        _ body: (FloodingHost) async throws -> Void
    ) async throws {
        let host = try await start(chunks: chunks, chunkSize: chunkSize, oversizedListing: oversizedListing)
        do {
            try await body(host)
            try await host.stop()
        } catch {
            try? await host.stop()
            throw error
        }
    }

    /// The endpoint configuration olla uses for this host.
    func endpoint(named name: String, checkTimeout: Duration = .milliseconds(900)) -> EndpointConfiguration {
        EndpointConfiguration(
            name: name,
            url: EndpointURL(scheme: .http, host: "127.0.0.1", port: port, basePath: ""),
            checkInterval: .seconds(5),
            checkTimeout: checkTimeout
        )
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let chunks: Int
        let chunkSize: Int
        let oversized: OversizedListing?
        let progress: NIOLockedValueBox<(bytes: Int, at: ContinuousClock.Instant)>
        var head: HTTPRequestHead?

        init(
            chunks: Int,
            chunkSize: Int,
            oversized: OversizedListing?,
            progress: NIOLockedValueBox<(bytes: Int, at: ContinuousClock.Instant)>
        ) {
            self.chunks = chunks
            self.chunkSize = chunkSize
            self.oversized = oversized
            self.progress = progress
        }

        /// `bytes` of a JSON string's inside, in 1 MB parts, with or without Content-Length.
        func writeOversized(_ listing: OversizedListing, context: ChannelHandlerContext) {
            var headers = HTTPHeaders([("Content-Type", "application/json")])
            if listing.declared {
                headers.add(name: "Content-Length", value: String(listing.bytes))
            } else {
                headers.add(name: "Transfer-Encoding", value: "chunked")
            }
            let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            let part = ByteBuffer(repeating: UInt8(ascii: " "), count: 1024 * 1024)
            var left = listing.bytes
            while left > 0 {
                context.write(
                    wrapOutboundOut(.body(.byteBuffer(part.getSlice(at: 0, length: min(left, part.readableBytes))!))),
                    promise: nil
                )
                left -= part.readableBytes
            }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): self.head = head
            case .body: break
            case .end:
                guard let head else { return }
                if head.method == .GET, let oversized {
                    return writeOversized(oversized, context: context)
                }
                if head.method == .GET {
                    let list =
                        head.uri.hasPrefix("/api/v0")
                        ? #"{"object":"list","data":[{"id":"m","object":"model","type":"llm","state":"loaded"}]}"#
                        : #"{"object":"list","data":[{"id":"m","object":"model","owned_by":"me"}]}"#
                    var headers = HTTPHeaders([("Content-Type", "application/json")])
                    headers.add(name: "Content-Length", value: String(list.utf8.count))
                    context.write(
                        wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))),
                        promise: nil
                    )
                    context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: list)))), promise: nil)
                    context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                    return
                }
                let headers = HTTPHeaders([("Content-Type", "text/event-stream"), ("Transfer-Encoding", "chunked")])
                context.write(
                    wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))),
                    promise: nil
                )
                let chunk = ByteBuffer(repeating: UInt8(ascii: "x"), count: chunkSize)
                let progress = self.progress
                let size = chunkSize
                for _ in 0..<chunks {
                    context.write(wrapOutboundOut(.body(.byteBuffer(chunk)))).whenSuccess {
                        progress.withLockedValue { $0 = ($0.bytes + size, ContinuousClock.now) }
                    }
                }
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}
