import Foundation
import LMStudioSim
import Testing

@testable import App

/// Heads that RFC 9112 lets a server refuse, sent as raw bytes (DESIGN.md 6.5): each is refused with a 400
/// (or 431 / 413 where a limit applies) in the JSON envelope, the connection is closed, and nothing reaches a
/// host. The corpus guards against request smuggling: a head two parsers could read two ways never passes.
@Suite(.serialized, .endToEnd) struct HostileHeadTests {
    static let hosts = [simHost("studio-a", models: [SimulatedModel(id: "qwen2.5-7b-instruct")])]
    static let path = "POST /olla/lmstudio/v1/chat/completions HTTP/1.1\r\nHost: olla\r\n"
    static let body = chatBody("qwen2.5-7b-instruct")

    /// A name, the raw request, and the status it must get.
    static let corpus: [(String, String, Int)] = [
        (
            "Content-Length with Transfer-Encoding",
            path + "Content-Length: \(body.utf8.count)\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "\(String(body.utf8.count, radix: 16))\r\n\(body)\r\n0\r\n\r\n", 400
        ),
        (
            "two different Content-Lengths",
            path + "Content-Length: \(body.utf8.count)\r\nContent-Length: 5\r\n\r\n\(body)", 400
        ),
        (
            "two Content-Lengths in one field",
            path + "Content-Length: \(body.utf8.count), 5\r\n\r\n\(body)", 400
        ),
        ("obs-fold", path + "X-Folded: one\r\n two\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)", 400),
        ("bare LF in a value", path + "X-Bad: a\nb: c\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)", 400),
        ("bare CR in a value", path + "X-Bad: a\rb\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)", 400),
        ("bare CR in a name", path + "X-B\rad: a\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)", 400),
        ("NUL in a value", path + "X-Bad: a\u{0}b\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)", 400),
        ("NUL in a name", path + "X-B\u{0}ad: a\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)", 400),
        ("space before the colon", path + "Content-Length : \(body.utf8.count)\r\n\r\n\(body)", 400),
        ("tab before the colon", path + "X-Bad\t: a\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)", 400),
        (
            "invalid token character in a name",
            path + "X(Bad): a\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)", 400
        ),
        ("a name with a space", path + "X Bad: a\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)", 400),
        (
            "Transfer-Encoding: chunked, identity",
            path + "Transfer-Encoding: chunked, identity\r\n\r\n"
                + "\(String(body.utf8.count, radix: 16))\r\n\(body)\r\n0\r\n\r\n", 400
        ),
        (
            "Transfer-Encoding: identity",
            path + "Transfer-Encoding: identity\r\n\r\n\(body)", 400
        ),
        (
            "Transfer-Encoding: gzip, chunked",
            path + "Transfer-Encoding: gzip, chunked\r\n\r\n"
                + "\(String(body.utf8.count, radix: 16))\r\n\(body)\r\n0\r\n\r\n", 400
        ),
        (
            "two Transfer-Encoding fields",
            path + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "\(String(body.utf8.count, radix: 16))\r\n\(body)\r\n0\r\n\r\n", 400
        ),
        ("chunk size overflow", path + "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff1\r\nab\r\n0\r\n\r\n", 400),
        ("chunk size that is not hex", path + "Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", 400),
        ("negative Content-Length", path + "Content-Length: -1\r\n\r\n", 400),
        ("Content-Length that is not a number", path + "Content-Length: 1x\r\n\r\n\(body)", 400),
        (
            "HTTP/1.1 without Host", "POST /olla/lmstudio/v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
            400
        ),
        ("two Host fields", path + "Host: other\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)", 400),
        ("garbage after the version", "GET / HTTP/1.1 extra\r\nHost: olla\r\n\r\n", 400),
        ("request line without a version", "GET /\r\nHost: olla\r\n\r\n", 400),
        ("unknown HTTP version", "GET /version HTTP/3.7\r\nHost: olla\r\n\r\n", 400),
        ("oversize request line", "GET /\(String(repeating: "a", count: 40_000)) HTTP/1.1\r\nHost: olla\r\n\r\n", 431),
        ("oversize header", path + "X-Big: \(String(repeating: "b", count: 40_000))\r\n\r\n", 431),
        ("declared body over max_body_size", path + "Content-Length: 99999999\r\n\r\n", 413),
    ]

    @Test func everyHostileHeadIsRefusedAndNothingReachesAHost() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { configuration, _ in
            configuration.server.maxHeaderSize = 16 * 1024
            configuration.server.maxBodySize = 1024 * 1024
        } _: { olla in
            for (name, request, status) in Self.corpus {
                olla.host("studio-a").clearRecordedRequests()
                let raw: String
                do {
                    raw = try await RawHTTPConnection.exchange(port: olla.port, request, timeout: .seconds(3))
                } catch {
                    Issue.record("\(name): \(error)")
                    continue
                }
                #expect(raw.hasPrefix("HTTP/1.1 \(status)"), "\(name): \(raw.prefix(200))")
                let code = status == 400 ? "invalid_request" : "request_too_large"
                #expect(raw.contains("{\"error\":{\"message\":"), "\(name): not the JSON envelope")
                #expect(raw.contains("\"code\":\"\(code)\""), "\(name): \(raw.prefix(400))")
                #expect(raw.lowercased().contains("connection: close"), "\(name)")
                let forwarded = olla.host("studio-a").recordedRequests.filter { $0.uri.contains("chat") }
                #expect(forwarded.isEmpty, "\(name): reached the host")
            }
        }
    }
}
