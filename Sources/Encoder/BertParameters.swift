import Foundation
import Numerics

// MARK: - Trainable parameters in one buffer
//
// For training, every tensor of the encoder lives in one contiguous Float
// buffer (as llm.c keeps `params_memory`): the gradients, and the
// optimiser's two moments, are buffers of the same length and layout, so
// zeroing, clipping, the AdamW update and a checkpoint are single loops over
// one array instead of a walk over thirty-odd tensors.

/// A fixed-size Float buffer allocated once and owned by one trainer.
/// Unsafe pointers into it stay valid for its lifetime.
public final class FloatBuffer: @unchecked Sendable {
    /// Number of elements.
    public let count: Int
    /// The first element.
    public let pointer: UnsafeMutablePointer<Float>

    /// A zero-filled buffer of `count` elements.
    public init(count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { pointer.deallocate() }

    /// Sets every element to 0.
    public func zero() { pointer.update(repeating: 0, count: count) }

    /// Copies every element of `other` (same count) into this buffer.
    public func copy(from other: FloatBuffer) {
        precondition(other.count == count, "FloatBuffer.copy: \(other.count) elements into \(count)")
        pointer.update(from: other.pointer, count: count)
    }

    /// The elements as an array (a copy).
    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}

/// Where each trainable tensor of a BERT encoder lies in a flat buffer.
/// The pooler and classifier of cross-encoders are not trainable here.
public struct BertParameterLayout: Sendable {
    /// Offsets of one transformer layer's tensors (shapes as in `BertLayerWeights`).
    public struct Layer: Sendable {
        public let qkv, qkvBias, attentionOut, attentionOutBias: Int
        public let attentionNormGamma, attentionNormBeta: Int
        public let ffnIn, ffnInBias, ffnOut, ffnOutBias: Int
        public let outputNormGamma, outputNormBeta: Int
    }

    public let config: BertConfig
    public let word, position, type, embeddingNormGamma, embeddingNormBeta: Int
    public let layers: [Layer]
    /// Total number of parameters.
    public let count: Int
    /// Every tensor: its sentence-transformers name, shape and offset, in
    /// buffer order.
    public let tensors: [(name: String, shape: [Int], offset: Int)]

    public init(config c: BertConfig) {
        let h = c.hiddenSize, i = c.intermediateSize
        var named: [(name: String, shape: [Int], offset: Int)] = []
        var next = 0
        func take(_ name: String, _ shape: [Int]) -> Int {
            let o = next
            named.append((name, shape, o))
            next += shape.reduce(1, *)
            return o
        }
        config = c
        word = take("embeddings.word_embeddings.weight", [c.vocabularySize, h])
        position = take("embeddings.position_embeddings.weight", [c.maxPositions, h])
        type = take("embeddings.token_type_embeddings.weight", [c.typeVocabularySize, h])
        embeddingNormGamma = take("embeddings.LayerNorm.weight", [h])
        embeddingNormBeta = take("embeddings.LayerNorm.bias", [h])
        layers = (0..<c.layers).map { l in
            let p = "encoder.layer.\(l)."
            // Q, K and V are three tensors in the file but one (3H, H) block
            // here, as the forward pass multiplies them at once.
            let qkv = take(p + "attention.self.qkv.weight", [3 * h, h])
            let qkvBias = take(p + "attention.self.qkv.bias", [3 * h])
            return Layer(
                qkv: qkv, qkvBias: qkvBias,
                attentionOut: take(p + "attention.output.dense.weight", [h, h]),
                attentionOutBias: take(p + "attention.output.dense.bias", [h]),
                attentionNormGamma: take(p + "attention.output.LayerNorm.weight", [h]),
                attentionNormBeta: take(p + "attention.output.LayerNorm.bias", [h]),
                ffnIn: take(p + "intermediate.dense.weight", [i, h]),
                ffnInBias: take(p + "intermediate.dense.bias", [i]),
                ffnOut: take(p + "output.dense.weight", [h, i]),
                ffnOutBias: take(p + "output.dense.bias", [h]),
                outputNormGamma: take(p + "output.LayerNorm.weight", [h]),
                outputNormBeta: take(p + "output.LayerNorm.bias", [h]))
        }
        count = next
        tensors = named
    }

    /// Copies `weights` into `buffer` (which has `count` elements).
    public func store(_ w: BertWeights, into buffer: FloatBuffer) {
        precondition(buffer.count == count)
        let p = buffer.pointer
        func put(_ values: [Float], _ offset: Int) {
            values.withUnsafeBufferPointer { (p + offset).update(from: $0.baseAddress!, count: $0.count) }
        }
        put(w.wordEmbeddings, word); put(w.positionEmbeddings, position); put(w.typeEmbeddings, type)
        put(w.embeddingNormGamma, embeddingNormGamma); put(w.embeddingNormBeta, embeddingNormBeta)
        for (l, o) in zip(w.layers, layers) {
            put(l.qkv, o.qkv); put(l.qkvBias, o.qkvBias)
            put(l.attentionOut, o.attentionOut); put(l.attentionOutBias, o.attentionOutBias)
            put(l.attentionNormGamma, o.attentionNormGamma); put(l.attentionNormBeta, o.attentionNormBeta)
            put(l.ffnIn, o.ffnIn); put(l.ffnInBias, o.ffnInBias)
            put(l.ffnOut, o.ffnOut); put(l.ffnOutBias, o.ffnOutBias)
            put(l.outputNormGamma, o.outputNormGamma); put(l.outputNormBeta, o.outputNormBeta)
        }
    }

    /// `base` with every trainable tensor replaced by the values in `buffer`
    /// (the pooler and classifier, if any, are kept from `base`).
    public func weights(from buffer: FloatBuffer, base: BertWeights) -> BertWeights {
        precondition(buffer.count == count)
        let p = buffer.pointer
        func get(_ offset: Int, _ n: Int) -> [Float] { Array(UnsafeBufferPointer(start: p + offset, count: n)) }
        let h = config.hiddenSize, i = config.intermediateSize
        var w = base
        w.wordEmbeddings = get(word, config.vocabularySize * h)
        w.positionEmbeddings = get(position, config.maxPositions * h)
        w.typeEmbeddings = get(type, config.typeVocabularySize * h)
        w.embeddingNormGamma = get(embeddingNormGamma, h)
        w.embeddingNormBeta = get(embeddingNormBeta, h)
        for (l, o) in layers.enumerated() {
            w.layers[l] = BertLayerWeights(
                qkv: get(o.qkv, 3 * h * h), qkvBias: get(o.qkvBias, 3 * h),
                attentionOut: get(o.attentionOut, h * h), attentionOutBias: get(o.attentionOutBias, h),
                attentionNormGamma: get(o.attentionNormGamma, h), attentionNormBeta: get(o.attentionNormBeta, h),
                ffnIn: get(o.ffnIn, i * h), ffnInBias: get(o.ffnInBias, i),
                ffnOut: get(o.ffnOut, h * i), ffnOutBias: get(o.ffnOutBias, h),
                outputNormGamma: get(o.outputNormGamma, h), outputNormBeta: get(o.outputNormBeta, h))
        }
        return w
    }
}

/// Gradients of every trainable tensor, in the layout of
/// `BertParameterLayout`. Backward passes *add* into them (so that several
/// lists can share a step); `zero()` starts a step.
public final class BertGradients: @unchecked Sendable {
    public let layout: BertParameterLayout
    public let buffer: FloatBuffer

    public init(layout: BertParameterLayout) {
        self.layout = layout
        buffer = FloatBuffer(count: layout.count)
    }

    /// Sets every gradient to 0.
    public func zero() { buffer.zero() }

    /// The global L2 norm, accumulated in Double.
    public func norm() -> Double {
        var s = 0.0
        let p = buffer.pointer
        // Partial sums in Float over short runs, then Double: exact enough
        // and eight times faster than Double per element.
        var i = 0
        while i < buffer.count {
            let n = min(4096, buffer.count - i)
            s += Double(Kernels.sumOfSquares(p + i, n))
            i += n
        }
        return s.squareRoot()
    }

    /// Multiplies every gradient by `factor`.
    public func scale(by factor: Float) { Kernels.scale(buffer.pointer, buffer.count, by: factor) }
}

extension BertConfig {
    /// A configuration from its numbers (tests build tiny random encoders).
    public init(vocabularySize: Int, hiddenSize: Int, layers: Int, heads: Int, intermediateSize: Int,
                maxPositions: Int, typeVocabularySize: Int = 2, layerNormEps: Float = 1e-12) {
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.layers = layers
        self.heads = heads
        self.intermediateSize = intermediateSize
        self.maxPositions = maxPositions
        self.typeVocabularySize = typeVocabularySize
        self.layerNormEps = layerNormEps
        self.classifierLabels = nil
    }
}
