import Foundation
import NIOCore
import NIOHTTP1

/// The `/_sim/*` control routes: faults, settings, models, stats and recorded requests over HTTP. They are never
/// affected by faults and never counted, so a test can always see and steer the host.
extension SimulatorHTTPHandler {
    func handleControl(context: ChannelHandlerContext, head: HTTPRequestHead, path: String, body: ByteBuffer?) {
        let modelsPrefix = "/_sim/models/"
        switch (head.method, path) {
        case (.GET, "/_sim/faults"):
            writeControlAnswer(context: context, head: head, status: .ok, json: state.faults.jsonObject)
        case (.POST, "/_sim/faults"):
            updateFaults(context: context, head: head, body: body)
        case (.GET, "/_sim/settings"):
            writeControlAnswer(context: context, head: head, status: .ok, json: settingsObject)
        case (.POST, "/_sim/settings"):
            updateSettings(context: context, head: head, body: body)
        case (.GET, "/_sim/stats"):
            writeControlAnswer(context: context, head: head, status: .ok, json: state.stats.jsonObject)
        case (.DELETE, "/_sim/stats"):
            state.resetStats()
            state.clearRecordedRequests()
            writeControlAnswer(context: context, head: head, status: .ok, json: state.stats.jsonObject)
        case (.GET, "/_sim/models"):
            writeControlAnswer(context: context, head: head, status: .ok, body: state.catalog.lmStudioListBody)
        case (.POST, "/_sim/models"):
            addModel(context: context, head: head, body: body)
        case (.DELETE, _) where path.hasPrefix(modelsPrefix):
            let encoded = String(path.dropFirst(modelsPrefix.count))
            let id = encoded.removingPercentEncoding ?? encoded
            let (removed, resume) = state.removeModel(id: id)
            for waiter in resume {
                waiter()
            }
            if removed {
                writeControlAnswer(context: context, head: head, status: .ok, body: state.catalog.lmStudioListBody)
            } else {
                writeControlAnswer(context: context, head: head, status: .notFound, json: ["error": "no model '\(id)'"])
            }
        case (.GET, "/_sim/requests"):
            let recorded = state.recordedRequests.map { request -> [String: Any] in
                [
                    "method": request.method,
                    "uri": request.uri,
                    "headers": request.headers.map { [$0.0, $0.1] },
                    "body": request.bodyText,
                ]
            }
            writeControlAnswer(context: context, head: head, status: .ok, json: recorded)
        default:
            let message = "Unknown control route \(head.method.rawValue) \(path)."
            writeControlAnswer(context: context, head: head, status: .notFound, json: ["error": message])
        }
    }

    /// A control request's JSON object, or nil after answering 400.
    private func controlObject(
        _ body: ByteBuffer?,
        context: ChannelHandlerContext,
        head: HTTPRequestHead
    ) -> [String: Any]? {
        guard let object = Self.jsonObject(body) else {
            writeControlAnswer(
                context: context,
                head: head,
                status: .badRequest,
                json: ["error": "expected a JSON object"]
            )
            return nil
        }
        return object
    }

    private func updateFaults(context: ChannelHandlerContext, head: HTTPRequestHead, body: ByteBuffer?) {
        guard let object = controlObject(body, context: context, head: head) else { return }
        let faults: SimulatorFaults
        let parked: [Resumption]
        do {
            (faults, parked) = try state.mergeFaults(json: object)
        } catch {
            writeControlAnswer(context: context, head: head, status: .badRequest, json: ["error": error.message])
            return
        }
        for resume in parked {
            resume()
        }
        let listener = self.listener
        // The listener follows `refuse_connections` once the answer is out: switching it on closes this
        // connection too.
        writeControlAnswer(context: context, head: head, status: .ok, json: faults.jsonObject).whenComplete { _ in
            Task { try? await listener.reconcile() }
        }
    }

    private func addModel(context: ChannelHandlerContext, head: HTTPRequestHead, body: ByteBuffer?) {
        guard let object = controlObject(body, context: context, head: head) else { return }
        switch SimulatedModel.from(json: object) {
        case .success(let model):
            for resume in state.addModel(model) {
                resume()
            }
            writeControlAnswer(context: context, head: head, status: .ok, body: state.catalog.lmStudioListBody)
        case .failure(let error):
            writeControlAnswer(context: context, head: head, status: .badRequest, json: ["error": error.message])
        }
    }

    /// What `GET /_sim/settings` answers: the API generation, the tuning, and `parallel` per model.
    private var settingsObject: [String: Any] {
        var object = state.tuning.jsonObject
        object["api"] = settings.api.rawValue
        object["response_store_limit"] = settings.responseStoreLimit
        object["parallel"] = Dictionary(state.models.map { ($0.id, $0.parallel) }, uniquingKeysWith: { $1 })
        return object
    }

    private func updateSettings(context: ChannelHandlerContext, head: HTTPRequestHead, body: ByteBuffer?) {
        guard let object = controlObject(body, context: context, head: head) else { return }
        let resume: [Resumption]
        do {
            resume = try state.mergeSettings(json: object)
        } catch {
            writeControlAnswer(context: context, head: head, status: .badRequest, json: ["error": error.message])
            return
        }
        for waiter in resume {
            waiter()
        }
        writeControlAnswer(context: context, head: head, status: .ok, json: settingsObject)
    }

    private static func jsonObject(_ body: ByteBuffer?) -> [String: Any]? {
        guard let body, body.readableBytes > 0 else { return [:] }
        return (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
    }

    /// Sends a control answer encoded from Foundation values.
    @discardableResult
    func writeControlAnswer(
        context: ChannelHandlerContext,
        head: HTTPRequestHead,
        status: HTTPResponseStatus,
        json: Any
    ) -> EventLoopFuture<Void> {
        let data =
            (try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data("{}".utf8)
        var body = context.channel.allocator.buffer(capacity: data.count)
        body.writeBytes(data)
        return writeControlAnswer(context: context, head: head, status: status, body: body)
    }

    /// Sends a control answer; it does not touch the exchange, the stats or the recorded requests.
    @discardableResult
    func writeControlAnswer(
        context: ChannelHandlerContext,
        head: HTTPRequestHead,
        status: HTTPResponseStatus,
        body: ByteBuffer
    ) -> EventLoopFuture<Void> {
        var headers = settings.jsonHeaders
        headers.add(name: "content-length", value: String(body.readableBytes))
        if !head.isKeepAlive { headers.add(name: "connection", value: "close") }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
            promise: nil
        )
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !head.isKeepAlive {
            let channel = context.channel
            written.whenComplete { _ in channel.close(promise: nil) }
        }
        return written
    }
}

extension SimulatedModel {
    /// A model from a `POST /_sim/models` object: `id` is required, the rest (`type`, `state`,
    /// `max_context_length`, `parallel`, the descriptive fields) has defaults.
    static func from(json object: [String: Any]) -> Result<SimulatedModel, ControlRequestError> {
        guard let id = object["id"] as? String, !id.isEmpty else {
            return .failure(ControlRequestError(message: "'id' must be a non-empty string"))
        }
        var type = ModelType.llm
        if let value = object["type"] {
            guard let name = value as? String, let parsed = ModelType(rawValue: name) else {
                return .failure(ControlRequestError(message: "'type' must be llm, vlm or embeddings"))
            }
            type = parsed
        }
        var state = State.loaded
        if let value = object["state"] {
            guard let name = value as? String, let parsed = State(rawValue: name) else {
                return .failure(ControlRequestError(message: "'state' must be loaded or not-loaded"))
            }
            state = parsed
        }
        var contextLength: Int?
        if let value = object["max_context_length"] {
            guard let length = JSONValue.int(value), length > 0 else {
                return .failure(ControlRequestError(message: "'max_context_length' must be a positive integer"))
            }
            contextLength = length
        }
        var parallel = 4
        if let value = object["parallel"] {
            guard let count = JSONValue.int(value), count > 0 else {
                return .failure(ControlRequestError(message: "'parallel' must be a positive integer"))
            }
            parallel = count
        }
        var model = SimulatedModel(
            id: id,
            type: type,
            state: state,
            maxContextLength: contextLength,
            parallel: parallel
        )
        let texts: [(String, WritableKeyPath<SimulatedModel, String>)] = [
            ("publisher", \.publisher), ("arch", \.arch), ("compatibility_type", \.compatibilityType),
            ("quantization", \.quantization),
        ]
        for (key, path) in texts {
            guard let value = object[key] else { continue }
            guard let text = value as? String else {
                return .failure(ControlRequestError(message: "'\(key)' must be a string"))
            }
            model[keyPath: path] = text
        }
        return .success(model)
    }
}
