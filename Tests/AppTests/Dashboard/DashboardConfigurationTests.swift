import Balancer
import Testing

@testable import App

/// `dashboard:` in endpoints.yaml (DESIGN.md section 4).
@Suite struct DashboardConfigurationTests {
    @Test func dashboardIsOnByDefaultAndCanBeTurnedOff() throws {
        #expect(OllaConfiguration().dashboard.enabled)
        let on = ConfigurationFixture.load(ConfigurationFixture.oneEndpoint)
        #expect(on.configuration?.dashboard.enabled == true)
        let off = ConfigurationFixture.load("dashboard:\n  enabled: false\n" + ConfigurationFixture.oneEndpoint)
        #expect(off.issues.isEmpty, "\(off.issues)")
        #expect(off.configuration?.dashboard.enabled == false)
    }

    @Test func misspelledDashboardKeyIsAWarningWithTheRightOne() throws {
        let result = ConfigurationFixture.load("dashboard:\n  enabeld: false\n" + ConfigurationFixture.oneEndpoint)
        #expect(result.errors.isEmpty)
        let warning = try #require(result.warnings.first)
        #expect(warning.keyPath == "dashboard.enabeld")
        #expect(warning.line == 2)
        #expect(warning.message.contains("did you mean \"enabled\"?"), "\(warning)")
        #expect(result.configuration?.dashboard.enabled == true)
    }

    @Test func enabledThatIsNotABooleanIsAnError() {
        ConfigurationFixture.expectSingleError(
            "dashboard:\n  enabled: sometimes\n" + ConfigurationFixture.oneEndpoint,
            keyPath: "dashboard.enabled",
            line: 2,
            mentioning: ["true or false"]
        )
    }
}
