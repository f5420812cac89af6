import Foundation
import Numerics
import Tokenization

// MARK: - A trainable sentence encoder
//
// Config, parameters, activations, gradients (llm.c's split): parameters
// and gradients are flat buffers (`BertParameterLayout`); the activations
// of every layer are kept for backward, in buffers sized once for the
// largest batch a step may hold, so a training step allocates nothing.
//
// The forward pass computes exactly what `BertModel.forward` + mean pooling
// + L2 normalisation serve (same packing, same kernels where they matter);
// a test holds the two to a named tolerance.

/// Activations of one transformer layer, kept for its backward pass.
/// Shapes use T (packed tokens) and the attention probabilities
/// Σ_s heads·L_s² of the batch's sequences.
struct LayerActivations {
    let input: FloatBuffer       // (T, H)  the residual stream entering the layer
    let qkv: FloatBuffer         // (T, 3H)
    let probabilities: FloatBuffer  // (Σ heads·L²)
    let context: FloatBuffer     // (T, H)
    let norm1Input: FloatBuffer  // (T, H)  x + attention projection
    let norm1Mean: FloatBuffer, norm1Rstd: FloatBuffer  // (T)
    let norm1Output: FloatBuffer // (T, H)
    let ffnPre: FloatBuffer      // (T, I)  before GELU
    let ffnAct: FloatBuffer      // (T, I)  after GELU
    let norm2Input: FloatBuffer  // (T, H)  norm1Output + feed-forward projection
    let norm2Mean: FloatBuffer, norm2Rstd: FloatBuffer  // (T)
}

/// A BERT encoder with mean pooling and L2 normalisation whose parameters
/// can be trained: `forward` keeps activations, `backward` adds into
/// `gradients`. Not thread-safe: one owner drives it.
public final class BertTrainable: @unchecked Sendable {
    public let config: BertConfig
    public let layout: BertParameterLayout
    /// Every trainable tensor (see `BertParameterLayout`).
    public let parameters: FloatBuffer
    public let gradients: BertGradients
    /// Capacity: sequences and tokens per sequence in one batch.
    public let maxSequences: Int, maxLength: Int

    private let layerActs: [LayerActivations]
    private let embeddingSum: FloatBuffer    // (T, H) word + position + type, before the norm
    private let embeddingMean: FloatBuffer, embeddingRstd: FloatBuffer  // (T)
    private let hidden: FloatBuffer          // (T, H) last layer's output
    private let norms: FloatBuffer           // (S) norm of each mean-pooled vector
    private let output: FloatBuffer          // (S, H) unit sentence vectors
    // Backward scratch.
    private let dA: FloatBuffer, dB: FloatBuffer, dContext: FloatBuffer  // (T, H)
    private let dQKV: FloatBuffer            // (T, 3H)
    private let dInner: FloatBuffer          // (T, I)
    private let dScores: FloatBuffer         // (L, L)
    // The current batch.
    private var offsets: [Int] = []
    private var probabilityOffsets: [Int] = []
    private var tokenIds: [Int] = [], positionIds: [Int] = [], typeIds: [Int] = []

    /// A trainable copy of `weights`, for batches of at most `maxSequences`
    /// inputs of at most `maxLength` tokens. Only mean pooling and plain
    /// (non-classifier) encoders are trainable.
    public convenience init(weights: BertWeights, config: BertConfig, maxSequences: Int, maxLength: Int) {
        self.init(config: config, maxSequences: maxSequences, maxLength: maxLength)
        layout.store(weights, into: parameters)
    }

    /// A trainable encoder with all parameters 0 (set them through
    /// `parameters`), for batches of at most `maxSequences` × `maxLength`.
    public init(config: BertConfig, maxSequences: Int, maxLength: Int) {
        self.config = config
        layout = BertParameterLayout(config: config)
        parameters = FloatBuffer(count: layout.count)
        gradients = BertGradients(layout: layout)
        self.maxSequences = max(1, maxSequences)
        self.maxLength = max(1, min(maxLength, config.maxPositions))
        let t = self.maxSequences * self.maxLength, h = config.hiddenSize, i = config.intermediateSize
        let probs = self.maxSequences * config.heads * self.maxLength * self.maxLength
        layerActs = (0..<config.layers).map { _ in
            LayerActivations(
                input: FloatBuffer(count: t * h), qkv: FloatBuffer(count: t * 3 * h),
                probabilities: FloatBuffer(count: probs), context: FloatBuffer(count: t * h),
                norm1Input: FloatBuffer(count: t * h), norm1Mean: FloatBuffer(count: t), norm1Rstd: FloatBuffer(count: t),
                norm1Output: FloatBuffer(count: t * h), ffnPre: FloatBuffer(count: t * i), ffnAct: FloatBuffer(count: t * i),
                norm2Input: FloatBuffer(count: t * h), norm2Mean: FloatBuffer(count: t), norm2Rstd: FloatBuffer(count: t))
        }
        embeddingSum = FloatBuffer(count: t * h)
        embeddingMean = FloatBuffer(count: t)
        embeddingRstd = FloatBuffer(count: t)
        hidden = FloatBuffer(count: t * h)
        norms = FloatBuffer(count: self.maxSequences)
        output = FloatBuffer(count: self.maxSequences * h)
        dA = FloatBuffer(count: t * h)
        dB = FloatBuffer(count: t * h)
        dContext = FloatBuffer(count: t * h)
        dQKV = FloatBuffer(count: t * 3 * h)
        dInner = FloatBuffer(count: t * i)
        dScores = FloatBuffer(count: self.maxLength * self.maxLength)
        offsets.reserveCapacity(self.maxSequences + 1)
        probabilityOffsets.reserveCapacity(self.maxSequences + 1)
        tokenIds.reserveCapacity(t); positionIds.reserveCapacity(t); typeIds.reserveCapacity(t)
    }

    // MARK: Forward

    /// Unit sentence vectors (S, H) of `batch`, each input cut to
    /// `maxLength` tokens; valid until the next `forward`.
    public func forward(_ batch: [Encoding]) -> UnsafePointer<Float> {
        precondition(!batch.isEmpty && batch.count <= maxSequences, "batch of \(batch.count) for capacity \(maxSequences)")
        let c = config, h = c.hiddenSize, i = c.intermediateSize, heads = c.heads, d = c.headSize
        let scale = 1 / Float(d).squareRoot()
        offsets.removeAll(keepingCapacity: true)
        probabilityOffsets.removeAll(keepingCapacity: true)
        tokenIds.removeAll(keepingCapacity: true)
        positionIds.removeAll(keepingCapacity: true)
        typeIds.removeAll(keepingCapacity: true)
        offsets.append(0)
        probabilityOffsets.append(0)
        for e in batch {
            let n = max(1, min(e.ids.count, maxLength))
            for p in 0..<n {
                tokenIds.append(p < e.ids.count ? min(max(Int(e.ids[p]), 0), c.vocabularySize - 1) : 0)
                positionIds.append(p)
                typeIds.append(p < e.typeIds.count ? min(max(Int(e.typeIds[p]), 0), c.typeVocabularySize - 1) : 0)
            }
            offsets.append(offsets.last! + n)
            probabilityOffsets.append(probabilityOffsets.last! + heads * n * n)
        }
        let t = offsets.last!
        let w = parameters.pointer

        // Embeddings: x = LN(word[id] + position[p] + type[t]).
        let sum = embeddingSum.pointer
        for r in 0..<t {
            let dst = sum + r * h
            dst.update(from: w + layout.word + tokenIds[r] * h, count: h)
            Kernels.add(dst, w + layout.position + positionIds[r] * h, h)
            Kernels.add(dst, w + layout.type + typeIds[r] * h, h)
        }
        let firstInput = layerActs.first?.input.pointer ?? hidden.pointer
        TrainingKernels.layerNormForward(
            firstInput, mean: embeddingMean.pointer, rstd: embeddingRstd.pointer, sum,
            gamma: w + layout.embeddingNormGamma, beta: w + layout.embeddingNormBeta, rows: t, cols: h, eps: c.layerNormEps)

        for (l, a) in layerActs.enumerated() {
            let o = layout.layers[l]
            let out = l + 1 < layerActs.count ? layerActs[l + 1].input.pointer : hidden.pointer
            // qkv (T, 3H) = x · Wqkvᵀ + b
            TrainingKernels.linearForward(a.qkv.pointer, a.input.pointer, w + o.qkv, w + o.qkvBias, rows: t, inDim: h, outDim: 3 * h)
            for s in 0..<batch.count {
                let start = offsets[s], len = offsets[s + 1] - start
                for head in 0..<heads {
                    Attention.headWithProbabilities(
                        context: a.context.pointer + start * h + head * d,
                        probabilities: a.probabilities.pointer + probabilityOffsets[s] + head * len * len,
                        qkv: a.qkv.pointer + start * 3 * h + head * d, length: len, hidden: h, headSize: d, scale: scale)
                }
            }
            // norm1Input = x + context · Woᵀ + b;  norm1Output = LN(norm1Input)
            TrainingKernels.linearForward(a.norm1Input.pointer, a.context.pointer, w + o.attentionOut, w + o.attentionOutBias,
                                          rows: t, inDim: h, outDim: h)
            Kernels.add(a.norm1Input.pointer, a.input.pointer, t * h)
            TrainingKernels.layerNormForward(
                a.norm1Output.pointer, mean: a.norm1Mean.pointer, rstd: a.norm1Rstd.pointer, a.norm1Input.pointer,
                gamma: w + o.attentionNormGamma, beta: w + o.attentionNormBeta, rows: t, cols: h, eps: c.layerNormEps)
            // ffnAct = GELU(norm1Output · W1ᵀ + b1)
            TrainingKernels.linearForward(a.ffnPre.pointer, a.norm1Output.pointer, w + o.ffnIn, w + o.ffnInBias,
                                          rows: t, inDim: h, outDim: i)
            TrainingKernels.geluForward(a.ffnAct.pointer, a.ffnPre.pointer, count: t * i)
            // norm2Input = norm1Output + ffnAct · W2ᵀ + b2;  out = LN(norm2Input)
            TrainingKernels.linearForward(a.norm2Input.pointer, a.ffnAct.pointer, w + o.ffnOut, w + o.ffnOutBias,
                                          rows: t, inDim: i, outDim: h)
            Kernels.add(a.norm2Input.pointer, a.norm1Output.pointer, t * h)
            TrainingKernels.layerNormForward(
                out, mean: a.norm2Mean.pointer, rstd: a.norm2Rstd.pointer, a.norm2Input.pointer,
                gamma: w + o.outputNormGamma, beta: w + o.outputNormBeta, rows: t, cols: h, eps: c.layerNormEps)
        }

        // Mean pooling over each sequence's tokens, then unit length (as
        // `BertModel.embed` serves), keeping each pooled vector's norm.
        for s in 0..<batch.count {
            let start = offsets[s], u = output.pointer + s * h
            BertModel.meanPool(hidden.pointer + start * h, rows: offsets[s + 1] - start, cols: h, into: u)
            norms.pointer[s] = Kernels.l2Normalize(u, h)
        }
        return UnsafePointer(output.pointer)
    }

    // MARK: Backward

    /// Adds the gradient of a loss into `gradients`, given `dOutput (S, H)`,
    /// the loss's gradient with respect to the unit sentence vectors of the
    /// last `forward`. Layers run in exactly the reverse order of forward.
    public func backward(dOutput: UnsafePointer<Float>) {
        let c = config, h = c.hiddenSize, i = c.intermediateSize, heads = c.heads, d = c.headSize
        let t = offsets.last!, sequences = offsets.count - 1
        let w = parameters.pointer, g = gradients.buffer.pointer

        // Normalisation: u = p/|p| ⇒ dp = (du − u·(u·du)) / |p|; mean pooling
        // spreads dp/L over the sequence's rows.
        let dx = dA.pointer
        for s in 0..<sequences {
            let u = output.pointer + s * h, du = dOutput + s * h
            let proj = Kernels.dot(u, du, h)
            let n = norms.pointer[s]
            let start = offsets[s], len = offsets[s + 1] - start
            let inv = n > 0 ? 1 / (n * Float(len)) : 0
            for r in start..<(start + len) {
                let row = dx + r * h
                for k in 0..<h { row[k] = (du[k] - u[k] * proj) * inv }
            }
        }

        for l in stride(from: layerActs.count - 1, through: 0, by: -1) {
            let a = layerActs[l], o = layout.layers[l]
            // LN2: dB = ∂/∂norm2Input
            TrainingKernels.layerNormBackward(
                dx: dB.pointer, dgamma: g + o.outputNormGamma, dbeta: g + o.outputNormBeta, dy: dA.pointer,
                x: a.norm2Input.pointer, mean: a.norm2Mean.pointer, rstd: a.norm2Rstd.pointer,
                gamma: w + o.outputNormGamma, rows: t, cols: h)
            // Feed-forward down projection: dInner = dB · W2
            TrainingKernels.linearBackward(
                dx: dInner.pointer, dw: g + o.ffnOut, db: g + o.ffnOutBias, dy: dB.pointer, x: a.ffnAct.pointer,
                w: w + o.ffnOut, rows: t, inDim: i, outDim: h)
            TrainingKernels.geluBackward(dInner.pointer, x: a.ffnPre.pointer, count: t * i)
            // Up projection; dB (the residual path into norm1Output) += dInner · W1.
            TrainingKernels.linearBackward(
                dx: dB.pointer, dw: g + o.ffnIn, db: g + o.ffnInBias, dy: dInner.pointer, x: a.norm1Output.pointer,
                w: w + o.ffnIn, rows: t, inDim: h, outDim: i, accumulate: true)
            // LN1: dA = ∂/∂norm1Input
            TrainingKernels.layerNormBackward(
                dx: dA.pointer, dgamma: g + o.attentionNormGamma, dbeta: g + o.attentionNormBeta, dy: dB.pointer,
                x: a.norm1Input.pointer, mean: a.norm1Mean.pointer, rstd: a.norm1Rstd.pointer,
                gamma: w + o.attentionNormGamma, rows: t, cols: h)
            // Attention output projection: dContext = dA · Wo
            TrainingKernels.linearBackward(
                dx: dContext.pointer, dw: g + o.attentionOut, db: g + o.attentionOutBias, dy: dA.pointer,
                x: a.context.pointer, w: w + o.attentionOut, rows: t, inDim: h, outDim: h)
            for s in 0..<sequences {
                let start = offsets[s], len = offsets[s + 1] - start
                for head in 0..<heads {
                    TrainingKernels.attentionBackward(
                        dqkv: dQKV.pointer + start * 3 * h + head * d, scratch: dScores.pointer,
                        dcontext: dContext.pointer + start * h + head * d,
                        probabilities: a.probabilities.pointer + probabilityOffsets[s] + head * len * len,
                        qkv: a.qkv.pointer + start * 3 * h + head * d, length: len, hidden: h, headSize: d)
                }
            }
            // QKV projection; dA (the residual path into the layer input) += dQKV · Wqkv.
            TrainingKernels.linearBackward(
                dx: dA.pointer, dw: g + o.qkv, db: g + o.qkvBias, dy: dQKV.pointer, x: a.input.pointer,
                w: w + o.qkv, rows: t, inDim: h, outDim: 3 * h, accumulate: true)
        }

        // Embedding norm, then scatter into the three tables.
        TrainingKernels.layerNormBackward(
            dx: dB.pointer, dgamma: g + layout.embeddingNormGamma, dbeta: g + layout.embeddingNormBeta, dy: dA.pointer,
            x: embeddingSum.pointer, mean: embeddingMean.pointer, rstd: embeddingRstd.pointer,
            gamma: w + layout.embeddingNormGamma, rows: t, cols: h)
        for r in 0..<t {
            let src = UnsafePointer(dB.pointer + r * h)
            Kernels.add(g + layout.word + tokenIds[r] * h, src, h)
            Kernels.add(g + layout.position + positionIds[r] * h, src, h)
            Kernels.add(g + layout.type + typeIds[r] * h, src, h)
        }
    }
}
