import Foundation
import Testing

@testable import App

/// The table of `olla models` from a `/olla/models` document: slots and API generation (DESIGN.md 6.7).
@Suite struct ModelTableTests {
    @Test func showsSlotsInUseOfSlotsAndEachHostsAPIGeneration() throws {
        let json = """
            {"object":"list","data":[
             {"id":"qwen/qwen3-4b","object":"model","olla":{"type":"llm","availability":[
               {"endpoint":"new","state":"loaded","status":"healthy","slots":4,"slots_in_use":1,"api":"0.4"},
               {"endpoint":"old","state":"loaded","status":"healthy","slots":null,"slots_in_use":0,"api":"0.3"}]}},
             {"id":"gemma","object":"model","olla":{"type":"llm","availability":[
               {"endpoint":"new","state":"not-loaded","status":"healthy","slots":null,"slots_in_use":0,"api":"0.4"},
               {"endpoint":"gone","state":"loaded","status":"offline","slots_in_use":0}]}}]}
            """
        let table = try #require(ModelTable(json: Data(json.utf8)))
        let lines = table.render().split(separator: "\n").map {
            $0.split(separator: #/ {2,}/#).map { $0.trimmingCharacters(in: .whitespaces) }
        }
        #expect(lines[0] == ["MODEL", "TYPE", "new [0.4]", "old [0.3]", "gone (offline)"])
        #expect(lines[1] == ["qwen/qwen3-4b", "llm", "loaded 1/4", "loaded", "-"])
        #expect(lines[2] == ["gemma", "llm", "not-loaded", "-", "loaded"])
    }
}
