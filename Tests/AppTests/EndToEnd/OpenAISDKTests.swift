import Foundation
import LMStudioSim
import Testing

@testable import App

/// The official `openai` Python SDK, pointed at olla, works for chat (plain and streamed), completions,
/// embeddings and the model list. Runs when Python has the `openai` package (`.ci/run` installs it).
@Suite(.serialized, .endToEnd) struct OpenAISDKTests {
    @Test(.enabled(if: PythonSDKScript.hasModule("openai"), "the openai Python package is not installed"))
    func officialSDKWorksThroughOlla() async throws {
        let hosts = [
            simHost("studio-a", models: [SimulatedModel(id: "qwen2.5-7b-instruct")], tokens: 5),
            simHost(
                "studio-b",
                models: [SimulatedModel(id: "text-embedding-nomic-embed-text-v1.5", type: .embeddings)]
            ),
        ]
        try await OllaHarness.with(hosts: hosts) { olla in
            let outcome = try await PythonSDKScript.run(
                "openai_sdk_check.py",
                [
                    "\(olla.baseURL)/olla/lmstudio/v1", "qwen2.5-7b-instruct",
                    "text-embedding-nomic-embed-text-v1.5",
                ]
            )
            #expect(outcome.status == 0, "\(outcome.output)")
            #expect(outcome.output.contains("chat stream:") && outcome.output.contains("embeddings:"))
        }
    }
}
