#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Numerics

// MARK: - Layer kernels for training, each forward beside its backward
//
// As in llm.c: outputs first, then inputs, then weights, then sizes.
// Backward functions *add* into parameter gradients (so a step may
// accumulate several calls) and, unless the name says otherwise, *assign*
// the gradient of their input. Rows are packed tokens (T of them), as in
// the serving forward pass. `BertReference` holds the slow Double versions.

enum TrainingKernels {
    // MARK: Linear

    /// `y (T, O) = x (T, I) · Wᵀ + b`, W stored (O, I) as PyTorch does.
    static func linearForward(
        _ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
        _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: Int, inDim: Int, outDim: Int
    ) {
        for r in 0..<rows { (y + r * outDim).update(from: b, count: outDim) }
        BLAS.sgemm(transB: true, m: rows, n: outDim, k: inDim, a: x, lda: inDim, b: w, ldb: inDim,
                   beta: 1, c: y, ldc: outDim)
    }

    /// Backward of `linearForward`: `dW (O, I) += dyᵀ · x`, `db += Σ_rows dy`,
    /// and `dx (T, I) = dy · W` (or `+=` with `accumulate`).
    static func linearBackward(
        dx: UnsafeMutablePointer<Float>, dw: UnsafeMutablePointer<Float>, db: UnsafeMutablePointer<Float>,
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
        rows: Int, inDim: Int, outDim: Int, accumulate: Bool = false
    ) {
        BLAS.sgemm(transA: true, m: outDim, n: inDim, k: rows, a: dy, lda: outDim, b: x, ldb: inDim,
                   beta: 1, c: dw, ldc: inDim)
        for r in 0..<rows { Kernels.add(db, dy + r * outDim, outDim) }
        BLAS.sgemm(m: rows, n: inDim, k: outDim, a: dy, lda: outDim, b: w, ldb: inDim,
                   beta: accumulate ? 1 : 0, c: dx, ldc: inDim)
    }

    // MARK: Layer norm

    /// `y = (x − mean) · rstd · γ + β` per row (the serving kernel, out of
    /// place); keeps mean and rstd per row.
    static func layerNormForward(
        _ y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        _ x: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
        rows: Int, cols: Int, eps: Float
    ) {
        y.update(from: x, count: rows * cols)
        Kernels.layerNorm(y, rows: rows, cols: cols, gamma: gamma, beta: beta, eps: eps, means: mean, rstds: rstd)
    }

    /// Backward of `layerNormForward`; assigns `dx`, adds into `dγ`, `dβ`.
    /// With x̂ = (x − mean)·rstd and g = dy·γ:
    /// `dx = rstd · (g − mean(g) − x̂ · mean(g · x̂))`.
    static func layerNormBackward(
        dx: UnsafeMutablePointer<Float>, dgamma: UnsafeMutablePointer<Float>, dbeta: UnsafeMutablePointer<Float>,
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        gamma: UnsafePointer<Float>, rows: Int, cols: Int
    ) {
        let inv = 1 / Float(cols)
        for r in 0..<rows {
            let xr = x + r * cols, dyr = dy + r * cols, dxr = dx + r * cols
            let m = mean[r], s = rstd[r]
            var gMean: Float = 0, gxMean: Float = 0
            for c in 0..<cols {
                let xhat = (xr[c] - m) * s
                let g = dyr[c] * gamma[c]
                gMean += g
                gxMean += g * xhat
                dgamma[c] += dyr[c] * xhat
                dbeta[c] += dyr[c]
            }
            gMean *= inv
            gxMean *= inv
            for c in 0..<cols {
                let xhat = (xr[c] - m) * s
                dxr[c] = s * (dyr[c] * gamma[c] - gMean - xhat * gxMean)
            }
        }
    }

    // MARK: GELU

    /// `y = x · Φ(x)` (erf form, as BERT uses).
    static func geluForward(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
        y.update(from: x, count: count)
        Kernels.gelu(y, count: count)
    }

    /// `dx = dy · (Φ(x) + x · φ(x))`, in place over `d` (which holds dy).
    static func geluBackward(_ d: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int) {
        let half = F8(repeating: 0.5), invSqrt2 = F8(repeating: 0.707_106_781_186_547_5)
        let invSqrt2Pi = F8(repeating: 0.398_942_280_401_432_7), minusHalf = F8(repeating: -0.5)
        var i = 0
        while i + 8 <= count {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: F8.self)
            let cdf = half * (1 + simdErf(v * invSqrt2))
            let pdf = invSqrt2Pi * simdExp(minusHalf * v * v)
            let g = UnsafeRawPointer(d + i).loadUnaligned(as: F8.self) * (cdf + v * pdf)
            UnsafeMutableRawPointer(d + i).storeBytes(of: g, as: F8.self)
            i += 8
        }
        while i < count {
            let v = x[i]
            d[i] *= 0.5 * (1 + erff(v * 0.707_106_781_186_547_5)) + v * 0.398_942_280_401_432_7 * expf(-0.5 * v * v)
            i += 1
        }
    }

    // MARK: Attention

    /// Backward of one (sequence, head) of `Attention.headWithProbabilities`
    /// (scale 1/√d), from the probabilities it kept; assigns this head's
    /// columns of `dqkv` (its Q, K and V parts). `scratch` holds L·L floats.
    static func attentionBackward(
        dqkv: UnsafeMutablePointer<Float>, scratch ds: UnsafeMutablePointer<Float>,
        dcontext: UnsafePointer<Float>, probabilities p: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
        length l: Int, hidden: Int, headSize d: Int
    ) {
        let stride = 3 * hidden
        let scale = 1 / Float(d).squareRoot()
        // dV (L, d) = pᵀ · dcontext
        BLAS.sgemm(transA: true, m: l, n: d, k: l, a: p, lda: l, b: dcontext, ldb: hidden,
                   c: dqkv + 2 * hidden, ldc: stride)
        // dp (L, L) = dcontext · Vᵀ
        BLAS.sgemm(transB: true, m: l, n: l, k: d, a: dcontext, lda: hidden, b: qkv + 2 * hidden, ldb: stride,
                   c: ds, ldc: l)
        // Softmax backward per row: ds = p ⊙ (dp − Σ_j dp·p), times the 1/√d of the scores.
        for i in 0..<l {
            let pr = p + i * l, dr = ds + i * l
            let dot = Kernels.dot(pr, UnsafePointer(dr), l)
            for j in 0..<l { dr[j] = pr[j] * (dr[j] - dot) * scale }
        }
        // dQ (L, d) = ds · K;  dK (L, d) = dsᵀ · Q
        BLAS.sgemm(m: l, n: d, k: l, a: UnsafePointer(ds), lda: l, b: qkv + hidden, ldb: stride,
                   c: dqkv, ldc: stride)
        BLAS.sgemm(transA: true, m: l, n: d, k: l, a: UnsafePointer(ds), lda: l, b: qkv, ldb: stride,
                   c: dqkv + hidden, ldc: stride)
    }
}
