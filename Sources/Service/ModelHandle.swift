import Encoder
import Foundation

// MARK: - The active model

/// A loaded embedding model with the version it serves under. Requests
/// capture one handle at their start and finish on it, so a swap never
/// mixes versions inside a response.
public final class ModelHandle: Sendable {
    /// Version id: `base` for the bundled folder, else the trained
    /// version's id from its `manifest.json`.
    public let version: String
    /// Model id reported by the API (the folder's name).
    public let id: String
    public let model: BertModel
    /// Optional cross-encoder used by the rerank endpoints.
    public let crossEncoder: BertModel?

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

/// Holds the active model; swapping is one reference change under a lock.
public final class ModelRegistry: @unchecked Sendable {
    private let lock = NSLock()
    private var activeHandle: ModelHandle

    public init(active: ModelHandle) { activeHandle = active }

    /// The handle new requests use.
    public var active: ModelHandle {
        lock.lock(); defer { lock.unlock() }
        return activeHandle
    }

    /// Makes `handle` the active model.
    public func activate(_ handle: ModelHandle) {
        lock.lock(); activeHandle = handle; lock.unlock()
    }
}
