import Encoder
import Foundation
import Index

// MARK: - The engine

/// Ranksmith's HTTP-free core: the active model (swappable), the batcher,
/// the collections, and the embed, rerank, search and upsert pipelines.
/// The Service decodes requests, calls these and maps `EngineError`s to
/// statuses; refinement jobs call them directly. One file per pipeline:
/// `InferenceEngine+Embed.swift`, `+Rerank`, `+Search`, `+Collections`.
/// Where it sits in the request path and how the hot-swap works:
/// docs/architecture.md.
public final class InferenceEngine: Sendable {
    /// Limits and batching, fixed at start-up.
    public struct Configuration: Sendable {
        /// Most inputs in one call (texts, rerank documents, upserted documents).
        public var maxInputsPerRequest = 2048
        /// The batcher's budgets and threads.
        public var batcher = Batcher.Options()
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
    /// The active model and the hot-swap.
    public let models: ModelRegistry
    /// Groups concurrent embedding work into shared forward passes.
    public let batcher: Batcher
    /// Collections under the index directory; nil if they failed to open
    /// (then `collectionsError` says why).
    public let collections: CollectionStore?
    /// Why the collections failed to open, if they did.
    public let collectionsError: String?
    let observer: (@Sendable (EmbeddingReport) -> Void)?

    /// An engine serving `active`, with the collections under
    /// `indexDirectory` (a failure to open them is kept in
    /// `collectionsError`, so embeddings can be served anyway). `observer`
    /// hears about every embedding call (the Service counts them).
    public init(
        configuration: Configuration, active: ModelHandle, indexDirectory: URL,
        observer: (@Sendable (EmbeddingReport) -> Void)? = nil
    ) {
        self.configuration = configuration
        models = ModelRegistry(active: active)
        batcher = Batcher(options: configuration.batcher)
        self.observer = observer
        do {
            collections = try CollectionStore(directory: indexDirectory)
            collectionsError = nil
        } catch {
            collections = nil
            collectionsError = "\(error)"
        }
    }

    /// Starts the batcher's compute thread.
    public func start() { batcher.start() }

    /// Stops the batcher; queued work fails with `EngineError.stopped`.
    public func stop() { batcher.stop() }
}
