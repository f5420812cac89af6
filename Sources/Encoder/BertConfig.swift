import Foundation

// MARK: - Configuration

/// Errors loading a sentence-transformers model folder. Each names the file.
public enum EncoderError: Error, CustomStringConvertible {
    case missingFile(String)
    case badConfig(file: String, reason: String)
    case unsupported(file: String, reason: String)
    case badInput(String)

    public var description: String {
        switch self {
        case let .missingFile(path): return "\(path): file not found (is this a sentence-transformers model folder?)"
        case let .badConfig(file, reason): return "\(file): \(reason)"
        case let .unsupported(file, reason): return "\(file): unsupported: \(reason)"
        case let .badInput(reason): return reason
        }
    }
}

/// The shape of a BERT encoder, from `config.json`. Immutable.
public struct BertConfig: Sendable, Equatable {
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var layers: Int
    public var heads: Int
    public var intermediateSize: Int
    public var maxPositions: Int
    public var typeVocabularySize: Int
    public var layerNormEps: Float
    /// `BertForSequenceClassification` folders (cross-encoders) carry a
    /// classifier head with this many labels; nil for plain `BertModel`.
    public var classifierLabels: Int?

    /// Size of one attention head.
    public var headSize: Int { hiddenSize / heads }

    /// Reads `config.json` at `url`.
    public init(url: URL) throws {
        let object = try readJSONObject(url)
        func int(_ key: String) throws -> Int {
            guard let v = (object[key] as? NSNumber)?.intValue, v > 0 else {
                throw EncoderError.badConfig(file: url.path, reason: "'\(key)' missing or not a positive integer")
            }
            return v
        }
        if let type = object["model_type"] as? String, type != "bert" {
            throw EncoderError.unsupported(file: url.path, reason: "model_type '\(type)'; Ranksmith runs BERT-family encoders")
        }
        if let act = object["hidden_act"] as? String, act != "gelu" {
            throw EncoderError.unsupported(file: url.path, reason: "hidden_act '\(act)'; only 'gelu' (erf) is implemented")
        }
        if let pos = object["position_embedding_type"] as? String, pos != "absolute" {
            throw EncoderError.unsupported(file: url.path, reason: "position_embedding_type '\(pos)'")
        }
        vocabularySize = try int("vocab_size")
        hiddenSize = try int("hidden_size")
        layers = try int("num_hidden_layers")
        heads = try int("num_attention_heads")
        intermediateSize = try int("intermediate_size")
        maxPositions = try int("max_position_embeddings")
        typeVocabularySize = (object["type_vocab_size"] as? NSNumber)?.intValue ?? 2
        layerNormEps = (object["layer_norm_eps"] as? NSNumber)?.floatValue ?? 1e-12
        guard hiddenSize % heads == 0 else {
            throw EncoderError.badConfig(file: url.path, reason: "hidden_size \(hiddenSize) is not a multiple of num_attention_heads \(heads)")
        }
        let architectures = object["architectures"] as? [String] ?? []
        if architectures.contains("BertForSequenceClassification") {
            let labels = (object["id2label"] as? [String: Any])?.count ?? (object["num_labels"] as? NSNumber)?.intValue ?? 1
            classifierLabels = max(1, labels)
        } else {
            classifierLabels = nil
        }
    }
}

/// How token vectors become one sentence vector (`1_Pooling/config.json`).
public enum Pooling: String, Sendable {
    case mean, cls, max

    /// Reads the sentence-transformers pooling config; mean if absent.
    public init(url: URL) throws {
        guard FileManager.default.fileExists(atPath: url.path) else { self = .mean; return }
        let object = try readJSONObject(url)
        if object["pooling_mode_mean_tokens"] as? Bool == true {
            self = .mean
        } else if object["pooling_mode_cls_token"] as? Bool == true {
            self = .cls
        } else if object["pooling_mode_max_tokens"] as? Bool == true {
            self = .max
        } else {
            throw EncoderError.unsupported(file: url.path, reason: "no supported pooling mode (mean, cls, max) is enabled")
        }
    }
}

/// Reads a JSON object file, with errors naming the file.
func readJSONObject(_ url: URL) throws -> [String: Any] {
    guard let data = FileManager.default.contents(atPath: url.path) else { throw EncoderError.missingFile(url.path) }
    guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
        throw EncoderError.badConfig(file: url.path, reason: "not a JSON object")
    }
    return object
}
