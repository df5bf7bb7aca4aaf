import Foundation
import LMStudioSim
import Testing

@testable import App

/// `olla models --url <olla>` (DESIGN.md section 3), run as the built executable against a running olla.
@Suite(.endToEnd) struct ModelsCommandTests {
    /// The table's lines split into cells: columns are padded and separated by at least two spaces.
    static func cells(_ table: String) -> [[String]] {
        table.split(separator: "\n").map { line in
            line.split(separator: #/ {2,}/#).map { $0.trimmingCharacters(in: .whitespaces) }
        }
    }

    @Test func printsWhichModelsAreOnWhichHostsAsATable() async throws {
        try await OllaHarness.with(hosts: OllaModelsRouteTests.hosts) { olla in
            try await olla.host("studio-c").updateFaults { $0.refuseConnections = true }
            try await olla.waitUntil("studio-c is probed down") { olla.endpoint("studio-c").status == .offline }
            try await withScratchDirectory { directory in
                let run = try await OllaProcess.run(["models", "--url", olla.baseURL], in: directory)
                #expect(run.status == 0, "\(run.stderr)")
                #expect(run.stderr.isEmpty, "\(run.stderr)")
                let lines = Self.cells(run.stdout)
                try #require(lines.count == 4, "a header and one row per model:\n\(run.stdout)")
                let header = lines[0]
                #expect(Array(header.prefix(2)) == ["MODEL", "TYPE"], "\(header)")
                // The simulated hosts speak LM Studio 0.3's API.
                #expect(
                    Set(header.dropFirst(2)) == ["studio-a [0.3]", "studio-b [0.3]", "studio-c [0.3] (offline)"],
                    "\(header)"
                )
                var rows: [String: [String: String]] = [:]
                for line in lines.dropFirst() {
                    #expect(line.count == header.count, "every row has every column: \(line)")
                    var row: [String: String] = [:]
                    for (column, cell) in zip(header, line) { row[column] = cell }
                    rows[line[0]] = row
                }
                #expect(
                    rows["qwen/qwen3-4b"] == [
                        "MODEL": "qwen/qwen3-4b", "TYPE": "llm", "studio-a [0.3]": "loaded",
                        "studio-b [0.3]": "not-loaded", "studio-c [0.3] (offline)": "-",
                    ]
                )
                #expect(
                    rows["meta-llama-3.1-8b-instruct"] == [
                        "MODEL": "meta-llama-3.1-8b-instruct", "TYPE": "llm", "studio-a [0.3]": "-",
                        "studio-b [0.3]": "loaded", "studio-c [0.3] (offline)": "not-loaded",
                    ]
                )
                #expect(
                    rows["text-embedding-nomic-embed-text-v1.5"] == [
                        "MODEL": "text-embedding-nomic-embed-text-v1.5", "TYPE": "embeddings",
                        "studio-a [0.3]": "loaded", "studio-b [0.3]": "-", "studio-c [0.3] (offline)": "-",
                    ]
                )
                // Columns line up: every cell of a column starts where its header does.
                let text = run.stdout.split(separator: "\n").map(String.init)
                for column in header.dropFirst() {
                    let start = text[0].range(of: column)!.lowerBound.utf16Offset(in: text[0])
                    for line in text.dropFirst() {
                        let index = line.index(line.startIndex, offsetBy: start)
                        #expect(line[line.index(before: index)] == " " && line[index] != " ", "\(column): \(line)")
                    }
                }
            }
        }
    }

    @Test func saysInOneLineThatNothingListensAndExits1() async throws {
        let port = try await unusedPort()
        try await withScratchDirectory { directory in
            let url = "http://127.0.0.1:\(port)"
            let clock = ContinuousClock()
            let started = clock.now
            let run = try await OllaProcess.run(["models", "--url", url], in: directory)
            let elapsed = clock.now - started
            #expect(run.status == 1)
            #expect(run.stdout.isEmpty, "\(run.stdout)")
            let lines = run.stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            #expect(lines.count == 1, "one line on stderr: \(run.stderr)")
            let line = String(lines.first ?? "")
            #expect(line.hasPrefix("olla: "), "\(line)")
            #expect(line.contains(url), "names the URL it tried: \(line)")
            #expect(line.count <= 200, "a clear, short line: \(line)")
            #expect(line.contains("refused"), "says the connection was refused: \(line)")
            #expect(elapsed < .seconds(3), "a refused connection is known at once; took \(elapsed)")
        }
    }
}
