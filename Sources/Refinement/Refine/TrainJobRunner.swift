import Encoder
import Foundation
import Jobs
import Storage

// MARK: - Train: ranking lists → a new model version, never activated

/// Finds a job of the same queue: its record and folder (a train job reads
/// a succeeded synthesis job's `lists.jsonl`).
public typealias JobLookup = @Sendable (_ id: String) -> (record: JobRecord, folder: URL)?

/// Runs `train` jobs: the lists of a synthesis job (`job`) or a file under
/// the data directory (`file`), `TrainingFields`, `base`, `teacher`,
/// `dev`, `version`, `keep`, `checkpoint_every`. It trains with the same
/// `Trainer` as `ranksmith train` and a refine job and publishes the
/// version with its manifest; activating it is `POST /models/{v}/activate`.
///
/// Resumable: the job's folder keeps a copy of its lists and a checkpoint
/// (every `checkpoint_every` steps, or at evaluation steps at most once a
/// minute), so a run interrupted by a restart continues after the
/// checkpoint's step with the weights an uninterrupted run would have.
/// See `TrainStart` for a run that died after publishing.
public struct TrainJobRunner: JobRunner {
    public let kind = "train"
    public let resumable = true
    /// Resolves `file` and `dev` under the data directory, as synthesis jobs do.
    public let synthesis: SynthesisJobRunner
    /// The development set used when a job names none (`--dev-set`).
    public let defaultDev: String
    public let host: RefineHost
    public let jobs: JobLookup

    /// The job folder's copy of the lists (the input of every run of the job).
    public static let listsFile = "lists.jsonl"
    /// The job folder's training checkpoint.
    public static let checkpointFile = "checkpoint.safetensors"
    /// Least seconds between two checkpoints when `checkpoint_every` is not given
    /// (one checkpoint of MiniLM is about 360 MB: weights, Adam's moments, the best weights).
    static let checkpointSeconds = 60.0

    public init(synthesis: SynthesisJobRunner, defaultDev: String, host: RefineHost, jobs: @escaping JobLookup) {
        self.synthesis = synthesis
        self.defaultDev = defaultDev
        self.host = host
        self.jobs = jobs
    }

    func settings(_ p: [String: JSONValue]) throws -> TrainJobSettings {
        try TrainJobSettings.parse(p, defaultDev: defaultDev, resolve: resolve)
    }

    func resolve(_ field: String, _ path: String) throws -> String {
        do { return try synthesis.resolveFile(path) } catch JobError.invalid(_, let message) {
            throw JobError.invalid(field: field, message: message.replacingOccurrences(of: "file must", with: "\(field) must"))
        }
    }

    // MARK: Validation

    /// Checks everything before the job is queued, and stores `base` and
    /// `teacher` as the version names they mean now (`active` is resolved),
    /// so a resumed run trains from the same weights.
    public func validate(_ p: [String: JSONValue]) throws -> [String: JSONValue] {
        let s = try settings(p)
        let (_, lists) = try readLists(s.source)
        try checkMemory(lists, s.training, config: host.active().model.config)
        let base = try existingVersion("base", s.base)
        let teacher = try existingVersion("teacher", s.teacher ?? base)
        if let v = s.version { try TrainingFields.checkNewVersion(v, host: host) }
        var out = p
        out["base"] = .string(base)
        out["teacher"] = .string(teacher)
        return out
    }

    /// Throws a 422 when training on `lists` with `options` would need more than `--job-memory`.
    func checkMemory(_ lists: RankingLists, _ options: TrainingOptions, config: BertConfig) throws {
        try JobMemory.checkTraining(config: config, options: options, longest: lists.lists.map(\.count).max() ?? 1,
                                    lists: lists.lists.count, sentences: lists.lists.reduce(0) { $0 + $1.count },
                                    budget: synthesis.memoryBudget)
    }

    /// `name` (or the active version for `active`), if it is a version.
    func existingVersion(_ field: String, _ name: String) throws -> String {
        let version = name == "active" ? host.active().version : name
        do { _ = try host.path(version) } catch {
            throw JobError.invalid(field: field, message: "\(field) must be active or a model version (GET /models lists them): \(error)")
        }
        return version
    }

    /// The lists file's bytes and the lists, checked; errors name the field.
    func readLists(_ source: TrainJobSettings.Source) throws -> (bytes: Data, lists: RankingLists) {
        let path: String, name: String
        switch source {
        case let .job(id):
            guard let (record, folder) = jobs(id) else {
                throw JobError.invalid(field: "job", message: "no job \(id); list jobs with GET /jobs")
            }
            guard record.kind == "synthesize" else {
                throw JobError.invalid(field: "job", message: "job \(id) is a \(record.kind) job; give the id of a synthesize job")
            }
            guard record.state == .succeeded else {
                throw JobError.invalid(field: "job", message: "job \(id) is \(record.state.rawValue); train on a synthesize job once it has succeeded")
            }
            path = SynthesisJobRunner.trainingLists(in: folder).path
            name = "lists of job \(id)"
        case let .file(file):
            path = try resolve("file", file)
            name = file
        }
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw JobError.invalid(field: source.field, message: "cannot read \(name): no such file under the data directory")
        }
        do { return (bytes, try RankingLists(data: bytes, path: name)) } catch {
            throw JobError.invalid(field: source.field, message: "\(error)")
        }
    }

    // MARK: Running

    public func run(_ context: JobContext) throws -> JSONValue? {
        let checkpoint = context.directory.appendingPathComponent(Self.checkpointFile)
        do {
            return try train(context, checkpoint: checkpoint)
        } catch JobError.cancelled {
            throw JobError.cancelled  // a shutdown resumes from the checkpoint; a cancel deletes the folder
        } catch {
            try? FileManager.default.removeItem(at: checkpoint)  // failed for good: nothing will resume it
            throw error
        }
    }

    func train(_ context: JobContext, checkpoint: URL) throws -> JSONValue? {
        let p = context.parameters
        let s = try settings(p)
        let base = p["base"]?.stringValue ?? s.base
        let teacherName = s.teacher ?? base
        let version = s.version ?? TrainingFields.defaultVersion(prefix: "train", job: context.id)
        let destination = URL(fileURLWithPath: host.modelsDirectory).appendingPathComponent(version)
        let fm = FileManager.default
        let existing = try? JSONDecoder().decode(ModelManifest.self,
                                                 from: Data(contentsOf: destination.appendingPathComponent("manifest.json")))
        switch TrainStart.decide(job: context.id, versionExists: fm.fileExists(atPath: destination.path),
                                 versionJob: existing?.trainingJob, checkpointExists: fm.fileExists(atPath: checkpoint.path)) {
        case .alreadyPublished:
            context.note("version \(version) was published by an earlier run of this job, which stopped before recording it; not trained again")
            try? fm.removeItem(at: checkpoint)
            return Self.result(existing!, resumedFrom: nil, alreadyPublished: true)
        case .versionTaken:
            throw RefineError("version \(version) already exists and this job did not write it; versions are immutable: submit the job again with another version")
        case .fresh, .fromCheckpoint:
            break
        }

        // The lists: copied into the job's folder on the first run, so every
        // run (and the manifest's sha256) sees the same bytes.
        let copy = context.directory.appendingPathComponent(Self.listsFile)
        if !fm.fileExists(atPath: copy.path) {
            let (bytes, _) = try readLists(s.source)
            do { try AtomicFile.write([UInt8](bytes), to: copy.path) } catch { throw RefineError("cannot copy the lists into the job's folder: \(error)") }
        }
        guard let bytes = fm.contents(atPath: copy.path) else { throw RefineError("cannot read \(copy.path)") }
        let lists = try RankingLists(data: bytes, path: Self.listsFile)

        let active = host.active()
        func load(_ name: String, _ role: String) throws -> BertModel {
            if name == active.version { return active.model }
            do { return try BertModel(directory: URL(fileURLWithPath: host.path(name))) } catch {
                throw RefineError("cannot load the \(role) version \(name): \(error)")
            }
        }
        let student = try load(base, "base")
        let teacher = teacherName == base ? student : try load(teacherName, "teacher")
        // The teacher's check of the lists (deterministic, so a resumed run trains on the same lists).
        let (kept, filterReport) = TeacherFilter(settings: s.filter).filter(lists.lists, teacher: teacher)
        if s.filter.enabled { context.note(filterReport.summaryLine) }
        guard !kept.isEmpty else {
            throw RefineError("the teacher filter kept none of the \(lists.lists.count) lists (\(filterReport.summaryLine)); "
                + "loosen its thresholds or submit the job with teacher_filter: false")
        }
        let trainLists = try RankingLists(lists: kept, name: Self.listsFile)
        // Again before allocating: a job stored under other limits fails with the reason.
        try checkMemory(trainLists, s.training, config: student.config)
        let trainer = try Trainer(student: student, teacher: teacher, lists: trainLists, dev: s.dev, options: s.training)

        var resumedFrom: Int?
        if fm.fileExists(atPath: checkpoint.path) {
            do {
                try trainer.restore(from: checkpoint)
                resumedFrom = trainer.step
                context.note("resumed from the checkpoint at step \(trainer.step) of \(trainer.totalSteps)")
            } catch {
                try? fm.removeItem(at: checkpoint)
                context.note("the checkpoint could not be used (\(error)); training again from step 0")
            }
        } else if context.resumed {
            context.note("resumed with no checkpoint yet; training again from step 0")
        }

        var status = TrainStatus(version: version, steps: trainer.totalSteps, resumedFrom: resumedFrom)
        status.step = trainer.step
        context.publish(status.value)
        context.report(done: trainer.step, total: trainer.totalSteps)
        var lastCheckpoint = Date()
        var lastPublish = Date()
        let result = try TrainingFields.run(trainer, context: context) { step in
            status.step = step.step
            status.loss = step.loss
            status.devSpearman = step.devSpearman
            let due = s.checkpointEvery.map { step.step % $0 == 0 }
                ?? (step.step % s.training.evaluateEvery == 0 && Date().timeIntervalSince(lastCheckpoint) >= Self.checkpointSeconds)
            // Not after the last step (the version follows at once), nor into a folder being deleted.
            if due, step.step < step.steps, !context.isCancelled {
                do {
                    try trainer.saveCheckpoint(to: checkpoint)
                    status.checkpointStep = step.step
                    lastCheckpoint = Date()
                } catch {
                    context.note("checkpoint at step \(step.step) not saved: \(error)")
                }
            }
            if status.checkpointStep == step.step || step.step == step.steps || Date().timeIntervalSince(lastPublish) >= 1 {
                context.publish(status.value)
                lastPublish = Date()
            }
        }
        // A cancel that came during the last step or evaluation: publish nothing.
        if context.isCancelled { throw JobError.cancelled }

        let dataset: DatasetInfo
        switch s.source {
        case let .job(id): dataset = DatasetInfo(job: id, lists: kept.count, bytes: bytes)
        case let .file(file): dataset = DatasetInfo(file: file, lists: kept.count, bytes: bytes)
        }
        let manifest = ModelManifest(version: version, parent: base, teacher: teacherName, dataset: dataset, options: s.training,
                                     result: result, dev: s.devName, trainingJob: context.id)
        do { try ModelVersionWriter.write(weights: result.weights, base: student, manifest: manifest, to: destination) } catch {
            throw RefineError("writing version \(version) failed: \(error)")
        }
        try? fm.removeItem(at: checkpoint)
        context.note("version \(version) written; activate it with POST /models/\(version)/activate")
        var out = Self.result(manifest, resumedFrom: resumedFrom, alreadyPublished: false)
        if case var .object(o) = out {
            o["teacher_filter"] = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(filterReport))
            out = .object(o)
        }
        return out
    }

    /// The job's `result`: the version, its manifest's evaluation, and `activated: false`.
    static func result(_ m: ModelManifest, resumedFrom: Int?, alreadyPublished: Bool) -> JSONValue {
        func number(_ x: Double?) -> JSONValue { x.map { .number(($0 * 100).rounded() / 100) } ?? .null }
        var o: [String: JSONValue] = [
            "stage": .string("succeeded"),
            "version": .string(m.version), "base": .string(m.parent), "teacher": .string(m.teacher),
            "lists": .number(Double(m.dataset.lists)), "steps": .number(Double(m.steps)), "seconds": .number(m.seconds),
            "evaluation": .object(["dev": m.evaluation.dev.map(JSONValue.string) ?? .null, "before": number(m.evaluation.before),
                                   "after": number(m.evaluation.after), "best_step": .number(Double(m.evaluation.bestStep))]),
            "loss": m.curve.last.map { .number($0.loss) } ?? .null,
            "dev_spearman": number(m.curve.last { $0.devSpearman != nil }?.devSpearman),
            "activated": .bool(false),
        ]
        if let resumedFrom { o["resumed_from_step"] = .number(Double(resumedFrom)) }
        if alreadyPublished { o["published_by_earlier_run"] = .bool(true) }
        return .object(o)
    }
}

/// What a running train job shows as its `result`.
struct TrainStatus {
    var version: String
    var steps: Int
    var resumedFrom: Int?
    var step = 0
    var loss: Double?
    var devSpearman: Double?
    var checkpointStep: Int?

    var value: JSONValue {
        var o: [String: JSONValue] = [
            "stage": .string("train"), "version": .string(version), "step": .number(Double(step)),
            "steps": .number(Double(steps)), "activated": .bool(false),
        ]
        if let loss { o["loss"] = .number(loss) }
        if let devSpearman { o["dev_spearman"] = .number((devSpearman * 100).rounded() / 100) }
        if let resumedFrom { o["resumed_from_step"] = .number(Double(resumedFrom)) }
        if let checkpointStep { o["checkpoint_step"] = .number(Double(checkpointStep)) }
        return .object(o)
    }
}
