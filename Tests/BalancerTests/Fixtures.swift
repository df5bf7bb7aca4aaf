@testable import Balancer

/// Builds endpoints and tables for the tests of this target.
func endpoint(
    _ name: String,
    priority: Int = 100,
    maxConcurrency: Int = 0,
    port: Int = 1234
) -> EndpointConfiguration {
    EndpointConfiguration(
        name: name,
        url: EndpointURL(scheme: .http, host: "127.0.0.1", port: port, basePath: ""),
        priority: priority,
        maxConcurrency: maxConcurrency
    )
}

func configuration(
    _ endpoints: [EndpointConfiguration],
    strategy: LoadBalancerStrategy = .priority,
    aliases: [ModelAlias] = [],
    maxQueue: Int = 256
) -> OllaConfiguration {
    var configuration = OllaConfiguration(endpoints: endpoints, modelAliases: aliases)
    configuration.proxy.loadBalancer = strategy
    configuration.proxy.maxQueue = maxQueue
    return configuration
}

/// A table whose endpoints are all healthy and list the given models.
func healthyTable(
    _ endpoints: [EndpointConfiguration],
    models: [String: [HostedModel]],
    strategy: LoadBalancerStrategy = .priority,
    aliases: [ModelAlias] = [],
    maxQueue: Int = 256
) -> RoutingTable {
    let table = RoutingTable(
        configuration: configuration(endpoints, strategy: strategy, aliases: aliases, maxQueue: maxQueue)
    )
    for runtime in table.snapshot.endpoints {
        table.setStatus(.healthy, of: runtime)
        table.publishModels(models[runtime.name] ?? [], for: runtime)
    }
    return table
}

extension RoutingTable {
    /// The candidates of a model name, failing the test's expectation when it does not resolve.
    func candidates(_ model: String) -> CandidateSet? {
        if case .found(let set) = snapshot.models.resolve(model) { return set }
        return nil
    }

    /// Acquires a slot and returns the chosen endpoint's name.
    func choose(_ model: String, excluding: EndpointSet = EndpointSet()) -> String? {
        guard let set = candidates(model) else { return nil }
        if case .granted(let placement) = acquire(set, excluding: excluding, strategy: snapshot.strategy) {
            return placement.endpoint.name
        }
        return nil
    }

    /// The placement of `model` on `endpoint`, with the live slot counter the table keeps for the pair, as the
    /// data path holds it while its request runs (also for a runtime a reload has replaced since).
    func placement(_ endpoint: EndpointRuntime, _ model: String = "m") -> Placement {
        let current = candidates(model)!.placements.first { $0.endpoint.name == endpoint.name }!
        return Placement(endpoint: endpoint, modelID: current.modelID, state: current.state, slots: current.slots)
    }
}
