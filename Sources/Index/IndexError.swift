import Foundation
import Storage

// MARK: - Errors

/// Everything the Index module can fail with. Each case carries what a
/// person needs to fix the request or the machine; `message` says it in words.
///
/// Suggested HTTP mapping for the Service: `unknownCollection`/`notFound`
/// → 404, `collectionExists` → 409, the input cases → 422, `diskFull` → 507,
/// `ioFailed`/`unavailable` → 503, `corrupt*` → 500 (at start-up: refuse to serve).
public enum IndexError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No collection with this name.
    case unknownCollection(String)
    /// A collection with this name already exists.
    case collectionExists(String)
    /// Names use 1…128 characters from `[A-Za-z0-9_-]`.
    case invalidName(String)
    /// A vector's length differs from the collection's.
    case wrongDimensions(expected: Int, got: Int, field: String)
    /// A vector holds NaN/infinity or is all zeros (it has no direction).
    case invalidVector(field: String, reason: String)
    /// The same id appears more than once in one batch.
    case duplicateIds([String])
    /// An id is empty or longer than `Limits.maxIdBytes` UTF-8 bytes.
    case invalidId(field: String, reason: String)
    /// Metadata is not a JSON object, or holds a value that cannot be stored.
    case invalidMetadata(field: String, reason: String)
    /// A filter does not follow the Qdrant syntax.
    case invalidFilter(FilterError)
    /// A search parameter is out of range (`top_k`, `ef_search`, …).
    case invalidParameter(field: String, reason: String)
    /// Collection settings are out of range.
    case invalidSettings(field: String, reason: String)
    /// The disk is full: the write was not applied, nothing acknowledged is lost.
    case diskFull(path: String)
    /// A read, write or fsync failed; the write was not acknowledged.
    case ioFailed(path: String, operation: String, errno: Int32)
    /// The collection stopped accepting writes after an earlier fsync failure;
    /// restart the service to recover from the log (acknowledged writes are safe).
    case unavailable(String)
    /// The snapshot file fails its checks (magic, version, bounds, checksum).
    case corruptSnapshot(path: String, reason: String)
    /// A write-ahead log record fails its checks somewhere other than the tail.
    case corruptLog(path: String, reason: String)

    /// A sentence a person can act on.
    public var message: String {
        switch self {
        case .unknownCollection(let n): return "no collection named '\(n)'"
        case .collectionExists(let n): return "a collection named '\(n)' already exists"
        case .invalidName(let n):
            return "invalid collection name '\(n)': use 1–\(Limits.maxNameBytes) characters from A–Z, a–z, 0–9, '_' and '-'"
        case .wrongDimensions(let e, let g, let f): return "\(f): vector has \(g) dimensions, the collection expects \(e)"
        case .invalidVector(let f, let r): return "\(f): \(r)"
        case .duplicateIds(let ids):
            return "duplicate ids in one batch: \(ids.prefix(5).map { "'\($0)'" }.joined(separator: ", "))"
        case .invalidId(let f, let r): return "\(f): \(r)"
        case .invalidMetadata(let f, let r): return "\(f): \(r)"
        case .invalidFilter(let e): return e.message
        case .invalidParameter(let f, let r): return "\(f): \(r)"
        case .invalidSettings(let f, let r): return "\(f): \(r)"
        case .diskFull(let p): return "disk full while writing \(p); the write was not applied"
        case .ioFailed(let p, let op, let e):
            return "\(op) failed on \(p): \(String(cString: strerror(e))) (errno \(e)); the write was not applied"
        case .unavailable(let r): return "collection is not accepting writes: \(r)"
        case .corruptSnapshot(let p, let r): return "snapshot \(p) is corrupt: \(r)"
        case .corruptLog(let p, let r): return "write-ahead log \(p) is corrupt: \(r)"
        }
    }

    /// Same as `message`.
    public var description: String { message }
}

// MARK: - Storage errors

extension IndexError {
    /// The Index's name for a failure of the storage layer.
    init(_ error: StorageError) {
        switch error {
        case .diskFull(let p): self = .diskFull(path: p)
        case .ioFailed(let p, let op, let e): self = .ioFailed(path: p, operation: op, errno: e)
        case .corruptLog(let p, let r): self = .corruptLog(path: p, reason: r)
        case .unavailable(let r): self = .unavailable(r)
        case .alreadyExists(let p): self = .ioFailed(path: p, operation: "create", errno: EEXIST)
        }
    }
}

/// Runs `body`, turning storage errors into `IndexError`s.
func indexErrors<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as StorageError { throw IndexError(e) }
}
