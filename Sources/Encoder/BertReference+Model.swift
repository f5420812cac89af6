import Foundation

// MARK: - The whole encoder in the reference

extension BertReference {
    /// Slices of a Double parameter vector laid out as `BertParameterLayout`.
    struct View {
        let p: [Double]
        let layout: BertParameterLayout
        func vector(_ offset: Int, _ n: Int) -> [Double] { Array(p[offset..<(offset + n)]) }
        func matrix(_ offset: Int, _ rows: Int, _ cols: Int) -> Rows {
            (0..<rows).map { r in Array(p[(offset + r * cols)..<(offset + (r + 1) * cols)]) }
        }
    }

    /// What one layer's forward keeps for its backward.
    struct LayerTape {
        var input: Rows, qkv: Rows, context: Rows, norm1Input: Rows, norm1Output: Rows, ffnPre: Rows, ffnAct: Rows, norm2Input: Rows
    }

    /// Unit sentence vector of one sequence of token ids (type 0, positions
    /// 0…), and the tape for `backward`.
    static func forwardTape(_ ids: [Int], parameters: [Double], layout: BertParameterLayout) -> (vector: [Double], embeddingSum: Rows, layers: [LayerTape], hidden: Rows) {
        let c = layout.config, h = c.hiddenSize, i = c.intermediateSize, eps = Double(c.layerNormEps)
        let v = View(p: parameters, layout: layout)
        let sum: Rows = ids.enumerated().map { p, id in
            (0..<h).map { k in parameters[layout.word + id * h + k] + parameters[layout.position + p * h + k] + parameters[layout.type + k] }
        }
        var x = layerNorm(sum, v.vector(layout.embeddingNormGamma, h), v.vector(layout.embeddingNormBeta, h), eps: eps)
        var tapes: [LayerTape] = []
        for o in layout.layers {
            let qkv = linear(x, v.matrix(o.qkv, 3 * h, h), v.vector(o.qkvBias, 3 * h))
            let context = attention(qkv, heads: c.heads)
            let projected = linear(context, v.matrix(o.attentionOut, h, h), v.vector(o.attentionOutBias, h))
            let norm1Input = zip(x, projected).map { zip($0, $1).map(+) }
            let norm1Output = layerNorm(norm1Input, v.vector(o.attentionNormGamma, h), v.vector(o.attentionNormBeta, h), eps: eps)
            let ffnPre = linear(norm1Output, v.matrix(o.ffnIn, i, h), v.vector(o.ffnInBias, i))
            let ffnAct = gelu(ffnPre)
            let down = linear(ffnAct, v.matrix(o.ffnOut, h, i), v.vector(o.ffnOutBias, h))
            let norm2Input = zip(norm1Output, down).map { zip($0, $1).map(+) }
            tapes.append(LayerTape(input: x, qkv: qkv, context: context, norm1Input: norm1Input, norm1Output: norm1Output,
                                   ffnPre: ffnPre, ffnAct: ffnAct, norm2Input: norm2Input))
            x = layerNorm(norm2Input, v.vector(o.outputNormGamma, h), v.vector(o.outputNormBeta, h), eps: eps)
        }
        return (meanPoolNormalize(x), sum, tapes, x)
    }

    /// Unit sentence vector of one sequence of token ids.
    public static func forward(_ ids: [Int], parameters: [Double], layout: BertParameterLayout) -> [Double] {
        forwardTape(ids, parameters: parameters, layout: layout).vector
    }

    /// Gradient of a loss with respect to every parameter, given the
    /// sequences and `dVectors[s]`, the loss's gradient with respect to
    /// sequence s's unit vector.
    public static func backward(_ sequences: [[Int]], dVectors: [[Double]], parameters: [Double], layout: BertParameterLayout) -> [Double] {
        let c = layout.config, h = c.hiddenSize, i = c.intermediateSize, eps = Double(c.layerNormEps)
        let v = View(p: parameters, layout: layout)
        var grad = [Double](repeating: 0, count: layout.count)
        func add(_ offset: Int, _ values: [Double]) { for (k, x) in values.enumerated() { grad[offset + k] += x } }
        func add(_ offset: Int, _ rows: Rows) { add(offset, rows.flatMap { $0 }) }
        for (ids, du) in zip(sequences, dVectors) {
            let tape = forwardTape(ids, parameters: parameters, layout: layout)
            var dx = meanPoolNormalizeBackward(du, tape.hidden)
            for (o, t) in zip(layout.layers, tape.layers).reversed() {
                let n2 = layerNormBackward(dx, t.norm2Input, v.vector(o.outputNormGamma, h), eps: eps)
                add(o.outputNormGamma, n2.dgamma); add(o.outputNormBeta, n2.dbeta)
                let down = linearBackward(n2.dx, t.ffnAct, v.matrix(o.ffnOut, h, i))
                add(o.ffnOut, down.dw); add(o.ffnOutBias, down.db)
                let up = linearBackward(geluBackward(down.dx, t.ffnPre), t.norm1Output, v.matrix(o.ffnIn, i, h))
                add(o.ffnIn, up.dw); add(o.ffnInBias, up.db)
                let dNorm1Output = zip(n2.dx, up.dx).map { zip($0, $1).map(+) }
                let n1 = layerNormBackward(dNorm1Output, t.norm1Input, v.vector(o.attentionNormGamma, h), eps: eps)
                add(o.attentionNormGamma, n1.dgamma); add(o.attentionNormBeta, n1.dbeta)
                let proj = linearBackward(n1.dx, t.context, v.matrix(o.attentionOut, h, h))
                add(o.attentionOut, proj.dw); add(o.attentionOutBias, proj.db)
                let dqkv = attentionBackward(proj.dx, t.qkv, heads: c.heads)
                let qkv = linearBackward(dqkv, t.input, v.matrix(o.qkv, 3 * h, h))
                add(o.qkv, qkv.dw); add(o.qkvBias, qkv.db)
                dx = zip(n1.dx, qkv.dx).map { zip($0, $1).map(+) }
            }
            let emb = layerNormBackward(dx, tape.embeddingSum, v.vector(layout.embeddingNormGamma, h), eps: eps)
            add(layout.embeddingNormGamma, emb.dgamma); add(layout.embeddingNormBeta, emb.dbeta)
            for (p, id) in ids.enumerated() {
                add(layout.word + id * h, emb.dx[p])
                add(layout.position + p * h, emb.dx[p])
                add(layout.type, emb.dx[p])
            }
        }
        return grad
    }
}
