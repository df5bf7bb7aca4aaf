/// Which generation of LM Studio's API a host speaks, as discovery found it (DESIGN.md 6.7).
public enum APIGeneration: String, Sendable, Equatable, CaseIterable {
    /// LM Studio 0.3 (or any host without `/api/v1/models`): models from `/api/v0/models`, slots unknown.
    case v0_3 = "0.3"
    /// LM Studio 0.4: `/api/v1/models` lists loaded instances and their `parallel` slots.
    case v0_4 = "0.4"
}
