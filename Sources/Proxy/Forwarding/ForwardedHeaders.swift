import Balancer
import NIOCore
import NIOHTTP1

/// The headers that cross the proxy in each direction (DESIGN.md section 5, "Headers"), built in one pass.
enum ForwardedHeaders {
    /// The client's headers minus hop-by-hop ones and credentials, plus the `X-Forwarded-*` set. `Host`, the
    /// endpoint's auth and the length are added per host when the request is sent.
    static func toHost(of head: HTTPRequestHead, client: ClientAddress, requestID: String) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.reserveCapacity(head.headers.count + 6)
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
        headers.add(name: "X-Forwarded-Proto", value: "http")
        return headers
    }

    /// The host's response headers that go on to the client, and what they say about the body.
    struct Response {
        var headers: HTTPHeaders
        var hasLength: Bool
        var isEventStream: Bool
    }

    /// The host's headers minus hop-by-hop ones (and those its `Connection` names), in one pass.
    static func toClient(from upstream: HTTPHeaders) -> Response {
        var headers = HTTPHeaders()
        headers.reserveCapacity(upstream.count + 7)
        var hasLength = false
        var isEventStream = false
        var connectionOptions = false
        for (name, value) in upstream {
            if HeaderRules.isHopByHop(name) {
                if name.utf8.count == 10, name.equalsIgnoringASCIICase("connection") { connectionOptions = true }
                continue
            }
            if name.utf8.count == 14, name.equalsIgnoringASCIICase("content-length") { hasLength = true }
            if name.utf8.count == 12, name.equalsIgnoringASCIICase("content-type"),
                value.hasPrefixIgnoringASCIICase("text/event-stream")
            {
                isEventStream = true
            }
            headers.add(name: name, value: value)
        }
        if connectionOptions {
            // Names listed in Connection are hop-by-hop for this message only (rare, so a second pass).
            for option in HeaderRules.connectionOptions(upstream) { headers.remove(name: option) }
        }
        return Response(headers: headers, hasLength: hasLength, isEventStream: isEventStream)
    }

    /// olla's own headers on an answer: the request id always; the endpoint, the model it received and its type
    /// when a host was chosen; the client's model (only when it cannot forge a header) when none was.
    static func addOlla(
        to headers: inout HTTPHeaders,
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
