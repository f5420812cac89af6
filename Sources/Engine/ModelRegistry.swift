import Encoder
import Foundation
import Synchronization

// MARK: - Model handles

/// A loaded embedding model with the version it serves under. Requests
/// capture one handle at their start and finish on it, so a swap never
/// mixes versions inside a response.
public final class ModelHandle: Sendable {
    /// Version id: `base` for the bundled folder, else the trained
    /// version's id from its `manifest.json`.
    public let version: String
    /// Model id reported by the API (the folder's name).
    public let id: String
    /// The embedding model.
    public let model: BertModel
    /// Optional cross-encoder used by the rerank endpoints.
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
        var version = "base"
        if let data = FileManager.default.contents(atPath: url.appendingPathComponent("manifest.json").path),
           let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let v = object["version"] as? String {
            version = v
        }
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

// MARK: - The registry

/// Holds the active model. Swapping is one reference change under a lock:
/// requests that already took `active` finish on their handle, new ones
/// get the new handle (the hot-swap; see docs/architecture.md).
public final class ModelRegistry: Sendable {
    private struct State {
        var handle: ModelHandle
        var generation: UInt64
    }

    private let state: Mutex<State>

    /// A registry serving `active`, at generation 0.
    public init(active: ModelHandle) { state = Mutex(State(handle: active, generation: 0)) }

    /// The handle new requests use.
    public var active: ModelHandle { state.withLock { $0.handle } }

    /// The active handle and how many swaps came before it, read together.
    public var activeWithGeneration: (handle: ModelHandle, generation: UInt64) {
        state.withLock { ($0.handle, $0.generation) }
    }

    /// Makes `handle` the active model; returns the one it replaced.
    @discardableResult
    public func activate(_ handle: ModelHandle) -> ModelHandle {
        state.withLock {
            let previous = $0.handle
            $0.handle = handle
            $0.generation += 1
            return previous
        }
    }
}
