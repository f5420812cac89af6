#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Storage
import Synchronization

// MARK: - The persistent queue

/// Background jobs persisted under one folder, one `<id>/job.json` record
/// each, written atomically on every state change (and at most once a
/// second for progress). `workers` threads run queued jobs oldest first at
/// a lower CPU priority than serving (`niceness`). After a restart, a job
/// that was running resumes (its runner continues from its folder) or, if
/// its kind cannot resume, is failed with the reason; a record that cannot
/// be read is moved to `.set-aside/` and logged. Finished jobs are kept
/// until deleted, at most `retention` of them (oldest removed first).
///
/// `limits` bound what one client can make it hold (`JobLimits`): a job
/// found running at a start more than `maxInterruptions` times is failed
/// rather than resumed again, so a job that takes the process down cannot
/// do it forever.
public final class JobQueue: Sendable {
    /// The folder holding one folder per job.
    public let directory: URL
    /// Worker threads.
    public let workers: Int
    /// Finished jobs kept.
    public let retention: Int
    /// Nice value of worker threads (Linux: per thread; 0 = same as serving).
    public let niceness: Int32
    /// Queue length, stored size and restart bounds.
    public let limits: JobLimits
    /// Rewrites text the queue stores or logs (errors, notes, results) so
    /// that it names no absolute host path (see `PathRedactor`).
    let redact: @Sendable (String) -> String
    let log: @Sendable (String) -> Void
    let state = Mutex(State())
    /// Held while a record file is written (see `persist`); taken before
    /// `state`, never inside it.
    let writing = Mutex(())
    let wake = DispatchSemaphore(value: 0)

    struct State {
        var records: [String: JobRecord] = [:]
        var runners: [String: any JobRunner] = [:]
        var running: [String: JobContext] = [:]
        var lastWrite: [String: Date] = [:]
        var runStart: [String: (date: Date, done: Int)] = [:]
        var started = false
        var stopping = false
        var setAside: [String] = []
        /// Deleted while their worker was inside a step: folder removed when it returns.
        var deleting: Set<String> = []
        /// Submits between their admission and their record's arrival (see `submit`).
        var reserved = 0
        /// Running jobs past their point of no return, with what they do (see `JobContext.beginCommit`).
        var committing: [String: String] = [:]
    }

    /// Opens `directory` (creating it). Call `register` for every kind, then `start`.
    public init(directory: URL, workers: Int = 1, retention: Int = 100, niceness: Int32 = 10, limits: JobLimits = JobLimits(),
                redact: @escaping @Sendable (String) -> String = { $0 },
                log: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) throws {
        self.directory = directory
        self.workers = max(1, workers)
        self.retention = max(1, retention)
        self.niceness = niceness
        self.limits = limits
        self.redact = redact
        self.log = { log(redact($0)) }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw JobError.storage(redact("cannot create \(directory.path): \(error.localizedDescription)"))
        }
    }

    /// Makes `runner` execute jobs of its kind.
    public func register(_ runner: any JobRunner) {
        state.withLock { $0.runners[runner.kind] = runner }
    }

    /// Folder of job `id`.
    public func folder(of id: String) -> URL { directory.appendingPathComponent(id, isDirectory: true) }

    /// Ids of records set aside at start because they could not be read.
    public var setAside: [String] { state.withLock { $0.setAside } }

    // MARK: Start and stop

    /// Loads the records, recovers interrupted jobs and starts the workers.
    public func start() {
        let clock = ContinuousClock(), begun = clock.now
        let recovered = loadRecords()
        let seconds = (clock.now - begun).components
        log("jobs: \(recovered.count) records read in \(String(format: "%.2f", Double(seconds.seconds) + Double(seconds.attoseconds) / 1e18)) s")
        let toWrite: [String] = state.withLock { s in
            guard !s.started else { return [] }
            s.started = true
            var changed: [String] = []
            for var r in recovered {
                if !r.state.isFinished {
                    let wasRunning = r.state == .running
                    // Found running: the process died while it ran.
                    if wasRunning { r.interruptions = (r.interruptions ?? 0) + 1 }
                    let interruptions = r.interruptions ?? 0
                    let runner = s.runners[r.kind]
                    if let runner, !runner.resumable && wasRunning {
                        r.error = "interrupted by a restart; \(r.kind) jobs cannot resume"
                    } else if runner == nil {
                        r.error = "interrupted by a restart, and this server has no runner for job kind \(r.kind)"
                    } else if wasRunning && interruptions > limits.maxInterruptions {
                        r.error = "interrupted \(interruptions) times: the server stopped while this job ran, every time it was resumed; "
                            + "not resumed again (submit it again, with smaller settings if it needs much memory)"
                    }
                    if r.error == nil {
                        if wasRunning {
                            r.notes.append("interrupted by a restart (interruption \(interruptions); it is resumed at most \(limits.maxInterruptions) times); resumed from its checkpoint at \(JobRecord.isoFormat(Date()))")
                        }
                        r.state = .queued
                    } else {
                        r.state = .failed
                        r.finishedAt = Date()
                        r.progress.etaSeconds = nil
                        r.result = runner?.settle(r.result, reason: "interrupted by a restart") ?? r.result
                    }
                    // A job that was merely queued is unchanged: not rewritten
                    // (a full store would otherwise cost a rewrite of every record).
                    if wasRunning || r.state == .failed {
                        r.updatedAt = Date()
                        changed.append(r.id)
                    }
                }
                s.records[r.id] = r
            }
            return changed
        }
        for id in toWrite { persist(id) }
        for _ in 0..<workers {
            let t = Thread { [self] in self.workerLoop() }
            t.name = "ranksmith-job-worker"
            t.qualityOfService = .utility
            t.start()
        }
        let queued = state.withLock { $0.records.values.filter { $0.state == .queued }.count }
        for _ in 0..<queued { wake.signal() }
    }

    /// Stops taking jobs and interrupts running ones (they stay resumable:
    /// their records go back to `queued`); waits up to `timeout` seconds for
    /// them to let go.
    public func stop(timeout: Double = 10) {
        let contexts = state.withLock { s -> [JobContext] in
            s.stopping = true
            return Array(s.running.values)
        }
        for c in contexts { c.interruptFlag.store(true, ordering: .relaxed) }
        for _ in 0..<workers { wake.signal() }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline && state.withLock({ !$0.running.isEmpty }) { usleep(20_000) }
    }

    // MARK: API

    /// Validates `parameters` with the kind's runner and queues a job.
    public func submit(kind: String, parameters: [String: JSONValue]) throws -> JobRecord {
        guard let runner = state.withLock({ $0.runners[kind] }) else { throw JobError.unknownKind(kind) }
        try checkRoom()
        let checked = try runner.validate(parameters)
        let size = try JobRecord.encoder.encode(checked).count
        guard size <= limits.maxParameterBytes else { throw JobError.tooLarge(bytes: size, limit: limits.maxParameterBytes) }
        let now = Date()
        let record = JobRecord(id: Self.newID(), kind: kind, state: .queued, parameters: checked, createdAt: now, updatedAt: now)
        // Checked again under the lock below: two submits may race for the last place.
        let admitted = state.withLock { s -> Bool in
            let open = s.records.values.count { !$0.state.isFinished } + s.reserved
            guard open < limits.maxQueued else { return false }
            s.reserved += 1
            return true
        }
        guard admitted else { throw JobError.queueFull(limit: limits.maxQueued) }
        defer { state.withLock { $0.reserved -= 1 } }
        do {
            try FileManager.default.createDirectory(at: folder(of: record.id), withIntermediateDirectories: true)
            try write(record)
        } catch {
            try? FileManager.default.removeItem(at: folder(of: record.id))
            throw JobError.storage("\(error)")
        }
        state.withLock { $0.records[record.id] = record }
        wake.signal()
        return record
    }

    /// Throws `queueFull` when no more jobs can be queued now (checked
    /// before a request's parameters are validated, which may read files).
    public func checkRoom() throws {
        let open = state.withLock { s in s.records.values.count { !$0.state.isFinished } + s.reserved }
        if open >= limits.maxQueued { throw JobError.queueFull(limit: limits.maxQueued) }
    }

    /// Every job, newest first, in the order `page` walks them (creation
    /// time in whole milliseconds, then id: two jobs created within one
    /// millisecond are ordered by id in both).
    public func list() -> [JobRecord] {
        state.withLock { Array($0.records.values) }.sorted { JobCursor($0) > JobCursor($1) }
    }

    /// At most `limit` jobs, newest first, starting after `cursor` (from a
    /// previous page's `next`); `next` is nil on the last page. A cursor
    /// stays valid when its job is deleted (it holds the job's creation
    /// time and id, the sort key).
    public func page(limit: Int, after cursor: JobCursor?) -> (records: [JobRecord], next: JobCursor?) {
        let all = state.withLock { Array($0.records.values) }
            .map { (key: JobCursor($0), record: $0) }
            .filter { item in cursor.map { item.key < $0 } ?? true }
            .sorted { $0.key > $1.key }
            .map(\.record)
        let records = Array(all.prefix(max(1, limit)))
        let next = all.count > records.count ? records.last.map(JobCursor.init) : nil
        return (records, next)
    }

    /// One job.
    public func get(_ id: String) -> JobRecord? { state.withLock { $0.records[id] } }

    /// Jobs per state (every state present, zero included).
    public func counts() -> [JobState: Int] {
        var out = Dictionary(uniqueKeysWithValues: JobState.allCases.map { ($0, 0) })
        for r in state.withLock({ Array($0.records.values) }) { out[r.state, default: 0] += 1 }
        return out
    }

    /// Cancels a queued or running job. Its record turns `cancelled` at once;
    /// a running job writes nothing more (runners check before each write)
    /// and its worker is free again after the model step in progress. A
    /// finished job is returned unchanged. A job past its point of no
    /// return (`JobContext.beginCommit`) is refused with `committing`.
    @discardableResult
    public func cancel(_ id: String) throws -> JobRecord {
        let (record, changed) = try state.withLock { s -> (JobRecord, Bool) in
            guard var r = s.records[id] else { throw JobError.notFound(id) }
            guard !r.state.isFinished else { return (r, false) }
            if let what = s.committing[id] { throw JobError.committing(id: id, what: what) }
            r.state = .cancelled
            r.finishedAt = Date()
            r.updatedAt = Date()
            r.progress.etaSeconds = nil
            s.records[id] = r
            // Raised under the lock, so a worker finishing this job sees
            // the flag whenever it sees the cancelled record.
            s.running[id]?.cancelFlag.store(true, ordering: .relaxed)
            return (r, true)
        }
        if changed { persist(id) }
        return record
    }

    /// Cancels the job and removes its record and folder. When its worker is
    /// still inside a model step after `grace` seconds, the record is gone
    /// at once and the folder is removed when the worker lets go.
    public func delete(_ id: String, grace: Double = 1) throws {
        try cancel(id)
        let deadline = Date().addingTimeInterval(grace)
        while state.withLock({ $0.running[id] != nil }) && Date() < deadline { usleep(10_000) }
        let stillRunning = state.withLock { s -> Bool in
            s.records[id] = nil
            if s.running[id] != nil { s.deleting.insert(id); return true }
            return false
        }
        if !stillRunning { try? FileManager.default.removeItem(at: folder(of: id)) }
    }

    static func newID() -> String {
        let stamp = String(UInt64(Date().timeIntervalSince1970 * 1000), radix: 36)
        let random = String(UInt64.random(in: 0..<(1 << 40)), radix: 36)
        return "job-\(stamp)-\(random)"
    }
}
