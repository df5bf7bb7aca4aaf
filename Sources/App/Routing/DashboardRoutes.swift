import Balancer
import Foundation
import NIOCore
import NIOHTTP1
import Proxy

/// `/internal/ui/` and the JSON behind it (DESIGN.md 6.10): the page, its script and stylesheet, served
/// from the binary, and `/internal/stats/traffic`.
struct DashboardRoutes: Sendable {
    let history: TrafficHistory
    /// The configuration file olla reads, absolute; nil when it runs on the built-in default.
    let configurationFile: String?
    let startedAt: Date

    init(history: TrafficHistory = TrafficHistory(), configurationFile: String? = nil, startedAt: Date = Date()) {
        self.history = history
        self.configurationFile = configurationFile.map(Self.absolutePath)
        self.startedAt = startedAt
    }

    static let pagePath = "/internal/ui/"

    /// The page may load only its own script and stylesheet and talk only to olla: a host or model name that
    /// smuggled markup past the page's escaping still could not run or load anything.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    // The files are embedded at build time (Package.swift), so the binary serves them wherever it is copied.
    private static let page = asset(PackageResources.dashboard_html, type: "text/html; charset=utf-8")
    private static let script = asset(PackageResources.dashboard_js, type: "text/javascript; charset=utf-8")
    private static let stylesheet = asset(PackageResources.dashboard_css, type: "text/css; charset=utf-8")

    private static func asset(_ bytes: [UInt8], type: String) -> LocalResponse {
        LocalResponse(
            status: .ok,
            headers: [
                "Content-Type": type,
                "Content-Security-Policy": contentSecurityPolicy,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
                // Revalidated on every load, so a new olla's page is never mixed with an old script.
                "Cache-Control": "no-cache",
            ],
            body: ByteBuffer(bytes: bytes)
        )
    }

    /// The answer for a path under `/internal/ui`, nil when it is none of the dashboard's.
    func asset(for path: String) -> LocalResponse? {
        switch path {
        case "/internal/ui":
            // Relative URLs in the page (app.js, the JSON routes) resolve against the directory.
            return LocalResponse(status: .movedPermanently, headers: ["Location": Self.pagePath], body: ByteBuffer())
        case Self.pagePath, "/internal/ui/index.html": return Self.page
        case "/internal/ui/dashboard.js": return Self.script
        case "/internal/ui/dashboard.css": return Self.stylesheet
        default: return nil
        }
    }

    /// `GET /internal/stats/traffic`.
    func traffic(_ snapshot: RoutingSnapshot) -> LocalResponse {
        let endpoints = snapshot.endpoints.map { endpoint in
            TrafficReport.Endpoint(name: endpoint.name, maxConcurrency: endpoint.configuration.maxConcurrency)
        }
        let now = Date()
        let header: [(String, JSONDocument)] = [
            ("timestamp", .string(StatusRoutes.rfc3339(now.timeIntervalSince1970))),
            ("version", .string(StatusRoutes.version)),
            ("build", .string(StatusRoutes.build)),
            ("started_at", .string(StatusRoutes.rfc3339(startedAt.timeIntervalSince1970))),
            ("uptime_seconds", .int(Int(now.timeIntervalSince(startedAt)))),
            ("config_file", .optional(configurationFile)),
        ]
        return TrafficReport(samples: history.samples, endpoints: endpoints).document(header: header).response()
    }

    private static func absolutePath(_ path: String) -> String {
        guard !path.hasPrefix("/") else { return path }
        return URL(fileURLWithPath: path).standardizedFileURL.path
    }
}
