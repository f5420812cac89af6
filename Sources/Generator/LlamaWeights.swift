import Numerics

// MARK: - Weights

/// One transformer block's weights. Matrices are views into the mapped file,
/// requested by name *and shape* so a mismatch fails at load time.
public struct LlamaLayerWeights: @unchecked Sendable {
    let attnNorm: [Float]  // (dim)
    let wq: QuantizedMatrix  // (heads·headDim, dim)
    let wk: QuantizedMatrix  // (kvDim, dim)
    let wv: QuantizedMatrix  // (kvDim, dim)
    let wo: QuantizedMatrix  // (dim, heads·headDim)
    let bq: [Float]?  // (heads·headDim) Qwen2 only
    let bk: [Float]?  // (kvDim)
    let bv: [Float]?  // (kvDim)
    let ffnNorm: [Float]  // (dim)
    let gate: QuantizedMatrix  // (hiddenDim, dim)
    let up: QuantizedMatrix  // (hiddenDim, dim)
    let down: QuantizedMatrix  // (dim, hiddenDim)
}

/// All weights of a Llama-family model; they borrow the `GGUFFile`'s
/// mapping, which this struct keeps alive.
public struct LlamaWeights: @unchecked Sendable {
    /// The file the matrices point into.
    public let file: GGUFFile
    let tokenEmbedding: QuantizedMatrix  // (vocab, dim)
    let layers: [LlamaLayerWeights]
    let outputNorm: [Float]  // (dim)
    let output: QuantizedMatrix  // (vocab, dim); the embedding when tied
    let ropeFactors: [Float]?  // (ropeDim/2) Llama 3.1 frequency divisors

    /// Looks up every tensor `config` needs in `file`.
    public init(file: GGUFFile, config c: LlamaConfig) throws {
        self.file = file
        let qDim = c.heads * c.headDim
        tokenEmbedding = try file.matrix("token_embd.weight", rows: c.vocabSize, cols: c.dim)
        outputNorm = try file.floats("output_norm.weight", count: c.dim)
        output = file.tensors["output.weight"] != nil
            ? try file.matrix("output.weight", rows: c.vocabSize, cols: c.dim)
            : tokenEmbedding
        ropeFactors = file.tensors["rope_freqs.weight"] != nil
            ? try file.floats("rope_freqs.weight", count: c.ropeDim / 2) : nil
        var layers: [LlamaLayerWeights] = []
        for l in 0..<c.layers {
            let p = "blk.\(l)."
            func optionalBias(_ name: String, _ n: Int) throws -> [Float]? {
                file.tensors[p + name] != nil ? try file.floats(p + name, count: n) : nil
            }
            layers.append(LlamaLayerWeights(
                attnNorm: try file.floats(p + "attn_norm.weight", count: c.dim),
                wq: try file.matrix(p + "attn_q.weight", rows: qDim, cols: c.dim),
                wk: try file.matrix(p + "attn_k.weight", rows: c.kvDim, cols: c.dim),
                wv: try file.matrix(p + "attn_v.weight", rows: c.kvDim, cols: c.dim),
                wo: try file.matrix(p + "attn_output.weight", rows: c.dim, cols: qDim),
                bq: try optionalBias("attn_q.bias", qDim),
                bk: try optionalBias("attn_k.bias", c.kvDim),
                bv: try optionalBias("attn_v.bias", c.kvDim),
                ffnNorm: try file.floats(p + "ffn_norm.weight", count: c.dim),
                gate: try file.matrix(p + "ffn_gate.weight", rows: c.hiddenDim, cols: c.dim),
                up: try file.matrix(p + "ffn_up.weight", rows: c.hiddenDim, cols: c.dim),
                down: try file.matrix(p + "ffn_down.weight", rows: c.dim, cols: c.hiddenDim)))
        }
        self.layers = layers
    }
}
