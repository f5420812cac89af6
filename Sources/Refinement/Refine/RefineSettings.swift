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
    public static let trainingFields = TrainingFields.names
    /// Every refine field that is not a synthesis field.
    public static let fields = trainingFields + ["teacher", "dev", "gate", "min_gain", "max_loss", "checks", "min_lists", "version"]

    /// Parses `p`. `resolve(field, path)` makes a path absolute under the
    /// data directory (throwing `JobError.invalid` otherwise); `defaultDev`
    /// is the server's development set.
    public static func parse(_ p: [String: JSONValue], defaultDev: String,
                             resolve: (String, String) throws -> String) throws -> RefineSettings {
        let f = JobFields(p)
        let t = try TrainingFields.options(f)
        let teacher = try f.string("teacher")
        let (devName, dev) = try TrainingFields.devSet(f, defaultDev: defaultDev, resolve: resolve)
        var s = RefineSettings(training: t, devName: devName, dev: dev)
        if let teacher { s.teacher = teacher }
        if let g = p["gate"], g != .null {
            guard let b = g.boolValue else { throw f.bad("gate", "gate must be true or false") }
            s.gate = b
        }
        if let v = try f.number("min_gain") { s.minGain = v }
        let defaultMaxLoss = try f.number("max_loss") ?? 0.2
        guard defaultMaxLoss >= 0 else { throw f.bad("max_loss", "max_loss must be ≥ 0 (points × 100 the candidate may lose)") }
        if let c = p["checks"], c != .null {
            guard let list = c.arrayValue else { throw f.bad("checks", "checks must be an array of {kind, file | dir, max_loss?}") }
            for (i, item) in list.enumerated() {
                s.checks.append(try check(item, index: i, defaultMaxLoss: defaultMaxLoss, resolve: resolve))
            }
        }
        if let v = try f.integer("min_lists", min: 1) { s.minLists = v }
        s.version = try f.string("version")
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
