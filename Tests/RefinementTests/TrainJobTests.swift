import Encoder
import Foundation
import Jobs
import Refinement
import Storage
import XCTest

/// A train job's request is checked before it is queued, every error
/// naming its field; the start decision never trains over an existing
/// version; cancellation reaches inside a step and an evaluation.
final class TrainJobTests: XCTestCase {
    var dataDirectory: URL!
    var runner: TrainJobRunner!

    /// A job record as the queue stores it.
    static func record(_ id: String, kind: String, state: JobState) throws -> JobRecord {
        let json = #"{"id": "\#(id)", "kind": "\#(kind)", "state": "\#(state.rawValue)", "parameters": {},"#
            + #" "progress": {"done": 0, "total": 0}, "created_at": "2026-12-03T10:00:00Z", "updated_at": "2026-12-03T10:00:00Z","#
            + #" "notes": [], "attempts": 1}"#
        return try JobRecord.decoder.decode(JobRecord.self, from: Data(json.utf8))
    }

    override func setUpWithError() throws {
        let dir = try RefinementPaths.temporaryDirectory(self)
        dataDirectory = dir
        let fm = FileManager.default
        let lists = try String(contentsOf: RefinementPaths.fixtures.appendingPathComponent("tiny_lists.jsonl"), encoding: .utf8)
        try lists.write(to: dir.appendingPathComponent("lists.jsonl"), atomically: true, encoding: .utf8)
        try #"{"list": ["A man plays.", "A man sings."]}"#.write(to: dir.appendingPathComponent("short.jsonl"), atomically: true, encoding: .utf8)
        try "A man plays.\nA dog runs.\n".write(to: dir.appendingPathComponent("plain.txt"), atomically: true, encoding: .utf8)
        let synthesized = dir.appendingPathComponent("jobs/job-synth")
        try fm.createDirectory(at: synthesized, withIntermediateDirectories: true)
        try lists.write(to: synthesized.appendingPathComponent("lists.jsonl"), atomically: true, encoding: .utf8)
        let records = [
            "job-synth": try Self.record("job-synth", kind: "synthesize", state: .succeeded),
            "job-running": try Self.record("job-running", kind: "synthesize", state: .running),
            "job-train": try Self.record("job-train", kind: "train", state: .succeeded),
        ]
        let versions: Set<String> = ["base", "v1"]
        let host = RefineHost(
            active: { ("base", TrainerTests.model) },
            path: { version in
                guard versions.contains(version) else { throw RefineError("no model version \(version)") }
                return RefinementPaths.model.path
            },
            modelsDirectory: dir.appendingPathComponent("models").path,
            versionExists: { version in
                // As the server's: a name that cannot be a folder is an error, not "absent".
                guard !version.contains("/") else { throw RefineError("must be 1–128 characters of A-Za-z0-9._-") }
                return versions.contains(version)
            },
            activate: { _, _ in XCTFail("a train job never activates") })
        let jobs = dir.appendingPathComponent("jobs")
        runner = TrainJobRunner(
            synthesis: SynthesisJobRunner(dataDirectory: dir.path, defaultGenerator: "/no/generator.gguf"),
            defaultDev: RefinementPaths.root.appendingPathComponent("data/stsb/stsb_dev.jsonl").path,
            host: host) { id in records[id].map { ($0, jobs.appendingPathComponent(id)) } }
    }

    func field(_ p: [String: JSONValue]) -> String? {
        do { _ = try runner.validate(p); return nil } catch let JobError.invalid(field, _) { return field } catch { return "\(error)" }
    }

    func testEveryBadFieldIsNamed() {
        let file: [String: JSONValue] = ["file": "lists.jsonl"]
        let cases: [([String: JSONValue], String)] = [
            ([:], "job"),
            (["job": "job-synth", "file": "lists.jsonl"], "file"),
            (["job": "job-none"], "job"),
            (["job": "job-running"], "job"),
            (["job": "job-train"], "job"),
            (["job": 3], "job"),
            (["file": "missing.jsonl"], "file"),
            (["file": "../outside.jsonl"], "file"),
            (["file": "plain.txt"], "file"),
            (["file": "short.jsonl"], "file"),
            (file.merging(["learning_rate": 0]) { $1 }, "learning_rate"),
            (file.merging(["learning_rate": -1]) { $1 }, "learning_rate"),
            (file.merging(["learning_rate": "fast"]) { $1 }, "learning_rate"),
            (file.merging(["steps": 0]) { $1 }, "steps"),
            (file.merging(["tau": 0]) { $1 }, "tau"),
            (file.merging(["base": "v9"]) { $1 }, "base"),
            (file.merging(["teacher": "v9"]) { $1 }, "teacher"),
            (file.merging(["version": "v1"]) { $1 }, "version"),
            (file.merging(["version": "../x"]) { $1 }, "version"),
            (file.merging(["dev": "missing.jsonl"]) { $1 }, "dev"),
            (file.merging(["keep": "worst"]) { $1 }, "keep"),
            (file.merging(["checkpoint_every": 0]) { $1 }, "checkpoint_every"),
        ]
        for (p, expected) in cases { XCTAssertEqual(field(p), expected, "\(p)") }
        XCTAssertNil(field(["job": "job-synth"]))
        XCTAssertNil(field(file.merging(["keep": "last", "checkpoint_every": 5, "version": "v2"]) { $1 }))
    }

    func testBaseAndTeacherAreStoredAsTheVersionsTheyMean() throws {
        let defaults = try runner.validate(["file": "lists.jsonl"])
        XCTAssertEqual(defaults["base"], "base")
        XCTAssertEqual(defaults["teacher"], "base", "the teacher defaults to the base")
        let named = try runner.validate(["file": "lists.jsonl", "base": "v1"])
        XCTAssertEqual(named["base"], "v1")
        XCTAssertEqual(named["teacher"], "v1")
        let active = try runner.validate(["file": "lists.jsonl", "base": "v1", "teacher": "active"])
        XCTAssertEqual(active["teacher"], "base", "active is resolved when the job is queued")
    }

    func testStartDecisionNeverTrainsOverAnExistingVersion() {
        XCTAssertEqual(TrainStart.decide(job: "j", versionExists: false, versionJob: nil, checkpointExists: false), .fresh)
        XCTAssertEqual(TrainStart.decide(job: "j", versionExists: false, versionJob: nil, checkpointExists: true), .fromCheckpoint)
        XCTAssertEqual(TrainStart.decide(job: "j", versionExists: true, versionJob: "j", checkpointExists: true), .alreadyPublished)
        XCTAssertEqual(TrainStart.decide(job: "j", versionExists: true, versionJob: "j", checkpointExists: false), .alreadyPublished)
        XCTAssertEqual(TrainStart.decide(job: "j", versionExists: true, versionJob: "other", checkpointExists: true), .versionTaken)
        XCTAssertEqual(TrainStart.decide(job: "j", versionExists: true, versionJob: nil, checkpointExists: false), .versionTaken)
    }

    // MARK: Cancellation inside a step

    func tinyTrainer(dev: STSPairs?) throws -> Trainer {
        var o = TrainingOptions()
        o.steps = 3
        o.maxLength = 16
        o.evaluateEvery = 1
        let lists = try RankingLists(path: RefinementPaths.fixtures.appendingPathComponent("tiny_lists.jsonl").path)
        return try Trainer(student: TrainerTests.model, teacher: TrainerTests.model, lists: lists, dev: dev, options: o)
    }

    func testCancellationAfterTheForwardPassChangesNothing() throws {
        let trainer = try tinyTrainer(dev: nil)
        let before = trainer.parameters.array
        var calls = 0
        // Call 1 is the check before step 1, call 2 the one after its forward pass.
        XCTAssertThrowsError(try trainer.run(isCancelled: { calls += 1; return calls >= 2 })) { error in
            XCTAssertEqual(error as? TrainingError, .cancelled(step: 0))
        }
        XCTAssertEqual(calls, 2)
        XCTAssertEqual(trainer.step, 0)
        XCTAssertTrue(trainer.parameters.array == before, "no weight changed")
    }

    func testCancellationInsideAnEvaluationStopsItAndRefusesACheckpoint() throws {
        let lines = try String(contentsOf: RefinementPaths.root.appendingPathComponent("data/stsb/stsb_dev.jsonl"), encoding: .utf8)
            .split(separator: "\n").prefix(100)
        let devFile = try RefinementPaths.temporaryDirectory(self).appendingPathComponent("dev.jsonl")
        try lines.joined(separator: "\n").write(to: devFile, atomically: true, encoding: .utf8)
        let trainer = try tinyTrainer(dev: try STSPairs(path: devFile.path))
        // True from the evaluation after step 1 on: the evaluation asks before
        // its first batch and stops, then the run asks again and throws.
        var asked = 0
        XCTAssertThrowsError(try trainer.run(isCancelled: {
            if trainer.step == 1 { asked += 1 }
            return trainer.step == 1
        })) { error in
            XCTAssertEqual(error as? TrainingError, .cancelled(step: 1))
        }
        XCTAssertEqual(asked, 2, "the evaluation saw the cancellation before its first batch")
        let url = try RefinementPaths.temporaryDirectory(self).appendingPathComponent("checkpoint.safetensors")
        XCTAssertThrowsError(try trainer.saveCheckpoint(to: url)) { XCTAssertTrue("\($0)".contains("last checkpoint stands"), "\($0)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: url.path))
    }
}
