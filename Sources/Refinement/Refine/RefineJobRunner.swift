import Encoder
import Foundation
import Jobs
import Storage

// MARK: - Refine: synthesise → train → evaluate → gate → activate

/// What a refine job needs from the server it runs in (or from the CLI):
/// the model being refined and a way to activate a version. Kept as
/// closures so Refinement does not depend on the Engine.
public struct RefineHost: Sendable {
    /// The version serving now and its model (the student, and the "before" of the table).
    public var active: @Sendable () -> (version: String, model: BertModel)
    /// The folder of a version (for `teacher`), or throws why there is none.
    public var path: @Sendable (_ version: String) throws -> String
    /// `<data-dir>/models`, where new versions are published.
    public var modelsDirectory: String
    /// Whether a version of this name exists; throws why a name is unusable.
    public var versionExists: @Sendable (_ version: String) throws -> Bool
    /// Activates a version and returns once it serves, reporting (done,
    /// total) documents re-embedded; throws why not (the old one keeps serving).
    public var activate: @Sendable (_ version: String, _ progress: @escaping @Sendable (Int, Int) -> Void) throws -> Void

    public init(active: @escaping @Sendable () -> (version: String, model: BertModel),
                path: @escaping @Sendable (String) throws -> String, modelsDirectory: String,
                versionExists: @escaping @Sendable (String) throws -> Bool,
                activate: @escaping @Sendable (String, @escaping @Sendable (Int, Int) -> Void) throws -> Void) {
        self.active = active
        self.path = path
        self.modelsDirectory = modelsDirectory
        self.versionExists = versionExists
        self.activate = activate
    }
}

/// A refine job stopped: the message says why and what still serves.
public struct RefineError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

/// Runs `refine` jobs: the synthesis job's input and settings, then
/// `RefineSettings`. Stages run in order in the job's folder; the job's
/// `result` is the `RefineReport`, published after every change. Not
/// resumable: a restart fails it (the active version is untouched until
/// the activation commits, which the Engine makes atomic).
public struct RefineJobRunner: JobRunner {
    public let kind = "refine"
    public let resumable = false
    /// Reads the input and runs the synthesis stage.
    public let synthesis: SynthesisJobRunner
    /// The development set used when a job names none (`--dev-set`).
    public let defaultDev: String
    public let host: RefineHost

    public init(synthesis: SynthesisJobRunner, defaultDev: String, host: RefineHost) {
        self.synthesis = synthesis
        self.defaultDev = defaultDev
        self.host = host
    }

    func settings(_ p: [String: JSONValue]) throws -> RefineSettings {
        try RefineSettings.parse(p, defaultDev: defaultDev) { field, path in
            do { return try synthesis.resolveFile(path) } catch JobError.invalid(_, let message) {
                throw JobError.invalid(field: field, message: message.replacingOccurrences(of: "file must", with: "\(field) must"))
            }
        }
    }

    public func validate(_ p: [String: JSONValue]) throws -> [String: JSONValue] {
        var out = try synthesis.validate(p)
        let s = try settings(p)
        if let m = out["min_list_length"]?.numberValue, Int(m) < RankingLists.minimumLength {
            throw JobError.invalid(field: "min_list_length", message: "min_list_length must be ≥ \(RankingLists.minimumLength) for refine: the trainer needs the anchor and two rewrites")
        }
        if s.teacher != "active" { _ = try teacherPath(s.teacher) }
        if let v = s.version { try TrainingFields.checkNewVersion(v, host: host) }
        // Training holds every list of rounds + 1 sentences; its steps take lists_per_step of them.
        let rounds = Int(out["rounds"]?.numberValue ?? Double(SynthesisSettings().rounds))
        var anchors = out["sentences"]?.arrayValue?.count ?? 0
        if let file = out["file"]?.stringValue { anchors = (try? AnchorSource.read(path: synthesis.resolveFile(file)).count) ?? 0 }
        try JobMemory.checkTraining(config: host.active().model.config, options: s.training, longest: rounds + 1,
                                    lists: anchors, sentences: anchors * (rounds + 1), budget: synthesis.memoryBudget)
        for key in RefineSettings.fields where p[key] != nil { out[key] = p[key] }
        return out
    }

    /// A refine job's report with the stage that was running marked as
    /// stopped: `cancelled` for a cancel, else `failed`, with the reason.
    public func settle(_ result: JSONValue?, reason: String) -> JSONValue? {
        guard case var .object(o)? = result, let stages = o["stages"]?.arrayValue else { return result }
        o["stages"] = .array(stages.map { stage in
            guard case var .object(fields) = stage, fields["state"]?.stringValue == "running" else { return stage }
            fields["state"] = .string(reason == "cancelled" ? "cancelled" : "failed")
            fields["detail"] = .string(reason)
            return .object(fields)
        })
        if o["stage"]?.stringValue != nil, let last = o["stages"]?.arrayValue?.last(where: { $0["state"]?.stringValue != "pending" }) {
            o["stage"] = last["name"] ?? o["stage"]
        }
        return .object(o)
    }

    func teacherPath(_ teacher: String) throws -> String {
        do { return try host.path(teacher) } catch {
            throw JobError.invalid(field: "teacher", message: "teacher must be active, base or a model version: \(error)")
        }
    }

    public func run(_ context: JobContext) throws -> JSONValue? {
        let s = try settings(context.parameters)
        let (parent, student) = host.active()
        var report = RefineReport()
        report.parent = parent
        report.gateEnabled = s.gate
        let publish = { (r: RefineReport) in context.publish(r.value) }
        func fail(_ stage: String, _ message: String) -> RefineError {
            report[stage].state = "failed"
            report[stage].detail = message
            publish(report)
            return RefineError("\(stage): \(message); nothing was activated, \(parent) keeps serving")
        }

        // 1. Synthesise ranking lists into the job folder (the synthesis job's code, same files).
        report["synthesize"].state = "running"
        publish(report)
        let synthesized: JSONValue?
        do { synthesized = try synthesis.run(context, publishing: false) } catch JobError.cancelled { throw JobError.cancelled } catch {
            throw fail("synthesize", "\(error)")
        }
        // The lists the teacher filter kept when it ran (teacher_filter, on by default).
        let listsPath = SynthesisJobRunner.trainingLists(in: context.directory).path
        let bytes = FileManager.default.contents(atPath: listsPath) ?? Data()
        let lists: RankingLists
        do { lists = try RankingLists(data: bytes, path: listsPath) } catch { throw fail("synthesize", "the synthesised lists cannot be trained on: \(error)") }
        let anchors = Int(synthesized?["anchors"]?.numberValue ?? 0)
        report.lists = lists.lists.count
        report["synthesize"].done = anchors
        report["synthesize"].total = anchors
        guard lists.lists.count >= s.minLists else {
            throw fail("synthesize", "kept \(lists.lists.count) ranking lists from \(anchors) sentences, fewer than min_lists (\(s.minLists)); "
                + "give more or longer sentences, or lower min_list_length (or loosen the teacher filter)")
        }
        report["synthesize"].state = "succeeded"
        report["synthesize"].detail = "kept \(lists.lists.count) lists from \(anchors) sentences"
        if let f = synthesized?["teacher_filter"], let dropped = f["lists_dropped"]?.numberValue, let cut = f["lists_cut"]?.numberValue {
            report["synthesize"].detail = (report["synthesize"].detail ?? "") + " after the teacher filter (\(Int(cut)) cut, \(Int(dropped)) dropped)"
        }

        // 2. Train the active version on them and publish the candidate.
        report["train"].state = "running"
        publish(report)
        let dev = s.dev
        let teacher: BertModel
        do { teacher = s.teacher == "active" ? student : try BertModel(directory: URL(fileURLWithPath: teacherPath(s.teacher))) } catch {
            throw fail("train", "cannot load the teacher \(s.teacher): \(error)")
        }
        let result: TrainingResult
        do {
            try JobMemory.checkTraining(config: student.config, options: s.training, longest: lists.lists.map(\.count).max() ?? 1,
                                        lists: lists.lists.count, sentences: lists.lists.reduce(0) { $0 + $1.count },
                                        budget: synthesis.memoryBudget)
            let trainer = try Trainer(student: student, teacher: teacher, lists: lists, dev: dev, options: s.training)
            report["train"].total = trainer.totalSteps
            result = try TrainingFields.run(trainer, context: context) { step in
                report["train"].done = step.step
                if step.step == step.steps || step.devSpearman != nil { publish(report) }
            }
        } catch JobError.cancelled { throw JobError.cancelled } catch { throw fail("train", "\(error)") }
        // A cancel during the last step: publish nothing.
        if context.isCancelled { throw JobError.cancelled }
        let version = s.version ?? TrainingFields.defaultVersion(prefix: "refine", job: context.id)
        report.version = version
        let destination = URL(fileURLWithPath: host.modelsDirectory).appendingPathComponent(version)
        let manifest = ModelManifest(
            version: version, parent: parent, teacher: s.teacher == "active" ? parent : s.teacher,
            dataset: DatasetInfo(job: context.id, lists: lists.lists.count, bytes: bytes),
            options: s.training, result: result, dev: s.devName)
        do { try ModelVersionWriter.write(weights: result.weights, base: student, manifest: manifest, to: destination) } catch {
            throw fail("train", "writing version \(version) failed: \(error)")
        }
        report["train"].state = "succeeded"
        report["train"].detail = "\(result.steps) steps in \(String(format: "%.1f", result.seconds)) s; version \(version) written"

        // 3. Evaluate the published candidate against the active version.
        report["evaluate"].state = "running"
        report["evaluate"].total = 1 + s.checks.count
        publish(report)
        let candidate: BertModel
        do { candidate = try BertModel(directory: destination) } catch { throw fail("evaluate", "cannot load version \(version): \(error)") }
        let probe = candidate.embedAll(Array(dev.first.prefix(16)), batchSize: 16).vectors.data
        guard probe.allSatisfy(\.isFinite) else {
            throw fail("evaluate", "version \(version) produces non-finite vectors (NaN or infinity); it is kept for inspection but cannot serve")
        }
        // Evaluations stop between batches once the job is cancelled.
        let stop = { context.isCancelled }
        func row(_ name: String, _ kind: String, _ metric: String, bound: Double, _ score: (BertModel) throws -> Double) throws {
            let before = try score(student)
            if context.isCancelled { throw JobError.cancelled }
            let after = try score(candidate)
            if context.isCancelled { throw JobError.cancelled }
            guard after.isFinite else { throw fail("evaluate", "version \(version) scores \(after) on \(name)") }
            report.table.append(.init(name: name, kind: kind, metric: metric, before: before, after: after, bound: bound))
            report["evaluate"].done += 1
            publish(report)
        }
        do {
            try row(s.devName, "dev", "spearman", bound: s.minGain) { STSEvaluation.run(model: $0, pairs: dev, stop: stop).spearman }
            for check in s.checks {
                switch check.contents {
                case let .sts(pairs):
                    try row(check.name, "sts", "spearman", bound: check.maxLoss) { STSEvaluation.run(model: $0, pairs: pairs, stop: stop).spearman }
                case let .retrieval(set):
                    try row(check.name, "retrieval", "ndcg@10", bound: check.maxLoss) {
                        try RetrievalEvaluation.run(model: $0, set: set, threads: 1, stop: stop).ndcgAt10 * 100
                    }
                }
            }
        } catch JobError.cancelled { throw JobError.cancelled } catch let error as RefineError { throw error } catch { throw fail("evaluate", "\(error)") }
        report["evaluate"].state = "succeeded"
        context.note("evaluation of \(version) against \(parent):\n" + report.tableText)

        // 4. Gate.
        // "Beats": with min_gain 0 an unchanged score is no reason to swap
        // (the trainer may have kept step 0's weights); a negative min_gain
        // tolerates that loss.
        if let devRow = report.table.first {
            if devRow.delta < s.minGain {
                report.reasons.append(String(format: "dev gain %.2f is below min_gain %.2f", devRow.delta, s.minGain))
            } else if s.minGain >= 0 && devRow.delta <= 0 {
                report.reasons.append(String(format: "dev gain %.2f does not beat the active version", devRow.delta))
            }
        }
        for r in report.table.dropFirst() where -r.delta > r.bound {
            report.reasons.append("\(r.name) loses \(String(format: "%.2f", -r.delta)) \(r.metric) points, more than max_loss \(String(format: "%.2f", r.bound))")
        }
        report.gatePassed = report.reasons.isEmpty
        if !s.gate {
            report["gate"].state = "skipped"
            report["gate"].detail = report.reasons.isEmpty ? "gate off" : "gate off; it would have refused: " + report.reasons.joined(separator: "; ")
        } else if report.reasons.isEmpty {
            report["gate"].state = "succeeded"
            report["gate"].detail = "passed"
        } else {
            report["gate"].state = "failed"
            report["gate"].detail = "not activated: " + report.reasons.joined(separator: "; ")
            report["activate"].state = "skipped"
            report["activate"].detail = "version \(version) is kept; activate it with POST /models/\(version)/activate"
            context.note("gate refused \(version): " + report.reasons.joined(separator: "; ") + "; \(parent) keeps serving")
            publish(report)
            return report.value
        }

        // 5. Activate (waits for any other activation: they are serialised).
        // The point of no return: a cancel that answered before it stops the
        // job here; from here on a cancel is refused (409) and says why.
        try context.beginCommit("activating version \(version)")
        report["activate"].state = "running"
        publish(report)
        do {
            try host.activate(version) { done, total in context.report(done: done, total: total) }
        } catch { throw fail("activate", "activating \(version) failed: \(error)") }
        report["activate"].state = "succeeded"
        report["activate"].detail = "\(version) serves"
        report.activated = true
        publish(report)
        return report.value
    }
}
