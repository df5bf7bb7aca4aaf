import Foundation
import NIOCore
import NIOHTTP1

/// The LM Studio 0.4 side of a request: stored conversations, a slot of a model instance (loading one just in
/// time when none is loaded), the prompt cache's effect on the time to first token, and the model load and
/// unload routes.
extension SimulatorHTTPHandler {
    /// The 0.4 part of a plan: the prompt, the conversation it continues and the answer of the 0.4 routes. Nil
    /// when the request was answered already (an unknown `previous_response_id`).
    func preparePooled(
        context: ChannelHandlerContext,
        plan: AnswerPlan,
        request: inout InferenceRequest,
        model: SimulatedModel,
        instanceID: String?,
        view: SimulatorState.View
    ) -> PooledRequest? {
        guard let exchange else { return nil }
        let pooled = { (prompt: [UInt8], conversation: ConversationAnswer?) in
            PooledRequest(
                model: model,
                instanceID: instanceID,
                prompt: prompt,
                loadTime: TimeAmount(view.tuning.loadTime),
                promptTokenCost: view.tuning.promptCache ? TimeAmount(view.tuning.promptTokenCost) : nil,
                conversation: conversation
            )
        }
        guard plan.kind.isConversation else {
            if view.tuning.promptCache {
                request.prompt = InferenceRequest.promptBytes(of: exchange.body)
            }
            return pooled(request.prompt, nil)
        }
        var turn = 1
        if let previous = request.previousResponseID {
            guard let stored = state.conversation(id: previous) else {
                let body = AnswerBody.error(
                    message: "Previous response with id '\(previous)' not found.",
                    type: "invalid_request_error",
                    param: "previous_response_id",
                    code: "previous_response_not_found"
                )
                answer(context: context, status: .badRequest, body: body)
                return nil
            }
            turn = stored.turn + 1
            // The conversation so far comes first in the prompt, which is what the prompt cache rewards.
            request.prompt = stored.transcript + request.prompt
            request.promptTokens = max(1, (request.prompt.count + 3) / 4)
        }
        let stores = plan.kind.isStateful && request.store && view.tuning.storesResponses
        let responseID = plan.kind == .responses || stores ? Self.newID(prefix: "resp_") : nil
        // The turn in the text shows which conversation the host continued.
        var greeting = SimulatorSettings.greeting(name: settings.name)
        if plan.kind.isStateful { greeting += " Turn \(turn)." }
        var text = greeting
        for index in 1...max(1, plan.tokens) {
            text += " token\(index)"
        }
        let tokenSeconds = Double(settings.tokenDelay.nanoseconds) / 1e9
        let conversation = ConversationAnswer(
            kind: plan.kind,
            model: plan.envelope.model,
            created: plan.envelope.created,
            instanceID: model.id,
            responseID: responseID,
            previousResponseID: request.previousResponseID,
            messageID: Self.newID(prefix: "msg_"),
            store: stores,
            greetingJSON: jsonQuoted(greeting),
            textJSON: jsonQuoted(text),
            promptTokens: request.promptTokens,
            completionTokens: plan.tokens,
            stoppedAtLimit: plan.tokens < settings.tokensPerAnswer,
            timeToFirstTokenSeconds: 0,
            tokensPerSecond: tokenSeconds > 0 ? (1 / tokenSeconds * 100).rounded() / 100 : 1000
        )
        if stores, let responseID {
            let stored = ResponseStore.Conversation(
                model: model.id,
                turn: turn,
                transcript: request.prompt + Array(text.utf8)
            )
            state.storeResponse(id: responseID, stored)
        }
        return pooled(request.prompt, conversation)
    }

    /// Asks for a slot of an instance of the plan's model: runs at once, waits for a busy instance, or waits for
    /// a new instance to load.
    func enterInstance(context: ChannelHandlerContext) {
        guard let exchange, let pooled = exchange.plan?.pooled else { return }
        let id = exchange.id
        self.exchange?.inPool = true
        let waiter = slotResumption(context: context, id: id) { handler, context, grant in
            handler.exchange?.wait = .none
            if let grant {
                handler.run(context: context, grant: grant)
            } else {
                // The instance it waited for was unloaded: look again (which may load a new one).
                handler.enterInstance(context: context)
            }
        }
        let acquisition = state.acquireInstanceSlot(
            model: pooled.model,
            instanceID: pooled.instanceID,
            exchangeID: id,
            prompt: pooled.prompt,
            waiter: waiter
        )
        switch acquisition {
        case .run(let grant):
            run(context: context, grant: grant)
        case .wait:
            self.exchange?.wait = .instanceSlot
        case .load(let serial, let evicted):
            for waiter in evicted {
                // Requests waiting for an evicted instance look again, as in `unloadModel`.
                waiter(nil)
            }
            self.exchange?.wait = .loading
            afterLoad(context: context, delay: pooled.loadTime) { handler, context in
                let wanted = handler.exchange?.id == id
                let grant = handler.state.completeLoad(
                    serial: serial,
                    exchangeID: wanted ? id : nil,
                    prompt: pooled.prompt
                )
                guard wanted else { return }
                handler.exchange?.wait = .none
                if let grant {
                    handler.run(context: context, grant: grant)
                } else {
                    handler.enterInstance(context: context)
                }
            }
        }
    }

    /// Runs `body` after a model load's time, on this connection's loop. The timer is not the exchange's: a load
    /// goes on when the client leaves.
    private func afterLoad(
        context: ChannelHandlerContext,
        delay: TimeAmount,
        _ body: @escaping (SimulatorHTTPHandler, ChannelHandlerContext) -> Void
    ) {
        if delay <= .zero {
            body(self, context)
            return
        }
        context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            body(self, context)
        }
    }

    /// Generates the answer on the slot granted; the prompt cache decides the time to first token.
    private func run(context: ChannelHandlerContext, grant: SlotGrant) {
        guard var plan = exchange?.plan, let pooled = plan.pooled else { return }
        if let cost = pooled.promptTokenCost {
            plan.timeToFirstToken = plan.timeToFirstToken + cost * Int64(grant.processedTokens)
        }
        pooled.servedBy = grant.instanceID
        pooled.conversation?.instanceID = grant.instanceID
        pooled.conversation?.timeToFirstTokenSeconds = Double(plan.timeToFirstToken.nanoseconds) / 1e9
        pooled.conversation?.cachedTokens = min(grant.reusedTokens, grant.promptTokens)
        pooled.conversation?.cacheWriteTokens = pooled.promptTokenCost == nil ? 0 : grant.processedTokens
        exchange?.plan = plan
        generate(context: context)
    }

    /// Leaves the instance an ending exchange waited in or held a slot of; the slot goes to the next waiter.
    func leavePool(_ exchange: Exchange) {
        guard exchange.inPool, let model = exchange.plan?.pooled?.model else { return }
        state.leaveInstance(exchangeID: exchange.id, modelID: model.id)?()
    }

    /// A slot waiter that runs `body` on this connection's event loop if exchange `id` is still current. When it
    /// is not, the slot it was handed is freed by `leavePool` (the exchange ended before the grant arrived).
    private func slotResumption(
        context: ChannelHandlerContext,
        id: Int,
        _ body: @escaping (SimulatorHTTPHandler, ChannelHandlerContext, SlotGrant?) -> Void
    ) -> SlotWaiter {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let body = NIOLoopBound(body, eventLoop: context.eventLoop)
        return { grant in
            bound.eventLoop.execute {
                let (handler, context) = bound.value
                guard handler.exchange?.id == id else { return }
                body.value(handler, context, grant)
            }
        }
    }

    /// A fresh id such as `resp_3f9a...`: unique across hosts, so a router can tell which host holds it.
    static func newID(prefix: String) -> String {
        let high = UInt64.random(in: 0...UInt64.max)
        let low = UInt64.random(in: 0...UInt64.max)
        let hex = String(high, radix: 16) + String(low, radix: 16)
        return prefix + String(repeating: "0", count: max(0, 32 - hex.count)) + hex
    }

    // MARK: Loads and unloads

    /// The request's JSON object, or nil after answering 400 as LM Studio does for a body that is not one.
    private func requestObjectOrRefusal(_ body: ByteBuffer?, context: ChannelHandlerContext) -> [String: Any]? {
        guard let object = Self.requestObject(body) else {
            answer(
                context: context,
                status: .badRequest,
                body: errorBody("Invalid JSON in request body: expected a JSON object.")
            )
            return nil
        }
        return object
    }

    /// `POST /api/v1/models/load {model, context_length?, parallel?}`: a new instance, even when the model is
    /// loaded already, answered once it has loaded.
    func loadModel(context: ChannelHandlerContext, view: SimulatorState.View) {
        guard let exchange else { return }
        guard let object = requestObjectOrRefusal(exchange.body, context: context) else { return }
        guard let name = object["model"] as? String, !name.isEmpty else {
            answer(context: context, status: .badRequest, body: errorBody("'model' is required and must be a string."))
            return
        }
        var options: [String: Int] = [:]
        for key in ["context_length", "parallel"] {
            guard let value = object[key], !(value is NSNull) else { continue }
            guard let number = JSONValue.int(value), number > 0 else {
                answer(context: context, status: .badRequest, body: errorBody("'\(key)' must be a positive integer."))
                return
            }
            options[key] = number
        }
        guard let model = view.catalog.model(id: name) else {
            let body = AnswerBody.error(
                message: "Model \"\(name)\" not found. Please specify a valid downloaded model.",
                type: "invalid_request_error",
                param: "model",
                code: "model_not_found"
            )
            answer(context: context, status: .notFound, body: body)
            return
        }
        let (serial, instanceID) = state.startLoad(
            model: model,
            contextLength: options["context_length"],
            parallel: options["parallel"]
        )
        let id = exchange.id
        let loadTime = TimeAmount(view.tuning.loadTime)
        self.exchange?.wait = .loading
        afterLoad(context: context, delay: loadTime) { handler, context in
            _ = handler.state.completeLoad(serial: serial, exchangeID: nil, prompt: [])
            guard handler.exchange?.id == id else { return }
            handler.exchange?.wait = .none
            var body = context.channel.allocator.buffer(capacity: 128)
            body.writeStaticString(#"{"type":"#)
            body.writeJSONString(model.type.rawValue)
            body.writeStaticString(#","instance_id":"#)
            body.writeJSONString(instanceID)
            body.writeStaticString(#","load_time_seconds":"#)
            body.writeString(String(Double(loadTime.nanoseconds) / 1e9))
            body.writeStaticString(#","status":"loaded"}"#)
            handler.answer(context: context, status: .ok, body: body)
        }
    }

    /// `POST /api/v1/models/unload {instance_id}`: the instance goes; requests waiting for it look again.
    func unloadModel(context: ChannelHandlerContext) {
        guard let exchange else { return }
        guard let object = requestObjectOrRefusal(exchange.body, context: context) else { return }
        guard let instanceID = object["instance_id"] as? String, !instanceID.isEmpty else {
            answer(
                context: context,
                status: .badRequest,
                body: errorBody("'instance_id' is required and must be a string.")
            )
            return
        }
        guard let waiters = state.unload(instanceID: instanceID) else {
            let body = AnswerBody.error(
                message: "No loaded model instance with id '\(instanceID)'.",
                type: "invalid_request_error",
                param: "instance_id",
                code: "model_not_found"
            )
            answer(context: context, status: .notFound, body: body)
            return
        }
        for resume in waiters {
            resume()
        }
        var body = context.channel.allocator.buffer(capacity: 64)
        body.writeStaticString(#"{"instance_id":"#)
        body.writeJSONString(instanceID)
        body.writeStaticString("}")
        answer(context: context, status: .ok, body: body)
    }

    private static func requestObject(_ body: ByteBuffer?) -> [String: Any]? {
        guard let body, body.readableBytes > 0 else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
    }
}
