import Encoder
import Foundation
import Index
import Synchronization

// MARK: - The engine

/// Ranksmith's HTTP-free core: the serving pair (model version and its
/// collections, swappable), the batcher, and the embed, rerank, search,
/// upsert and activation pipelines. The Service decodes requests, calls
/// these and maps `EngineError`s to statuses; refinement jobs call them
/// directly. One file per pipeline: `InferenceEngine+Embed.swift`,
/// `+Rerank`, `+Search`, `+Collections`, `+Activation`, `+Swap`. Where it
/// sits in the request path and how the hot-swap works: docs/architecture.md.
public final class InferenceEngine: Sendable {
    /// Limits and batching, fixed at start-up.
    public struct Configuration: Sendable {
        /// Most inputs in one call (texts, rerank documents, upserted documents).
        public var maxInputsPerRequest = 2048
        /// The batcher's budgets and threads.
        public var batcher = Batcher.Options()
        /// Memory a hot-swap may bring the process to, in bytes (`--max-memory`);
        /// nil: no limit.
        public var maxMemoryBytes: Int?
        /// The defaults.
        public init() {}
    }

    /// What one embedding call cost, for metrics (`observer`).
    public struct EmbeddingReport: Sendable {
        /// Texts embedded.
        public var inputs: Int
        /// Tokens in them, special tokens included.
        public var tokens: Int
        /// Texts cut to the model's maximum length.
        public var truncated: Int
        /// Queue wait and inference time in the batcher.
        public var timing: Batcher.Timing
    }

    /// The limits.
    public let configuration: Configuration
    /// The serving pair and the hot-swap.
    public let models: ModelRegistry
    /// Groups concurrent embedding work into shared forward passes.
    public let batcher: Batcher
    /// The model versions and the persisted active one; nil for an engine
    /// made without a data directory (it cannot swap).
    public let versions: ModelVersions?
    /// What start-up decided that an operator should read (a fallback to
    /// another version and why, leftovers removed), one sentence each.
    public let startupNotes: [String]
    let observer: (@Sendable (EmbeddingReport) -> Void)?
    let transition = TransitionLock()
    let swap = Mutex(SwapState())

    /// The collections of the serving pair; nil if they failed to open
    /// (then `collectionsError` says why).
    public var collections: CollectionStore? { models.current.store }
    /// Why the collections failed to open, if they did.
    public var collectionsError: String? { models.current.storeError }

    /// An engine serving `active`, with the collections under
    /// `indexDirectory` and no model versions (a failure to open the
    /// collections is kept in `collectionsError`, so embeddings can be
    /// served anyway). `observer` hears about every embedding call.
    public init(
        configuration: Configuration, active: ModelHandle, indexDirectory: URL,
        observer: (@Sendable (EmbeddingReport) -> Void)? = nil
    ) {
        self.configuration = configuration
        batcher = Batcher(options: configuration.batcher)
        self.observer = observer
        versions = nil
        startupNotes = []
        let (store, error) = Self.openStore(indexDirectory.path)
        models = ModelRegistry(serving: ServingPair(
            handle: active, store: store, storeError: error, indexName: indexDirectory.lastPathComponent, generation: 0))
    }

    /// An engine over `dataDirectory`: serves the version `active.json`
    /// names (the bundled `base` when there is none) with the index folder
    /// it names, and can activate others. A version that cannot be loaded
    /// falls back to the one before it, then to `base`, saying why in
    /// `startupNotes`; index folders that `active.json` does not name
    /// (shadows of swaps that never committed) are deleted.
    public init(
        configuration: Configuration, base: ModelHandle, basePath: String, dataDirectory: String,
        observer: (@Sendable (EmbeddingReport) -> Void)? = nil
    ) {
        self.configuration = configuration
        batcher = Batcher(options: configuration.batcher)
        self.observer = observer
        let versions = ModelVersions(dataDirectory: dataDirectory, baseVersion: base.version, basePath: basePath)
        self.versions = versions
        var notes: [String] = []
        let leftovers = versions.removeLeftovers()
        if !leftovers.isEmpty { notes.append("removed unfinished model folders: \(leftovers.joined(separator: ", "))") }

        var record: ActiveRecord?
        var recordReadable = true
        do {
            record = try versions.readActive()
        } catch {
            recordReadable = false
            notes.append("\(error); serving \(base.version) with the `index` folder and deleting nothing")
        }
        var handle = base
        if let record, record.version != base.version {
            var candidates = [record.version]
            if let p = record.previous, p != record.version, p != base.version { candidates.append(p) }
            var loaded: ModelHandle?
            for (k, version) in candidates.enumerated() {
                do {
                    loaded = try Self.loadVersion(version, versions: versions, crossEncoder: base.crossEncoder)
                    if k > 0 { notes.append("serving the previous version \(version) instead") }
                    break
                } catch {
                    notes.append("active version \(version) cannot be loaded (\(error))")
                }
            }
            if let loaded {
                handle = loaded
            } else {
                notes.append("serving the bundled version \(base.version) instead")
            }
        }
        let indexName = record?.index ?? "index"
        if recordReadable {
            let removed = versions.removeIndexesOtherThan(indexName)
            if !removed.isEmpty { notes.append("removed index folders of swaps that did not commit or were retired: \(removed.joined(separator: ", "))") }
        }
        let indexPath = dataDirectory + "/" + indexName
        var store: CollectionStore?
        var error: String?
        if record != nil, !FileManager.default.fileExists(atPath: indexPath) {
            error = "the index folder \(indexPath) that \(ActiveRecord.fileName) names is missing: restore it from a backup"
        } else {
            (store, error) = Self.openStore(indexPath)
        }
        startupNotes = notes
        models = ModelRegistry(serving: ServingPair(handle: handle, store: store, storeError: error, indexName: indexName, generation: 0))
    }

    static func openStore(_ path: String) -> (CollectionStore?, String?) {
        do {
            return (try CollectionStore(directory: URL(fileURLWithPath: path)), nil)
        } catch {
            return (nil, "\(error)")
        }
    }

    /// Loads version `version` from `versions`, sharing `crossEncoder`.
    static func loadVersion(_ version: String, versions: ModelVersions, crossEncoder: BertModel?) throws -> ModelHandle {
        let info = try versions.find(version)
        if let problem = info.problem { throw EngineError.modelVersionUnusable(version: version, reason: problem) }
        let model = try BertModel(directory: URL(fileURLWithPath: info.path))
        return ModelHandle(version: version, id: version, model: model, crossEncoder: crossEncoder)
    }

    /// Starts the batcher's compute thread.
    public func start() { batcher.start() }

    /// Stops the batcher (queued work fails with `EngineError.stopped`,
    /// the pass in progress is waited for) and cancels a running activation
    /// (its shadow is removed; the serving pair stays).
    public func stop() { _ = stop(waitingUpTo: .infinity) }

    /// Like ``stop()``, waiting at most `seconds` for the pass in progress;
    /// answers whether the batcher's thread has ended.
    public func stop(waitingUpTo seconds: Double) -> Bool {
        let task = swap.withLock { $0.task }
        task?.cancel()
        return batcher.stop(waitingUpTo: seconds)
    }
}
