import Foundation
import NIOCore
import Testing

@testable import LMStudioSim

/// The fast reader of request bodies agrees with Foundation, and declines what it cannot vouch for.
@Suite struct RequestFieldScannerTests {
    static let validBodies = [
        #"{"model":"qwen2.5-7b-instruct","messages":[{"role":"user","content":"Hi"}],"stream":false}"#,
        #" { "model" : "m" , "stream" : true , "max_tokens" : 12 , "n_predict" : 5 } "#,
        #"{"messages":[],"temperature":0.7,"top_p":1e-3,"stop":["\n","\"end\""],"seed":-4,"x":null}"#,
        #"{"model":null,"stream":null,"max_tokens":null,"nested":{"a":[1,2,{"b":[true,false,null]}]}}"#,
        #"{"max_tokens":0,"n_predict":-3,"model":"a/b:2"}"#,
        "{}",
        "{\"model\":\"m\",\n\t\"stream\":true\r\n}",
    ]

    static let invalidBodies = [
        "", " ", "[]", "null", #""model""#, "{", "}", #"{"model":"m",}"#, #"{"model" "m"}"#, #"{model:"m"}"#,
        #"{"model":"m"} x"#, #"{"model":"m"}{}"#, #"{"a":01}"#, #"{"a":1.}"#, #"{"a":.5}"#, #"{"a":1e}"#,
        #"{"a":tru}"#, #"{"a":[1,]}"#, #"{"a":"\x"}"#, "{\"a\":\"line\nbreak\"}", #"{"a":-}"#, #"{"a":+1}"#,
        #"{"a":[}"#, #"{"a":{"b"}}"#, #"{"a":{"b":1,}}"#,
    ]

    @Test(arguments: validBodies)
    func agreesWithFoundationOnValidBodies(body: String) throws {
        let fields = try #require(RequestFieldScanner.scan(ByteBuffer(string: body)))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        #expect(fields.model == object["model"] as? String)
        #expect(fields.stream == object["stream"] as? Bool)
        #expect(fields.maxTokens == object["max_tokens"] as? Int)
        #expect(fields.nPredict == object["n_predict"] as? Int)
    }

    /// Foundation is lenient with trailing commas; whatever it decides stays the answer, since the scanner
    /// declines and the body goes to Foundation.
    @Test(arguments: invalidBodies)
    func declinesWhatIsNotStrictJSONAndLeavesTheVerdictToFoundation(body: String) {
        #expect(RequestFieldScanner.scan(ByteBuffer(string: body)) == nil)
        let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        let parsed = try? InferenceRequest.parse(ByteBuffer(string: body)).get()
        #expect((parsed != nil) == (object != nil))
    }

    @Test func leavesUnusualButValidBodiesToFoundation() throws {
        let unusual = [
            #"{"model":"esc\"aped"}"#, #"{"model":"caf\u00e9"}"#, #"{"model":"café"}"#, #"{"model":42}"#,
            #"{"stream":"yes"}"#, #"{"max_tokens":1.5}"#,
        ]
        for body in unusual {
            #expect(RequestFieldScanner.scan(ByteBuffer(string: body)) == nil)
        }
        let parsed = InferenceRequest.parse(ByteBuffer(string: #"{"model":"esc\"aped","stream":true}"#))
        let request = try parsed.get()
        #expect(request.model == #"esc"aped"#)
        #expect(request.stream)
    }

    @Test func smallerOfMaxTokensAndNPredictWins() throws {
        let request = try InferenceRequest.parse(ByteBuffer(string: #"{"max_tokens":9,"n_predict":4}"#)).get()
        #expect(request.maxTokens == 4)
        let ignored = try InferenceRequest.parse(ByteBuffer(string: #"{"max_tokens":0}"#)).get()
        #expect(ignored.maxTokens == nil)
    }
}
