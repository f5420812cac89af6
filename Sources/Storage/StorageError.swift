import Foundation

// MARK: - Errors

/// What a durable-storage operation can fail with. Owners of a format
/// (the Index, the job queue, model versions) turn these into their own
/// errors; `message` says it in words a person can act on.
public enum StorageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The disk (or the user's quota) is full: nothing was written.
    case diskFull(path: String)
    /// A system call failed with `errno`.
    case ioFailed(path: String, operation: String, errno: Int32)
    /// A write-ahead log record fails its checks somewhere other than the
    /// torn tail of the newest segment.
    case corruptLog(path: String, reason: String)
    /// The log refuses writes: it was closed, or an earlier fsync failed
    /// (the kernel may have dropped the dirty pages, so a retry could
    /// acknowledge lost data). Reopening it recovers from what is on disk.
    case unavailable(String)
    /// A publish target already exists; published directories are immutable.
    case alreadyExists(path: String)

    /// A sentence a person can act on.
    public var message: String {
        switch self {
        case .diskFull(let p): return "disk full while writing \(p); the write was not applied"
        case .ioFailed(let p, let op, let e):
            return "\(op) failed on \(p): \(String(cString: strerror(e))) (errno \(e)); the write was not applied"
        case .corruptLog(let p, let r): return "write-ahead log \(p) is corrupt: \(r)"
        case .unavailable(let r): return "not accepting writes: \(r)"
        case .alreadyExists(let p): return "\(p) already exists; published directories are never overwritten"
        }
    }

    /// Same as `message`.
    public var description: String { message }
}
