import Foundation
import Jobs
import Storage
import Synchronization
import XCTest

/// A runner that counts to `parameters.n`, one unit per 20 ms, keeping its
/// count in `count.txt` in the job folder so a resumed run continues.
/// Runs counted across threads.
final class RunCounter: Sendable {
    let value = Atomic<Int>(0)
}

struct CountingRunner: JobRunner {
    let kind = "count"
    let resumable: Bool
    let runs = RunCounter()

    func validate(_ p: [String: JSONValue]) throws -> [String: JSONValue] {
        guard let n = p["n"]?.numberValue, n >= 1 else { throw JobError.invalid(field: "n", message: "n must be at least 1") }
        return p
    }

    func run(_ context: JobContext) throws -> JSONValue? {
        runs.value.add(1, ordering: .relaxed)
        let n = Int(context.parameters["n"]!.numberValue!)
        let file = context.directory.appendingPathComponent("count.txt")
        var i = (try? String(contentsOf: file, encoding: .utf8)).flatMap { Int($0) } ?? 0
        if context.parameters["fail"]?.boolValue == true { throw JobError.storage("disk full (test)") }
        while i < n {
            if context.isCancelled { return nil }
            usleep(20_000)
            i += 1
            try String(i).write(to: file, atomically: true, encoding: .utf8)
            context.report(done: i, total: n)
        }
        return .object(["counted": .number(Double(i))])
    }
}

final class JobQueueTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("jobs-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func makeQueue(resumable: Bool = true, retention: Int = 100) throws -> (JobQueue, CountingRunner) {
        let q = try JobQueue(directory: dir, workers: 1, retention: retention, niceness: 0, log: { _ in })
        let r = CountingRunner(resumable: resumable)
        q.register(r)
        q.start()
        return (q, r)
    }

    func wait(_ q: JobQueue, _ id: String, for states: Set<JobState>, timeout: Double = 20) throws -> JobRecord {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let r = q.get(id), states.contains(r.state) { return r }
            usleep(10_000)
        }
        XCTFail("job \(id) not in \(states) after \(timeout) s: \(String(describing: q.get(id)))")
        throw JobError.notFound(id)
    }

    func testJobRunsToSuccessAndItsRecordIsOnDisk() throws {
        let (q, _) = try makeQueue()
        let job = try q.submit(kind: "count", parameters: ["n": .number(5)])
        XCTAssertEqual(job.state, .queued)
        let done = try wait(q, job.id, for: [.succeeded, .failed])
        XCTAssertEqual(done.state, .succeeded)
        XCTAssertEqual(done.progress.done, 5)
        XCTAssertEqual(done.result?["counted"], .number(5))
        // The final record reaches the disk before it becomes visible.
        let file = dir.appendingPathComponent("\(job.id)/job.json")
        let onDisk = try JobRecord.decoder.decode(JobRecord.self, from: Data(contentsOf: file))
        XCTAssertEqual(onDisk.state, .succeeded)
        XCTAssertEqual(onDisk.result?["counted"], .number(5))
        XCTAssertEqual(q.counts()[.succeeded], 1)
        q.stop()
    }

    func testValidationNamesTheField() throws {
        let (q, _) = try makeQueue()
        XCTAssertThrowsError(try q.submit(kind: "count", parameters: ["n": .number(0)])) {
            XCTAssertEqual($0 as? JobError, .invalid(field: "n", message: "n must be at least 1"))
        }
        XCTAssertThrowsError(try q.submit(kind: "nope", parameters: [:]))
        q.stop()
    }

    func testCancelStopsARunningJob() throws {
        let (q, _) = try makeQueue()
        let job = try q.submit(kind: "count", parameters: ["n": .number(10_000)])
        _ = try wait(q, job.id, for: [.running])
        let t0 = Date()
        try q.cancel(job.id)
        let r = try wait(q, job.id, for: [.cancelled], timeout: 2)
        XCTAssertLessThan(Date().timeIntervalSince(t0), 2)
        XCTAssertNotNil(r.finishedAt)
        try q.delete(job.id)
        XCTAssertNil(q.get(job.id))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent(job.id).path))
        q.stop()
    }

    func testCancelRacingTheFinishAgreesWithTheRecordInMemoryAndOnDisk() throws {
        let (q, _) = try makeQueue()
        for i in 0..<20 {
            let job = try q.submit(kind: "count", parameters: ["n": .number(1)])
            _ = try wait(q, job.id, for: [.running, .succeeded])
            usleep(UInt32(i % 5) * 5_000)  // around the runner's 20 ms
            let answered = try q.cancel(job.id)
            let final = try wait(q, job.id, for: [.cancelled, .succeeded])
            if answered.state == .cancelled { XCTAssertEqual(final.state, .cancelled, "a cancel that answered cancelled stays cancelled") }
            // `cancel` returns after its write, and the finish writes before it shows.
            let file = dir.appendingPathComponent("\(job.id)/job.json")
            let onDisk = try JobRecord.decoder.decode(JobRecord.self, from: Data(contentsOf: file))
            XCTAssertEqual(onDisk.state, final.state)
        }
        q.stop()
    }

    func testInterruptedJobResumesFromItsCheckpointAfterRestart() throws {
        var (q, _) = try makeQueue()
        let job = try q.submit(kind: "count", parameters: ["n": .number(60)])
        while (q.get(job.id)?.progress.done ?? 0) < 10 { usleep(5_000) }
        q.stop()  // as a shutdown: the record goes back to queued
        XCTAssertEqual(q.get(job.id)?.state, .queued)
        let r: CountingRunner
        (q, r) = try makeQueue()
        let done = try wait(q, job.id, for: [.succeeded, .failed])
        XCTAssertEqual(done.state, .succeeded)
        XCTAssertEqual(done.attempts, 2)
        XCTAssertEqual(r.runs.value.load(ordering: .relaxed), 1)
        XCTAssertEqual(done.result?["counted"], .number(60))
        q.stop()
    }

    func testRunningRecordAfterACrashResumesOrFailsWithTheReason() throws {
        // A record left `running` by a killed process.
        let id = "job-crashed"
        let folder = dir.appendingPathComponent(id)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let record = #"{"id":"job-crashed","kind":"count","state":"running","parameters":{"n":3},"progress":{"done":1,"total":3},"#
            + #""created_at":"2026-12-03T08:00:00.000Z","updated_at":"2026-12-03T08:00:01.000Z","notes":[],"attempts":1}"#
        try Data(record.utf8).write(to: folder.appendingPathComponent("job.json"))
        let (q, _) = try makeQueue(resumable: false)
        let failed = try wait(q, id, for: [.failed, .succeeded])
        XCTAssertEqual(failed.state, .failed)
        XCTAssertEqual(failed.error, "interrupted by a restart; count jobs cannot resume")
        q.stop()
    }

    func testGarbageRecordIsSetAsideAndOthersLoad() throws {
        let bad = dir.appendingPathComponent("job-garbage")
        try FileManager.default.createDirectory(at: bad, withIntermediateDirectories: true)
        try Data("{\"id\": 12, \"state\": \"sideways\"".utf8).write(to: bad.appendingPathComponent("job.json"))
        let (q, _) = try makeQueue()
        XCTAssertEqual(q.setAside, ["job-garbage"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: bad.path))
        let aside = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent(".set-aside").path)
        XCTAssertEqual(aside.count, 1)
        let job = try q.submit(kind: "count", parameters: ["n": .number(1)])
        XCTAssertEqual(try wait(q, job.id, for: [.succeeded]).state, .succeeded)
        q.stop()
    }

    func testFailureKeepsTheReasonAndRetentionDropsTheOldest() throws {
        let (q, _) = try makeQueue(retention: 2)
        let failing = try q.submit(kind: "count", parameters: ["n": .number(1), "fail": .bool(true)])
        let f = try wait(q, failing.id, for: [.failed, .succeeded])
        XCTAssertEqual(f.error, "cannot write the job record: disk full (test)")
        let a = try q.submit(kind: "count", parameters: ["n": .number(1)])
        _ = try wait(q, a.id, for: [.succeeded])
        let b = try q.submit(kind: "count", parameters: ["n": .number(1)])
        _ = try wait(q, b.id, for: [.succeeded])
        usleep(100_000)
        XCTAssertNil(q.get(failing.id), "the oldest finished job is removed beyond the retention")
        XCTAssertEqual(Set(q.list().map(\.id)), [a.id, b.id])
        q.stop()
    }
}
