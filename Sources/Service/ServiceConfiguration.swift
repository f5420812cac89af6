import Foundation
import HTTP
import Jobs

// MARK: - Configuration

/// Everything `ranksmith serve` can be told, with its defaults. Every field
/// has a flag and a `RANKSMITH_<FLAG>` environment variable (see the
/// configuration table in docs/operations.md).
public struct ServiceConfiguration: Sendable {
    /// Sentence-transformers folder of the embedding model.
    public var modelPath = "models/all-MiniLM-L6-v2"
    /// GGUF file of the generator used by refinement jobs.
    public var generatorPath = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
    /// Development pairs (JSONL) that refine jobs gate on when they name no `dev`.
    public var devSetPath = "data/stsb/stsb_dev.jsonl"
    /// Optional cross-encoder folder (`BertForSequenceClassification`) for reranking.
    public var crossEncoderPath: String?
    /// Data directory: model versions, collections, jobs.
    public var dataDirectory = "var"
    /// Listening address and port.
    public var host = "127.0.0.1"
    public var port = 8080
    /// Keys accepted on data endpoints (none: open).
    public var apiKeys: [String] = []
    /// Key for job and model endpoints (none: open, unless API keys are set,
    /// in which case admin endpoints refuse every request).
    public var adminKey: String?
    /// Most inputs in one request (embed, rerank documents).
    public var maxInputsPerRequest = 2048
    /// Batcher budgets.
    public var maxBatchTokens = 8192
    public var maxQueuedInputs = 8192
    /// Arrays and objects a JSON request body may nest (422 beyond).
    public var maxJSONDepth = 32
    /// Compute threads for BLAS (0: all cores).
    public var threads = 0
    /// Memory a model swap may bring the process to, in bytes (nil: no
    /// limit); a swap estimated to need more is refused with the figures.
    public var maxMemoryBytes: Int?
    /// HTTP limits and timeouts.
    public var http = HTTPServerConfiguration()
    /// Background job workers, finished jobs kept, and threads of a
    /// synthesis job's generator.
    public var jobWorkers = 1
    public var jobRetention = 100
    public var generatorThreads = 1
    /// Nice value of job worker threads (Linux; higher: more CPU left to serving).
    public var jobNice = 10
    /// Memory one job may use, in bytes (its estimate from its parameters
    /// is checked against it before it is queued and again before it
    /// runs); nil: `JobMemory.defaultBudget()`, a share of the machine.
    public var jobMemoryBytes: Int?
    /// Queue length, stored parameter size and resumes after a crash.
    public var jobLimits = JobLimits()

    public init() {}
}
