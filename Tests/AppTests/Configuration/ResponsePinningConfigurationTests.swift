import Balancer
import Testing

@testable import App

/// `proxy.response_pinning` (DESIGN.md 4 and 6.9): its defaults, its keys, and the values it refuses.
@Suite struct ResponsePinningConfigurationTests {
    private typealias Fixture = ConfigurationFixture

    @Test func defaultsAreAHundredThousandEntriesForADay() throws {
        let configuration = try #require(Fixture.load(Fixture.oneEndpoint).configuration)
        #expect(configuration.proxy.responsePinning.maxEntries == 100_000)
        #expect(configuration.proxy.responsePinning.ttl == .seconds(86_400))
    }

    @Test func readsBothKeys() throws {
        let yaml = "proxy:\n  response_pinning:\n    max_entries: 500\n    ttl: 90m\n" + Fixture.oneEndpoint
        let result = Fixture.load(yaml)
        #expect(result.issues.isEmpty, "\(result.issues)")
        let pinning = try #require(result.configuration).proxy.responsePinning
        #expect(pinning.maxEntries == 500)
        #expect(pinning.ttl == .seconds(5400))
    }

    @Test(arguments: [("0", "at least 1"), ("-5", "at least 1"), ("lots", "must be a number"), ("1.5", "whole")])
    func maxEntriesMustBeAPositiveWholeNumber(value: String, words: String) {
        Fixture.expectSingleError(
            "proxy:\n  response_pinning:\n    max_entries: \(value)\n",
            keyPath: "proxy.response_pinning.max_entries",
            line: 3,
            mentioning: [words]
        )
    }

    @Test(arguments: ["0s", "forever", "10"])
    func ttlMustBeAPositiveDuration(value: String) {
        Fixture.expectSingleError(
            "proxy:\n  response_pinning:\n    ttl: \(value)\n",
            keyPath: "proxy.response_pinning.ttl",
            line: 3
        )
    }

    @Test func unknownKeyInsideIsAWarning() throws {
        let result = Fixture.load("proxy:\n  response_pinning:\n    max_entry: 5\n" + Fixture.oneEndpoint)
        #expect(result.configuration != nil)
        let warning = try #require(result.warnings.first)
        #expect(warning.keyPath == "proxy.response_pinning.max_entry")
        #expect(warning.message.contains("max_entries"))
    }
}
