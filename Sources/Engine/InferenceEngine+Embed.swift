import Encoder
import Foundation
import Numerics
import Tokenization

// MARK: - Embedding

/// Vectors for a call, with what responses and usage figures need.
public struct Embeddings: Sendable {
    /// One row per input, in input order.
    public var vectors: Matrix
    /// Inputs cut to the model's maximum length.
    public var truncated: Int
    /// Tokens in the inputs, special tokens included.
    public var tokens: Int
    /// The model version that computed them.
    public var handle: ModelHandle
}

extension InferenceEngine {
    /// Validates, tokenises, batches and post-processes `texts`.
    ///
    /// - `field`: the request field the texts came from, named in errors.
    /// - `truncate`: cut texts longer than the model takes; when false they
    ///   fail with `inputTooLong`.
    /// - `dimensions`: keep the first n components (then renormalise when
    ///   `normalize`), as Matryoshka-style truncation does.
    /// - `handle`: the model to use (default: the active one).
    public func embed(
        _ texts: [String], field: String, truncate: Bool = true, normalize: Bool = true, dimensions: Int? = nil,
        handle: ModelHandle? = nil
    ) async throws -> Embeddings {
        let handle = handle ?? models.active
        let model = handle.model
        let limit = configuration.maxInputsPerRequest
        guard !texts.isEmpty else { throw EngineError.invalidInput(field: field, reason: "must not be empty; send at least one text") }
        guard texts.count <= limit else {
            throw EngineError.invalidInput(field: field, reason: "has \(texts.count) texts; at most \(limit) per request — split the batch")
        }
        if let i = texts.firstIndex(where: \.isEmpty) {
            throw EngineError.invalidInput(field: texts.count == 1 ? field : "\(field)[\(i)]", reason: "must not be an empty string")
        }
        if let d = dimensions, d < 1 || d > model.dimensions {
            throw EngineError.invalidInput(field: "dimensions", reason: "must be between 1 and \(model.dimensions)")
        }
        let encodings = texts.map(model.encode)
        let truncated = encodings.reduce(0) { $0 + ($1.truncated ? 1 : 0) }
        if truncated > 0 && !truncate {
            let i = encodings.firstIndex(where: \.truncated)!
            throw EngineError.inputTooLong(field: texts.count == 1 ? field : "\(field)[\(i)]", maxTokens: model.maxSequenceLength)
        }
        let raw: Matrix, timing: Batcher.Timing
        do {
            (raw, timing) = try await batcher.submit(encodings, model: model)
        } catch let e as Batcher.BatcherError {
            switch e {
            case .full(let queued): throw EngineError.overloaded(queued: queued)
            case .stopped: throw EngineError.stopped
            }
        }
        let tokens = encodings.reduce(0) { $0 + $1.ids.count }
        observer?(EmbeddingReport(inputs: texts.count, tokens: tokens, truncated: truncated, timing: timing))
        var vectors = raw
        if let d = dimensions, d < raw.cols {
            vectors = Matrix(rows: raw.rows, cols: d)
            for r in 0..<raw.rows { for c in 0..<d { vectors[r, c] = raw[r, c] } }
        }
        if normalize {
            let cols = vectors.cols
            vectors.data.withUnsafeMutableBufferPointer { p in
                for r in 0..<vectors.rows { Kernels.l2Normalize(p.baseAddress! + r * cols, cols) }
            }
        }
        return Embeddings(vectors: vectors, truncated: truncated, tokens: tokens, handle: handle)
    }
}
