import Foundation
import LMStudioSim
import Testing

@testable import App

/// The official `openai` Python SDK, pointed at olla, works for chat (plain and streamed), completions,
/// embeddings and the model list. Runs when Python has the `openai` package (`.ci/run` installs it).
@Suite(.serialized, .endToEnd) struct OpenAISDKTests {
    static let sdkAvailable: Bool = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import openai"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }()

    static var script: String {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("scripts/openai_sdk_check.py").path
    }

    @Test(.enabled(if: sdkAvailable, "the openai Python package is not installed"))
    func officialSDKWorksThroughOlla() async throws {
        let hosts = [
            simHost("studio-a", models: [SimulatedModel(id: "qwen2.5-7b-instruct")], tokens: 5),
            simHost(
                "studio-b",
                models: [SimulatedModel(id: "text-embedding-nomic-embed-text-v1.5", type: .embeddings)]
            ),
        ]
        try await OllaHarness.with(hosts: hosts) { olla in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [
                "python3", Self.script, "\(olla.baseURL)/olla/lmstudio/v1", "qwen2.5-7b-instruct",
                "text-embedding-nomic-embed-text-v1.5",
            ]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            // Bounded: the script's own client times out after 30 s per call.
            try await olla.waitUntil("the SDK script finishes", timeout: .seconds(120)) { !process.isRunning }
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(process.terminationStatus == 0, "\(text)")
            #expect(text.contains("chat stream:") && text.contains("embeddings:"))
        }
    }
}
