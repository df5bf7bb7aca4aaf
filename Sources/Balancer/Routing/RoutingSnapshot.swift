/// Everything a request needs to be routed, as one immutable value: the configuration, the endpoints and
/// the model index. The data path reads it once per request; Health and reload swap in a new one.
public final class RoutingSnapshot: Sendable {
    public let configuration: OllaConfiguration
    /// The configured endpoints, in the order of the file.
    public let endpoints: [EndpointRuntime]
    public let models: ModelIndex

    init(configuration: OllaConfiguration, endpoints: [EndpointRuntime], models: ModelIndex) {
        self.configuration = configuration
        self.endpoints = endpoints
        self.models = models
    }

    public var strategy: LoadBalancerStrategy { configuration.proxy.loadBalancer }

    /// The endpoint of that name, if configured.
    public func endpoint(named name: String) -> EndpointRuntime? {
        endpoints.first { $0.name == name }
    }
}
