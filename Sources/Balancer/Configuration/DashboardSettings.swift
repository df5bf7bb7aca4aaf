/// `dashboard:`: the live page at `/internal/ui/` (DESIGN.md 6.10).
///
/// The page is read-only and governed by `server.internal_loopback_only` like every `/internal/*` route;
/// turning it off removes its routes (404) for operators who want no HTML served at all.
public struct DashboardSettings: Sendable, Equatable {
    /// `enabled`: whether `/internal/ui/` is served.
    public var enabled: Bool = true

    public init(enabled: Bool = true) {
        self.enabled = enabled
    }
}
