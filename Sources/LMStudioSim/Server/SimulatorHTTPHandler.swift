import Foundation
import NIOCore
import NIOHTTP1

/// Answers the requests of one connection like an LM Studio host: model listings, chat, completions
/// and embeddings (plain or streamed), on 0.4 also `/api/v1/chat`, `/v1/responses`, `/v1/messages` and model
/// loads, unknown paths, and the faults switched on.
///
/// Consumes `HTTPServerRequestPart`s from `HTTPServerPipelineHandler`, which hands over one request at
/// a time, and emits `HTTPServerResponsePart`s. Delays are timers on the connection's event loop; a
/// request never leaves that loop except to wait for a slot (of the host, or of a 0.4 instance) or for a
/// hang to clear, and comes back through `eventLoop.execute`.
final class SimulatorHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let settings: SimulatorSettings
    let state: SimulatorState
    let listener: SimulatorListener
    /// The connection's id in `SimulatorState`; nil on the control listener, whose connections are
    /// neither counted nor closed by faults.
    private let connectionID: Int?

    private var requestHead: HTTPRequestHead?
    private var requestBody: ByteBuffer?
    private var requestBodyTooLarge = false
    var exchange: Exchange?
    /// Set when this side closes the connection, so that the close is not counted as the client's.
    private var closingDeliberately = false

    /// The request being answered.
    struct Exchange {
        let id: Int
        let head: HTTPRequestHead
        let body: ByteBuffer?
        let route: Route
        var wait: Wait = .none
        var holdsSlot = false
        /// 0.4: the exchange asked `InstancePool` for a slot, and must leave it when it ends.
        var inPool = false
        var listingDelayed = false
        var plan: AnswerPlan?
        var stream: StreamProgress?
    }

    /// What an exchange is waiting for, if anything.
    enum Wait {
        case none
        case hang
        case slot
        /// 0.4: for a slot of a busy instance.
        case instanceSlot
        /// 0.4: for a model load, whose timer runs on even if the client leaves (the load completes anyway).
        case loading
        case timer(Scheduled<Void>)
    }

    /// What will be generated for an admitted inference request.
    struct AnswerPlan {
        let kind: Route.InferenceKind
        let envelope: AnswerBody.Envelope
        let tokens: Int
        let stream: Bool
        let inputs: [String]
        let promptTokens: Int
        let dropAfterChunks: Int?
        /// The prompt processing time (base, plus the uncached tokens' cost once a 0.4 slot is granted).
        var timeToFirstToken: TimeAmount
        /// 0.4 only; a reference, so that the plan a stream copies per event stays as small as on 0.3.
        var pooled: PooledRequest? = nil
    }

    /// What a 0.4 request needs to find a slot, and what it answers. Used on the connection's loop only.
    final class PooledRequest {
        let model: SimulatedModel
        /// The instance the request named (`key:2`), if any.
        let instanceID: String?
        let prompt: [UInt8]
        let loadTime: TimeAmount
        /// The cost of one uncached prompt token; nil while the prompt cache is off.
        let promptTokenCost: TimeAmount?
        /// The answer of `/api/v1/chat`, `/v1/responses` and `/v1/messages`.
        var conversation: ConversationAnswer?
        /// The instance that serves the request, reported in `x-sim-instance`.
        var servedBy: String?

        init(
            model: SimulatedModel,
            instanceID: String?,
            prompt: [UInt8],
            loadTime: TimeAmount,
            promptTokenCost: TimeAmount?,
            conversation: ConversationAnswer?
        ) {
            self.model = model
            self.instanceID = instanceID
            self.prompt = prompt
            self.loadTime = loadTime
            self.promptTokenCost = promptTokenCost
            self.conversation = conversation
        }
    }

    /// How far a streamed answer has got. Events are numbered: 0 is the greeting, 1...tokens the
    /// tokens, tokens + 1 the closing event; `[DONE]` follows it.
    struct StreamProgress {
        var nextEvent = 0
        var eventsSent = 0
        var headSent = false
    }

    init(settings: SimulatorSettings, state: SimulatorState, listener: SimulatorListener, connectionID: Int?) {
        self.settings = settings
        self.state = state
        self.listener = listener
        self.connectionID = connectionID
    }

    // MARK: Reading requests

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            requestHead = head
            requestBody = nil
            requestBodyTooLarge = false
        case .body(var part):
            guard !requestBodyTooLarge else { return }
            let size = (requestBody?.readableBytes ?? 0) + part.readableBytes
            if size > settings.maxBodySize {
                requestBodyTooLarge = true
                requestBody = nil
            } else if requestBody == nil {
                requestBody = part
            } else {
                requestBody!.writeBuffer(&part)
            }
        case .end:
            guard let head = requestHead else { return }
            requestHead = nil
            let body = requestBody
            requestBody = nil
            handleRequest(context: context, head: head, body: body)
        }
    }

    private func handleRequest(context: ChannelHandlerContext, head: HTTPRequestHead, body: ByteBuffer?) {
        let path = Route.path(of: head.uri)
        if path == "/_sim" || path.hasPrefix("/_sim/") {
            handleControl(context: context, head: head, path: path, body: body)
            return
        }
        guard connectionID != nil else {
            writeControlAnswer(context: context, head: head, status: .notFound, json: ["error": "control port"])
            return
        }
        let route = Route(method: head.method, path: path, api: settings.api)
        let (id, view) = state.recordArrival(head: head, body: body, routeKey: route.statsKey)
        exchange = Exchange(id: id, head: head, body: body, route: route)
        if requestBodyTooLarge {
            let message = "Request body is larger than \(settings.maxBodySize) bytes."
            answer(context: context, status: .payloadTooLarge, body: errorBody(message), close: true)
            return
        }
        if let expected = settings.expectedAuthorization, head.headers.first(name: "authorization") != expected,
            !acceptsAPIKey(head, expected: expected)
        {
            let body = AnswerBody.error(
                message: "Invalid or missing API token. Send it as 'Authorization: Bearer <token>'.",
                type: "invalid_request_error",
                code: "invalid_api_key"
            )
            answer(context: context, status: .unauthorized, body: body)
            return
        }
        dispatch(context: context, view: view)
    }

    /// LM Studio 0.4 also takes the token as Anthropic's `x-api-key` (for `/v1/messages`).
    private func acceptsAPIKey(_ head: HTTPRequestHead, expected: String) -> Bool {
        guard settings.api == .v0_4, let key = head.headers.first(name: "x-api-key") else { return false }
        return "Bearer \(key)" == expected
    }

    /// Decides what to do with the current exchange given the faults and models now. Runs again when
    /// a hang clears.
    private func dispatch(context: ChannelHandlerContext, view: SimulatorState.View) {
        guard let exchange else { return }
        let faults = view.faults
        let isInference = exchange.route.isInference
        if let hang = faults.hang, hang.covers(isInference: isInference) {
            park(context: context)
            return
        }
        if faults.resetInference && isInference {
            self.exchange = nil
            context.close(promise: nil)
            return
        }
        if let status = faults.errorStatus, faults.errorScope.covers(isInference: isInference) {
            let message = "Simulated failure with status \(status) from \(settings.name)."
            answer(
                context: context,
                status: HTTPResponseStatus(statusCode: status),
                body: errorBody(message, type: "server_error")
            )
            return
        }
        switch exchange.route {
        case .openAIModels, .lmStudioModels, .apiV1Models:
            answerModelListing(context: context, view: view)
        case .loadModel:
            loadModel(context: context, view: view)
        case .unloadModel:
            unloadModel(context: context)
        case .inference(let kind):
            startInference(context: context, kind: kind, view: view)
        case .unknown:
            answerUnknownEndpoint(context: context)
        }
    }

    private func answerUnknownEndpoint(context: ChannelHandlerContext) {
        guard let exchange else { return }
        let body = AnswerBody.unknownEndpoint(
            method: exchange.head.method.rawValue,
            path: Route.path(of: exchange.head.uri)
        )
        answer(context: context, status: .ok, body: body)
    }

    // MARK: Hang

    /// Parks the exchange until the faults change; it is then dispatched again.
    private func park(context: ChannelHandlerContext) {
        guard let exchange else { return }
        let resume = resumption(context: context, id: exchange.id) { handler, context in
            handler.exchange?.wait = .none
            handler.dispatch(context: context, view: handler.state.view)
        }
        if state.parkHung(id: exchange.id, isInference: exchange.route.isInference, resume: resume) {
            self.exchange?.wait = .hang
        } else {
            dispatch(context: context, view: state.view)
        }
    }

    /// A callback that runs `body` on this connection's event loop if exchange `id` is still current.
    func resumption(
        context: ChannelHandlerContext,
        id: Int,
        _ body: @escaping (SimulatorHTTPHandler, ChannelHandlerContext) -> Void
    ) -> Resumption {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let body = NIOLoopBound(body, eventLoop: context.eventLoop)
        return {
            bound.eventLoop.execute {
                let (handler, context) = bound.value
                guard handler.exchange?.id == id else { return }
                body.value(handler, context)
            }
        }
    }

    // MARK: Model listings

    private func answerModelListing(context: ChannelHandlerContext, view: SimulatorState.View) {
        guard let exchange else { return }
        let faults = view.faults
        if exchange.route == .lmStudioModels && faults.apiV0Missing {
            answerUnknownEndpoint(context: context)
            return
        }
        if faults.modelsDelay > .zero && !exchange.listingDelayed {
            let id = exchange.id
            self.exchange?.listingDelayed = true
            let timer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(faults.modelsDelay)) { [self] in
                guard self.exchange?.id == id else { return }
                self.exchange?.wait = .none
                answerModelListing(context: context, view: state.view)
            }
            self.exchange?.wait = .timer(timer)
            return
        }
        if let status = faults.modelsStatus {
            let message = "Simulated model listing failure with status \(status)."
            answer(
                context: context,
                status: HTTPResponseStatus(statusCode: status),
                body: errorBody(message, type: "server_error")
            )
        } else if faults.modelsMalformed {
            answer(context: context, status: .ok, body: AnswerBody.truncatedModelList)
        } else if exchange.route == .openAIModels {
            answer(context: context, status: .ok, body: view.catalog.openAIListBody)
        } else if exchange.route == .apiV1Models {
            answer(context: context, status: .ok, body: view.catalog.apiV1ListBody)
        } else {
            answer(context: context, status: .ok, body: view.catalog.lmStudioListBody)
        }
    }

    // MARK: Inference

    private func startInference(context: ChannelHandlerContext, kind: Route.InferenceKind, view: SimulatorState.View) {
        guard let exchange else { return }
        var request: InferenceRequest
        let parsed =
            kind.isConversation
            ? InferenceRequest.parseConversation(exchange.body, kind: kind)
            : InferenceRequest.parse(exchange.body, needsInput: kind == .embeddings)
        switch parsed {
        case .success(let value): request = value
        case .failure(let failure):
            answer(context: context, status: .badRequest, body: errorBody(failure.message))
            return
        }
        if view.faults.noModelsLoaded {
            answer(context: context, status: .badRequest, body: AnswerBody.noModelsLoaded)
            return
        }
        // LM Studio answers a request without `model` with the model it has loaded.
        guard let modelID = request.model ?? view.catalog.defaultModel?.id else {
            answer(context: context, status: .badRequest, body: AnswerBody.noModelsLoaded)
            return
        }
        guard view.catalog.knows(modelID) else {
            let body = AnswerBody.error(
                message: "Invalid model identifier \"\(modelID)\". Please specify a valid downloaded model.",
                type: "invalid_request_error",
                param: "model",
                code: "model_not_found"
            )
            answer(context: context, status: .badRequest, body: body)
            return
        }
        let tokens = min(settings.tokensPerAnswer, request.maxTokens ?? .max)
        let prefix = kind == .chat ? "chatcmpl-" : (kind == .completion ? "cmpl-" : "embd-")
        var plan = AnswerPlan(
            kind: kind,
            envelope: AnswerBody.Envelope(
                id: "\(prefix)\(settings.name)-\(exchange.id)",
                created: Int(time(nil)),
                model: modelID,
                hostNameJSON: settings.nameJSON
            ),
            tokens: tokens,
            stream: request.stream && kind != .embeddings,
            inputs: request.inputs,
            promptTokens: request.promptTokens,
            dropAfterChunks: view.faults.dropAfterChunks,
            timeToFirstToken: view.timeToFirstToken
        )
        if settings.api == .v0_4, let (model, instanceID) = view.catalog.resolve(modelID) {
            guard
                let pooled = preparePooled(
                    context: context,
                    plan: plan,
                    request: &request,
                    model: model,
                    instanceID: instanceID,
                    view: view
                )
            else { return }
            plan.pooled = pooled
        }
        self.exchange?.plan = plan
        let waiter: Resumption
        if settings.limitsConcurrency {
            waiter = resumption(context: context, id: exchange.id) { handler, context in
                handler.exchange?.wait = .none
                handler.admitted(context: context)
            }
        } else {
            waiter = {}
        }
        if state.admit(id: exchange.id, waiter: waiter) {
            admitted(context: context)
        } else {
            self.exchange?.wait = .slot
        }
    }

    /// Runs a request that holds one of the host's slots (`maxConcurrentRequests`): on 0.4 it then needs a slot
    /// of a model instance too.
    private func admitted(context: ChannelHandlerContext) {
        exchange?.holdsSlot = true
        if settings.api == .v0_4 {
            enterInstance(context: context)
        } else {
            generate(context: context)
        }
    }

    /// Produces the answer of an admitted inference request, after its simulated generation time.
    func generate(context: ChannelHandlerContext) {
        guard let plan = exchange?.plan, let id = exchange?.id else { return }
        exchange?.holdsSlot = true
        if plan.stream {
            exchange?.stream = StreamProgress()
            scheduleNextEvent(context: context, after: plan.timeToFirstToken)
            return
        }
        var delay = plan.timeToFirstToken
        if plan.kind != .embeddings {
            delay = delay + settings.tokenDelay * Int64(plan.tokens)
        }
        if delay == .zero {
            writeAnswer(context: context, plan: plan)
            return
        }
        let timer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            guard exchange?.id == id else { return }
            exchange?.wait = .none
            writeAnswer(context: context, plan: plan)
        }
        exchange?.wait = .timer(timer)
    }

    private func writeAnswer(context: ChannelHandlerContext, plan: AnswerPlan) {
        var buffer = context.channel.allocator.buffer(capacity: 512)
        switch plan.kind {
        case .chat:
            AnswerBody.chatCompletion(
                plan.envelope,
                contentJSON: settings.answerTextJSON(tokens: plan.tokens),
                promptTokens: plan.promptTokens,
                completionTokens: plan.tokens,
                into: &buffer
            )
        case .completion:
            AnswerBody.textCompletion(
                plan.envelope,
                textJSON: settings.answerTextJSON(tokens: plan.tokens),
                promptTokens: plan.promptTokens,
                completionTokens: plan.tokens,
                into: &buffer
            )
        case .embeddings:
            AnswerBody.embeddings(plan.envelope, inputs: plan.inputs, promptTokens: plan.promptTokens, into: &buffer)
        case .apiV1Chat, .responses, .messages:
            plan.pooled?.conversation?.write(into: &buffer)
        }
        answer(context: context, status: .ok, body: buffer)
    }

    // MARK: Streaming

    private func scheduleNextEvent(context: ChannelHandlerContext, after delay: TimeAmount) {
        guard let id = exchange?.id else { return }
        if delay == .zero {
            writeEvents(context: context)
            return
        }
        let timer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            guard exchange?.id == id else { return }
            exchange?.wait = .none
            writeEvents(context: context)
        }
        exchange?.wait = .timer(timer)
    }

    /// Writes the next event, and the ones after it that are due at once; then schedules the next
    /// token, or ends the stream.
    private func writeEvents(context: ChannelHandlerContext) {
        guard let plan = exchange?.plan, var progress = exchange?.stream else { return }
        let keepAlive = exchange?.head.isKeepAlive ?? false
        if !progress.headSent {
            var headers = settings.eventStreamHeaders
            if !keepAlive { headers.add(name: "connection", value: "close") }
            if let instance = plan.pooled?.servedBy { headers.add(name: "x-sim-instance", value: instance) }
            let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            progress.headSent = true
        }
        while true {
            if let limit = plan.dropAfterChunks, progress.eventsSent >= limit {
                dropStream(context: context)
                return
            }
            let event = progress.nextEvent
            if event > plan.tokens + 1 {
                // The 0.4 routes end with their closing event; only the OpenAI chunk streams send [DONE].
                if plan.pooled?.conversation == nil {
                    var done = context.channel.allocator.buffer(capacity: 16)
                    done.writeStaticString(AnswerBody.doneEvent)
                    context.write(wrapOutboundOut(.body(.byteBuffer(done))), promise: nil)
                }
                exchange?.stream = progress
                finishResponse(context: context, close: !keepAlive)
                return
            }
            context.write(
                wrapOutboundOut(.body(.byteBuffer(eventBuffer(context: context, plan: plan, event: event)))),
                promise: nil
            )
            progress.nextEvent += 1
            progress.eventsSent += 1
            // Tokens are spaced by the token delay; the closing event and [DONE] follow the last at once.
            if event < plan.tokens && settings.tokenDelay > .zero {
                exchange?.stream = progress
                context.flush()
                scheduleNextEvent(context: context, after: settings.tokenDelay)
                return
            }
        }
    }

    private func eventBuffer(context: ChannelHandlerContext, plan: AnswerPlan, event: Int) -> ByteBuffer {
        var buffer = context.channel.allocator.buffer(capacity: 320)
        if let conversation = plan.pooled?.conversation {
            conversation.writeEvent(event, into: &buffer)
            return buffer
        }
        let text: String? =
            switch event {
            case 0: settings.greetingJSON
            case 1...plan.tokens: SimulatorSettings.tokenTextJSON(event)
            default: nil
            }
        if plan.kind == .chat {
            AnswerBody.chatChunkEvent(plan.envelope, withRole: event == 0, contentJSON: text, into: &buffer)
        } else {
            AnswerBody.completionChunkEvent(plan.envelope, textJSON: text, into: &buffer)
        }
        return buffer
    }

    /// Cuts a streamed answer as a dying host would: no terminating chunk, the connection closed.
    private func dropStream(context: ChannelHandlerContext) {
        guard let exchange else { return }
        self.exchange = nil
        closingDeliberately = true
        context.flush()
        context.close(promise: nil)
        leavePool(exchange)
        state.finish(heldSlot: exchange.holdsSlot, outcome: .dropped)?()
    }

    // MARK: Writing answers

    func errorBody(_ message: String, type: String = "invalid_request_error") -> ByteBuffer {
        AnswerBody.error(message: message, type: type)
    }

    /// Sends a complete JSON response for the current exchange and ends it.
    func answer(
        context: ChannelHandlerContext,
        status: HTTPResponseStatus,
        body: ByteBuffer,
        close: Bool = false
    ) {
        guard let exchange else { return }
        let close = close || !exchange.head.isKeepAlive
        var headers = settings.jsonHeaders
        headers.add(name: "content-length", value: String(body.readableBytes))
        if close { headers.add(name: "connection", value: "close") }
        if let instance = exchange.plan?.pooled?.servedBy { headers.add(name: "x-sim-instance", value: instance) }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
            promise: nil
        )
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        finishResponse(context: context, close: close)
    }

    /// Writes the end of the response, ends the exchange and passes its slot on.
    private func finishResponse(context: ChannelHandlerContext, close: Bool) {
        guard let exchange else { return }
        self.exchange = nil
        if close {
            closingDeliberately = true
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                channel.close(promise: nil)
            }
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        leavePool(exchange)
        state.finish(heldSlot: exchange.holdsSlot, outcome: .completed)?()
    }

    // MARK: Connection events

    func channelInactive(context: ChannelHandlerContext) {
        let stillRegistered = connectionID.map { state.unregisterConnection(id: $0) } ?? false
        if let exchange {
            self.exchange = nil
            // A connection the host closed itself (refuse, stop) does not count as a client leaving.
            let outcome: SimulatorState.Outcome =
                stillRegistered && !closingDeliberately ? .clientLeft : .serverClosed
            var next: Resumption?
            leavePool(exchange)
            switch exchange.wait {
            case .none, .instanceSlot, .loading:
                next = state.finish(heldSlot: exchange.holdsSlot, outcome: outcome)
            case .timer(let timer):
                timer.cancel()
                next = state.finish(heldSlot: exchange.holdsSlot, outcome: outcome)
            case .hang:
                state.unparkHung(id: exchange.id)
                next = state.finish(heldSlot: exchange.holdsSlot, outcome: outcome)
            case .slot:
                next = state.abandonQueued(id: exchange.id, outcome: outcome)
            }
            next?()
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
