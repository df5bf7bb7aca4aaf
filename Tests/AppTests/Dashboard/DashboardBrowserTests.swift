import Foundation
import LMStudioSim
import Testing

@testable import App

/// The dashboard (DESIGN.md 6.10) in a real browser: headless Chromium loads `/internal/ui/` from a real olla in
/// front of simulated hosts and the test reads what the page shows, as an operator would see it.
@Suite(
    .endToEnd,
    .enabled(
        if: HeadlessChromium.isAvailable,
        "no chromium: apt-get install chromium, or set OLLA_CHROMIUM to a Chromium binary; .ci/run installs it"
    )
)
struct DashboardBrowserTests {
    static let markupModels = ["<script>alert(1)</script>", "<b>x</b>"]

    static func hosts() -> [SimulatorConfiguration] {
        [
            simHost(
                "studio-a",
                models: [
                    SimulatedModel(id: "qwen2.5-7b-instruct", state: .loaded),
                    SimulatedModel(id: "text-embedding-nomic-embed-text-v1.5", type: .embeddings, state: .loaded),
                ]
            ),
            simHost(
                "studio-b",
                models: [
                    SimulatedModel(id: "qwen2.5-7b-instruct", state: .notLoaded),
                    SimulatedModel(id: "meta-llama-3.1-8b-instruct", state: .loaded),
                ]
            ),
            // Names are data: the page must show them as text, never as markup.
            simHost("<i>studio-c</i>", models: markupModels.map { SimulatedModel(id: $0, state: .loaded) }),
        ]
    }

    /// What the page shows, read from its DOM.
    struct Shown {
        struct Host {
            var name: String
            var status: String
            var text: String
        }

        var state: String
        var polls: Int
        var pageErrors: String
        var hosts: [Host]
        var hostColumns: [String]
        /// Model id -> the text of each host's cell, in column order.
        var models: [String: [String]]
        /// Elements found inside cells that hold a name: any means markup from the data was parsed.
        var elementsInsideNames: Int
        var charts: Int
        var tiles: [String: String]

        func host(_ name: String) -> Host? { hosts.first { $0.name == name } }
    }

    /// The page's state as JSON; `null` while the page has not loaded yet (the navigation is still going).
    static let readPage = """
        document.getElementById('page-errors') === null ? 'null' : JSON.stringify({
          state: document.body.dataset.state || '',
          polls: Number(document.body.dataset.polls || 0),
          pageErrors: document.getElementById('page-errors').textContent,
          hosts: [...document.querySelectorAll('#hosts tbody tr[data-host]')].map((row) => ({
            name: row.querySelector('.host-name').textContent,
            status: row.dataset.status,
            text: row.textContent,
          })),
          hostColumns: [...document.querySelectorAll('#models thead th')].slice(1).map((th) => th.textContent),
          models: [...document.querySelectorAll('#models tbody tr[data-model]')].map((row) => [
            row.querySelector('.model-id').textContent,
            [...row.querySelectorAll('td')].slice(1).map((td) => td.textContent),
          ]),
          elementsInsideNames: [...document.querySelectorAll('.model-id, .host-name, #models thead th')]
            .reduce((sum, node) => sum + node.children.length, 0),
          charts: document.querySelectorAll('#charts svg').length,
          tiles: Object.fromEntries([...document.querySelectorAll('.tile-value')].map((node) => [node.id, node.textContent])),
        })
        """

    static func read(_ browser: HeadlessChromium) async throws -> Shown {
        let object = try await browser.evaluateJSON(readPage) as? [String: Any] ?? ["state": "not loaded"]
        let hosts = (object["hosts"] as? [[String: Any]] ?? []).map { host in
            Shown.Host(
                name: host["name"] as? String ?? "",
                status: host["status"] as? String ?? "",
                text: host["text"] as? String ?? ""
            )
        }
        var models: [String: [String]] = [:]
        for pair in object["models"] as? [[Any]] ?? [] {
            if let id = pair.first as? String, let cells = pair.last as? [String] { models[id] = cells }
        }
        return Shown(
            state: object["state"] as? String ?? "",
            polls: object["polls"] as? Int ?? 0,
            pageErrors: object["pageErrors"] as? String ?? "",
            hosts: hosts,
            hostColumns: object["hostColumns"] as? [String] ?? [],
            models: models,
            elementsInsideNames: object["elementsInsideNames"] as? Int ?? -1,
            charts: object["charts"] as? Int ?? 0,
            tiles: object["tiles"] as? [String: String] ?? [:]
        )
    }

    /// Reads the page until `condition` holds or `timeout` passes; returns the last reading.
    @discardableResult
    static func waitForPage(
        _ browser: HeadlessChromium,
        _ what: String,
        timeout: Duration = .seconds(15),
        until condition: (Shown) -> Bool
    ) async throws -> Shown {
        var last: Shown?
        do {
            try await OllaHarness.waitUntil(what, timeout: timeout) {
                let shown = try await read(browser)
                last = shown
                return condition(shown)
            }
        } catch {
            Issue.record("page errors: \(last?.pageErrors ?? "-"); problems: \(browser.problems)")
            throw error
        }
        return try #require(last)
    }

    @Test func pageShowsEveryHostAndModelWithMarkupAsTextAndNoScriptError() async throws {
        try await OllaHarness.with(hosts: Self.hosts()) { olla in
            // A little traffic, so the charts and the request figures have something to draw.
            for _ in 0..<3 {
                let answer = try await olla.post(
                    "/olla/lmstudio/v1/chat/completions",
                    json: chatBody("qwen2.5-7b-instruct")
                )
                #expect(answer.status == .ok)
            }
            try await HeadlessChromium.with { browser in
                try await browser.navigate(to: olla.baseURL + "/internal/ui/")
                // Two polls: the first draws the page, the second proves it refreshes on its own.
                let shown = try await Self.waitForPage(browser, "the page has refreshed twice") { $0.polls >= 2 }

                #expect(shown.state == "live")
                #expect(shown.pageErrors.isEmpty, "\(shown.pageErrors)")
                #expect(browser.problems.isEmpty, "\(browser.problems)")

                let names = ["studio-a", "studio-b", "<i>studio-c</i>"]
                #expect(shown.hosts.map(\.name) == names)
                #expect(shown.hosts.allSatisfy { $0.status == "healthy" }, "\(shown.hosts.map(\.status))")
                #expect(shown.hostColumns == names, "the model grid has one column per host")
                #expect(shown.tiles["tile-hosts"] == "3 / 3")

                let expected = [
                    "qwen2.5-7b-instruct": ["● loaded", "○ not loaded", "·"],
                    "text-embedding-nomic-embed-text-v1.5": ["● loaded", "·", "·"],
                    "meta-llama-3.1-8b-instruct": ["·", "● loaded", "·"],
                    "<script>alert(1)</script>": ["·", "·", "● loaded"],
                    "<b>x</b>": ["·", "·", "● loaded"],
                ]
                #expect(shown.models == expected)
                #expect(shown.elementsInsideNames == 0, "a name's markup became elements")
                #expect(shown.charts >= 4, "requests, first byte, failures and queue charts")

                // The three chats are counted once the sampler has seen them.
                try await Self.waitForPage(browser, "the host row counts the chats") { shown in
                    shown.host("studio-a")?.text.contains("100.0%") == true
                }
                #expect(browser.problems.isEmpty, "\(browser.problems)")
            }
        }
    }

    @Test func killedHostIsShownDownWithinACheckAndARefreshAndAStoppedOllaIsMarkedStale() async throws {
        try await OllaHarness.with(hosts: Self.hosts()) { configuration, _ in
            configuration.server.shutdownTimeout = .seconds(1)
        } _: { olla in
            try await HeadlessChromium.with { browser in
                try await browser.navigate(to: olla.baseURL + "/internal/ui/")
                try await Self.waitForPage(browser, "every host is shown healthy") { shown in
                    shown.hosts.count == 3 && shown.hosts.allSatisfy { $0.status == "healthy" }
                }

                let clock = ContinuousClock()
                let killed = clock.now
                try await olla.host("studio-b").updateFaults { $0.refuseConnections = true }
                // check_interval (1 s) until the probe that finds it down, plus one 2 s refresh of the page,
                // plus room for a loaded two-core machine.
                let shown = try await Self.waitForPage(browser, "studio-b is shown down", timeout: .seconds(8)) {
                    $0.host("studio-b")?.status == "offline"
                }
                let elapsed = killed.duration(to: clock.now)
                #expect(elapsed < .seconds(6), "shown down \(elapsed) after the kill")
                let row = try #require(shown.host("studio-b"))
                #expect(row.text.contains("offline"))
                let status = try await olla.request(.GET, "/internal/status/endpoints").json()
                let reported = (status["endpoints"] as? [[String: Any]])?.first { $0["name"] as? String == "studio-b" }
                let reason = try #require(reported?["last_error"] as? String)
                #expect(row.text.contains(reason), "the reason is shown: \(row.text)")
                #expect(shown.tiles["tile-hosts"] == "2 / 3")
                #expect(shown.models["meta-llama-3.1-8b-instruct"] == ["·", "host offline", "·"])
                #expect(shown.host("studio-a")?.status == "healthy")
                #expect(shown.pageErrors.isEmpty, "\(shown.pageErrors)")
                #expect(browser.problems.isEmpty, "\(browser.problems)")

                try await olla.host("studio-b").updateFaults { $0.refuseConnections = false }
                try await Self.waitForPage(browser, "studio-b is shown healthy again") {
                    $0.host("studio-b")?.status == "healthy"
                }

                // When olla itself stops answering, the page says its figures are stale instead of
                // showing them as if they were current.
                await olla.application.shutdown()
                let stale = try await Self.waitForPage(browser, "the page is marked stale") { $0.state == "stale" }
                #expect(stale.hosts.count == 3, "the last figures stay on screen, marked stale")
                #expect(stale.pageErrors.isEmpty, "a failed poll is not an error of the page: \(stale.pageErrors)")
                #expect(
                    browser.problems.allSatisfy { $0.kind == "browser log" && $0.text.hasPrefix("network") },
                    "only the failed requests are logged: \(browser.problems)"
                )
            }
        }
    }
}
