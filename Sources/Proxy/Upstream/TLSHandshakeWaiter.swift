import NIOCore
import NIOTLS

/// Completes a promise when the TLS handshake of a new upstream connection is done (or failed), then leaves
/// the pipeline, so that a connection is handed to a request only once it can carry one.
final class TLSHandshakeWaiter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private var promise: EventLoopPromise<Void>?
    private var future: EventLoopFuture<Void>?

    /// Succeeds when the handshake completes; fails with its error, or when the connection closes first.
    var completed: EventLoopFuture<Void> { future! }

    func handlerAdded(context: ChannelHandlerContext) {
        let promise = context.eventLoop.makePromise(of: Void.self)
        self.promise = promise
        future = promise.futureResult
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        fail(UpstreamError.closedDuringTLSHandshake)
    }

    /// Fails the wait unless it is over already (on the channel's loop).
    func fail(_ error: any Error) {
        promise?.fail(error)
        promise = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            promise?.succeed()
            promise = nil
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(UpstreamError.closedDuringTLSHandshake)
        context.fireChannelInactive()
    }
}
