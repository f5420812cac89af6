import Foundation
import Jobs
import Storage
import XCTest

/// A runner that blocks until cancelled, entering its point of no return
/// first when `commit` is set, and publishing a staged report.
struct CommittingRunner: JobRunner {
    let kind = "commit"
    let resumable = true

    func validate(_ p: [String: JSONValue]) throws -> [String: JSONValue] { p }

    func run(_ context: JobContext) throws -> JSONValue? {
        context.publish(.object(["stage": .string("work"), "stages": .array([
            .object(["name": .string("work"), "state": .string("running")])])]))
        if context.parameters["commit"]?.boolValue == true {
            try context.beginCommit("committing the test")
            // Past the point of no return: runs to its end whatever a cancel says.
            usleep(300_000)
            return .object(["committed": .bool(true)])
        }
        while !context.isCancelled { usleep(5_000) }
        throw JobError.cancelled
    }

    func settle(_ result: JSONValue?, reason: String) -> JSONValue? {
        .object(["stage": .string("work"), "settled": .string(reason)])
    }
}

final class JobLimitsTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("jobs-limits-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func makeQueue(_ limits: JobLimits = JobLimits(), start: Bool = true,
                   redact: @escaping @Sendable (String) -> String = { $0 }) throws -> JobQueue {
        let q = try JobQueue(directory: dir, workers: 1, retention: 100, niceness: 0, limits: limits, redact: redact, log: { _ in })
        q.register(CommittingRunner())
        if start { q.start() }
        return q
    }

    func wait(_ q: JobQueue, _ id: String, for states: Set<JobState>, timeout: Double = 10) throws -> JobRecord {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let r = q.get(id), states.contains(r.state) { return r }
            usleep(5_000)
        }
        XCTFail("job \(id) not in \(states) after \(timeout) s")
        throw JobError.notFound(id)
    }

    func testQueueLengthAndParameterSizeAreBounded() throws {
        let q = try makeQueue(JobLimits(maxQueued: 3, maxParameterBytes: 200, maxInterruptions: 2))
        var ids: [String] = []
        for _ in 0..<3 { ids.append(try q.submit(kind: "commit", parameters: [:]).id) }
        XCTAssertThrowsError(try q.submit(kind: "commit", parameters: [:])) { XCTAssertEqual($0 as? JobError, .queueFull(limit: 3)) }
        try q.cancel(ids[2])
        let big: [String: JSONValue] = ["text": .string(String(repeating: "x", count: 300))]
        XCTAssertThrowsError(try q.submit(kind: "commit", parameters: big)) {
            guard case .tooLarge(let bytes, 200)? = $0 as? JobError else { return XCTFail("\($0)") }
            XCTAssertGreaterThan(bytes, 300)
        }
        XCTAssertNoThrow(try q.submit(kind: "commit", parameters: [:]), "a finished job frees its place")
        q.stop()
    }

    func testAJobFoundRunningIsResumedABoundedNumberOfTimesThenFailed() throws {
        // A record left `running` by a process that died, again and again.
        var q = try makeQueue(JobLimits(maxQueued: 10, maxParameterBytes: 1 << 20, maxInterruptions: 2), start: false)
        q.start()
        let job = try q.submit(kind: "commit", parameters: [:])
        _ = try wait(q, job.id, for: [.running])
        q.stop(timeout: 2)
        for n in 1...3 {
            // What a crash leaves: the record says running.
            let file = dir.appendingPathComponent("\(job.id)/job.json")
            var r = try JobRecord.decoder.decode(JobRecord.self, from: Data(contentsOf: file))
            r.state = .running
            try JobRecord.encoder.encode(r).write(to: file)
            q = try makeQueue(JobLimits(maxQueued: 10, maxParameterBytes: 1 << 20, maxInterruptions: 2))
            let seen = q.get(job.id)!
            XCTAssertEqual(seen.interruptions, n)
            if n <= 2 {
                XCTAssertNotEqual(seen.state, .failed, "resumed after interruption \(n)")
                _ = try wait(q, job.id, for: [.running])
                q.stop(timeout: 2)
            } else {
                XCTAssertEqual(seen.state, .failed)
                XCTAssertTrue(seen.error?.contains("interrupted 3 times") == true, seen.error ?? "")
                XCTAssertEqual(seen.result?["settled"], .string("interrupted by a restart"))
                q.stop()
            }
        }
    }

    func testACancelPastThePointOfNoReturnIsRefusedAndOneBeforeItStopsTheCommit() throws {
        let q = try makeQueue()
        let committing = try q.submit(kind: "commit", parameters: ["commit": .bool(true)])
        let deadline = Date().addingTimeInterval(5)
        var refused: JobError?
        while Date() < deadline, refused == nil {
            do { try q.cancel(committing.id); break } catch let e as JobError { refused = e }
        }
        // Either the cancel won before the commit began (then the job never
        // commits) or it was refused and the job commits; never both.
        let done = try wait(q, committing.id, for: [.succeeded, .cancelled])
        if case .committing(_, let what)? = refused {
            XCTAssertEqual(what, "committing the test")
            XCTAssertEqual(done.state, .succeeded)
            XCTAssertEqual(done.result?["committed"], .bool(true))
        } else {
            XCTAssertEqual(done.state, .cancelled)
            XCTAssertNil(done.result?["committed"])
        }
        // A cancel of a job still working wins and settles its stages.
        let working = try q.submit(kind: "commit", parameters: [:])
        _ = try wait(q, working.id, for: [.running])
        try q.cancel(working.id)
        let cancelled = try wait(q, working.id, for: [.cancelled])
        usleep(100_000)
        XCTAssertEqual(q.get(working.id)?.state, .cancelled)
        _ = cancelled
        q.stop()
    }

    func testPagesListEveryJobOnceNewestFirst() throws {
        let q = try makeQueue(JobLimits(maxQueued: 50, maxParameterBytes: 1 << 20, maxInterruptions: 2), start: false)
        var ids: [String] = []
        for _ in 0..<23 { ids.append(try q.submit(kind: "commit", parameters: [:]).id) }
        var seen: [String] = [], cursor: JobCursor?
        repeat {
            let page = q.page(limit: 5, after: cursor)
            XCTAssertLessThanOrEqual(page.records.count, 5)
            seen += page.records.map(\.id)
            cursor = page.next
            if let c = cursor { XCTAssertEqual(JobCursor(c.description), c) }
        } while cursor != nil
        XCTAssertEqual(seen, q.list().map(\.id))
        XCTAssertEqual(Set(seen), Set(ids))
        XCTAssertNil(JobCursor("not-a-cursor"))
    }

    func testRedactorNamesFilesRelativeToTheirRoots() {
        let r = PathRedactor(roots: ["/srv/data", "/opt/models"])
        XCTAssertEqual(r("cannot read /srv/data/lists/a.jsonl: gone"), "cannot read lists/a.jsonl: gone")
        XCTAssertEqual(r("cannot load /opt/models/gen.gguf"), "cannot load gen.gguf")
        XCTAssertEqual(r("dev set /home/u/secret/dev.jsonl missing"), "dev set dev.jsonl missing")
        XCTAssertEqual(r("remote http://10.0.0.1:8000/v1 refused"), "remote http://10.0.0.1:8000/v1 refused")
        XCTAssertEqual(r("ratio 3/4 and /"), "ratio 3/4 and /")
        let app = PathRedactor(roots: ["/app"])
        XCTAssertEqual(app("see /srv/app/x.txt and /app/y.txt"), "see x.txt and y.txt")
        XCTAssertEqual(app("/application/z.txt"), "z.txt")
    }
}
