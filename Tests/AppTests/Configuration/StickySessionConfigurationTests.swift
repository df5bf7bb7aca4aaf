import Balancer
import Testing

@testable import App

/// `proxy.sticky_sessions` (DESIGN.md section 4, 6.8): Olla's keys, olla's defaults, and errors that name the key
/// and the line.
@Suite struct StickySessionConfigurationTests {
    typealias Fixture = ConfigurationFixture

    @Test func affinityIsOnByDefaultWithOllasKeySources() throws {
        let settings = try #require(Fixture.load(Fixture.oneEndpoint).configuration).proxy.stickySessions
        #expect(settings.enabled)
        #expect(settings.keySources == [.sessionHeader, .prefixHash])
        #expect(settings.prefixHashBytes == 512 && settings.loadFactor == 1.25)
        #expect(settings.idleTTL == .seconds(600) && settings.maxSessions == 10_000)
    }

    @Test func everyKeyIsRead() throws {
        let yaml = """
            proxy:
              sticky_sessions:
                enabled: false
                key_sources: [ip, auth_header, session_header]
                prefix_hash_bytes: 1024
                load_factor: 1.5
                idle_ttl_seconds: 60
                max_sessions: 50
            \(Fixture.oneEndpoint)
            """
        let settings = try #require(Fixture.load(yaml).configuration).proxy.stickySessions
        #expect(!settings.enabled)
        #expect(settings.keySources == [.ip, .authHeader, .sessionHeader])
        #expect(settings.prefixHashBytes == 1024 && settings.loadFactor == 1.5)
        #expect(settings.idleTTL == .seconds(60) && settings.maxSessions == 50)
    }

    @Test func anUnknownKeySourceIsAnError() {
        Fixture.expectSingleError(
            "proxy:\n  sticky_sessions:\n    key_sources: [prefix_hash, cookie]\n",
            keyPath: "proxy.sticky_sessions.key_sources",
            line: 3,
            mentioning: ["cookie", "session_header"]
        )
    }

    @Test func aLoadFactorBelowOneIsAnError() {
        Fixture.expectSingleError(
            "proxy:\n  sticky_sessions:\n    load_factor: 0.5\n",
            keyPath: "proxy.sticky_sessions.load_factor",
            line: 3,
            mentioning: ["at least 1"]
        )
    }
}
