/// The descriptive fields of LM Studio 0.4's `/api/v1/models` that a model id suggests: a display name, the
/// parameter count, the bits per weight and a plausible file size.
struct ModelDescription {
    let displayName: String
    let paramsString: String?
    let bitsPerWeight: Double
    let sizeBytes: Int

    init(_ model: SimulatedModel) {
        let name = model.id.split(separator: "/").last.map(String.init) ?? model.id
        let words = name.split(whereSeparator: { $0 == "-" || $0 == "_" }).map(String.init)
        // A parameter count is a word like "7b" or "0.5B".
        let params = words.first { word in
            let lowered = word.lowercased()
            return lowered.hasSuffix("b") && Double(lowered.dropLast()) != nil
        }
        displayName = words.map { word in
            word == params ? word.uppercased() : word.prefix(1).uppercased() + word.dropFirst()
        }.joined(separator: " ")
        paramsString = params?.uppercased()
        let quantization = model.quantization.lowercased()
        let digits = quantization.drop { !$0.isNumber }.prefix { $0.isNumber }
        let bits = Double(String(digits)) ?? 4
        // GGUF k-quants carry scales on top of their nominal bits.
        bitsPerWeight = model.compatibilityType == "gguf" && quantization.hasPrefix("q") ? bits + 0.8 : bits
        let billions = params.flatMap { Double($0.dropLast()) } ?? 1
        sizeBytes = Int(billions * 1_000_000_000 * bitsPerWeight / 8)
    }
}
