import Foundation
import Numerics
import Tokenization

// MARK: - Forward pass
//
// A batch is packed without padding: sequence s occupies rows
// offsets[s] ..< offsets[s+1] of every (T, ·) activation, T = Σ lengths.
// Linear layers are one sgemm over all T rows; attention runs per sequence.

/// Activations of one forward pass, sized for T packed tokens.
struct BertActivations {
    var x: Matrix          // (T, H)   the residual stream
    var qkv: Matrix        // (T, 3H)
    var context: Matrix    // (T, H)   attention output before projection
    var projected: Matrix  // (T, H)   a linear layer's output before the residual add
    var inner: Matrix      // (T, I)   feed-forward hidden

    init(tokens t: Int, config c: BertConfig) {
        x = Matrix(rows: t, cols: c.hiddenSize)
        qkv = Matrix(rows: t, cols: 3 * c.hiddenSize)
        context = Matrix(rows: t, cols: c.hiddenSize)
        projected = Matrix(rows: t, cols: c.hiddenSize)
        inner = Matrix(rows: t, cols: c.intermediateSize)
    }
}

extension BertModel {
    /// Last hidden states of every token, packed, and the sequence offsets.
    /// `threads` > 1 spreads attention over (sequence, head) and linear
    /// layers over column blocks; use it for small batches (large ones are
    /// split across cores by `embed` instead).
    public func forward(_ batch: [Encoding], threads: Int = 1) -> (hidden: Matrix, offsets: [Int]) {
        var offsets = [0]
        offsets.reserveCapacity(batch.count + 1)
        for e in batch { offsets.append(offsets.last! + min(e.ids.count, maxSequenceLength)) }
        let t = offsets.last!
        let c = config
        var a = BertActivations(tokens: t, config: c)
        embeddings(batch, into: &a.x)
        for layer in weights.layers {
            layerForward(layer, &a, offsets: offsets, threads: threads)
        }
        return (a.x, offsets)
    }

    /// `x[t] = LayerNorm(word[id] + position[p] + type[typeId])`.
    func embeddings(_ batch: [Encoding], into x: inout Matrix) {
        let h = config.hiddenSize
        let w = weights
        x.data.withUnsafeMutableBufferPointer { xp in
            w.wordEmbeddings.withUnsafeBufferPointer { word in
            w.positionEmbeddings.withUnsafeBufferPointer { pos in
            w.typeEmbeddings.withUnsafeBufferPointer { type in
                var row = 0
                for e in batch {
                    for p in 0..<min(e.ids.count, maxSequenceLength) {
                        let id = min(max(Int(e.ids[p]), 0), config.vocabularySize - 1)
                        let typeId = p < e.typeIds.count ? min(max(Int(e.typeIds[p]), 0), config.typeVocabularySize - 1) : 0
                        let dst = xp.baseAddress! + row * h
                        dst.update(from: word.baseAddress! + id * h, count: h)
                        Kernels.add(dst, pos.baseAddress! + p * h, h)
                        Kernels.add(dst, type.baseAddress! + typeId * h, h)
                        row += 1
                    }
                }
            }}}
            w.embeddingNormGamma.withUnsafeBufferPointer { g in
                w.embeddingNormBeta.withUnsafeBufferPointer { b in
                    Kernels.layerNorm(xp.baseAddress!, rows: x.rows, cols: h, gamma: g.baseAddress!, beta: b.baseAddress!, eps: config.layerNormEps)
                }
            }
        }
    }

    /// One post-norm transformer layer:
    /// `x = LN(x + Attn(x) Woᵀ)`, then `x = LN(x + GELU(x W1ᵀ) W2ᵀ)`.
    func layerForward(_ w: BertLayerWeights, _ a: inout BertActivations, offsets: [Int], threads: Int) {
        let h = config.hiddenSize, i = config.intermediateSize, eps = config.layerNormEps
        // qkv (T, 3H) = x (T, H) · Wqkvᵀ (H, 3H) + b
        linear(out: &a.qkv, a.x, w.qkv, w.qkvBias, threads: threads)
        a.qkv.data.withUnsafeBufferPointer { q in
            a.context.data.withUnsafeMutableBufferPointer { ctx in
                Attention.forward(context: ctx.baseAddress!, qkv: q.baseAddress!, offsets: offsets, hidden: h, heads: config.heads, threads: threads)
            }
        }
        // projected (T, H) = context · Woᵀ + b;  x = LN(x + projected)
        linear(out: &a.projected, a.context, w.attentionOut, w.attentionOutBias, threads: threads)
        residualNorm(&a.x, a.projected, w.attentionNormGamma, w.attentionNormBeta, eps)
        // inner (T, I) = GELU(x · W1ᵀ + b1)
        linear(out: &a.inner, a.x, w.ffnIn, w.ffnInBias, threads: threads)
        a.inner.data.withUnsafeMutableBufferPointer { Kernels.gelu($0.baseAddress!, count: a.inner.rows * i) }
        // projected (T, H) = inner · W2ᵀ + b2;  x = LN(x + projected)
        linear(out: &a.projected, a.inner, w.ffnOut, w.ffnOutBias, threads: threads)
        residualNorm(&a.x, a.projected, w.outputNormGamma, w.outputNormBeta, eps)
    }

    /// `out (T, O) = x (T, I) · Wᵀ + bias`, W stored (O, I).
    ///
    /// With `threads` > 1 the output columns are split into blocks, one
    /// single-threaded sgemm each: for the few rows of one short input this
    /// keeps both cores busy where BLAS's own threading would not.
    func linear(out: inout Matrix, _ x: Matrix, _ weight: [Float], _ bias: [Float], threads: Int = 1) {
        let rows = x.rows, inDim = x.cols, outDim = out.cols
        out.data.withUnsafeMutableBufferPointer { o in
            bias.withUnsafeBufferPointer { b in
                for r in 0..<rows { (o.baseAddress! + r * outDim).update(from: b.baseAddress!, count: outDim) }
            }
            x.data.withUnsafeBufferPointer { xp in
                weight.withUnsafeBufferPointer { wp in
                    let blocks = threads > 1 ? min(threads, outDim / 64) : 1
                    if blocks <= 1 {
                        BLAS.sgemm(transB: true, m: rows, n: outDim, k: inDim,
                                   a: xp.baseAddress!, lda: inDim, b: wp.baseAddress!, ldb: inDim,
                                   beta: 1, c: o.baseAddress!, ldc: outDim)
                        return
                    }
                    let a = UnsafeSendablePointer(xp.baseAddress!), w = UnsafeSendablePointer(wp.baseAddress!)
                    let c = UnsafeMutableSendablePointer(o.baseAddress!)
                    // Column blocks rounded to 16 so each stays kernel-aligned.
                    let width = ((outDim + blocks - 1) / blocks + 15) / 16 * 16
                    ParallelRegions.shared.run(parts: blocks) { k in
                        let n0 = k * width, n1 = min(outDim, n0 + width)
                        guard n1 > n0 else { return }
                        // Rows n0..<n1 of W (O, I) are the weights of output columns n0..<n1.
                        BLAS.sgemm(transB: true, m: rows, n: n1 - n0, k: inDim,
                                   a: a.pointer, lda: inDim, b: w.pointer + n0 * inDim, ldb: inDim,
                                   beta: 1, c: c.pointer + n0, ldc: outDim)
                    }
                }
            }
        }
    }

    /// `x = LayerNorm(x + y)`.
    func residualNorm(_ x: inout Matrix, _ y: Matrix, _ gamma: [Float], _ beta: [Float], _ eps: Float) {
        let h = x.cols
        x.data.withUnsafeMutableBufferPointer { xp in
            y.data.withUnsafeBufferPointer { yp in Kernels.add(xp.baseAddress!, yp.baseAddress!, x.rows * h) }
            gamma.withUnsafeBufferPointer { g in
                beta.withUnsafeBufferPointer { b in
                    Kernels.layerNorm(xp.baseAddress!, rows: x.rows, cols: h, gamma: g.baseAddress!, beta: b.baseAddress!, eps: eps)
                }
            }
        }
    }
}
