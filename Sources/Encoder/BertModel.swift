import Foundation
import Numerics
import Tokenization

// MARK: - A sentence-transformers BERT model

/// A loaded sentence-transformers folder: config, weights, tokenizer and
/// pooling. Immutable once loaded and safe to share across threads; each
/// forward pass allocates its own activations.
public final class BertModel: Sendable {
    /// The folder it was loaded from.
    public let directory: URL
    public let config: BertConfig
    public let weights: BertWeights
    public let pooling: Pooling
    public let tokenizer: WordPieceTokenizer
    /// Longest input in tokens, [CLS] and [SEP] included
    /// (`sentence_bert_config.json`'s `max_seq_length`, capped by the
    /// position table).
    public let maxSequenceLength: Int

    /// Loads `directory` (config.json, model.safetensors, tokenizer.json or
    /// vocab.txt, 1_Pooling/config.json, sentence_bert_config.json).
    public init(directory: URL) throws {
        self.directory = directory
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw EncoderError.missingFile(directory.path)
        }
        let config = try BertConfig(url: directory.appendingPathComponent("config.json"))
        let weightsURL = directory.appendingPathComponent("model.safetensors")
        guard FileManager.default.fileExists(atPath: weightsURL.path) else { throw EncoderError.missingFile(weightsURL.path) }
        let file = try SafeTensorsFile(url: weightsURL)
        self.config = config
        self.weights = try BertWeights(file: file, config: config)
        self.pooling = try Pooling(url: directory.appendingPathComponent("1_Pooling/config.json"))
        self.tokenizer = try WordPieceTokenizer(modelDirectory: directory)
        guard tokenizer.vocabularySize <= config.vocabularySize else {
            throw EncoderError.badConfig(
                file: directory.appendingPathComponent("config.json").path,
                reason: "vocab_size \(config.vocabularySize) is smaller than the tokenizer's \(tokenizer.vocabularySize) tokens")
        }
        var maxLength = config.maxPositions
        let stConfig = directory.appendingPathComponent("sentence_bert_config.json")
        if FileManager.default.fileExists(atPath: stConfig.path),
           let v = (try readJSONObject(stConfig)["max_seq_length"] as? NSNumber)?.intValue, v > 0 {
            maxLength = min(v, config.maxPositions)
        }
        self.maxSequenceLength = maxLength
    }

    /// A model that shares `base`'s folder, configuration, tokenizer and
    /// pooling but runs `weights` (a training checkpoint being evaluated).
    public init(base: BertModel, weights: BertWeights) {
        directory = base.directory
        config = base.config
        self.weights = weights
        pooling = base.pooling
        tokenizer = base.tokenizer
        maxSequenceLength = base.maxSequenceLength
    }

    /// Output dimensions of a sentence vector.
    public var dimensions: Int { config.hiddenSize }

    /// Whether this folder is a cross-encoder (has a classification head).
    public var isCrossEncoder: Bool { weights.classifier != nil }

    // MARK: Tokenising

    /// Tokenises one text, truncated to `maxSequenceLength`.
    public func encode(_ text: String) -> Encoding {
        tokenizer.encode(text, maxLength: maxSequenceLength)
    }

    // MARK: Embedding

    /// Sentence vectors for already tokenised inputs, one row each, in input
    /// order, L2-normalised when `normalize` is set.
    ///
    /// On several cores the batch is split into contiguous groups of about
    /// equal token counts, one forward pass per core: data parallelism has
    /// no synchronisation inside a layer, which small matrix products on a
    /// threaded BLAS pay for at every call. Set BLAS to one thread
    /// (`BLAS.setThreads(1)`) when using `threads` > 1.
    public func embed(_ batch: [Encoding], normalize: Bool = true, threads: Int = 1) -> Matrix {
        let h = config.hiddenSize
        var pooled = Matrix(rows: batch.count, cols: h)
        guard !batch.isEmpty else { return pooled }
        let groups = Self.split(batch.map { min($0.ids.count, maxSequenceLength) }, into: threads)
        if groups.count == 1 {
            let (hidden, offsets) = forward(batch, threads: threads)
            pool(hidden, offsets: offsets, into: &pooled)
        } else {
            pooled.data.withUnsafeMutableBufferPointer { buffer in
                let out = UnsafeMutableSendablePointer(buffer.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: groups.count) { g in
                    let range = groups[g]
                    let (hidden, offsets) = forward(Array(batch[range]), threads: 1)
                    var part = Matrix(rows: range.count, cols: h)
                    pool(hidden, offsets: offsets, into: &part)
                    part.data.withUnsafeBufferPointer { src in
                        (out.pointer + range.lowerBound * h).update(from: src.baseAddress!, count: range.count * h)
                    }
                }
            }
        }
        if normalize {
            pooled.data.withUnsafeMutableBufferPointer { p in
                for r in 0..<batch.count { Kernels.l2Normalize(p.baseAddress! + r * h, h) }
            }
        }
        return pooled
    }

    /// Splits `lengths` into at most `parts` contiguous ranges of about
    /// equal total length; a batch too small to be worth splitting stays whole.
    static func split(_ lengths: [Int], into parts: Int) -> [Range<Int>] {
        let total = lengths.reduce(0, +)
        let parts = min(parts, lengths.count, max(1, total / 48))
        guard parts > 1 else { return [0..<lengths.count] }
        var ranges: [Range<Int>] = []
        var start = 0, acc = 0
        for (i, l) in lengths.enumerated() {
            acc += l
            let remainingParts = parts - ranges.count - 1
            if remainingParts > 0 && acc * parts >= total * (ranges.count + 1) && lengths.count - (i + 1) >= remainingParts {
                ranges.append(start..<(i + 1))
                start = i + 1
            }
        }
        ranges.append(start..<lengths.count)
        return ranges.filter { !$0.isEmpty }
    }

    /// Tokenises and embeds `texts`; the result says how many were truncated.
    public func embed(_ texts: [String], normalize: Bool = true, threads: Int = 1) -> (vectors: Matrix, truncated: Int) {
        let encodings = texts.map(encode)
        return (embed(encodings, normalize: normalize, threads: threads), encodings.filter(\.truncated).count)
    }

    // MARK: Pooling

    func pool(_ hidden: Matrix, offsets: [Int], into out: inout Matrix) {
        let h = config.hiddenSize
        hidden.data.withUnsafeBufferPointer { src in
            out.data.withUnsafeMutableBufferPointer { dst in
                for s in 0..<(offsets.count - 1) {
                    let start = offsets[s], len = offsets[s + 1] - start
                    let o = dst.baseAddress! + s * h
                    switch pooling {
                    case .cls:
                        o.update(from: src.baseAddress! + start * h, count: h)
                    case .mean:
                        Self.meanPool(src.baseAddress! + start * h, rows: len, cols: h, into: o)
                    case .max:
                        o.update(from: src.baseAddress! + start * h, count: h)
                        for t in (start + 1)..<max(start + 1, start + len) {
                            for c in 0..<h { o[c] = Swift.max(o[c], src[t * h + c]) }
                        }
                    }
                }
            }
        }
    }

    /// `out (cols) =` the mean of `rows` consecutive rows of `x` (zero
    /// for none). The training forward pools the same way.
    static func meanPool(_ x: UnsafePointer<Float>, rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>) {
        out.update(repeating: 0, count: cols)
        for r in 0..<rows { Kernels.add(out, x + r * cols, cols) }
        Kernels.scale(out, cols, by: 1 / Float(max(rows, 1)))
    }

    // MARK: Cross-encoder scores

    /// Relevance logits of a cross-encoder (`BertForSequenceClassification`)
    /// for (query, document) pairs: the first label's logit per pair.
    public func crossScores(query: String, documents: [String]) -> [Float] {
        crossScores(encodings: documents.map { tokenizer.encodePair(query, $0, maxLength: maxSequenceLength) })
    }

    /// Cross-encoder logits for already encoded pairs:
    /// `classifier(tanh(pooler · h_[CLS] + b))`, first label.
    public func crossScores(encodings batch: [Encoding]) -> [Float] {
        precondition(isCrossEncoder, "crossScores needs a cross-encoder folder")
        let (hidden, offsets) = forward(batch)
        let h = config.hiddenSize
        let (pw, pb) = weights.pooler!
        let (cw, cb) = weights.classifier!
        var scores = [Float](repeating: 0, count: batch.count)
        var pooled = [Float](repeating: 0, count: h)
        hidden.data.withUnsafeBufferPointer { hp in
            for s in 0..<batch.count {
                let cls = hp.baseAddress! + offsets[s] * h
                for o in 0..<h {
                    pooled[o] = tanh(pb[o] + pw.withUnsafeBufferPointer { Kernels.dot($0.baseAddress! + o * h, cls, h) })
                }
                scores[s] = cb[0] + cw.withUnsafeBufferPointer { w in pooled.withUnsafeBufferPointer { Kernels.dot(w.baseAddress!, $0.baseAddress!, h) } }
            }
        }
        return scores
    }
}
