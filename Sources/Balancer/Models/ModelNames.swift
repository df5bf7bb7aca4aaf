/// The alternative names a model id answers to (DESIGN.md 6.1), so that `phi-3-mini` finds
/// `TheBloke/phi-3-mini-4k-instruct-GGUF/phi-3-mini-4k-instruct.Q4_K_M.gguf`.
public enum ModelNames {
    /// The id without LM Studio's duplicate-instance suffix (`qwen:2` -> `qwen`).
    ///
    /// LM Studio lists a model loaded twice as `id` and `id:2`; both are the same model, so they never
    /// make a short form ambiguous.
    public static func canonicalID(_ id: String) -> String {
        guard let colon = id.lastIndex(of: ":") else { return id }
        let suffix = id[id.index(after: colon)...]
        guard !suffix.isEmpty, suffix.allSatisfy({ $0.isASCII && $0.isNumber }) else { return id }
        return String(id[..<colon])
    }

    /// Lowercased short forms of an id, without the lowercased id itself.
    ///
    /// - Parameter root: the `root` field a host reported, if any.
    public static func shortForms(of id: String, root: String? = nil) -> [String] {
        var forms: [String] = []
        func add(_ form: Substring) {
            let lowered = form.lowercased()
            if !lowered.isEmpty, lowered != id.lowercased(), !forms.contains(lowered) {
                forms.append(lowered)
            }
        }
        let canonical = canonicalID(id)
        add(Substring(canonical))
        if let root { add(Substring(root)) }
        // `publisher/name` -> `name`; a GGUF path -> its file name.
        let last = canonical.split(separator: "/", omittingEmptySubsequences: true).last ?? Substring(canonical)
        add(last)
        var file = last
        if file.lowercased().hasSuffix(".gguf") { file = file.dropLast(5) }
        add(file)
        add(withoutQuantisationTag(file))
        return forms
    }

    /// `name.Q4_K_M`, `name-q8_0`, `name.f16` -> `name`; anything else unchanged.
    static func withoutQuantisationTag(_ name: Substring) -> Substring {
        // Tags contain `_` themselves (`Q4_K_M`), so only `.` and `-` can start one.
        var index = name.endIndex
        while index > name.startIndex {
            index = name.index(before: index)
            let character = name[index]
            guard character == "." || character == "-" else { continue }
            if index != name.startIndex, isQuantisationTag(name[name.index(after: index)...].lowercased()) {
                return name[..<index]
            }
        }
        return name
    }

    /// Matches llama.cpp's quantisation names: `q4_k_m`, `q8_0`, `iq3_xs`, `f16`, `bf16`, `fp16`, `4bit`.
    static func isQuantisationTag(_ tag: String) -> Bool {
        let fixed: Set<String> = ["f16", "f32", "bf16", "fp16", "fp32", "4bit", "8bit", "3bit", "6bit", "mlx"]
        if fixed.contains(tag) { return true }
        var rest = Substring(tag)
        if rest.hasPrefix("iq") {
            rest = rest.dropFirst(2)
        } else if rest.hasPrefix("q") {
            rest = rest.dropFirst()
        } else {
            return false
        }
        guard let first = rest.first, first.isNumber else { return false }
        return rest.allSatisfy { $0.isNumber || $0 == "_" || ("a"..."z").contains($0) }
    }
}
