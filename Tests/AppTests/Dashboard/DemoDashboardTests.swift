import Foundation
import NIOHTTP1
import Testing

@testable import App

/// `olla demo` as the README tells an operator to use it: the banner names the dashboard, and a host killed and
/// revived from the demo's console is shown so by a page kept open in a real browser.
@Suite(
    .endToEnd,
    .enabled(
        if: HeadlessChromium.isAvailable,
        "no chromium: apt-get install chromium, or set OLLA_CHROMIUM to a Chromium binary; .ci/run installs it"
    )
)
struct DemoDashboardTests {
    @Test func demoNamesItsDashboardWhichShowsAKillAndARevive() async throws {
        let port = try await unusedPort()
        try await withScratchDirectory { directory in
            let arguments = ["demo", "--port", "\(port)", "--token-delay", "5"]
            try await OllaProcess.with(arguments, in: directory, withInput: true) { demo in
                // The demo listens on localhost, which may be ::1 or 127.0.0.1: the clients resolve it.
                let base = "http://localhost:\(port)"
                try await OllaHarness.waitUntil("the demo serves with its three hosts healthy", timeout: .seconds(20)) {
                    if !demo.isRunning {
                        throw OllaProcess.Exited(status: demo.process.terminationStatus, stderr: demo.errorOutput)
                    }
                    let status = try? await fetch(.GET, base + "/internal/status/endpoints", timeout: .seconds(2))
                    return (try? status?.json())?["healthy_count"] as? Int == 3
                }
                let url = base + "/internal/ui/"
                #expect(demo.output.contains("Dashboard: \(url)"), "\(demo.output)")

                try await HeadlessChromium.with { browser in
                    try await browser.navigate(to: url)
                    try await DashboardBrowserTests.waitForPage(browser, "the three hosts are shown healthy") {
                        $0.hosts.count == 3 && $0.hosts.allSatisfy { $0.status == "healthy" }
                    }
                    demo.type("kill studio-a")
                    try await DashboardBrowserTests.waitForPage(browser, "studio-a is shown offline") {
                        $0.host("studio-a")?.status == "offline"
                    }
                    demo.type("revive studio-a")
                    // The demo probes every 2 s, and a failing host with back-off: up to 4 s after its second
                    // failed probe.
                    try await DashboardBrowserTests.waitForPage(
                        browser,
                        "studio-a is shown healthy again",
                        timeout: .seconds(20)
                    ) { $0.host("studio-a")?.status == "healthy" }

                    let events = try await browser.evaluateJSON(
                        "JSON.stringify([...document.querySelectorAll('#events li')].map((item) => item.textContent))"
                    )
                    let lines = try #require(events as? [String])
                    #expect(lines.contains { $0.contains("studio-a healthy → offline") }, "\(lines)")
                    #expect(lines.contains { $0.contains("studio-a offline → healthy") }, "\(lines)")
                    #expect(browser.problems.isEmpty, "\(browser.problems)")
                }
                demo.type("quit")
                #expect(try await demo.waitForExit(timeout: .seconds(10)) == 0)
            }
        }
    }
}
