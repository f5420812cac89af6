import Foundation
import Jobs
import Storage

// MARK: - Settings of a train job

/// What a `train` job trains on and how, parsed from its flat parameters;
/// every error names the request field.
public struct TrainJobSettings: Sendable {
    /// Where the lists come from: a succeeded synthesis job's `lists.jsonl`,
    /// or a JSONL file under the data directory (as the request gave it).
    public enum Source: Sendable, Equatable {
        case job(String)
        case file(String)

        /// The request field that names it.
        public var field: String {
            switch self {
            case .job: return "job"
            case .file: return "file"
            }
        }
    }

    public var source: Source
    public var training: TrainingOptions
    /// The version trained from and the frozen teacher (`active` until
    /// `TrainJobRunner.validate` stores the version names they meant).
    public var base: String
    public var teacher: String?
    /// The development set as given (the server's default when absent), and as read.
    public var devName: String
    public var dev: STSPairs
    /// Id of the new version (default: `train-<job id>`).
    public var version: String?
    /// Steps between checkpoints; nil: at evaluation steps, at most one a minute.
    public var checkpointEvery: Int?
    /// The teacher's check of the lists before training (on by default).
    public var filter = TeacherFilterSettings()

    /// Every field a train job accepts.
    public static let fields = TrainingFields.names + ["job", "file", "version", "base", "teacher", "dev", "keep", "checkpoint_every"]
        + TeacherFilterSettings.fields

    /// Parses `p`; `resolve(field, path)` makes a path absolute under the
    /// data directory (throwing `JobError.invalid` otherwise). Reads the
    /// development set; the lists are read by `TrainJobRunner`.
    static func parse(_ p: [String: JSONValue], defaultDev: String,
                      resolve: (String, String) throws -> String) throws -> TrainJobSettings {
        let f = JobFields(p)
        let source: Source
        switch (f.has("job"), f.has("file")) {
        case (true, true):
            throw f.bad("file", "give the lists as job or as file, not both")
        case (false, false):
            throw f.bad("job", "give the lists: job (the id of a succeeded synthesize job) or file (a lists JSONL under the data directory)")
        case (true, false):
            source = .job(try f.string("job")!)
        case (false, true):
            source = .file(try f.string("file")!)
        }
        var training = try TrainingFields.options(f)
        if let keep = try f.string("keep") {
            guard keep == "best" || keep == "last" else {
                throw f.bad("keep", "keep must be best (the weights of the best dev evaluation) or last, got \(keep)")
            }
            training.keepBest = keep == "best"
        }
        let (devName, dev) = try TrainingFields.devSet(f, defaultDev: defaultDev, resolve: resolve)
        let filter: TeacherFilterSettings
        do { filter = try TeacherFilterSettings.parse(p) } catch let SynthesisError.invalidSetting(field, message) {
            throw f.bad(field, message)
        }
        return TrainJobSettings(
            source: source, training: training, base: try f.string("base") ?? "active", teacher: try f.string("teacher"),
            devName: devName, dev: dev, version: try f.string("version"),
            checkpointEvery: try f.integer("checkpoint_every", min: 1), filter: filter)
    }
}

// MARK: - What a train job does when it starts

/// The decision a train job takes when a worker starts it, from what is
/// on disk. A job never trains over an output that exists: its version
/// published by an earlier run (that died before its record said
/// succeeded) makes it succeed with that version; a version of the same
/// name from anywhere else fails it.
public enum TrainStart: Equatable, Sendable {
    /// Train from step 0.
    case fresh
    /// Restore the checkpoint in the job's folder and continue after its step.
    case fromCheckpoint
    /// An earlier run of this job published the version: report it, train nothing.
    case alreadyPublished
    /// A version of that name exists and this job did not write it.
    case versionTaken

    /// `versionJob` is the `training_job` of the existing version's manifest.
    public static func decide(job: String, versionExists: Bool, versionJob: String?, checkpointExists: Bool) -> TrainStart {
        if versionExists { return versionJob == job ? .alreadyPublished : .versionTaken }
        return checkpointExists ? .fromCheckpoint : .fresh
    }
}
