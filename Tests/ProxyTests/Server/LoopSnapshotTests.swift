import Balancer
import Testing

@testable import Proxy

/// ``LoopSnapshot``: an event loop's copy of the routing snapshot follows every publication of the table.
@Suite struct LoopSnapshotTests {
    @Test func theCopyIsTheTablesCurrentSnapshotAfterEveryPublication() {
        let endpoint = EndpointConfiguration(
            name: "a",
            url: EndpointURL(scheme: .http, host: "127.0.0.1", port: 1234, basePath: "")
        )
        let table = RoutingTable(configuration: OllaConfiguration(endpoints: [endpoint], modelAliases: []))
        let copy = LoopSnapshot(table: table)
        #expect(copy.current === table.snapshot)
        let kept = copy.current
        #expect(copy.current === kept, "read again without a publication: the same snapshot")

        let runtime = table.snapshot.endpoints[0]
        table.setStatus(.healthy, of: runtime)
        table.publishModels([HostedModel(id: "m", state: .loaded)], for: runtime)
        #expect(copy.current !== kept)
        #expect(copy.current === table.snapshot)
        guard case .found = copy.current.models.resolve("m") else {
            Issue.record("the copy does not list the published model")
            return
        }

        var changed = table.snapshot.configuration
        changed.server.idleTimeout = .seconds(9)
        _ = table.apply(changed)
        #expect(copy.current === table.snapshot)
        #expect(copy.current.configuration.server.idleTimeout == .seconds(9))
    }
}
