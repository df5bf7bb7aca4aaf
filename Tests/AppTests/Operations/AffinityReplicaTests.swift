import Foundation
import LMStudioSim
import Testing

@testable import App

/// Replicas agree (DESIGN.md 6.8): three olla processes with one configuration, in front of the same hosts,
/// each turn of each conversation sent to a random one of them; every turn of a conversation reaches the same
/// host, though the replicas share nothing.
@Suite(.endToEnd) struct AffinityReplicaTests {
    @Test func threeReplicasSendEveryTurnOfAConversationToOneHost() async throws {
        let model = AffinityTests.model
        let hosts = ["studio-a", "studio-b", "studio-c", "studio-d"].map {
            simHost($0, models: [SimulatedModel(id: model)])
        }
        try await withSimulators(hosts) { hosts in
            try await withScratchDirectory { directory in
                let file = directory.appendingPathComponent("endpoints.yaml")
                try configurationFile(hosts: hosts).write(to: file, atomically: true, encoding: .utf8)
                var ports: [Int] = []
                var replicas: [OllaProcess] = []
                defer { for replica in replicas { replica.kill() } }
                for _ in 0..<3 {
                    let port = try await unusedPort()
                    replicas.append(
                        try OllaProcess.launch(["--config", file.path, "--port", "\(port)"], in: directory)
                    )
                    ports.append(port)
                }
                for (replica, port) in zip(replicas, ports) {
                    try await replica.waitUntilServing(port: port, hosts: hosts.count)
                }
                var generator = SystemRandomNumberGenerator()
                var homes: [Int: String] = [:]
                var replicasUsed: [Int: Set<Int>] = [:]
                for turn in 0..<5 {
                    for conversation in 0..<24 {
                        let replica = Int.random(in: 0..<3, using: &generator)
                        replicasUsed[conversation, default: []].insert(replica)
                        let answer = try await fetch(
                            .POST,
                            "http://127.0.0.1:\(ports[replica])/olla/lmstudio/v1/chat/completions",
                            headers: [("Content-Type", "application/json")],
                            body: AffinityTests.turn(conversation, turn)
                        )
                        #expect(answer.status == .ok)
                        let host = try #require(answer.headers.first(name: "x-sim-host"))
                        if let home = homes[conversation] {
                            #expect(host == home, "conversation \(conversation), turn \(turn) via replica \(replica)")
                        }
                        homes[conversation] = homes[conversation] ?? host
                    }
                }
                // The check means something: conversations did go through several replicas, and over several hosts.
                #expect(replicasUsed.values.filter { $0.count >= 2 }.count >= 20)
                #expect(Set(homes.values).count >= 3, "\(Set(homes.values))")
                for replica in replicas { await replica.stop() }
                replicas.removeAll()
            }
        }
    }
}
