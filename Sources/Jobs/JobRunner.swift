import Foundation
import Storage
import Synchronization

// MARK: - Job kinds

/// What a job kind does. The layers above register one runner per kind;
/// the queue knows nothing of what runners compute.
public protocol JobRunner: Sendable {
    /// The kind this runner executes, e.g. `synthesize`.
    var kind: String { get }
    /// Whether a job interrupted by a restart can continue from what it left
    /// in its folder; if not, it is marked failed with the reason.
    var resumable: Bool { get }
    /// Checks parameters before the job is queued and returns them as they
    /// are to be stored (defaults filled in); throws `JobError.invalid`.
    func validate(_ parameters: [String: JSONValue]) throws -> [String: JSONValue]
    /// Runs the job on a worker thread (blocking), returning its result.
    /// Throwing fails the job with the error's description. Must poll
    /// `context.isCancelled` often (the API promises a stop within 2 s).
    func run(_ context: JobContext) throws -> JSONValue?
    /// The `result` a job keeps when it ends without succeeding (failed,
    /// cancelled, or stopped by a crash): a runner whose result shows
    /// stages marks the one that was running as stopped, with `reason`,
    /// so no finished job claims a stage still runs. Default: unchanged.
    func settle(_ result: JSONValue?, reason: String) -> JSONValue?
}

extension JobRunner {
    public func settle(_ result: JSONValue?, reason: String) -> JSONValue? { result }
}

/// Errors of the queue and of runners.
public enum JobError: Error, Equatable, CustomStringConvertible {
    /// A parameter is invalid; `field` names it as the request does.
    case invalid(field: String, message: String)
    /// No runner is registered for this kind.
    case unknownKind(String)
    /// No such job.
    case notFound(String)
    /// The job did not stop in time to be deleted.
    case busy(String)
    /// The record could not be written.
    case storage(String)
    /// The run stopped because it was cancelled (runners may throw it).
    case cancelled
    /// The queue holds `limit` unfinished jobs already.
    case queueFull(limit: Int)
    /// The parameters take `bytes` once stored, more than `limit`.
    case tooLarge(bytes: Int, limit: Int)
    /// The job is past its point of no return (`what` it is doing) and
    /// cannot be cancelled; it finishes on its own.
    case committing(id: String, what: String)

    public var description: String {
        switch self {
        case let .invalid(_, m): return m
        case let .unknownKind(k): return "no job kind \(k)"
        case let .notFound(id): return "no job \(id)"
        case let .busy(id): return "job \(id) is still stopping; retry in a few seconds"
        case let .storage(m): return "cannot write the job record: \(m)"
        case .cancelled: return "cancelled"
        case let .queueFull(limit):
            return "the job queue is full (\(limit) jobs queued or running, --job-max-queued); retry once some have finished, or delete queued ones"
        case let .tooLarge(bytes, limit):
            return "the job's parameters take \(bytes) bytes, more than the \(limit) a job may store (--job-max-parameter-bytes); "
                + "give long inputs as file (a file under the data directory), take a smaller sample of a collection, or split the job"
        case let .committing(id, what):
            return "job \(id) cannot be cancelled now: it is \(what), which runs to its end once begun; "
                + "it stays as it is (follow it at GET /jobs/\(id)); to undo it afterwards, activate the previous version"
        }
    }
}

/// What a running job sees: its parameters and folder, a cancellation flag,
/// and a progress reporter.
public final class JobContext: Sendable {
    /// The job's id.
    public let id: String
    /// Its parameters.
    public let parameters: [String: JSONValue]
    /// Its folder (`<jobs>/<id>`), where it keeps outputs and checkpoints.
    public let directory: URL
    /// Whether an earlier run of this job was interrupted (it should continue from its folder).
    public let resumed: Bool
    let cancelFlag = Atomic<Bool>(false)
    let interruptFlag = Atomic<Bool>(false)
    let onProgress: @Sendable (Int, Int) -> Void
    let onNote: @Sendable (String) -> Void
    let onPublish: @Sendable (JSONValue) -> Void
    let onCommit: @Sendable (String) -> Bool

    init(id: String, parameters: [String: JSONValue], directory: URL, resumed: Bool,
         onProgress: @escaping @Sendable (Int, Int) -> Void, onNote: @escaping @Sendable (String) -> Void,
         onPublish: @escaping @Sendable (JSONValue) -> Void = { _ in },
         onCommit: @escaping @Sendable (String) -> Bool = { _ in true }) {
        self.id = id
        self.parameters = parameters
        self.directory = directory
        self.resumed = resumed
        self.onProgress = onProgress
        self.onNote = onNote
        self.onPublish = onPublish
        self.onCommit = onCommit
    }

    /// True once the job is cancelled or the queue is shutting down: stop
    /// soon, leaving the folder in a state a resumed run can continue from.
    public var isCancelled: Bool { cancelFlag.load(ordering: .relaxed) || interruptFlag.load(ordering: .relaxed) }

    /// Reports `done` of `total` units (rate and ETA are derived).
    public func report(done: Int, total: Int) { onProgress(done, total) }

    /// Adds a line to the record's notes (e.g. a backend's limits).
    public func note(_ text: String) { onNote(text) }

    /// Shows `value` as the record's `result` while the job runs, for jobs
    /// whose progress is more than a count (a refine job's stages). A failed
    /// job keeps the last value published, so a reader sees how far it got;
    /// a succeeded one shows what `run` returned.
    public func publish(_ value: JSONValue) { onPublish(value) }

    /// Enters the job's point of no return (an activation), described by
    /// `what` ("activating version v2"): atomically with respect to a
    /// cancel, either the job is still wanted and from now on a cancel is
    /// refused (`JobError.committing`, a 409 that says so), or it was
    /// cancelled already and this throws `JobError.cancelled`. So after a
    /// cancel has answered, the job never starts its commit.
    public func beginCommit(_ what: String) throws {
        guard onCommit(what), !isCancelled else { throw JobError.cancelled }
    }
}
