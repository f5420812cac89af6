import Numerics

// MARK: - Run state

/// Everything a forward pass writes: activations for up to `maxRows` token
/// rows, the KV cache of `slots` sequences, and logits. Allocated once;
/// `LlamaModel.forward` allocates nothing. Not thread-safe: one owner.
public final class LlamaState: @unchecked Sendable {
    /// Sequences the cache holds.
    public let slots: Int
    /// Positions per sequence.
    public let contextLength: Int
    /// Token rows one forward call can process.
    public let maxRows: Int
    /// Whether products with Q4_0/Q4_1/Q8_0 weights quantise the activations
    /// to 8 bits, as llama.cpp does (the default and the fast path). When
    /// false they use Float activations with the decoded weights: slower, but
    /// free of the 8-bit rounding, whose flips make logits jump by a few per
    /// cent on a one-ulp change of any input (docs/generator.md). Portable
    /// builds, which have no integer kernels, use Float activations either way.
    public let quantisedActivations: Bool

    // Per-row inputs of the current call.
    var tokens: [Int32]  // (maxRows)
    var rowSlot: [Int]  // (maxRows)
    var rowPos: [Int]  // (maxRows)
    var rows = 0

    let x: UnsafeMutablePointer<Float>  // (maxRows, dim) residual stream
    let xb: UnsafeMutablePointer<Float>  // (maxRows, dim) normed input
    let xb2: UnsafeMutablePointer<Float>  // (maxRows, dim) attention output / projection result
    let q: UnsafeMutablePointer<Float>  // (maxRows, heads·headDim)
    let k: UnsafeMutablePointer<Float>  // (maxRows, kvDim)
    let v: UnsafeMutablePointer<Float>  // (maxRows, kvDim)
    let hb: UnsafeMutablePointer<Float>  // (maxRows, hiddenDim) gate
    let hb2: UnsafeMutablePointer<Float>  // (maxRows, hiddenDim) up
    let att: UnsafeMutablePointer<Float>  // (maxRows, heads, contextLength) scores
    let keyCache: UnsafeMutablePointer<Float16>  // (layers, slots, contextLength, kvDim)
    let valueCache: UnsafeMutablePointer<Float16>  // (layers, slots, contextLength, kvDim)
    let ropeCos: UnsafeMutablePointer<Float>  // (contextLength, ropeDim/2)
    let ropeSin: UnsafeMutablePointer<Float>  // (contextLength, ropeDim/2)
    /// Logits of the rows asked for, `(maxRows, vocab)`.
    public let logits: UnsafeMutablePointer<Float>
    let actsDim: QuantizedActivations  // (maxRows, dim)
    let actsQ: QuantizedActivations  // (maxRows, heads·headDim)
    let actsHidden: QuantizedActivations  // (maxRows, hiddenDim)
    let logitRows: UnsafeMutablePointer<Int>  // (maxRows) rows whose logits are wanted
    let c: LlamaConfig

    /// State for `slots` sequences of up to `contextLength` positions
    /// (capped at the model's), processing up to `maxRows` rows per call;
    /// `quantisedActivations` as the property of that name.
    public init(
        config c: LlamaConfig, slots: Int, contextLength: Int, maxRows: Int = 64, ropeFactors: [Float]? = nil,
        quantisedActivations: Bool = true
    ) {
        self.c = c
        self.quantisedActivations = quantisedActivations
        self.slots = max(1, slots)
        self.contextLength = max(1, min(contextLength, c.contextLength))
        self.maxRows = max(1, maxRows)
        let R = self.maxRows, T = self.contextLength
        let qDim = c.heads * c.headDim
        tokens = [Int32](repeating: 0, count: R)
        rowSlot = [Int](repeating: 0, count: R)
        rowPos = [Int](repeating: 0, count: R)
        func buf(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(1, n))
            p.initialize(repeating: 0, count: max(1, n))
            return p
        }
        x = buf(R * c.dim); xb = buf(R * max(c.dim, qDim)); xb2 = buf(R * max(c.dim, qDim))
        q = buf(R * qDim); k = buf(R * c.kvDim); v = buf(R * c.kvDim)
        hb = buf(R * c.hiddenDim); hb2 = buf(R * c.hiddenDim)
        att = buf(R * c.heads * T)
        // The cache holds f16, as llama.cpp's default: half the memory, and the
        // same rounding of keys, values, queries and probabilities as it does.
        keyCache = .allocate(capacity: max(1, c.layers * self.slots * T * c.kvDim))
        valueCache = .allocate(capacity: max(1, c.layers * self.slots * T * c.kvDim))
        logits = buf(R * c.vocabSize)
        logitRows = .allocate(capacity: R)
        actsDim = QuantizedActivations(maxRows: R, cols: c.dim)
        actsQ = QuantizedActivations(maxRows: R, cols: qDim)
        actsHidden = QuantizedActivations(maxRows: R, cols: c.hiddenDim)
        // RoPE tables in Double so that long positions stay accurate.
        let half = c.ropeDim / 2
        ropeCos = buf(T * half); ropeSin = buf(T * half)
        for p in 0..<T {
            for i in 0..<half {
                var freq = pow(c.ropeBase, -2.0 * Double(i) / Double(c.ropeDim))
                if let f = ropeFactors, i < f.count, f[i] != 0 { freq /= Double(f[i]) }
                let theta = Double(p) * freq
                ropeCos[p * half + i] = Float(cos(theta))
                ropeSin[p * half + i] = Float(sin(theta))
            }
        }
    }

    deinit {
        for p in [x, xb, xb2, q, k, v, hb, hb2, att, logits, ropeCos, ropeSin] { p.deallocate() }
        keyCache.deallocate(); valueCache.deallocate()
        logitRows.deallocate()
    }

    /// Bytes held by the KV cache.
    public var cacheBytes: Int { 2 * c.layers * slots * contextLength * c.kvDim * 2 }

    /// Offset of (layer, slot, position) in the caches.
    @inline(__always) func cacheOffset(layer: Int, slot: Int, pos: Int) -> Int {
        ((layer * slots + slot) * contextLength + pos) * c.kvDim
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
