import Testing

@testable import Proxy

/// Which part of a conversation keys prompt-cache affinity (DESIGN.md 6.8): the same for every turn.
@Suite struct AffinityKeyTests {
    func start(_ json: String, limit: Int = 512) -> String {
        let bytes = Array(json.utf8)
        let end = bytes.withUnsafeBytes { AffinityKey.conversationStart($0, limit: limit) }
        return String(decoding: bytes[..<end], as: UTF8.self)
    }

    @Test func messagesAreKeyedUpToTheFirstUserMessage() {
        let first = #"[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]"#
        let later =
            #"[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},"#
            + #"{"role":"assistant","content":"Hello"},{"role":"user","content":"More"}]"#
        #expect(start(first) == #"[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}"#)
        #expect(start(later) == start(first))
    }

    @Test func aRoleInsideContentOrDeeperDoesNotCount() {
        let json =
            #"[{"content":"say \"role\":\"user\"","role":"system","meta":{"role":"user"}},{"role": "user","c":1}]"#
        #expect(
            start(json)
                == #"[{"content":"say \"role\":\"user\"","role":"system","meta":{"role":"user"}},{"role": "user","c":1}"#
        )
    }

    @Test func theLimitCapsTheKey() {
        let json = #"[{"role":"user","content":""# + String(repeating: "x", count: 1000) + #""}]"#
        #expect(start(json, limit: 100).utf8.count == 100)
        #expect(start(#""a plain prompt that goes on""#, limit: 10) == #""a plain p"#)
    }
}
