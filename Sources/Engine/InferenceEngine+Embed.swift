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
        try checkTexts(texts, field: field)
        if let d = dimensions, d < 1 || d > model.dimensions {
            throw EngineError.invalidInput(field: "dimensions", reason: "must be between 1 and \(model.dimensions)")
        }
        let (encodings, truncated) = try encodeInputs(texts, field: field, truncate: truncate, model: model)
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

    /// Refuses an empty list, more texts than `maxInputsPerRequest`, and
    /// empty texts (naming the first).
    func checkTexts(_ texts: [String], field: String) throws {
        let limit = configuration.maxInputsPerRequest
        guard !texts.isEmpty else { throw EngineError.invalidInput(field: field, reason: "must not be empty; send at least one text") }
        guard texts.count <= limit else {
            throw EngineError.invalidInput(field: field, reason: "has \(texts.count) texts; at most \(limit) per request — split the batch")
        }
        if let i = texts.firstIndex(where: \.isEmpty) {
            throw EngineError.invalidInput(field: texts.count == 1 ? field : "\(field)[\(i)]", reason: "must not be an empty string")
        }
    }

    /// Tokenises `texts`; when `truncate` is false, a text longer than the
    /// model takes is `inputTooLong` (naming the first).
    func encodeInputs(_ texts: [String], field: String, truncate: Bool, model: BertModel) throws -> (encodings: [Encoding], truncated: Int) {
        let encodings = texts.map(model.encode)
        let truncated = encodings.reduce(0) { $0 + ($1.truncated ? 1 : 0) }
        if truncated > 0 && !truncate {
            let i = encodings.firstIndex(where: \.truncated)!
            throw EngineError.inputTooLong(field: texts.count == 1 ? field : "\(field)[\(i)]", maxTokens: model.maxSequenceLength)
        }
        return (encodings, truncated)
    }
}

// MARK: - Token embeddings

/// The encoder's last hidden states for each input, before pooling.
public struct TokenEmbeddings: Sendable {
    /// One matrix per input, in input order: (tokens of that input, H),
    /// [CLS] first and [SEP] last.
    public var vectors: [Matrix]
    /// Inputs cut to the model's maximum length.
    public var truncated: Int
    /// Tokens in the inputs, special tokens included.
    public var tokens: Int
    /// The model version that computed them.
    public var handle: ModelHandle
}

extension InferenceEngine {
    /// Per-token vectors of `texts` (TEI's `/embed_all`): the same forward
    /// pass as `embed`, without pooling or normalisation. Validated like
    /// `embed`; the total number of tokens is also capped at the batcher's
    /// `maxBatchTokens`, which bounds the answer (one vector per token).
    public func tokenEmbeddings(_ texts: [String], field: String, truncate: Bool = true,
                                handle: ModelHandle? = nil) async throws -> TokenEmbeddings {
        let handle = handle ?? models.active
        let model = handle.model
        try checkTexts(texts, field: field)
        let (encodings, truncated) = try encodeInputs(texts, field: field, truncate: truncate, model: model)
        let tokens = encodings.reduce(0) { $0 + $1.ids.count }
        let maxTokens = configuration.batcher.maxBatchTokens
        guard tokens <= maxTokens else {
            throw EngineError.invalidInput(field: field, reason: "has \(tokens) tokens in all; token embeddings are limited to \(maxTokens) tokens per request (--max-batch-tokens) — split the batch")
        }
        // Off the caller's task, on the queue cross-encoder passes use.
        let started = DispatchTime.now().uptimeNanoseconds
        let (hidden, offsets) = try await batcher.exclusive { model.forward(encodings, threads: 1) }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        observer?(EmbeddingReport(inputs: texts.count, tokens: tokens, truncated: truncated,
                                  timing: Batcher.Timing(queueSeconds: 0, inferenceSeconds: seconds)))
        let h = hidden.cols
        var vectors: [Matrix] = []
        vectors.reserveCapacity(texts.count)
        for s in 0..<(offsets.count - 1) {
            var m = Matrix(rows: offsets[s + 1] - offsets[s], cols: h)
            for r in 0..<m.rows { for c in 0..<h { m[r, c] = hidden[offsets[s] + r, c] } }
            vectors.append(m)
        }
        return TokenEmbeddings(vectors: vectors, truncated: truncated, tokens: tokens, handle: handle)
    }
}
