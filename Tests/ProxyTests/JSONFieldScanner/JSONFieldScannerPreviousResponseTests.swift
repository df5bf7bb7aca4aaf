import Foundation
import Testing

@testable import Proxy

/// `previous_response_id` (DESIGN.md 6.9): the scanner finds it at the top level only, as a string, with the
/// same meaning Foundation gives the body.
@Suite(.offCooperativePool) struct JSONFieldScannerPreviousResponseTests {
    private func fields(_ body: String) throws -> JSONFieldScanner.Fields {
        try JSONFieldScanner.scan(Array(body.utf8)).get()
    }

    @Test func findsTheIdOfAResponsesRequest() throws {
        let body = #"{"model":"qwen/qwen3-4b","input":"and then?","previous_response_id":"resp_0a1b2c","stream":true}"#
        let found = try fields(body)
        #expect(found.previousResponseID == "resp_0a1b2c")
        #expect(found.model == "qwen/qwen3-4b")
        #expect(found.stream == true)
    }

    @Test func bodyWithoutTheFieldHasNone() throws {
        #expect(try fields(#"{"model":"m","input":"hi"}"#).previousResponseID == nil)
    }

    @Test(arguments: ["null", "42", "true", "[\"resp_1\"]", "{\"id\":\"resp_1\"}"])
    func valueThatIsNotAStringContinuesNoConversation(value: String) throws {
        #expect(try fields("{\"model\":\"m\",\"previous_response_id\":\(value)}").previousResponseID == nil)
    }

    @Test func nestedFieldsAreNotTheTopLevelOne() throws {
        let body = #"{"input":[{"previous_response_id":"resp_inner"}],"metadata":{"previous_response_id":"x"}}"#
        #expect(try fields(body).previousResponseID == nil)
    }

    @Test func escapesAreDecodedAndEscapedKeysCount() throws {
        #expect(try fields(#"{"previous_response_id":"resp_\u0041\/b"}"#).previousResponseID == "resp_A/b")
        let escapedKey =
            #"{"\u0070\u0072\u0065\u0076\u0069\u006f\u0075\u0073\u005f\u0072\u0065\u0073\u0070\u006f\u006e\u0073\u0065\u005f\u0069\u0064":"resp_9"}"#
        #expect(try fields(escapedKey).previousResponseID == "resp_9")
    }

    @Test func lastOccurrenceWinsAsInFoundation() throws {
        let body = #"{"previous_response_id":"resp_1","previous_response_id":"resp_2"}"#
        #expect(try fields(body).previousResponseID == "resp_2")
        #expect(TopLevelMeaning(scanning: Array(body.utf8)) == TopLevelMeaning(parsingWithFoundation: Array(body.utf8)))
    }

    @Test(arguments: [
        #"{"previous_response_id":"resp_x","model":"m"}"#,
        #"{"previous_response_id":null,"stream":false}"#,
        #"{"previous_response_id":"caf\u00e9 \ud83d\ude00"}"#,
        #"{"a":{"previous_response_id":"no"},"previous_response_id":"yes"}"#,
    ])
    func meaningIsFoundationsMeaning(body: String) {
        let bytes = Array(body.utf8)
        #expect(TopLevelMeaning(scanning: bytes) == TopLevelMeaning(parsingWithFoundation: bytes))
    }

    @Test func brokenValueIsRefusedLikeAnyOtherMalformedBody() {
        guard case .failure = JSONFieldScanner.scan(Array(#"{"previous_response_id":"resp_1}"#.utf8)) else {
            Issue.record("an unterminated string must be refused")
            return
        }
    }
}
