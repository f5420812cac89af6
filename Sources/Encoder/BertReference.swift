import Foundation

// MARK: - The slow, obvious reference (Double)
//
// The same encoder as `BertTrainable` — embeddings, post-norm layers, mean
// pooling, L2 normalisation — written with nested arrays in Double, one
// sequence at a time and one layer function per step, each with its
// backward beside it. Tests check these against finite differences, then
// the fast Float path against these. Nothing here is meant to be fast.

/// Double-precision reference of the trainable encoder's forward and backward.
public enum BertReference {
    public typealias Rows = [[Double]]

    // MARK: Linear

    /// `y = x · Wᵀ + b`, W (O, I).
    public static func linear(_ x: Rows, _ w: Rows, _ b: [Double]) -> Rows {
        x.map { row in (0..<w.count).map { o in b[o] + zip(row, w[o]).reduce(0) { $0 + $1.0 * $1.1 } } }
    }

    /// Gradients of `linear` with respect to x, W and b.
    public static func linearBackward(_ dy: Rows, _ x: Rows, _ w: Rows) -> (dx: Rows, dw: Rows, db: [Double]) {
        let outDim = w.count, inDim = w.first?.count ?? 0
        var dx = Rows(repeating: [Double](repeating: 0, count: inDim), count: x.count)
        var dw = Rows(repeating: [Double](repeating: 0, count: inDim), count: outDim)
        var db = [Double](repeating: 0, count: outDim)
        for t in x.indices {
            for o in 0..<outDim {
                db[o] += dy[t][o]
                for k in 0..<inDim {
                    dx[t][k] += dy[t][o] * w[o][k]
                    dw[o][k] += dy[t][o] * x[t][k]
                }
            }
        }
        return (dx, dw, db)
    }

    // MARK: Layer norm

    /// Row-wise `(x − mean)/sqrt(var + eps) · γ + β`.
    public static func layerNorm(_ x: Rows, _ gamma: [Double], _ beta: [Double], eps: Double) -> Rows {
        x.map { row in
            let n = Double(row.count)
            let mean = row.reduce(0, +) / n
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
            return row.indices.map { (row[$0] - mean) / (variance + eps).squareRoot() * gamma[$0] + beta[$0] }
        }
    }

    /// Gradients of `layerNorm` with respect to x, γ and β.
    public static func layerNormBackward(_ dy: Rows, _ x: Rows, _ gamma: [Double], eps: Double) -> (dx: Rows, dgamma: [Double], dbeta: [Double]) {
        let cols = gamma.count
        var dgamma = [Double](repeating: 0, count: cols), dbeta = dgamma
        var dx = Rows()
        for (t, row) in x.enumerated() {
            let n = Double(cols)
            let mean = row.reduce(0, +) / n
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
            let rstd = 1 / (variance + eps).squareRoot()
            let xhat = row.map { ($0 - mean) * rstd }
            let g = (0..<cols).map { dy[t][$0] * gamma[$0] }
            let gMean = g.reduce(0, +) / n
            let gxMean = zip(g, xhat).reduce(0) { $0 + $1.0 * $1.1 } / n
            dx.append((0..<cols).map { rstd * (g[$0] - gMean - xhat[$0] * gxMean) })
            for c in 0..<cols { dgamma[c] += dy[t][c] * xhat[c]; dbeta[c] += dy[t][c] }
        }
        return (dx, dgamma, dbeta)
    }

    // MARK: GELU

    /// `x · Φ(x)`.
    public static func gelu(_ x: Rows) -> Rows {
        x.map { $0.map { $0 * 0.5 * (1 + erf($0 / 2.0.squareRoot())) } }
    }

    /// `dy · (Φ(x) + x·φ(x))`.
    public static func geluBackward(_ dy: Rows, _ x: Rows) -> Rows {
        zip(dy, x).map { d, v in
            zip(d, v).map { g, a in g * (0.5 * (1 + erf(a / 2.0.squareRoot())) + a * exp(-a * a / 2) / (2 * Double.pi).squareRoot()) }
        }
    }

    // MARK: Attention (one sequence)

    /// Softmax attention of one sequence, `qkv (L, 3H)` → context (L, H).
    /// Every key of the sequence is visible (the padding mask of a padded
    /// batch hides exactly the keys beyond its length).
    public static func attention(_ qkv: Rows, heads: Int) -> Rows {
        let h = qkv[0].count / 3, d = h / heads, l = qkv.count
        var out = Rows(repeating: [Double](repeating: 0, count: h), count: l)
        for head in 0..<heads {
            let p = probabilities(qkv, head: head, headSize: d)
            for i in 0..<l {
                for k in 0..<d { out[i][head * d + k] = (0..<l).reduce(0) { $0 + p[i][$1] * qkv[$1][2 * h + head * d + k] } }
            }
        }
        return out
    }

    static func probabilities(_ qkv: Rows, head: Int, headSize d: Int) -> Rows {
        let h = qkv[0].count / 3, l = qkv.count
        return (0..<l).map { i in
            let s = (0..<l).map { j in (0..<d).reduce(0.0) { $0 + qkv[i][head * d + $1] * qkv[j][h + head * d + $1] } / Double(d).squareRoot() }
            let m = s.max()!
            let e = s.map { exp($0 - m) }
            let z = e.reduce(0, +)
            return e.map { $0 / z }
        }
    }

    /// Gradient of `attention` with respect to `qkv`.
    public static func attentionBackward(_ dcontext: Rows, _ qkv: Rows, heads: Int) -> Rows {
        let h = qkv[0].count / 3, d = h / heads, l = qkv.count
        var dqkv = Rows(repeating: [Double](repeating: 0, count: 3 * h), count: l)
        for head in 0..<heads {
            let p = probabilities(qkv, head: head, headSize: d)
            for i in 0..<l {
                // dp_ij = dcontext_i · v_j; ds_ij = p_ij (dp_ij − Σ_k p_ik dp_ik)
                let dp = (0..<l).map { j in (0..<d).reduce(0.0) { $0 + dcontext[i][head * d + $1] * qkv[j][2 * h + head * d + $1] } }
                let dot = (0..<l).reduce(0.0) { $0 + p[i][$1] * dp[$1] }
                for j in 0..<l {
                    let ds = p[i][j] * (dp[j] - dot) / Double(d).squareRoot()
                    for k in 0..<d {
                        dqkv[i][head * d + k] += ds * qkv[j][h + head * d + k]
                        dqkv[j][h + head * d + k] += ds * qkv[i][head * d + k]
                        dqkv[j][2 * h + head * d + k] += p[i][j] * dcontext[i][head * d + k]
                    }
                }
            }
        }
        return dqkv
    }

    // MARK: Pooling

    /// Mean of the rows, scaled to unit length.
    public static func meanPoolNormalize(_ x: Rows) -> [Double] {
        let cols = x[0].count
        let mean = (0..<cols).map { c in x.reduce(0) { $0 + $1[c] } / Double(x.count) }
        let norm = mean.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return mean.map { $0 / norm }
    }

    /// Gradient of `meanPoolNormalize` with respect to every row.
    public static func meanPoolNormalizeBackward(_ du: [Double], _ x: Rows) -> Rows {
        let cols = x[0].count
        let mean = (0..<cols).map { c in x.reduce(0) { $0 + $1[c] } / Double(x.count) }
        let norm = mean.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let u = mean.map { $0 / norm }
        let proj = zip(u, du).reduce(0) { $0 + $1.0 * $1.1 }
        let dmean = (0..<cols).map { (du[$0] - u[$0] * proj) / norm }
        return x.map { _ in dmean.map { $0 / Double(x.count) } }
    }
}
