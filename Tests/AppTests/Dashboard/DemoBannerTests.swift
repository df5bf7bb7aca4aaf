import Testing

@testable import App

/// `olla demo` tells where the dashboard is (README).
@Suite struct DemoBannerTests {
    @Test func bannerNamesTheDashboardURL() {
        let banner = Demo.banner(port: 40114, hosts: [], priorities: [])
        #expect(banner.contains("Dashboard: http://localhost:40114/internal/ui/"), "\(banner)")
    }
}
