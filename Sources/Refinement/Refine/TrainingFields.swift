import Foundation
import Jobs
import Storage

// MARK: - Reading a job's flat parameters

/// Typed reads of a job's flat parameters; every error is a
/// `JobError.invalid` naming the request field.
struct JobFields {
    let p: [String: JSONValue]

    init(_ p: [String: JSONValue]) { self.p = p }

    func bad(_ field: String, _ message: String) -> JobError { .invalid(field: field, message: message) }

    /// Whether the field is given (and not null).
    func has(_ field: String) -> Bool { p[field].map { $0 != .null } ?? false }

    func number(_ field: String) throws -> Double? {
        guard let v = p[field], v != .null else { return nil }
        guard let n = v.numberValue, n.isFinite else { throw bad(field, "\(field) must be a number") }
        return n
    }

    func integer(_ field: String, min: Int, max: Int? = nil) throws -> Int? {
        guard let n = try number(field) else { return nil }
        guard n.rounded() == n, n >= Double(min), n < 1e9 else { throw bad(field, "\(field) must be a whole number ≥ \(min)") }
        if let max, n > Double(max) { throw bad(field, "\(field) must be a whole number from \(min) to \(max)") }
        return Int(n)
    }

    func string(_ field: String) throws -> String? {
        guard let v = p[field], v != .null else { return nil }
        guard let s = v.stringValue, !s.isEmpty else { throw bad(field, "\(field) must be a non-empty string") }
        return s
    }
}

// MARK: - Training settings shared by the train and refine jobs

/// The training fields of a job request (`ranksmith train`'s options in
/// snake_case) and the development set; the train and refine jobs read
/// them with the same names, defaults and messages.
public enum TrainingFields {
    /// The training fields.
    public static let names = ["steps", "learning_rate", "omega", "tau", "teacher_tau", "lists_per_step", "max_length",
                               "evaluate_every", "warmup_fraction", "weight_decay", "gradient_clip", "seed"]

    /// The ranges a sane run uses (openapi.yaml documents them); memory is
    /// checked besides, against `--job-memory` (`JobMemory`).
    public enum Limits {
        public static let steps = 100_000
        public static let listsPerStep = 256
        public static let maxLength = 512
    }

    /// `TrainingOptions` from the training fields of `f`, validated.
    static func options(_ f: JobFields) throws -> TrainingOptions {
        var t = TrainingOptions()
        t.steps = try f.integer("steps", min: 1, max: Limits.steps)
        if let v = try f.number("learning_rate") { t.learningRate = v }
        if let v = try f.number("omega") { t.loss.omega = v }
        if let v = try f.number("tau") { t.loss.tau = v }
        if let v = try f.number("teacher_tau") { t.loss.teacherTau = v }
        if let v = try f.integer("lists_per_step", min: 1, max: Limits.listsPerStep) { t.listsPerStep = v }
        if let v = try f.integer("max_length", min: 3, max: Limits.maxLength) { t.maxLength = v }
        if let v = try f.integer("evaluate_every", min: 1, max: Limits.steps) { t.evaluateEvery = v }
        if let v = try f.number("warmup_fraction") { t.warmupFraction = v }
        if let v = try f.number("weight_decay") { t.adamW.weightDecay = v }
        if let v = try f.number("gradient_clip") { t.gradientClip = v }
        if let v = try f.integer("seed", min: 0) { t.seed = UInt64(v) }
        do { try t.validate() } catch let TrainingError.badOption(name, reason) {
            // The trainer names options in words ("learning rate"); the API in snake_case.
            let field = name.replacingOccurrences(of: "-", with: "").replacingOccurrences(of: " ", with: "_")
            throw f.bad(field, "\(field) \(reason)")
        }
        return t
    }

    /// The development set `dev` names (resolved under the data directory
    /// by `resolve`), or the server's default; read, so a bad file is a 422.
    static func devSet(_ f: JobFields, defaultDev: String,
                       resolve: (String, String) throws -> String) throws -> (name: String, pairs: STSPairs) {
        // The server's default is named by its file name: no host path in records and manifests.
        var name = (defaultDev as NSString).lastPathComponent, path = defaultDev
        if let dev = try f.string("dev") {
            name = dev
            path = try resolve("dev", dev)
        }
        do { return (name, try STSPairs(path: path)) } catch {
            let hint = f.p["dev"] == nil ? " (the server's default, --dev-set; give dev: a pairs JSONL under the data directory)" : ""
            let reason = "\(error)".replacingOccurrences(of: path, with: name)
            throw f.bad("dev", "development set \(name)\(hint): \(reason)")
        }
    }

    /// Throws a 422 on `version` unless `name` can be a new version.
    static func checkNewVersion(_ name: String, host: RefineHost) throws {
        let exists: Bool
        do { exists = try host.versionExists(name) } catch { throw JobError.invalid(field: "version", message: "version \(name): \(error)") }
        if exists || name == "active" {
            throw JobError.invalid(field: "version", message: "version \(name) already exists; versions are immutable, choose a new id")
        }
    }

    /// The name a job's version gets when the request names none:
    /// `<prefix>-<job id without "job-">`, the same on every run of the job.
    static func defaultVersion(prefix: String, job id: String) -> String {
        prefix + "-" + id.replacingOccurrences(of: "job-", with: "")
    }

    /// Runs `trainer` for a job: every step is reported as the job's
    /// progress, then handed to `onStep`; the job's cancellation (or a
    /// shutdown) stops it between steps with `JobError.cancelled`.
    static func run(_ trainer: Trainer, context: JobContext, onStep: (TrainingProgress) -> Void) throws -> TrainingResult {
        do {
            return try trainer.run(progress: { step in
                context.report(done: step.step, total: step.steps)
                onStep(step)
            }, isCancelled: { context.isCancelled })
        } catch TrainingError.cancelled {
            throw JobError.cancelled
        }
    }
}
