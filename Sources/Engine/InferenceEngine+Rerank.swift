import Encoder
import Foundation
import Numerics

// MARK: - Reranking

/// Relevance scores of documents against a query.
public struct RerankScores: Sendable {
    /// One score per document, in document order.
    public var scores: [Float]
    /// Tokens the scoring read.
    public var tokens: Int
    /// The model version that scored.
    public var handle: ModelHandle
}

extension InferenceEngine {
    /// Scores of `documents` against `query`, in document order.
    ///
    /// With a cross-encoder configured, its relevance logit (`raw`) or its
    /// sigmoid; otherwise the embedding model's cosine similarity, which is
    /// already in [-1, 1] and reported as is either way. `field` names the
    /// documents in errors; `handle` is the model to use (default: the
    /// active one), so a search reranks with the model it searched with.
    public func rerankScores(query: String, documents: [String], field: String, raw: Bool, truncate: Bool,
                             handle: ModelHandle? = nil) async throws -> RerankScores {
        guard !query.isEmpty else { throw EngineError.invalidInput(field: "query", reason: "must not be empty") }
        guard !documents.isEmpty else {
            throw EngineError.invalidInput(field: field, reason: "must not be empty; send at least one document")
        }
        let handle = handle ?? models.active
        if let cross = handle.crossEncoder {
            let limit = configuration.maxInputsPerRequest
            guard documents.count <= limit else {
                throw EngineError.invalidInput(field: field, reason: "has \(documents.count) documents; at most \(limit) per request")
            }
            let logits = try await batcher.exclusive { cross.crossScores(query: query, documents: documents) }
            let scores = raw ? logits : logits.map { 1 / (1 + exp(-$0)) }
            let tokens = documents.reduce(0) { $0 + cross.tokenizer.encodePair(query, $1, maxLength: cross.maxSequenceLength).ids.count }
            return RerankScores(scores: scores, tokens: tokens, handle: handle)
        }
        let outcome = try await embed([query] + documents, field: field, truncate: truncate, normalize: true, handle: handle)
        let v = outcome.vectors
        let scores: [Float] = v.data.withUnsafeBufferPointer { p in
            (1..<v.rows).map { Kernels.dot(p.baseAddress!, p.baseAddress! + $0 * v.cols, v.cols) }
        }
        return RerankScores(scores: scores, tokens: outcome.tokens, handle: handle)
    }

    /// Indices sorted by descending score (stable), cut to `topN`.
    public static func ranking(_ scores: [Float], topN: Int?) throws -> [Int] {
        if let n = topN, n < 1 { throw EngineError.invalidInput(field: "top_n", reason: "must be at least 1") }
        let order = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        return Array(order.prefix(topN ?? order.count))
    }
}
