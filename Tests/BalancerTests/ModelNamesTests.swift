import Testing

@testable import Balancer

@Suite struct ModelNamesTests {
    @Test func ggufPathHasItsFileNameWithoutQuantisationAsShortForm() {
        let forms = ModelNames.shortForms(of: "TheBloke/phi-3-mini-4k-instruct-GGUF/phi-3-mini-4k-instruct.Q4_K_M.gguf")
        #expect(forms.contains("phi-3-mini-4k-instruct.q4_k_m.gguf"))
        #expect(forms.contains("phi-3-mini-4k-instruct.q4_k_m"))
        #expect(forms.contains("phi-3-mini-4k-instruct"))
    }

    @Test func publisherPrefixIsDropped() {
        #expect(ModelNames.shortForms(of: "qwen/qwen3-4b") == ["qwen3-4b"])
    }

    @Test func rootIsAShortForm() {
        #expect(
            ModelNames.shortForms(of: "TheBloke/gemma-2b-instruct-GGUF/gemma-2b-instruct.Q4_K_M.gguf", root: "gemma-2b")
                .contains("gemma-2b")
        )
    }

    @Test(arguments: [
        ("model-q8_0", "model"), ("model.f16", "model"), ("model.Q4_K_M", "model"), ("model-IQ3_XS", "model"),
        ("Qwen3-4B-MLX-4bit", "Qwen3-4B-MLX"), ("phi-3-mini-4k-instruct", "phi-3-mini-4k-instruct"),
        ("qwen2.5-7b-instruct", "qwen2.5-7b-instruct"), ("q4_0", "q4_0"),
    ])
    func quantisationTagIsRemoved(name: String, expected: String) {
        #expect(ModelNames.withoutQuantisationTag(Substring(name)) == Substring(expected))
    }

    @Test func duplicateInstanceSuffixIsRemoved() {
        #expect(ModelNames.canonicalID("qwen2.5-7b-instruct:2") == "qwen2.5-7b-instruct")
        #expect(ModelNames.canonicalID("qwen2.5-7b-instruct") == "qwen2.5-7b-instruct")
        #expect(ModelNames.canonicalID("llama3:latest") == "llama3:latest")
    }
}
