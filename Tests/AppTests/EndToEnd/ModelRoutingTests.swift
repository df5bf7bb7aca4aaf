import Balancer
import Foundation
import LMStudioSim
import NIOCore
import NIOHTTP1
import Testing

@testable import App

/// Routing by the body's `model` and the matching rules of DESIGN.md 6.1, end to end.
@Suite(.serialized, .endToEnd) struct ModelRoutingTests {
    static let phi = "TheBloke/phi-3-mini-4k-instruct-GGUF/phi-3-mini-4k-instruct.Q4_K_M.gguf"
    static let hosts = [
        simHost("studio-a", models: [SimulatedModel(id: phi), SimulatedModel(id: "qwen/qwen3-4b")]),
        simHost(
            "studio-b",
            models: [
                SimulatedModel(id: "Meta-Llama-3.1-8B-Instruct"), SimulatedModel(id: "lmstudio-community/qwen3-4b"),
            ]
        ),
    ]

    func lastPost(_ olla: OllaHarness, _ host: String) -> RecordedRequest? {
        olla.host(host).recordedRequests.last { $0.method == "POST" }
    }

    @Test func requestGoesToTheHostThatHasTheModel() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            for _ in 0..<3 {
                let answer = try await olla.post(
                    "/olla/lmstudio/v1/chat/completions",
                    json: chatBody("Meta-Llama-3.1-8B-Instruct")
                )
                #expect(answer.headers.first(name: "X-Olla-Endpoint") == "studio-b")
                #expect(answer.text.contains("studio-b"))
            }
            #expect(olla.host("studio-a").stats.requestsByRoute["POST /v1/chat/completions"] == nil)
        }
    }

    @Test func caseInsensitiveAndShortFormsAreRewrittenToTheHostsId() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            let cases: [(String, String, String)] = [
                ("meta-llama-3.1-8b-instruct", "studio-b", "Meta-Llama-3.1-8B-Instruct"),
                ("phi-3-mini-4k-instruct", "studio-a", Self.phi),
                ("phi-3-mini-4k-instruct.Q4_K_M", "studio-a", Self.phi),
                ("PHI-3-MINI-4K-INSTRUCT.Q4_K_M.GGUF", "studio-a", Self.phi),
            ]
            for (asked, host, id) in cases {
                let sent = chatBody(asked, extra: "\"temperature\":0.7")
                let answer = try await olla.post("/olla/lmstudio/v1/chat/completions", json: sent)
                #expect(answer.status == .ok, "\(asked)")
                #expect(answer.headers.first(name: "X-Olla-Endpoint") == host)
                #expect(answer.headers.first(name: "X-Olla-Model") == id)
                let expected = sent.replacingOccurrences(
                    of: "\"model\":\"\(asked)\"",
                    with: "\"model\":\"\(id.replacingOccurrences(of: "/", with: "/"))\""
                )
                #expect(lastPost(olla, host)?.bodyText == expected, "\(asked)")
            }
        }
    }

    @Test func aliasIsRewrittenAndNothingElseInTheBodyChanges() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { configuration, _ in
            configuration.modelAliases = [ModelAlias(name: "llama", targets: ["Meta-Llama-3.1-8B-Instruct"])]
        } _: { olla in
            let sent =
                "{ \"stream\" : false,\n  \"model\":\"llama\", \"messages\":[{\"role\":\"user\",\"content\":\"caf\u{e9} \\u00e9 \u{1F600} \\\"q\\\"\"}],\"mirostat\":2,\"grammar\":\"root ::= [a-z]+\",\"n_predict\":3}"
            let answer = try await olla.post("/olla/lmstudio/v1/chat/completions", json: sent)
            #expect(answer.status == .ok)
            #expect(answer.headers.first(name: "X-Olla-Model") == "Meta-Llama-3.1-8B-Instruct")
            let received = try #require(lastPost(olla, "studio-b"))
            let expected = sent.replacingOccurrences(
                of: "\"model\":\"llama\"",
                with: "\"model\":\"Meta-Llama-3.1-8B-Instruct\""
            )
            #expect(received.body == Array(expected.utf8))
        }
    }

    @Test func exactModelIsForwardedByteForByte() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            let sent =
                "{\"model\":\"qwen/qwen3-4b\",\"prompt\":\"\u{65e5}\u{672c}\u{8a9e} \\ud83d\\ude00\",\"mirostat\":1,\"mirostat_tau\":5.0,\"mirostat_eta\":0.1,\"grammar\":\"root ::= \\\"yes\\\" | \\\"no\\\"\",\"n_predict\":-1,\"stop\":[\"\\n\"]}   "
            let answer = try await olla.post("/olla/lmstudio/v1/completions", json: sent)
            #expect(answer.status == .ok)
            #expect(lastPost(olla, "studio-a")?.body == Array(sent.utf8))
            #expect(lastPost(olla, "studio-a")?.uri == "/v1/completions")
        }
    }

    @Test func responseBodyIsByteExact() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            let body = "{\"model\":\"qwen/qwen3-4b\",\"input\":[\"\u{e9}t\u{e9}\",\"b\"]}"
            let viaOlla = try await olla.post("/olla/lmstudio/v1/embeddings", json: body)
            let direct = try await olla.send(
                .POST,
                url: olla.host("studio-a").baseURL + "/v1/embeddings",
                headers: [("Content-Type", "application/json")],
                body: ByteBuffer(string: body)
            )
            #expect(viaOlla.status == .ok)
            #expect(viaOlla.body == direct.body)
        }
    }

    @Test func ambiguousShortFormIs404WithTheCandidates() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            let answer = try await olla.post("/olla/lmstudio/v1/chat/completions", json: chatBody("qwen3-4b"))
            #expect(answer.status == .notFound)
            let error = try #require(answer.json()["error"] as? [String: Any])
            #expect(error["code"] as? String == "model_ambiguous")
            let message = error["message"] as? String ?? ""
            #expect(message.contains("qwen/qwen3-4b") && message.contains("lmstudio-community/qwen3-4b"))
        }
    }

    @Test func requestWithoutModelGoesToAnyHealthyHost() async throws {
        try await OllaHarness.with(hosts: Self.hosts) { olla in
            let answer = try await olla.request(.GET, "/olla/lmstudio/v1/some/other/path")
            #expect(answer.status == .ok)
            #expect(["studio-a", "studio-b"].contains(answer.headers.first(name: "X-Olla-Endpoint") ?? ""))
            #expect(answer.text.contains("Unexpected endpoint or method. (GET /v1/some/other/path)"))
        }
    }
}
