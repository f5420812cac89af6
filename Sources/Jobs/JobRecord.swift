import Foundation
import Storage

// MARK: - The persisted record of one job

/// Where a job is in its life.
public enum JobState: String, Codable, Sendable, CaseIterable {
    case queued, running, succeeded, failed, cancelled

    /// Whether the job will not change any more.
    public var isFinished: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

/// How far a job has got.
public struct JobProgress: Codable, Sendable, Equatable {
    /// Units done (for synthesis: anchors whose chain ended).
    public var done = 0
    /// Units in all.
    public var total = 0
    /// Units per minute in the current run.
    public var ratePerMinute: Double?
    /// Seconds left at that rate.
    public var etaSeconds: Double?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case done, total, ratePerMinute = "rate_per_minute", etaSeconds = "eta_seconds"
    }
}

/// One job as stored in `<jobs>/<id>/job.json` and answered by the API.
public struct JobRecord: Codable, Sendable, Equatable {
    /// Identifier (also the folder name).
    public var id: String
    /// The runner that executes it, e.g. `synthesize`.
    public var kind: String
    /// State.
    public var state: JobState
    /// Parameters as validated by the runner.
    public var parameters: [String: JSONValue]
    /// Progress.
    public var progress = JobProgress()
    /// When it was submitted, started (last time), finished, last written.
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var updatedAt: Date
    /// What the runner returned.
    public var result: JSONValue?
    /// Why it failed.
    public var error: String?
    /// Things a reader should know: resumed after a restart, a backend's limits.
    public var notes: [String] = []
    /// Times a worker started it (2 or more: it was resumed).
    public var attempts = 0
    /// Times the process died while it ran (found `running` at a start);
    /// absent until it happens. Bounded by the queue's `maxInterruptions`.
    public var interruptions: Int?

    enum CodingKeys: String, CodingKey {
        case id, kind, state, parameters, progress, createdAt = "created_at", startedAt = "started_at"
        case finishedAt = "finished_at", updatedAt = "updated_at", result, error, notes, attempts, interruptions
    }

    /// Encoder used for files and the API: ISO 8601 dates, sorted keys.
    public static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(JobRecord.isoFormat(date))
        }
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    /// Decoder matching `encoder`.
    public static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { decoder in
            let s = try decoder.singleValueContainer().decode(String.self)
            guard let date = parseISO(s) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an ISO 8601 date: \(s)"))
            }
            return date
        }
        return d
    }()

    static func isoFormat(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    static func parseISO(_ s: String) -> Date? {
        (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(s)) ?? (try? Date.ISO8601FormatStyle().parse(s))
    }
}

// MARK: - The summary a listing shows

/// A job as `GET /jobs` lists it by default: what it is and where it
/// stands, without its parameters, notes and result (which can be large);
/// `stage` is copied from a result that names one.
public struct JobSummary: Codable, Sendable, Equatable {
    public var id: String
    public var kind: String
    public var state: JobState
    public var stage: String?
    public var progress: JobProgress
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var updatedAt: Date
    public var error: String?
    public var attempts: Int

    enum CodingKeys: String, CodingKey {
        case id, kind, state, stage, progress, createdAt = "created_at", startedAt = "started_at"
        case finishedAt = "finished_at", updatedAt = "updated_at", error, attempts
    }

    /// The summary of `r`.
    public init(_ r: JobRecord) {
        id = r.id
        kind = r.kind
        state = r.state
        stage = r.result?["stage"]?.stringValue
        progress = r.progress
        createdAt = r.createdAt
        startedAt = r.startedAt
        finishedAt = r.finishedAt
        updatedAt = r.updatedAt
        error = r.error
        attempts = r.attempts
    }
}
