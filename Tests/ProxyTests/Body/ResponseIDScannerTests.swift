import NIOCore
import Testing

@testable import Proxy

/// The response ids olla learns from stateful answers (DESIGN.md 6.9), whole or cut anywhere between parts.
@Suite struct ResponseIDScannerTests {
    func scan(_ parts: [String]) -> [String] {
        var scanner = ResponseIDScanner()
        return parts.flatMap { scanner.scan(ByteBuffer(string: $0)) }
    }

    @Test func findsTheIDOfAPlainAnswer() {
        let answer = #"{"id":"resp_abc123","object":"response","output":[{"id":"msg_1","type":"message"}]}"#
        #expect(scan([answer]) == ["resp_abc123"])
    }

    @Test func findsTheResponseIDOfAChatEndEvent() {
        let events =
            "event: chat.start\ndata: {\"type\":\"chat.start\"}\n\nevent: chat.end\n"
            + "data: {\"type\":\"chat.end\",\"result\":{\"response_id\":\"resp_9f-X_z\"}}\n\n"
        #expect(scan([events]) == ["resp_9f-X_z"])
    }

    @Test func findsAnIDCutAtEveryPlace() {
        let answer = #"data: {"type":"response.created","response":{"id":"resp_0123456789abcdef"}}"#
        let bytes = Array(answer.utf8)
        for cut in 1..<bytes.count {
            let first = String(decoding: bytes[..<cut], as: UTF8.self)
            let second = String(decoding: bytes[cut...], as: UTF8.self)
            #expect(scan([first, second]) == ["resp_0123456789abcdef"], "cut at \(cut)")
        }
    }

    @Test func findsAnIDSpreadOverManySmallParts() {
        let answer = #"{"id":"resp_spread_over_parts"}"#
        #expect(scan(answer.map { String($0) }) == ["resp_spread_over_parts"])
    }

    @Test func ignoresWhatIsNotAQuotedID() {
        let text = #"Previous response with id 'resp_x' not found. "resp_" "resp_a b" "resp_ok""#
        #expect(scan([text]) == ["resp_ok"])
    }

    @Test func skipsAnIDOverTheLimitAndCarriesNothingUnbounded() {
        let long = "\"resp_" + String(repeating: "a", count: 300) + "\""
        #expect(scan([long, #" "resp_next""#]) == ["resp_next"])
        var scanner = ResponseIDScanner()
        // An id that never ends is dropped once over the limit: the scanner holds no more than one id's bytes.
        #expect(scanner.scan(ByteBuffer(string: "\"resp_" + String(repeating: "b", count: 100))).isEmpty)
        for _ in 0..<100 { #expect(scanner.scan(ByteBuffer(string: String(repeating: "b", count: 100))).isEmpty) }
        #expect(scanner.scan(ByteBuffer(string: #"b" "resp_after""#)) == ["resp_after"])
    }
}
