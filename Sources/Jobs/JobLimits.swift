import Foundation

// MARK: - What the queue may be made to hold

/// Bounds on what clients can make the job queue hold and redo: every one
/// is a refusal with a reason (429, 413) or a failure of one job, never a
/// server that runs out of memory or restarts into the same crash.
public struct JobLimits: Sendable, Equatable {
    /// Jobs queued or running at once; a submit beyond is `queueFull`.
    public var maxQueued = 64
    /// Bytes a job's parameters may take once stored (its `job.json`
    /// holds them, and the queue keeps them in memory until the job is
    /// removed); a submit beyond is `tooLarge`.
    public var maxParameterBytes = 256 << 10
    /// Times a job found running at a start (the process died under it) is
    /// resumed; the next such start fails it ("interrupted N times").
    public var maxInterruptions = 2

    public init() {}

    public init(maxQueued: Int, maxParameterBytes: Int, maxInterruptions: Int) {
        self.maxQueued = max(1, maxQueued)
        self.maxParameterBytes = max(1, maxParameterBytes)
        self.maxInterruptions = max(0, maxInterruptions)
    }
}

// MARK: - Listing page by page

/// Where a page of `GET /jobs` ended: the last job's creation time (ms)
/// and id, which is the listing's sort key (newest first). Written as
/// `<ms>.<id>`.
public struct JobCursor: Sendable, Equatable, Comparable, CustomStringConvertible {
    public var milliseconds: Int64
    public var id: String

    /// The cursor just after `r`.
    public init(_ r: JobRecord) {
        milliseconds = Int64((r.createdAt.timeIntervalSince1970 * 1000).rounded(.down))
        id = r.id
    }

    /// Parses `<ms>.<id>`; nil when `text` is not one.
    public init?(_ text: String) {
        guard let dot = text.firstIndex(of: "."), let ms = Int64(text[..<dot]) else { return nil }
        let rest = String(text[text.index(after: dot)...])
        guard !rest.isEmpty, rest.count <= 100 else { return nil }
        milliseconds = ms
        id = rest
    }

    public var description: String { "\(milliseconds).\(id)" }

    /// Listing order: newer (greater) first, so "after the cursor" is "less than it".
    public static func < (a: JobCursor, b: JobCursor) -> Bool { (a.milliseconds, a.id) < (b.milliseconds, b.id) }
}
