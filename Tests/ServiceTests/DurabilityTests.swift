import Foundation
import TestSupport
import XCTest

/// The real server as a child process, killed with SIGKILL while upserts
/// stream in: every acknowledged document must be there after a restart.
final class DurabilityTests: XCTestCase {
    static let root = ServiceTestCase.root

    /// The release binary beside the test bundle (built by `make test`).
    static var binary: String {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("ranksmith").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        return root.appendingPathComponent(".build/release/ranksmith").path
    }

    /// Starts `ranksmith serve` on a free port; answers the process and port.
    func launch(dataDir: String) throws -> (Process, Int) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["serve", "--port", "0", "--data-dir", dataDir, "--quiet",
                             "--model", ServiceTestCase.modelPath, "--generator", ServiceTestCase.generatorPath]
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // "ranksmith serve: listening on 127.0.0.1:PORT …"
        var seen = Data()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let chunk = stderr.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen.append(chunk)
            let text = String(decoding: seen, as: UTF8.self)
            if let range = text.range(of: #"listening on [0-9.]+:([0-9]+)"#, options: .regularExpression) {
                let port = Int(text[range].split(separator: ":").last!)!
                return (process, port)
            }
        }
        process.terminate()
        XCTFail("server did not start: \(String(decoding: seen, as: UTF8.self))")
        throw CancellationError()
    }

    func testAcknowledgedUpsertsSurviveSIGKILL() throws {
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("ranksmith-kill-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        var acknowledged = Set<String>()
        var deleted = Set<String>()
        var rng = SystemRandomNumberGenerator()
        let rounds = 6
        for round in 0..<rounds {
            let (process, port) = try launch(dataDir: dataDir)
            let client = TestClient(requestsTo: port)
            if round == 0 { XCTAssertEqual(try client.request("PUT", "/collections/docs").status, 201) }
            // Everything acknowledged so far is there, and nothing deleted came back.
            let info = try XCTUnwrap(try client.request("GET", "/collections/docs").json as? [String: Any])
            // Writes in flight at the kill may have landed without being
            // acknowledged, so the count may exceed the acknowledged set.
            XCTAssertGreaterThanOrEqual(info["count"] as? Int ?? -1, acknowledged.count, "round \(round)")
            for id in acknowledged {
                XCTAssertEqual(try client.request("GET", "/collections/docs/documents/\(id)").status, 200, "lost \(id) in round \(round)")
            }
            for id in deleted { XCTAssertEqual(try client.request("GET", "/collections/docs/documents/\(id)").status, 404, "\(id) resurfaced") }
            // Stream upserts from two writers; kill at a random moment.
            let lock = NSLock()
            let killAfter = Double.random(in: 0.3...1.5, using: &rng)
            let started = Date()
            DispatchQueue.concurrentPerform(iterations: 2) { writer in
                var n = 0
                while Date().timeIntervalSince(started) < 4 {
                    let ids = (0..<4).map { "r\(round)-w\(writer)-\(n)-\($0)" }
                    n += 1
                    let docs = ids.map { ["id": $0, "text": "document \($0) about things", "metadata": ["round": round]] as [String: Any] }
                    guard let r = try? client.post("/collections/docs/documents", json: ["documents": docs]) else { break }
                    if r.status == 200 { lock.lock(); acknowledged.formUnion(ids); lock.unlock() }
                    if writer == 0, Date().timeIntervalSince(started) > killAfter, process.isRunning {
                        kill(process.processIdentifier, SIGKILL)
                    }
                }
            }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            XCTAssertEqual(process.terminationReason, .uncaughtSignal)
            // Deletes must stick too: delete one acknowledged id per round on the next start.
            if round < rounds - 1, let victim = acknowledged.first {
                let (p2, port2) = try launch(dataDir: dataDir)
                XCTAssertEqual(try TestClient(requestsTo: port2).request("DELETE", "/collections/docs/documents/\(victim)").status, 200)
                acknowledged.remove(victim)
                deleted.insert(victim)
                kill(p2.processIdentifier, SIGKILL)
                p2.waitUntilExit()
            }
        }
        XCTAssertGreaterThan(acknowledged.count, 20, "the test should have written something")
    }
}
