import Encoder
import Foundation
import Index
import Synchronization

// MARK: - Model handles

/// A loaded embedding model with the version it serves under. Requests
/// capture one handle at their start and finish on it, so a swap never
/// mixes versions inside a response.
public final class ModelHandle: Sendable {
    /// Version id: `base` for the bundled folder (or what its
    /// `manifest.json` says), else the version's folder name under
    /// `<data-dir>/models/`.
    public let version: String
    /// Model id reported by the API (the folder's name).
    public let id: String
    /// The embedding model.
    public let model: BertModel
    /// Optional cross-encoder used by the rerank endpoints. It belongs to
    /// the server, not to a version: every version shares the one loaded.
    public let crossEncoder: BertModel?

    /// A handle for an already loaded model.
    public init(version: String, id: String, model: BertModel, crossEncoder: BertModel?) {
        self.version = version
        self.id = id
        self.model = model
        self.crossEncoder = crossEncoder
    }

    /// Loads a folder; the version comes from `manifest.json` if present.
    public static func load(path: String, crossEncoderPath: String?) throws -> ModelHandle {
        let url = URL(fileURLWithPath: path)
        let model = try BertModel(directory: url)
        let version = ModelVersions.manifestVersion(of: url) ?? "base"
        var cross: BertModel?
        if let crossEncoderPath {
            let c = try BertModel(directory: URL(fileURLWithPath: crossEncoderPath))
            guard c.isCrossEncoder else {
                throw EncoderError.unsupported(file: crossEncoderPath, reason: "not a cross-encoder (config.json architectures lacks BertForSequenceClassification)")
            }
            cross = c
        }
        return ModelHandle(version: version, id: url.standardizedFileURL.lastPathComponent, model: model, crossEncoder: cross)
    }
}

// MARK: - What serves

/// A model version and the collections embedded with it: the pair that a
/// hot-swap replaces in one step. A request takes the pair once and uses
/// its model for every vector it computes and its store for every
/// collection it reads, so it never mixes two versions.
public final class ServingPair: Sendable {
    /// The model new vectors come from.
    public let handle: ModelHandle
    /// The collections, with vectors of `handle`'s version; nil when the
    /// index failed to open (then `storeError` says why).
    public let store: CollectionStore?
    /// Why the index failed to open, if it did.
    public let storeError: String?
    /// The index folder's name inside the data directory (`index` until the
    /// first swap, then `index-<version>-<hex>`).
    public let indexName: String
    /// Swaps before this pair (0 at start).
    public let generation: UInt64

    init(handle: ModelHandle, store: CollectionStore?, storeError: String?, indexName: String, generation: UInt64) {
        self.handle = handle
        self.store = store
        self.storeError = storeError
        self.indexName = indexName
        self.generation = generation
    }

    /// The collections, or `indexUnavailable` when they failed to open.
    func requireStore() throws -> CollectionStore {
        guard let store else { throw EngineError.indexUnavailable(reason: storeError ?? "unknown error") }
        return store
    }

    /// The collection `name` of this pair.
    func collection(_ name: String) throws -> Collection {
        let store = try requireStore()
        return try indexCall { try store.collection(name) }
    }
}

// MARK: - The registry

/// Holds the serving pair. Swapping is one reference change under a lock:
/// requests that already took the pair finish on it, new ones get the new
/// pair (the hot-swap; see docs/architecture.md).
public final class ModelRegistry: Sendable {
    private let state: Mutex<ServingPair>

    init(serving: ServingPair) { state = Mutex(serving) }

    /// The model and collections new requests use, read together.
    public var current: ServingPair { state.withLock { $0 } }

    /// The model new requests use.
    public var active: ModelHandle { current.handle }

    /// The active handle and how many swaps came before it, read together.
    public var activeWithGeneration: (handle: ModelHandle, generation: UInt64) {
        let pair = current
        return (pair.handle, pair.generation)
    }

    /// Makes `pair` the serving one; returns the one it replaced.
    @discardableResult
    func install(_ pair: ServingPair) -> ServingPair {
        state.withLock {
            let previous = $0
            $0 = pair
            return previous
        }
    }
}
