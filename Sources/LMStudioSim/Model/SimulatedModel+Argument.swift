/// A `--model` argument that does not follow `ID[:TYPE][:STATE][:MAX_CONTEXT][:parallel=N]`.
public struct ModelArgumentError: Error, CustomStringConvertible, Equatable {
    /// What is wrong, naming the argument.
    public let description: String
}

extension SimulatedModel {
    /// Reads the command line's model syntax `ID[:TYPE][:STATE][:MAX_CONTEXT][:parallel=N]`.
    ///
    /// The options start at the first `:`-separated part that is a type (`llm`, `vlm`, `embeddings`), a
    /// state (`loaded`, `not-loaded`) or `parallel=N`, so an id may itself contain `:` (`qwen2.5-7b-instruct:2`).
    public init(argument: String) throws(ModelArgumentError) {
        let parts = argument.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let isOption: (String) -> Bool = {
            ModelType(rawValue: $0) != nil || State(rawValue: $0) != nil || $0.hasPrefix("parallel=")
        }
        let optionStart = parts.indices.dropFirst().first { isOption(parts[$0]) } ?? parts.count
        let id = parts[..<optionStart].joined(separator: ":")
        guard !id.isEmpty else {
            throw ModelArgumentError(description: "model '\(argument)': the id is empty")
        }
        var type = ModelType.llm
        var state = State.loaded
        var contextLength: Int?
        var parallel = 4
        for part in parts[optionStart...] {
            if let parsed = ModelType(rawValue: part) {
                type = parsed
            } else if let parsed = State(rawValue: part) {
                state = parsed
            } else if let length = Int(part), length > 0 {
                contextLength = length
            } else if part.hasPrefix("parallel="), let slots = Int(part.dropFirst("parallel=".count)), slots > 0 {
                parallel = slots
            } else {
                throw ModelArgumentError(
                    description: "model '\(argument)': '\(part)' is not llm, vlm, embeddings, loaded, "
                        + "not-loaded, a context length or parallel=N (N >= 1)"
                )
            }
        }
        self.init(id: id, type: type, state: state, maxContextLength: contextLength, parallel: parallel)
    }
}
