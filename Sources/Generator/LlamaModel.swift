import Dispatch
import Numerics

// MARK: - Llama-family decoder

/// Why a model call was refused.
public enum GeneratorError: Error, Equatable, CustomStringConvertible {
    case promptTooLong(tokens: Int, limit: Int)
    case emptyPrompt
    case invalidToken(Int32)
    case invalidOption(String)
    case unknownChatTemplate(String)

    public var description: String {
        switch self {
        case let .promptTooLong(n, limit): return "prompt of \(n) tokens does not fit the context of \(limit) tokens"
        case .emptyPrompt: return "prompt is empty"
        case let .invalidToken(t): return "token id \(t) is outside the vocabulary"
        case let .invalidOption(why): return "invalid generation option: \(why)"
        case let .unknownChatTemplate(t): return "unknown chat template (give one explicitly: chatml or llama3): \(t.prefix(120))"
        }
    }
}

/// A loaded Llama-family model: config, weights (views into the mapped
/// GGUF file), tokenizer and chat template. Immutable and shareable; each
/// decoding run brings its own `LlamaState`.
public final class LlamaModel: @unchecked Sendable {
    /// Shape of the network.
    public let config: LlamaConfig
    /// Weights (borrowing the mapped file).
    public let weights: LlamaWeights
    /// Tokenizer from the file's metadata.
    public let tokenizer: TextTokenizer
    /// The file's `tokenizer.chat_template`, if any.
    public let chatTemplateSource: String?

    /// Maps and checks the GGUF file at `path`.
    public convenience init(path: String) throws {
        try self.init(file: try GGUFFile(path: path))
    }

    /// Builds the model from a parsed file.
    public init(file: GGUFFile) throws {
        config = try LlamaConfig(file: file)
        weights = try LlamaWeights(file: file, config: config)
        tokenizer = try TextTokenizer(file: file)
        chatTemplateSource = file.metadata["tokenizer.chat_template"]?.string
        guard tokenizer.bpe.count <= config.vocabSize else {
            throw GGUFError.invalid("vocabulary has \(tokenizer.bpe.count) tokens, model expects \(config.vocabSize)")
        }
    }

    /// A run state for `slots` sequences of up to `contextLength` positions
    /// (`quantisedActivations`: see `LlamaState`).
    public func makeState(slots: Int, contextLength: Int, maxRows: Int = 64, quantisedActivations: Bool = true) -> LlamaState {
        LlamaState(config: config, slots: slots, contextLength: contextLength, maxRows: maxRows,
                   ropeFactors: weights.ropeFactors, quantisedActivations: quantisedActivations)
    }

    // MARK: Forward

    /// Runs `count` token rows: row `i` is `tokens[i]` of sequence
    /// `slots[i]` at position `positions[i]`. Keys/values of every row are
    /// written to the cache first, so rows of one sequence given in position
    /// order see each other causally. Logits of the rows listed in
    /// `logitRows` land in `state.logits`, one vocab-sized row each, in that
    /// order. Callers check ids and positions (`LlamaDecoder` does).
    public func forward(
        _ s: LlamaState, tokens: UnsafePointer<Int32>, slots: UnsafePointer<Int>, positions: UnsafePointer<Int>,
        count R: Int, logitRows: UnsafePointer<Int>, logitCount: Int
    ) {
        precondition(R >= 1 && R <= s.maxRows && logitCount <= R, "forward: bad row count")
        let c = config, dim = c.dim, qDim = c.heads * c.headDim, kvDim = c.kvDim
        let q8 = s.quantisedActivations
        for i in 0..<R {
            s.tokens[i] = tokens[i]; s.rowSlot[i] = slots[i]; s.rowPos[i] = positions[i]
            weights.tokenEmbedding.dequantizeRow(Int(tokens[i]), into: s.x + i * dim)
        }
        s.rows = R
        for l in 0..<c.layers {
            let w = weights.layers[l]
            // Attention block: x += Wo · attention(rope(Wq·n(x)), rope(Wk·n(x)), Wv·n(x))
            s.xb.update(from: s.x, count: R * dim)
            w.attnNorm.withUnsafeBufferPointer { Kernels.rmsNorm(s.xb, rows: R, cols: dim, weight: $0.baseAddress!, eps: c.rmsEps) }
            s.actsDim.prepare(s.xb, rows: R, q8: q8)
            QuantMatmul.multiply(MatmulJob(w.wq, s.q, ldy: qDim), MatmulJob(w.wk, s.k, ldy: kvDim),
                                 MatmulJob(w.wv, s.v, ldy: kvDim), acts: s.actsDim)
            if let b = w.bq { b.withUnsafeBufferPointer { Kernels.addBias(s.q, rows: R, cols: qDim, bias: $0.baseAddress!) } }
            if let b = w.bk { b.withUnsafeBufferPointer { Kernels.addBias(s.k, rows: R, cols: kvDim, bias: $0.baseAddress!) } }
            if let b = w.bv { b.withUnsafeBufferPointer { Kernels.addBias(s.v, rows: R, cols: kvDim, bias: $0.baseAddress!) } }
            for i in 0..<R {
                rope(s, s.q + i * qDim, heads: c.heads, pos: s.rowPos[i])
                rope(s, s.k + i * kvDim, heads: c.kvHeads, pos: s.rowPos[i])
                let off = s.cacheOffset(layer: l, slot: s.rowSlot[i], pos: s.rowPos[i])
                Half.store(s.k + i * kvDim, into: s.keyCache + off, kvDim)
                Half.store(s.v + i * kvDim, into: s.valueCache + off, kvDim)
                roundToHalf(s.q + i * qDim, qDim)
            }
            attention(s, layer: l, rows: R)
            s.actsQ.prepare(s.xb2, rows: R, q8: q8)
            QuantMatmul.multiply(w.wo, s.actsQ, into: s.xb, ldy: dim)
            Kernels.add(s.x, s.xb, R * dim)
            // Feed-forward block: x += W_down · (silu(W_gate·n(x)) ⊙ W_up·n(x))
            s.xb.update(from: s.x, count: R * dim)
            w.ffnNorm.withUnsafeBufferPointer { Kernels.rmsNorm(s.xb, rows: R, cols: dim, weight: $0.baseAddress!, eps: c.rmsEps) }
            s.actsDim.prepare(s.xb, rows: R, q8: q8)
            QuantMatmul.multiply(MatmulJob(w.gate, s.hb, ldy: c.hiddenDim), MatmulJob(w.up, s.hb2, ldy: c.hiddenDim), acts: s.actsDim)
            Kernels.swiglu(gate: s.hb, up: s.hb2, count: R * c.hiddenDim)
            s.actsHidden.prepare(s.hb2, rows: R, q8: q8)
            QuantMatmul.multiply(w.down, s.actsHidden, into: s.xb, ldy: dim)
            Kernels.add(s.x, s.xb, R * dim)
        }
        guard logitCount > 0 else { return }
        for j in 0..<logitCount {
            (s.xb + j * dim).update(from: s.x + logitRows[j] * dim, count: dim)
        }
        weights.outputNorm.withUnsafeBufferPointer {
            Kernels.rmsNorm(s.xb, rows: logitCount, cols: dim, weight: $0.baseAddress!, eps: c.rmsEps)
        }
        s.actsDim.prepare(s.xb, rows: logitCount, q8: q8)
        QuantMatmul.multiply(weights.output, s.actsDim, into: s.logits, ldy: c.vocabSize)
    }

    /// Writes the keys and values of rows `tokens[i]` (sequence `slots[i]`,
    /// position `positions[i]`) into the cache without logits, `s.maxRows`
    /// rows per forward call (matrix-matrix products). `interrupt` is polled
    /// before every call; answers true when it stopped the feed early.
    func prefill(_ s: LlamaState, tokens: [Int32], slots: [Int], positions: [Int], interrupt: (() -> Bool)? = nil) -> Bool {
        var start = 0
        while start < tokens.count {
            if interrupt?() == true { return true }
            let n = min(s.maxRows, tokens.count - start)
            tokens.withUnsafeBufferPointer { t in
                slots.withUnsafeBufferPointer { sl in
                    positions.withUnsafeBufferPointer { ps in
                        forward(s, tokens: t.baseAddress! + start, slots: sl.baseAddress! + start,
                                positions: ps.baseAddress! + start, count: n, logitRows: ps.baseAddress!, logitCount: 0)
                    }
                }
            }
            start += n
        }
        return false
    }

    // MARK: RoPE

    /// Rotates the first `ropeDim` dimensions of each of `heads` heads at `x`.
    @inline(__always)
    func rope(_ s: LlamaState, _ x: UnsafeMutablePointer<Float>, heads: Int, pos: Int) {
        let c = config, half = c.ropeDim / 2
        let cs = s.ropeCos + pos * half, sn = s.ropeSin + pos * half
        for h in 0..<heads {
            let v = x + h * c.headDim
            switch c.ropeStyle {
            case .adjacent:
                for i in 0..<half {
                    let a = v[2 * i], b = v[2 * i + 1]
                    v[2 * i] = a * cs[i] - b * sn[i]
                    v[2 * i + 1] = a * sn[i] + b * cs[i]
                }
            case .halves:
                for i in 0..<half {
                    let a = v[i], b = v[i + half]
                    v[i] = a * cs[i] - b * sn[i]
                    v[i + half] = a * sn[i] + b * cs[i]
                }
            }
        }
    }

    // MARK: Attention

    /// Causal grouped-query attention of every row against its sequence's
    /// cache, positions 0…pos: `xb2 (R, heads·headDim)`.
    func attention(_ s: LlamaState, layer l: Int, rows R: Int) {
        let c = config
        let work = R * c.heads * (s.rowPos[R - 1] + 1)
        let jobs = R * c.heads
        if work < 8_192 || QuantMatmul.threads <= 1 {
            for j in 0..<jobs { attendHead(s, layer: l, job: j) }
        } else {
            let parts = min(QuantMatmul.threads, jobs)
            ParallelRegions.shared.run(parts: parts) { p in
                var j = p
                while j < jobs { attendHead(s, layer: l, job: j); j += parts }
            }
        }
    }

    @inline(__always)
    func attendHead(_ s: LlamaState, layer l: Int, job: Int) {
        let c = config, hd = c.headDim, qDim = c.heads * hd
        let i = job / c.heads, h = job % c.heads
        let pos = s.rowPos[i], slot = s.rowSlot[i]
        let kvh = h / (c.heads / c.kvHeads)
        let qh = s.q + i * qDim + h * hd
        let scores = s.att + (i * c.heads + h) * s.contextLength
        let scale = 1 / Float(hd).squareRoot()
        let base = s.cacheOffset(layer: l, slot: slot, pos: 0) + kvh * hd
        for t in 0...pos {
            scores[t] = dotHalf(qh, s.keyCache + base + t * c.kvDim, hd) * scale
        }
        Kernels.softmax(scores, rows: 1, cols: pos + 1)
        roundToHalf(scores, pos + 1)
        let out = s.xb2 + i * qDim + h * hd
        out.update(repeating: 0, count: hd)
        for t in 0...pos {
            let p = scores[t], vt = s.valueCache + base + t * c.kvDim
            var d = 0
            let p8 = SIMD8<Float>(repeating: p)
            while d + 8 <= hd {
                let o = UnsafeMutableRawPointer(out + d)
                let acc = o.loadUnaligned(as: SIMD8<Float>.self)
                let vv = SIMD8<Float>(UnsafeRawPointer(vt + d).loadUnaligned(as: SIMD8<Float16>.self))
                o.storeBytes(of: acc.addingProduct(p8, vv), as: SIMD8<Float>.self)
                d += 8
            }
            while d < hd { out[d] += p * Float(vt[d]); d += 1 }
        }
    }
}

// MARK: - f16 helpers

/// Rounds `x (n)` to the nearest f16 value in place.
@inline(__always)
func roundToHalf(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while i + 8 <= n {
        let p = UnsafeMutableRawPointer(x + i)
        p.storeBytes(of: SIMD8<Float>(SIMD8<Float16>(p.loadUnaligned(as: SIMD8<Float>.self))), as: SIMD8<Float>.self)
        i += 8
    }
    while i < n { x[i] = Float(Float16(x[i])); i += 1 }
}

/// Dot product of `a (n)` with f16 `b (n)`, Float accumulation.
@inline(__always)
func dotHalf(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float16>, _ n: Int) -> Float {
    var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
    var i = 0
    while i + 16 <= n {
        acc0 = acc0.addingProduct(UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self),
                                  SIMD8<Float>(UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float16>.self)))
        acc1 = acc1.addingProduct(UnsafeRawPointer(a + i + 8).loadUnaligned(as: SIMD8<Float>.self),
                                  SIMD8<Float>(UnsafeRawPointer(b + i + 8).loadUnaligned(as: SIMD8<Float16>.self)))
        i += 16
    }
    var s = (acc0 + acc1).sum()
    while i < n { s += a[i] * Float(b[i]); i += 1 }
    return s
}
