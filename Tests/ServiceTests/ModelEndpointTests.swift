import Engine
import Foundation
import Service
import TestSupport
import XCTest

/// Model versions over real sockets: bad versions are refused or fail
/// without touching what serves, start-up cleans up after interrupted
/// swaps, and the admin key guards the endpoints. (The swap under load and
/// SIGKILL mid-swap are tests/e2e/test_swap.py.)
final class ModelEndpointTests: ServiceTestCase {
    var dataDirectory = ""

    override func setUpWithError() throws {
        dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("ranksmith-versions-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dataDirectory + "/models", withIntermediateDirectories: true)
        let dir = dataDirectory
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
    }

    func start(_ adjust: @escaping (inout ServiceConfiguration) -> Void = { _ in }) throws {
        let dir = dataDirectory
        try startService { c in
            c.dataDirectory = dir
            adjust(&c)
        }
    }

    /// A copy of the bundled model as version `name`; `poison` names a
    /// tensor whose values become NaN.
    func makeVersion(_ name: String, poison: String? = nil) throws {
        let target = dataDirectory + "/models/" + name
        try FileManager.default.copyItem(atPath: Self.modelPath, toPath: target)
        guard let poison else { return }
        // In place: safetensors is an 8-byte little-endian header length,
        // a JSON header with each tensor's data_offsets, then the data.
        let url = URL(fileURLWithPath: target + "/model.safetensors")
        var bytes = try Data(contentsOf: url)
        let length = bytes.prefix(8).withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        let header = try XCTUnwrap(try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + length))) as? [String: Any])
        let entry = try XCTUnwrap(header[poison] as? [String: Any])
        XCTAssertEqual(entry["dtype"] as? String, "F32")
        let offsets = try XCTUnwrap(entry["data_offsets"] as? [Int])
        let nans = [Float](repeating: .nan, count: (offsets[1] - offsets[0]) / 4)
        bytes.replaceSubrange((8 + length + offsets[0])..<(8 + length + offsets[1]), with: nans.withUnsafeBytes { Data($0) })
        try bytes.write(to: url)
    }

    func json(_ r: TestClient.Response) -> [String: Any] { (r.json as? [String: Any]) ?? [:] }

    func waitForActivation() throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            let s = json(try client.request("GET", "/models/activation"))
            if s["state"] as? String != "running" { return s }
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTFail("the activation did not finish")
        return [:]
    }

    func indexFolders() -> Set<String> {
        Set(((try? FileManager.default.contentsOfDirectory(atPath: dataDirectory)) ?? []).filter { $0.hasPrefix("index") })
    }

    // MARK: -

    func testVersionWithNaNWeightsFailsAndTheActiveOneKeepsServing() throws {
        try makeVersion("broken", poison: "encoder.layer.5.output.dense.weight")
        try start()
        XCTAssertEqual(try client.request("PUT", "/collections/docs").status, 201)
        let up = try client.post("/collections/docs/documents", json: ["documents": [["id": "a", "text": "Paris is in France."]]])
        XCTAssertEqual(up.status, 200, up.text)

        let started = try client.request("POST", "/models/broken/activate", body: Data())
        XCTAssertEqual(started.status, 202, started.text)
        let status = try waitForActivation()
        XCTAssertEqual(status["state"] as? String, "failed")
        XCTAssertTrue((status["error"] as? String ?? "").contains("not finite"), "\(status)")

        XCTAssertEqual(json(try client.request("GET", "/models"))["active"] as? String, "base")
        let search = try client.post("/search", json: ["collection": "docs", "query": "France", "top_k": 1])
        XCTAssertEqual(search.status, 200, search.text)
        XCTAssertEqual(search.headers["x-model-version"], "base")
        XCTAssertEqual(indexFolders(), ["index"], "no shadow left behind")
    }

    func testIncompleteVersionIsListedWithItsProblemAndRefused() throws {
        try FileManager.default.createDirectory(atPath: dataDirectory + "/models/half", withIntermediateDirectories: true)
        try Data(#"{"version": "half", "parent": "base"}"#.utf8).write(to: URL(fileURLWithPath: dataDirectory + "/models/half/manifest.json"))
        try start()
        let versions = try XCTUnwrap(json(try client.request("GET", "/models"))["versions"] as? [[String: Any]])
        let half = try XCTUnwrap(versions.first { $0["version"] as? String == "half" })
        XCTAssertEqual((half["manifest"] as? [String: Any])?["parent"] as? String, "base")
        XCTAssertTrue((half["problem"] as? String ?? "").contains("config.json"), "\(half)")
        let r = try client.request("POST", "/models/half/activate", body: Data())
        XCTAssertEqual(r.status, 422, r.text)
        XCTAssertEqual(r.errorCode, "model_version_unusable")
        XCTAssertEqual(try client.request("POST", "/models/.hidden/activate", body: Data()).status, 422)
    }

    func testStartRemovesShadowsAndUnfinishedVersionFolders() throws {
        for leftover in ["index-v9-1f2e", "models/.publishing-v9-77aa", "models/.deleting-v8-12"] {
            try FileManager.default.createDirectory(atPath: dataDirectory + "/" + leftover + "/docs", withIntermediateDirectories: true)
        }
        try start()
        XCTAssertEqual(indexFolders(), ["index"])
        let models = try FileManager.default.contentsOfDirectory(atPath: dataDirectory + "/models")
        XCTAssertEqual(models, [])
        XCTAssertTrue(service.engine.startupNotes.contains { $0.contains("index-v9-1f2e") }, "\(service.engine.startupNotes)")
    }

    func testUnreadableActiveRecordServesBaseAndDeletesNothing() throws {
        try Data("not json".utf8).write(to: URL(fileURLWithPath: dataDirectory + "/active.json"))
        try FileManager.default.createDirectory(atPath: dataDirectory + "/index-v2-aa", withIntermediateDirectories: true)
        try start()
        XCTAssertEqual(json(try client.request("GET", "/models"))["active"] as? String, "base")
        XCTAssertTrue(indexFolders().contains("index-v2-aa"), "an unreadable record must not cost data")
        XCTAssertTrue(service.engine.startupNotes.contains { $0.contains("active.json") }, "\(service.engine.startupNotes)")
    }

    func testDeleteVersion() throws {
        try makeVersion("old")
        try start()
        let r = try client.request("DELETE", "/models/old")
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dataDirectory + "/models/old"))
        XCTAssertEqual(try client.request("DELETE", "/models/old").status, 404)
        let base = try client.request("DELETE", "/models/base")
        XCTAssertEqual(base.status, 409)
        XCTAssertEqual(base.errorCode, "model_version_in_use")
    }

    /// The Engine API a refine job calls: it waits for a running
    /// activation instead of failing, then reports each stage.
    func testEngineActivateWaitsForTheRunningOneAndReportsProgress() async throws {
        try makeVersion("v2")
        try start()
        XCTAssertEqual(try client.request("PUT", "/collections/docs").status, 201)
        let docs = (0..<300).map { ["id": "d\($0)", "text": "short note number \($0)"] }
        XCTAssertEqual(try client.post("/collections/docs/documents", json: ["documents": docs]).status, 200)

        let started = try client.request("POST", "/models/v2/activate", body: Data())
        XCTAssertEqual(started.status, 202, started.text)
        final class Seen: @unchecked Sendable {
            let lock = NSLock()
            var stages: [String] = []
            var last: ActivationStatus?
        }
        let seen = Seen()
        let status = try await service.engine.activate(version: "base") { s in
            seen.lock.lock(); defer { seen.lock.unlock() }
            if seen.stages.last != s.stage.rawValue { seen.stages.append(s.stage.rawValue) }
            seen.last = s
        }
        XCTAssertEqual(status.state, .succeeded)
        XCTAssertEqual(status.from, "v2", "ran after the HTTP activation of v2 had committed")
        XCTAssertEqual(seen.stages, ["loading", "re-embedding", "committing", "done"])
        XCTAssertEqual(status.documentsDone, 300)
        XCTAssertEqual(status.documentsTotal, 300)
        XCTAssertEqual(service.models.active.version, "base")
        let info = json(try client.request("GET", "/collections/docs"))
        XCTAssertEqual(info["model_version"] as? String, "base")
        XCTAssertEqual(info["count"] as? Int, 300)
    }

    func testAdminKeyGuardsTheModelEndpoints() throws {
        try start { $0.adminKey = "secret" }
        XCTAssertEqual(try client.request("GET", "/models").status, 401)
        XCTAssertEqual(try client.request("POST", "/models/base/activate", body: Data()).status, 401)
        XCTAssertEqual(try client.request("GET", "/models", headers: ["Authorization": "Bearer secret"]).status, 200)
        // Data endpoints stay open without API keys.
        XCTAssertEqual(try client.post("/embed", json: ["inputs": "x"]).status, 200)
    }
}
