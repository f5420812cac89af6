#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Storage
import Synchronization

// MARK: - Workers, records on disk

extension JobQueue {
    /// One worker: waits for a queued job, runs it, records the outcome.
    func workerLoop() {
        #if os(Linux)
        // Linux nice values are per thread: serving threads keep priority 0.
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
        #endif
        while true {
            wake.wait()
            if state.withLock({ $0.stopping }) { return }
            while let (record, runner, context) = takeNext() {
                execute(record, runner, context)
                if state.withLock({ $0.stopping }) { return }
            }
        }
    }

    /// The oldest queued job, marked running.
    private func takeNext() -> (JobRecord, any JobRunner, JobContext)? {
        let taken = state.withLock { s -> (JobRecord, any JobRunner, JobContext)? in
            guard !s.stopping else { return nil }
            let queued = s.records.values.filter { $0.state == .queued }.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
            guard var r = queued.first, let runner = s.runners[r.kind] else { return nil }
            let resumed = r.attempts > 0
            r.state = .running
            r.attempts += 1
            r.startedAt = Date()
            r.updatedAt = Date()
            r.error = nil
            s.records[r.id] = r
            s.runStart[r.id] = (Date(), r.progress.done)
            let id = r.id
            let context = JobContext(
                id: id, parameters: r.parameters, directory: folder(of: id), resumed: resumed,
                onProgress: { [self] done, total in self.progress(id, done: done, total: total) },
                onNote: { [self] text in self.addNote(id, text) },
                onPublish: { [self] value in self.publish(id, value) },
                onCommit: { [self] what in self.beginCommit(id, what) })
            s.running[id] = context
            return (r, runner, context)
        }
        if let (r, _, _) = taken { persist(r.id) }
        return taken
    }

    /// Records the outcome of a run. The final record reaches the disk
    /// before it becomes visible, so a reader that sees a job finished can
    /// rely on it staying finished after a crash. A cancel that lands while
    /// the file is being written is caught by comparing the record with the
    /// one the outcome was derived from; the outcome is then derived again.
    private func execute(_ record: JobRecord, _ runner: any JobRunner, _ context: JobContext) {
        let id = record.id
        let outcome: Result<JSONValue?, Error>
        do { outcome = .success(try runner.run(context)) } catch { outcome = .failure(error) }
        let (finished, deleted) = writing.withLock { _ -> (JobRecord?, Bool) in
            while true {
                let (base, staged) = state.withLock { s -> (JobRecord?, JobRecord?) in
                    guard let r = s.records[id] else { return (nil, nil) }
                    return (r, finalRecord(r, outcome, runner, context))
                }
                if let staged { writeLogged(staged) }
                let published = state.withLock { s -> (JobRecord?, Bool)? in
                    guard s.records[id] == base else { return nil }  // changed meanwhile: derive again
                    s.running[id] = nil
                    s.committing[id] = nil
                    s.runStart[id] = nil
                    s.lastWrite[id] = nil
                    if s.deleting.remove(id) != nil { return (nil, true) }
                    if let staged { s.records[id] = staged }
                    return (staged, false)
                }
                if let published { return published }
            }
        }
        if deleted { try? FileManager.default.removeItem(at: folder(of: id)) }
        if let finished, finished.state == .failed { log("job \(finished.id) (\(finished.kind)) failed: \(finished.error ?? "")") }
        enforceRetention()
    }

    /// `r` as the run's outcome leaves it: cancelled, back to queued (or
    /// failed) after a shutdown, succeeded or failed.
    private func finalRecord(_ record: JobRecord, _ outcome: Result<JSONValue?, Error>, _ runner: any JobRunner,
                             _ context: JobContext) -> JobRecord {
        var r = record
        let now = Date()
        r.updatedAt = now
        if context.cancelFlag.load(ordering: .relaxed) {
            r.state = .cancelled
            r.finishedAt = r.finishedAt ?? now
            r.result = runner.settle(r.result, reason: "cancelled")
        } else if context.interruptFlag.load(ordering: .relaxed) {
            r.state = runner.resumable ? .queued : .failed
            if runner.resumable {
                r.notes.append("interrupted by a shutdown at \(JobRecord.isoFormat(now)); resumes at the next start")
            } else {
                r.error = "interrupted by a shutdown; \(r.kind) jobs cannot resume"
                r.finishedAt = now
                r.result = runner.settle(r.result, reason: "interrupted by a shutdown")
            }
        } else {
            switch outcome {
            case let .success(value):
                r.state = .succeeded
                r.result = value.map(redacted)
            case let .failure(error):
                r.state = error as? JobError == .cancelled ? .cancelled : .failed
                r.error = Self.bounded(redact("\(error)"))
                r.result = runner.settle(r.result, reason: r.error ?? "failed")
            }
            r.finishedAt = now
        }
        r.progress.etaSeconds = r.state == .succeeded ? 0 : nil
        return r
    }

    /// Records progress; the file is rewritten at most once a second.
    func progress(_ id: String, done: Int, total: Int) {
        let due = state.withLock { s -> Bool in
            guard var r = s.records[id] else { return false }
            let now = Date()
            r.progress.done = done
            r.progress.total = total
            if let start = s.runStart[id] {
                let minutes = now.timeIntervalSince(start.date) / 60
                let rate = minutes > 0 ? Double(done - start.done) / minutes : 0
                if rate > 0 {
                    r.progress.ratePerMinute = (rate * 100).rounded() / 100
                    r.progress.etaSeconds = (Double(total - done) / rate * 60).rounded()
                }
            }
            r.updatedAt = now
            s.records[id] = r
            if let last = s.lastWrite[id], now.timeIntervalSince(last) < 1, done < total { return false }
            s.lastWrite[id] = now
            return true
        }
        if due { persist(id) }
    }

    /// Replaces a running job's `result` (see `JobContext.publish`).
    func publish(_ id: String, _ value: JSONValue) {
        let value = redacted(value)
        let kind = state.withLock { s -> String? in
            guard var r = s.records[id], r.state == .running else { return nil }
            r.result = value
            r.updatedAt = Date()
            s.records[id] = r
            return r.kind
        }
        guard let kind else { return }
        persist(id)
        TestHooks.killIfAsked(kind: kind, stage: value["stage"]?.stringValue)
    }

    /// Marks running job `id` as past its point of no return, unless it
    /// was cancelled (then false). Under the lock `cancel` takes, so the
    /// two cannot both win.
    func beginCommit(_ id: String, _ what: String) -> Bool {
        state.withLock { s in
            guard let r = s.records[id], r.state == .running, let c = s.running[id], !c.isCancelled else { return false }
            s.committing[id] = what
            return true
        }
    }

    /// `value` with every string passed through `redact`.
    func redacted(_ value: JSONValue) -> JSONValue {
        switch value {
        case let .string(text): return .string(redact(text))
        case let .array(items): return .array(items.map(redacted))
        case let .object(fields): return .object(fields.mapValues(redacted))
        default: return value
        }
    }

    /// An error message cut to a length a listing can carry.
    static func bounded(_ text: String, limit: Int = 2000) -> String {
        text.count <= limit ? text : String(text.prefix(limit)) + "… (cut at \(limit) characters)"
    }

    func addNote(_ id: String, _ text: String) {
        let text = Self.bounded(redact(text))
        let changed = state.withLock { s -> Bool in
            guard var r = s.records[id], !r.notes.contains(text) else { return false }
            r.notes.append(text)
            s.records[id] = r
            return true
        }
        if changed { persist(id) }
    }

    /// Removes the oldest finished jobs beyond `retention`.
    func enforceRetention() {
        let doomed = state.withLock { s -> [String] in
            let finished = s.records.values.filter { $0.state.isFinished }
                .sorted { ($0.finishedAt ?? $0.updatedAt, $0.id) < ($1.finishedAt ?? $1.updatedAt, $1.id) }
            guard finished.count > retention else { return [] }
            let ids = finished.prefix(finished.count - retention).map(\.id)
            for id in ids { s.records[id] = nil }
            return ids
        }
        for id in doomed {
            try? FileManager.default.removeItem(at: folder(of: id))
            log("job \(id) removed (more than \(retention) finished jobs are kept)")
        }
    }

    // MARK: Files

    /// Replaces the record's file atomically (temp file, fsync, rename, fsync of the folder).
    func write(_ record: JobRecord) throws {
        let data = try JobRecord.encoder.encode(record)
        do {
            try AtomicFile.write([UInt8](data), to: folder(of: record.id).appendingPathComponent("job.json").path)
        } catch {
            throw JobError.storage("\(error)")
        }
    }

    /// Writes job `id`'s record as it is in memory now. Writes are
    /// serialised and each reads the record when its turn comes, so however
    /// concurrent changes (progress, a cancel, the finish) interleave, the
    /// file ends with the latest record, never an older one written last.
    func persist(_ id: String) {
        writing.withLock { _ in
            guard let r = state.withLock({ $0.records[id] }) else { return }  // deleted
            writeLogged(r)
        }
    }

    /// Writes a record (callers hold `writing`); a failure (full disk) is
    /// logged, and the in-memory record stays authoritative until the next
    /// write succeeds.
    func writeLogged(_ record: JobRecord) {
        guard FileManager.default.fileExists(atPath: folder(of: record.id).path) else { return }  // deleted
        do { try write(record) } catch { log("job \(record.id): \(error)") }
    }

    /// Reads every `<id>/job.json`; unreadable ones are moved to `.set-aside/`.
    func loadRecords() -> [JobRecord] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory.path) else { return [] }
        let folders = names.sorted().filter { name in
            var isDir: ObjCBool = false
            return !name.hasPrefix(".") && fm.fileExists(atPath: folder(of: name).path, isDirectory: &isDir) && isDir.boolValue
        }
        // Decoded on every core: a full store is mostly parameters to parse.
        let outcomes = Mutex([Result<JobRecord, SetAside>?](repeating: nil, count: folders.count))
        DispatchQueue.concurrentPerform(iterations: folders.count) { i in
            let outcome = readRecord(folders[i])
            outcomes.withLock { $0[i] = outcome }
        }
        var out: [JobRecord] = []
        for (name, outcome) in zip(folders, outcomes.withLock { $0 }) {
            switch outcome {
            case let .success(r)?: out.append(r)
            case let .failure(aside)?: setAside(name, because: aside.reason)
            case nil: break
            }
        }
        return out
    }

    /// Why a folder's record cannot be used.
    struct SetAside: Error { let reason: String }

    /// The record in folder `name`, or why it cannot be used.
    func readRecord(_ name: String) -> Result<JobRecord, SetAside> {
        let dir = folder(of: name)
        AtomicFile.removeLeftovers(in: dir.path)  // a record write cut short by a crash
        guard let data = FileManager.default.contents(atPath: dir.appendingPathComponent("job.json").path) else {
            return .failure(SetAside(reason: "it has no job.json"))
        }
        do {
            let r = try JobRecord.decoder.decode(JobRecord.self, from: data)
            return r.id == name ? .success(r) : .failure(SetAside(reason: "its id \(r.id) does not match its folder"))
        } catch {
            return .failure(SetAside(reason: "it is not a job record (\(Self.decodingReason(error)))"))
        }
    }

    /// Moves folder `name` to `.set-aside/` and logs why.
    func setAside(_ name: String, because reason: String) {
        let fm = FileManager.default
        let dir = folder(of: name)
        let aside = directory.appendingPathComponent(".set-aside", isDirectory: true)
        try? fm.createDirectory(at: aside, withIntermediateDirectories: true)
        let target = aside.appendingPathComponent("\(name)-\(Int(Date().timeIntervalSince1970))")
        do {
            try fm.moveItem(at: dir, to: target)
            log("jobs: set aside \(name) because \(reason); moved to jobs/.set-aside/\(target.lastPathComponent)")
        } catch {
            log("jobs: ignoring \(name) because \(reason); could not move it aside: \(error.localizedDescription)")
        }
        state.withLock { $0.setAside.append(name) }
    }

    static func decodingReason(_ error: Error) -> String {
        switch error as? DecodingError {
        case let .keyNotFound(key, _)?: return "missing \(key.stringValue)"
        case let .typeMismatch(_, c)?, let .valueNotFound(_, c)?, let .dataCorrupted(c)?:
            let path = c.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? c.debugDescription : "bad \(path)"
        default: return "\(error)"
        }
    }
}
