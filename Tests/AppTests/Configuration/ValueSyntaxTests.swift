import Testing

@testable import App

@Suite struct ValueSyntaxTests {
    @Test(arguments: [
        ("500ms", Duration.milliseconds(500)),
        ("5s", .seconds(5)),
        ("2m", .seconds(120)),
        ("1h", .seconds(3600)),
        ("1m30s", .seconds(90)),
        ("1.5s", .milliseconds(1500)),
        ("0s", .zero),
        ("1h2m3s", .seconds(3723)),
        ("1.5h", .seconds(5400)),
        (".5s", .milliseconds(500)),
        ("250us", .microseconds(250)),
        ("250µs", .microseconds(250)),
        ("10ns", .nanoseconds(10)),
        ("1.1s", .milliseconds(1100)),
        ("+3s", .seconds(3)),
        ("900s", .seconds(900)),
    ])
    func durationsInGoSyntax(text: String, expected: Duration) throws {
        #expect(try DurationSyntax.parse(text).get() == expected)
    }

    @Test(arguments: [
        ("5", "needs a unit"),
        ("1.5", "needs a unit"),
        ("1m30", "needs a unit after 30"),
        ("5x", "unknown unit \"x\""),
        ("5S", "unknown unit \"S\""),
        ("-5s", "negative"),
        ("", "found nothing"),
        ("s", "must be a duration"),
        ("1..5s", "must be a duration"),
        ("99999999999h", "too long"),
    ])
    func refusedDurations(text: String, reason: String) {
        #expect(throws: ValueProblem.self) { try DurationSyntax.parse(text).get() }
        if case .failure(let problem) = DurationSyntax.parse(text) {
            #expect(problem.message.contains(reason), "\(problem.message)")
        }
    }

    @Test(arguments: ["0s", "500ms", "5s", "1m30s", "10m", "1h", "1h0m5s", "1.5s", "250us", "10ns"])
    func durationFormatReadsBack(text: String) throws {
        let duration = try DurationSyntax.parse(text).get()
        #expect(try DurationSyntax.parse(DurationSyntax.format(duration)).get() == duration)
    }

    @Test func durationFormatIsShort() throws {
        #expect(DurationSyntax.format(.seconds(600)) == "10m")
        #expect(DurationSyntax.format(.seconds(90)) == "1m30s")
        #expect(DurationSyntax.format(.milliseconds(1500)) == "1.5s")
        #expect(DurationSyntax.format(.milliseconds(500)) == "500ms")
    }

    @Test(arguments: [
        ("52428800", 52_428_800),
        ("0", 0),
        ("10B", 10),
        ("1K", 1024), ("1KB", 1024), ("1kb", 1024), ("1KiB", 1024),
        ("512KB", 512 * 1024),
        ("100MB", 100 * 1024 * 1024), ("100mb", 100 * 1024 * 1024), ("100M", 100 * 1024 * 1024),
        ("1.5MB", 1_572_864),
        ("1GB", 1 << 30), ("2GiB", 2 << 30),
        ("16 KB", 16 * 1024),
    ])
    func sizesInBytesOrPowersOf1024(text: String, expected: Int) throws {
        #expect(try SizeSyntax.parse(text).get() == expected)
    }

    @Test(arguments: [
        ("-1", "negative"),
        ("1.5", "whole number"),
        ("1TB", "unknown unit"),
        ("MB", "must be a size"),
        ("lots", "must be a size"),
        ("99999999999GB", "too large"),
    ])
    func refusedSizes(text: String, reason: String) {
        if case .failure(let problem) = SizeSyntax.parse(text) {
            #expect(problem.message.contains(reason), "\(problem.message)")
        } else {
            Issue.record("\(text) should be refused")
        }
    }

    @Test func sizesAndDurationsThroughTheLoader() throws {
        let yaml = """
            server:
              read_timeout: 1m30s
              request_limits:
                max_body_size: 1.5MB
                max_header_size: 524288
            """
        let configuration = try #require(ConfigurationFixture.load(yaml).configuration)
        #expect(configuration.server.readTimeout == .seconds(90))
        #expect(configuration.server.maxBodySize == 1_572_864)
        #expect(configuration.server.maxHeaderSize == 524_288)
    }
}
