import Foundation
import Testing

@testable import App
@testable import Proxy

/// The per-request log line (DESIGN.md 6.6): one line with id, method, path, model, endpoint, status,
/// duration and bytes, as text or JSON.
@Suite struct RequestLogTests {
    let record = RequestRecord(
        requestID: "olla-1-2a",
        method: "POST",
        path: "/olla/lmstudio/v1/chat/completions",
        model: "qwen2.5-7b-instruct",
        endpoint: "studio-a",
        status: 200,
        outcome: .completed,
        durationNanoseconds: 12_345_678,
        timeToHeadNanoseconds: 1_000_000,
        overheadNanoseconds: 20_000,
        queueNanoseconds: 0,
        bytesIn: 120,
        bytesOut: 456,
        failovers: 1,
        isLocal: false
    )

    @Test func textLineHasEveryFieldInOrder() {
        let line = RequestLog.line(record, format: .text)
        #expect(line.hasSuffix("\n"))
        #expect(line.split(separator: "\n").count == 1)
        #expect(
            line.contains(
                " info request bytes_in=120 bytes_out=456 duration_ms=12.345 endpoint=studio-a failovers=1 "
                    + "id=olla-1-2a method=POST model=qwen2.5-7b-instruct path=/olla/lmstudio/v1/chat/completions "
                    + "status=200\n"
            )
        )
        #expect(line.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "#, options: .regularExpression) != nil)
    }

    @Test func textLineEscapesWhatAClientSentSoThatItStaysOneLine() {
        var hostile = record
        hostile.model = "x\nfake info request id=forged \"q\" \\"
        hostile.endpoint = nil
        let line = RequestLog.line(hostile, format: .text)
        #expect(line.split(separator: "\n").count == 1)
        #expect(line.contains(#" model="x\nfake info request id=forged \"q\" \\" path="#))
    }

    @Test func jsonLineParsesWithEveryField() throws {
        var cut = record
        cut.outcome = .upstreamFailedMidStream
        cut.path = "/x?q=\"quoted\""
        let line = RequestLog.line(cut, format: .json)
        let object = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["msg"] as? String == "request")
        #expect(object["level"] as? String == "info")
        #expect(object["id"] as? String == "olla-1-2a")
        #expect(object["path"] as? String == "/x?q=\"quoted\"")
        #expect(object["status"] as? String == "200")
        #expect(object["outcome"] as? String == "upstream_failed_mid_stream")
        #expect(object["time"] is String)
    }

    @Test func millisecondsKeepThreeDecimals() {
        #expect(RequestLog.milliseconds(1_000) == "0.001")
        #expect(RequestLog.milliseconds(12_345_678) == "12.345")
        #expect(RequestLog.milliseconds(-5) == "0.000")
    }
}
