import Balancer
import Benchmark

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Choosing a host for a request, as olla's data path does it: 20 healthy hosts and 200 models, each model on
/// 3 to 5 of them (issue 7, "Selection"). Run with `swift package benchmark --target SelectionBenchmark` in `bench/`.
///
/// Every benchmark runs 1,000 choices per measured iteration (`scalingFactor: .kilo`), so the clock's own cost
/// does not hide the choice's; the tool reports the figures per choice.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 10,
        scalingFactor: .kilo,
        maxDuration: .seconds(Int(SelectionFixture.secondsPerBenchmark)),
        maxIterations: 1_000_000
    )

    // The same loop with nothing in it: what the harness itself counts per iteration (its own few mallocs), which the
    // report subtracts from the other two.
    Benchmark("harness") { benchmark in
        let ids = SelectionFixture.shared.modelIDs
        var turn = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            turn = turn == ids.count - 1 ? 0 : turn + 1
            blackHole(turn)
        }
        benchmark.stopMeasurement()
    }

    Benchmark("resolve+acquire+release") { benchmark in
        let fixture = SelectionFixture.shared
        let table = fixture.table
        let ids = fixture.modelIDs
        let none = EndpointSet()
        var turn = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            turn = turn == ids.count - 1 ? 0 : turn + 1
            guard case .found(let candidates) = table.snapshot.models.resolve(ids[turn]) else {
                fatalError("model \(ids[turn]) is not in the index")
            }
            guard case .granted(let placement) = table.acquire(candidates, excluding: none, strategy: .priority) else {
                fatalError("no host granted for \(ids[turn])")
            }
            blackHole(placement.modelID)
            table.release(placement.endpoint, outcome: nil)
        }
        benchmark.stopMeasurement()
    }

    Benchmark("choose") { benchmark in
        let fixture = SelectionFixture.shared
        let sets = fixture.candidateSets
        let none = EndpointSet()
        var turn = 0
        benchmark.startMeasurement()
        for rotation in benchmark.scaledIterations {
            turn = turn == sets.count - 1 ? 0 : turn + 1
            let choice = EndpointSelector.choose(
                from: sets[turn],
                strategy: .priority,
                excluding: none,
                rotation: rotation
            )
            guard case .chosen(let placement) = choice else { fatalError("no host chosen") }
            blackHole(placement.endpoint.ordinal)
        }
        benchmark.stopMeasurement()
    }
}

/// The routing table both benchmarks use, built once outside the measurement.
struct SelectionFixture: Sendable {
    /// How long each benchmark runs; `OLLA_BENCH_SELECTION_SECONDS` shortens it for `bench/run --smoke`.
    static let secondsPerBenchmark: Double = {
        guard let text = getenv("OLLA_BENCH_SELECTION_SECONDS").map({ String(cString: $0) }),
            let seconds = Double(text), seconds > 0
        else { return 3 }
        return max(1, seconds)
    }()

    static let hostCount = 20
    static let modelCount = 200
    static let shared = SelectionFixture()

    let table: RoutingTable
    /// The exact ids of the 200 models, in a fixed shuffled order, so that consecutive lookups do not hit
    /// neighbouring entries.
    let modelIDs: [String]
    /// The candidates of each model, resolved once, for the selector alone.
    let candidateSets: [CandidateSet]

    init() {
        // Two priority tiers, as a team with a few big machines and many small ones would configure them; inside a
        // tier the model state and the in-flight counts decide, which is the longest path through the selector.
        let endpoints = (0..<Self.hostCount).map { index in
            EndpointConfiguration(
                name: "studio-\(index)",
                url: EndpointURL(scheme: .http, host: "10.0.0.\(index + 1)", port: 1234, basePath: ""),
                priority: index < 5 ? 200 : 100
            )
        }
        let table = RoutingTable(configuration: OllaConfiguration(endpoints: endpoints))
        let runtimes = table.snapshot.endpoints

        // Model m is on 3 to 5 hosts starting at host m * 7 mod 20, loaded on every other host it is on.
        let ids = (0..<Self.modelCount).map { "publisher-\($0 % 13)/bench-model-\($0)-7b-instruct-GGUF" }
        var listings = [[HostedModel]](repeating: [], count: Self.hostCount)
        for (model, id) in ids.enumerated() {
            let copies = 3 + model % 3
            for copy in 0..<copies {
                let host = (model * 7 + copy * 3) % Self.hostCount
                listings[host].append(HostedModel(id: id, state: (model + copy) % 2 == 0 ? .loaded : .notLoaded))
            }
        }
        for (runtime, models) in zip(runtimes, listings) {
            table.setStatus(.healthy, of: runtime)
            table.publishModels(models, for: runtime)
        }

        var order = Array(ids.indices)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for index in order.indices.reversed() where index > 0 {
            // A fixed xorshift sequence, so every run measures the same order.
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            order.swapAt(index, Int(state % UInt64(index + 1)))
        }
        self.table = table
        self.modelIDs = order.map { ids[$0] }
        self.candidateSets = modelIDs.map { id in
            guard case .found(let candidates) = table.snapshot.models.resolve(id) else {
                fatalError("model \(id) is not in the index")
            }
            return candidates
        }
    }
}
