import Balancer
import NIOCore
import NIOHTTP1

/// The headers that cross the proxy in each direction (DESIGN.md section 5, "Headers"), built in one pass.
enum ForwardedHeaders {
    /// The client's headers minus hop-by-hop ones and credentials, plus the `X-Forwarded-*` set, as header lines.
    /// `Host`, the endpoint's auth and the length are added per host when the request is sent
    /// (``RequestHeadWriter``).
    static func toHost(of head: HTTPRequestHead, client: ClientAddress, requestID: String) -> HeaderBlock {
        var headers = HeaderBlock(capacity: 64 * (head.headers.count + 4))
        let options = HeaderRules.connectionOptions(head.headers)
        var forwardedFor: String?
        for (name, value) in head.headers {
            if HeaderRules.isHopByHop(name) || HeaderRules.isReplacedOnRequest(name) {
                if name.equalsIgnoringASCIICase("x-forwarded-for") {
                    forwardedFor = forwardedFor.map { "\($0), \(value)" } ?? value
                }
                continue
            }
            if !options.isEmpty, options.contains(name.lowercased()) { continue }
            headers.add(name: name, value: value)
        }
        headers.add(name: "X-Olla-Request-ID", value: requestID)
        if let ip = client.ip {
            headers.add(name: "X-Forwarded-For", value: forwardedFor.map { "\($0), \(ip)" } ?? ip)
        } else if let forwardedFor {
            headers.add(name: "X-Forwarded-For", value: forwardedFor)
        }
        if let host = head.headers.first(name: "host") {
            headers.add(name: "X-Forwarded-Host", value: host)
        }
        headers.addLine("X-Forwarded-Proto: http\r\n")
        return headers
    }

    /// The host's response head as it goes on to the client so far, and what it says about the body.
    struct Response {
        /// The status line and the host's header lines; olla's lines and the framing follow
        /// (``ResponseHeadWriter/finishForwarded(_:status:method:chunked:announceTrailer:keepAlive:)``).
        var head: HeaderBlock
        var hasLength: Bool
        var isEventStream: Bool
    }

    /// The host's headers minus hop-by-hop ones (and those its `Connection` names), in one pass over the bytes the
    /// host sent, after the status line of the client's version.
    static func toClient(from upstream: ResponseParser.Head, version: HTTPVersion) -> Response {
        var head = ResponseHeadWriter.start(
            version: version,
            status: upstream.status,
            lines: upstream.lines.readableBytes / 32 + 8
        )
        // A 1xx, 204 or 304 answer has no body, so no length either (as NIO's encoder had it).
        let bodyAllowed = upstream.status.mayHaveResponseBody
        // Names listed in Connection are hop-by-hop for this message only (rare: the list is empty at once).
        let options = upstream.connectionNamesHeaders ? HeaderRules.connectionOptions(upstream.headers) : []
        upstream.forEachField { name, value in
            if HeaderRules.isHopByHop(name) { return }
            if !bodyAllowed && ASCII.equalsLowercase(name, "content-length") { return }
            if !options.isEmpty, options.contains(String(decoding: name, as: UTF8.self).lowercased()) { return }
            head.add(name: name, value: value)
        }
        return Response(head: head, hasLength: upstream.hasLength, isEventStream: upstream.isEventStream)
    }

    /// olla's own headers on an answer: the request id always; the endpoint, the model it received and its type
    /// when a host was chosen; the client's model (only when it cannot forge a header) when none was.
    static func addOlla<Lines: HeaderLines>(
        to headers: inout Lines,
        requestID: String,
        placement: Placement?,
        requestedModel: String?,
        elapsedNanoseconds: Int64
    ) {
        headers.add(name: "X-Olla-Request-ID", value: requestID)
        if let placement {
            headers.add(name: "X-Olla-Endpoint", value: placement.endpoint.name)
            if requestedModel != nil {
                headers.add(name: "X-Olla-Model", value: placement.modelID)
            }
            headers.add(name: "X-Olla-Backend-Type", value: placement.endpoint.configuration.type.rawValue)
        } else if let model = requestedModel {
            if HeaderRules.isSafeEcho(model) { headers.add(name: "X-Olla-Model", value: model) }
            headers.add(name: "X-Olla-Backend-Type", value: EndpointType.lmStudio.rawValue)
        }
        headers.add(name: "X-Olla-Response-Time", value: "\(elapsedNanoseconds / 1_000_000)ms")
    }
}
