import NIOHTTP1

/// Which headers cross the proxy (DESIGN.md section 5, "Headers").
enum HeaderRules {
    /// Whether a header is hop-by-hop (RFC 9110 section 7.6.1), and so never forwarded in either direction.
    static func isHopByHop(_ name: String) -> Bool {
        name.withUTF8Bytes { isHopByHop($0) }
    }

    /// ``isHopByHop(_:)-(String)`` for a name read as bytes (a host's answer, ``ResponseParser``).
    static func isHopByHop(_ name: UnsafeRawBufferPointer) -> Bool {
        switch name.count {
        case 2: return ASCII.equalsLowercase(name, "te")
        case 7:
            return ASCII.equalsLowercase(name, "trailer") || ASCII.equalsLowercase(name, "upgrade")
        case 10:
            return ASCII.equalsLowercase(name, "connection")
                || ASCII.equalsLowercase(name, "keep-alive")
        case 16: return ASCII.equalsLowercase(name, "proxy-connection")
        case 17: return ASCII.equalsLowercase(name, "transfer-encoding")
        case 18: return ASCII.equalsLowercase(name, "proxy-authenticate")
        case 19: return ASCII.equalsLowercase(name, "proxy-authorization")
        default: return false
        }
    }

    /// Headers of the client that olla replaces or must not pass on: credentials, framing, and those it sets.
    static func isReplacedOnRequest(_ name: String) -> Bool {
        // Before the switch on the length: a `proxy-*` name can have any length, 9 letters (`Proxy-Foo`) too.
        if name.utf8.count > 6 && name.hasPrefixIgnoringASCIICase("proxy-") { return true }
        switch name.utf8.count {
        case 4: return name.equalsIgnoringASCIICase("host")
        case 6: return name.equalsIgnoringASCIICase("cookie") || name.equalsIgnoringASCIICase("expect")
        case 9: return name.equalsIgnoringASCIICase("x-api-key")
        case 13: return name.equalsIgnoringASCIICase("authorization")
        case 14: return name.equalsIgnoringASCIICase("content-length")
        case 15: return name.equalsIgnoringASCIICase("x-forwarded-for")
        case 16: return name.equalsIgnoringASCIICase("x-forwarded-host")
        case 17:
            return name.equalsIgnoringASCIICase("x-forwarded-proto")
                || name.equalsIgnoringASCIICase("x-olla-request-id")
        default: return false
        }
    }

    /// Why a request head that llhttp accepted must still be refused (RFC 9112; DESIGN.md 6.5), or nil: an
    /// HTTP/1.1 request needs exactly one `Host`, and a `Transfer-Encoding` must be `chunked` alone, since a
    /// coding olla would not apply could be read two ways by olla and a host (request smuggling).
    static func refusal(of head: HTTPRequestHead) -> String? {
        var hosts = 0
        var codings = 0
        var chunkedAlone = true
        for (name, value) in head.headers {
            switch name.utf8.count {
            case 4 where name.equalsIgnoringASCIICase("host"):
                hosts += 1
            case 17 where name.equalsIgnoringASCIICase("transfer-encoding"):
                codings += 1
                chunkedAlone = chunkedAlone && value.equalsIgnoringASCIICase("chunked")
            default:
                continue
            }
        }
        if hosts > 1 { return "more than one Host header" }
        if hosts == 0 && head.version.minor >= 1 && head.version.major == 1 {
            return "an HTTP/1.1 request without Host"
        }
        if codings > 1 || !chunkedAlone { return "a Transfer-Encoding other than chunked alone" }
        return nil
    }

    /// Whether text from a request body may be echoed in a response header: at most 256 bytes and no control
    /// characters. A JSON string can hold an escaped CR or LF, and outbound headers are not validated.
    static func isSafeEcho(_ value: String) -> Bool {
        value.utf8.count <= 256 && value.utf8.allSatisfy { $0 >= 0x20 && $0 != 0x7F }
    }

    /// Whether a `Connection` value may name headers: anything but the plain `keep-alive` or `close` that
    /// nearly every host and client sends.
    private static func mayNameHeaders(connection value: String) -> Bool {
        !(value.equalsIgnoringASCIICase("keep-alive") || value.equalsIgnoringASCIICase("close"))
    }

    /// Names listed in a `Connection` header, which are hop-by-hop for this message only. Splits the header's
    /// values (which allocates) only when one of them may name a header.
    static func connectionOptions(_ headers: HTTPHeaders) -> [String] {
        let mayName = headers.contains { name, value in
            name.utf8.count == 10 && name.equalsIgnoringASCIICase("connection") && mayNameHeaders(connection: value)
        }
        guard mayName else { return [] }
        var names: [String] = []
        for value in headers[canonicalForm: "connection"] {
            let option = value.lowercased()
            if !option.isEmpty, option != "close", option != "keep-alive" { names.append(option) }
        }
        return names
    }
}
