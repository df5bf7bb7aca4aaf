/// The generation of LM Studio's API a simulated host speaks.
public enum SimulatorAPI: String, Sendable, Equatable, CaseIterable {
    /// LM Studio 0.3: `/v1/*` and `/api/v0/models`; `/api/v1/*` answers "Unexpected endpoint".
    case v0_3 = "0.3"
    /// LM Studio 0.4: adds `/api/v1/models`, `/api/v1/chat`, model loads and unloads, `/v1/responses`,
    /// `/v1/messages`, slots per instance (`parallel`), just-in-time loads and a prompt cache per slot.
    case v0_4 = "0.4"
}
