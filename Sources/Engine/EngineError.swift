import Foundation
import Index

// MARK: - Errors

/// What the engine's pipelines fail with: domain errors without HTTP. The
/// Service maps each case to a status code and message; jobs report them
/// as they are. A cancelled caller gets `CancellationError` instead.
public enum EngineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// An input is missing, empty, too large or out of range; `field`
    /// names it as the request does (`inputs[3]`, `top_k`).
    case invalidInput(field: String, reason: String)
    /// A text is longer than the model takes and truncation was refused.
    case inputTooLong(field: String, maxTokens: Int)
    /// The batcher's queue is full; retry shortly or send less.
    case overloaded(queued: Int)
    /// The engine is stopping; queued work was not done.
    case stopped
    /// The collection store failed to open at start-up, for `reason`.
    case indexUnavailable(reason: String)
    /// The Index refused (unknown collection, bad filter, I/O failure, …).
    case index(IndexError)
    /// The collection holds no document with this id.
    case unknownDocument(id: String)
    /// The collection's vectors come from another model version than the
    /// active one (a re-embedding is under way).
    case modelVersionMismatch(collection: String, collectionVersion: String, activeVersion: String)
    /// No model version with this id exists.
    case unknownModelVersion(String)
    /// The version exists but cannot be served, for `reason` (missing
    /// files, unreadable weights, vectors that are not finite).
    case modelVersionUnusable(version: String, reason: String)
    /// Another activation (of `version`) is running; activations are serialised.
    case activationInProgress(version: String)
    /// The version cannot be deleted now, for `reason` (it serves, it is
    /// the bundled model, or an activation is loading it).
    case modelVersionInUse(version: String, reason: String)
    /// A swap would need about `neededBytes` of memory, over `limitBytes`
    /// (`--max-memory`); `detail` breaks the figure down.
    case insufficientMemory(neededBytes: Int, limitBytes: Int, detail: String)
    /// An activation failed for `reason`; the previous version keeps serving.
    case activationFailed(reason: String)

    /// A sentence saying what went wrong.
    public var description: String {
        switch self {
        case .invalidInput(let f, let r): return "\(f): \(r)"
        case .inputTooLong(let f, let n): return "\(f) is longer than the model's \(n) tokens"
        case .overloaded(let q): return "the inference queue is full (\(q) inputs waiting)"
        case .stopped: return "the engine is stopping"
        case .indexUnavailable(let r): return "the index could not be opened: \(r)"
        case .index(let e): return e.message
        case .unknownDocument(let id): return "no document with id '\(id)' in this collection"
        case .modelVersionMismatch(let c, let cv, let av):
            return "collection '\(c)' holds vectors of model version \(cv), the active model is \(av)"
        case .unknownModelVersion(let v): return "no model version '\(v)'"
        case .modelVersionUnusable(let v, let r): return "model version '\(v)' cannot be served: \(r)"
        case .activationInProgress(let v): return "an activation of version '\(v)' is running"
        case .modelVersionInUse(let v, let r): return "model version '\(v)' cannot be deleted: \(r)"
        case .insufficientMemory(let n, let l, let d):
            return "the swap needs about \(n >> 20) MiB (\(d)), over the limit of \(l >> 20) MiB (--max-memory)"
        case .activationFailed(let r): return "the activation failed: \(r)"
        }
    }
}

/// Runs `body`, turning Index errors into `EngineError.index`.
func indexCall<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as IndexError { throw EngineError.index(e) }
}
