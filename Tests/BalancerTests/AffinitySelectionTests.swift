import Testing

@testable import Balancer

/// Prompt-cache affinity's choice (DESIGN.md 6.8): rendezvous hashing over the hosts that selection allows,
/// bounded by the load factor, the same in every process.
@Suite struct AffinitySelectionTests {
    let model = [HostedModel(id: "m", state: .loaded)]

    func table(_ names: [String], priorities: [String: Int] = [:], maxConcurrency: Int = 0) -> RoutingTable {
        healthyTable(
            names.map { endpoint($0, priority: priorities[$0] ?? 100, maxConcurrency: maxConcurrency) },
            models: Dictionary(uniqueKeysWithValues: names.map { ($0, model) })
        )
    }

    /// The host a key goes to now, taking (and, unless `keep`, giving back) its slot.
    func place(_ key: UInt64, in table: RoutingTable, keep: Bool = false) -> (name: String, firstRanked: Bool)? {
        let candidates = table.candidates("m")!
        let placed = table.acquire(candidates, excluding: EndpointSet(), affinity: key, loadFactor: 1.25)
        guard case .granted(let placement) = placed.admission else { return nil }
        if !keep { table.release(placement, outcome: nil) }
        return (placement.endpoint.name, placed.firstRanked)
    }

    @Test func aKeyAlwaysGoesToTheSameHostAndKeysSpreadOverAllHosts() {
        let table = table(["a", "b", "c", "d"])
        var counts: [String: Int] = [:]
        for key in 0..<4000 as Range<UInt64> {
            let hash = AffinityHash.hash("conversation-\(key)")
            let first = place(hash, in: table)
            #expect(first?.firstRanked == true)
            #expect(place(hash, in: table)?.name == first?.name)
            counts[first?.name ?? "", default: 0] += 1
        }
        // Each of four hosts is first for about a quarter of the keys.
        #expect(counts.count == 4 && counts.values.allSatisfy { $0 > 800 && $0 < 1200 }, "\(counts)")
    }

    @Test func theSameKeyPicksTheSameHostInAnotherTableWithTheSameConfiguration() {
        let one = table(["a", "b", "c"])
        let other = table(["c", "a", "b"])
        for key in 0..<200 as Range<UInt64> {
            let hash = AffinityHash.hash("k\(key)")
            #expect(place(hash, in: one)?.name == place(hash, in: other)?.name)
        }
    }

    @Test func aHostThatGoesDownMovesOnlyItsOwnKeysAndGetsThemBack() {
        let table = table(["a", "b", "c"])
        let keys = (0..<600 as Range<UInt64>).map { AffinityHash.hash("k\($0)") }
        let before = keys.map { place($0, in: table)!.name }
        let b = table.snapshot.endpoint(named: "b")!
        table.setStatus(.offline, of: b)
        for (key, host) in zip(keys, before) {
            let now = place(key, in: table)!
            if host == "b" {
                #expect(now.name != "b" && !now.firstRanked)
            } else {
                #expect(now.name == host && now.firstRanked)
            }
        }
        table.setStatus(.healthy, of: b)
        #expect(keys.map { place($0, in: table)!.name } == before)
    }

    @Test func aHostAboveTheLoadBoundIsSkipped() {
        let table = table(["a", "b"])
        let key = AffinityHash.hash("busy")
        let home = place(key, in: table)!.name
        // With 0, 1 and 2 of its requests in flight at home and none elsewhere, home is within the bound
        // (2 in flight: mean 1, bound ceil(1.25) = 2).
        for _ in 0..<3 { #expect(place(key, in: table, keep: true)?.name == home) }
        // Three at home: over the bound of ceil(1.25 x 1.5) = 2, so the next goes to the other host.
        let next = place(key, in: table)!
        #expect(next.name != home && !next.firstRanked)
    }

    @Test func affinityNeverLeavesTheTopTierOrTakesAFullHost() {
        let table = table(["a", "b", "low"], priorities: ["low": 10], maxConcurrency: 1)
        let keys = (0..<50 as Range<UInt64>).map { AffinityHash.hash("t\($0)") }
        for key in keys { #expect(place(key, in: table)?.name != "low") }
        // Fill both top hosts: the next request may only go to the lower tier, by ordinary selection.
        let held = keys.prefix(20).compactMap { key -> String? in place(key, in: table, keep: true)?.name }
        #expect(held.count == 3 && Set(held.prefix(2)) == ["a", "b"] && held.last == "low", "\(held)")
    }

    @Test func sessionsCountHitsMissesAndRepinsWithinTheirBound() {
        var settings = StickySessionSettings()
        settings.maxSessions = 10
        settings.idleTTL = .seconds(60)
        let sessions = StickySessions(settings)
        #expect(sessions.record(key: 1, firstRanked: true, now: 0) == .miss)
        #expect(sessions.record(key: 1, firstRanked: true, now: 30) == .hit)
        #expect(sessions.record(key: 1, firstRanked: true, now: 200) == .miss)
        #expect(sessions.record(key: 1, firstRanked: false, now: 201) == .repin)
        for key in 2..<100 as Range<UInt64> { _ = sessions.record(key: key, firstRanked: true, now: 300) }
        let statistics = sessions.statistics(now: 300)
        #expect(statistics.activeSessions <= 10)
        #expect(statistics.hits == 1 && statistics.misses == 100 && statistics.repins == 1)
        #expect(statistics.insertions == 99 && statistics.evictions > 0)
    }
}
