import Foundation
import Jobs
import Storage

// MARK: - Settings of a refine job

/// An extra evaluation the gate watches: the candidate may lose at most
/// `maxLoss` points (× 100) on it against the active version.
public struct RefineCheck: Sendable {
    /// `sts` (pairs JSONL, Spearman) or `retrieval` (BEIR folder, nDCG@10).
    public enum Kind: String, Sendable { case sts, retrieval }
    /// The set itself, read (and so checked) while parsing.
    public enum Contents: Sendable {
        case sts(STSPairs)
        case retrieval(BEIRSet)
    }
    public var contents: Contents
    /// The path as the request gave it (shown in the table).
    public var name: String
    public var maxLoss: Double
}

/// What a refine job does besides synthesis: training options, the
/// development set, the gate and its checks. Parsed from the job's flat
/// parameters; every error names the request field.
public struct RefineSettings: Sendable {
    public var training = TrainingOptions()
    /// `active` (default: the version being refined), `base`, or a version id.
    public var teacher = "active"
    /// The development set as given (the server's default when absent), and as read.
    public var devName: String
    public var dev: STSPairs
    /// Whether to activate only a candidate that passes the gate.
    public var gate = true
    /// Least dev gain (Spearman × 100) the gate accepts.
    public var minGain = 0.0
    public var checks: [RefineCheck] = []
    /// Fewest kept lists worth training on.
    public var minLists = 1
    /// Id of the new version (default: derived from the job id).
    public var version: String?

    /// The training fields, as `ranksmith train` names its options (snake_case).
    public static let trainingFields = ["steps", "learning_rate", "omega", "tau", "teacher_tau", "lists_per_step", "max_length",
                                        "evaluate_every", "warmup_fraction", "weight_decay", "gradient_clip", "seed"]
    /// Every refine field that is not a synthesis field.
    public static let fields = trainingFields + ["teacher", "dev", "gate", "min_gain", "max_loss", "checks", "min_lists", "version"]

    /// Parses `p`. `resolve(field, path)` makes a path absolute under the
    /// data directory (throwing `JobError.invalid` otherwise); `defaultDev`
    /// is the server's development set.
    public static func parse(_ p: [String: JSONValue], defaultDev: String,
                             resolve: (String, String) throws -> String) throws -> RefineSettings {
        func bad(_ field: String, _ message: String) -> JobError { .invalid(field: field, message: message) }
        func number(_ field: String) throws -> Double? {
            guard let v = p[field], v != .null else { return nil }
            guard let n = v.numberValue, n.isFinite else { throw bad(field, "\(field) must be a number") }
            return n
        }
        func integer(_ field: String, min: Int) throws -> Int? {
            guard let n = try number(field) else { return nil }
            guard n.rounded() == n, n >= Double(min), n < 1e9 else { throw bad(field, "\(field) must be a whole number ≥ \(min)") }
            return Int(n)
        }
        func string(_ field: String) throws -> String? {
            guard let v = p[field], v != .null else { return nil }
            guard let s = v.stringValue, !s.isEmpty else { throw bad(field, "\(field) must be a non-empty string") }
            return s
        }

        var t = TrainingOptions()
        t.steps = try integer("steps", min: 1)
        if let v = try number("learning_rate") { t.learningRate = v }
        if let v = try number("omega") { t.loss.omega = v }
        if let v = try number("tau") { t.loss.tau = v }
        if let v = try number("teacher_tau") { t.loss.teacherTau = v }
        if let v = try integer("lists_per_step", min: 1) { t.listsPerStep = v }
        if let v = try integer("max_length", min: 3) { t.maxLength = v }
        if let v = try integer("evaluate_every", min: 1) { t.evaluateEvery = v }
        if let v = try number("warmup_fraction") { t.warmupFraction = v }
        if let v = try number("weight_decay") { t.adamW.weightDecay = v }
        if let v = try number("gradient_clip") { t.gradientClip = v }
        if let v = try integer("seed", min: 0) { t.seed = UInt64(v) }
        do { try t.validate() } catch let TrainingError.badOption(name, reason) {
            // The trainer names options in words ("learning rate"); the API in snake_case.
            let field = name.replacingOccurrences(of: "-", with: "").replacingOccurrences(of: " ", with: "_")
            throw bad(field, "\(field) \(reason)")
        }

        let teacher = try string("teacher")
        var devName = defaultDev, devPath = defaultDev
        if let dev = try string("dev") {
            devName = dev
            devPath = try resolve("dev", dev)
        }
        let dev: STSPairs
        do { dev = try STSPairs(path: devPath) } catch {
            let hint = p["dev"] == nil ? " (the server's default, --dev-set; give dev: a pairs JSONL under the data directory)" : ""
            throw bad("dev", "development set \(devName)\(hint): \(error)")
        }
        var s = RefineSettings(training: t, devName: devName, dev: dev)
        if let teacher { s.teacher = teacher }
        if let g = p["gate"], g != .null {
            guard let b = g.boolValue else { throw bad("gate", "gate must be true or false") }
            s.gate = b
        }
        if let v = try number("min_gain") { s.minGain = v }
        let defaultMaxLoss = try number("max_loss") ?? 0.2
        guard defaultMaxLoss >= 0 else { throw bad("max_loss", "max_loss must be ≥ 0 (points × 100 the candidate may lose)") }
        if let c = p["checks"], c != .null {
            guard let list = c.arrayValue else { throw bad("checks", "checks must be an array of {kind, file | dir, max_loss?}") }
            for (i, item) in list.enumerated() {
                s.checks.append(try check(item, index: i, defaultMaxLoss: defaultMaxLoss, resolve: resolve))
            }
        }
        if let v = try integer("min_lists", min: 1) { s.minLists = v }
        s.version = try string("version")
        return s
    }

    static func check(_ item: JSONValue, index i: Int, defaultMaxLoss: Double,
                      resolve: (String, String) throws -> String) throws -> RefineCheck {
        let field = "checks[\(i)]"
        guard let o = item.objectValue else { throw JobError.invalid(field: field, message: "\(field) must be an object {kind, file | dir}") }
        guard let kindName = o["kind"]?.stringValue, let kind = RefineCheck.Kind(rawValue: kindName) else {
            throw JobError.invalid(field: "\(field).kind", message: "\(field).kind must be sts or retrieval")
        }
        let key = kind == .sts ? "file" : "dir"
        guard let name = o[key]?.stringValue, !name.isEmpty else {
            throw JobError.invalid(field: "\(field).\(key)", message: "a \(kind.rawValue) check needs \(key): a path under the data directory")
        }
        let path = try resolve("\(field).\(key)", name)
        let contents: RefineCheck.Contents
        do {
            switch kind {
            case .sts: contents = .sts(try STSPairs(path: path))
            case .retrieval: contents = .retrieval(try BEIRSet(directory: URL(fileURLWithPath: path)))
            }
        } catch {
            throw JobError.invalid(field: "\(field).\(key)", message: "\(name): \(error)")
        }
        var maxLoss = defaultMaxLoss
        if let m = o["max_loss"], m != .null {
            guard let n = m.numberValue, n.isFinite, n >= 0 else {
                throw JobError.invalid(field: "\(field).max_loss", message: "\(field).max_loss must be a number ≥ 0")
            }
            maxLoss = n
        }
        return RefineCheck(contents: contents, name: name, maxLoss: maxLoss)
    }
}
