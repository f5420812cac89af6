import Numerics

// MARK: - Shared prompt prefix

/// Keys and values of a prompt prefix that many prompts share (the system
/// turn and the instruction of a rewriting job). Computed once; a decoder
/// copies them into each branch's cache instead of running the prefix again.
/// The copy is exact: a cached position depends only on the tokens before
/// it, and every row's arithmetic is the same whatever else is in the batch.
public final class PrefixCache: @unchecked Sendable {
    /// The prefix tokens.
    public let tokens: [Int32]
    let kvDim: Int
    let layers: Int
    let keys: UnsafeMutablePointer<Float16>  // (layers, tokens, kvDim)
    let values: UnsafeMutablePointer<Float16>  // (layers, tokens, kvDim)

    /// Runs `tokens` through `model` once and keeps their keys and values.
    public init(model: LlamaModel, tokens: [Int32], quantisedActivations: Bool = true) throws {
        let c = model.config
        guard !tokens.isEmpty else { throw GeneratorError.emptyPrompt }
        guard tokens.count < c.contextLength else {
            throw GeneratorError.promptTooLong(tokens: tokens.count, limit: c.contextLength)
        }
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= c.vocabSize }) { throw GeneratorError.invalidToken(bad) }
        self.tokens = tokens
        kvDim = c.kvDim
        layers = c.layers
        let P = tokens.count
        let s = model.makeState(slots: 1, contextLength: P, maxRows: 64, quantisedActivations: quantisedActivations)
        _ = model.prefill(s, tokens: tokens, slots: [Int](repeating: 0, count: P), positions: Array(0..<P))
        keys = .allocate(capacity: layers * P * kvDim)
        values = .allocate(capacity: layers * P * kvDim)
        for l in 0..<layers {
            let off = s.cacheOffset(layer: l, slot: 0, pos: 0)
            (keys + l * P * kvDim).update(from: s.keyCache + off, count: P * kvDim)
            (values + l * P * kvDim).update(from: s.valueCache + off, count: P * kvDim)
        }
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    /// Whether `prompt` starts with the prefix and has at least one token after it.
    public func covers(_ prompt: [Int32]) -> Bool {
        prompt.count > tokens.count && prompt.starts(with: tokens)
    }

    /// Writes the prefix into positions `0..<tokens.count` of `slot` in `s`.
    func copy(into s: LlamaState, slot: Int) {
        let P = tokens.count
        for l in 0..<layers {
            let off = s.cacheOffset(layer: l, slot: slot, pos: 0)
            (s.keyCache + off).update(from: keys + l * P * kvDim, count: P * kvDim)
            (s.valueCache + off).update(from: values + l * P * kvDim, count: P * kvDim)
        }
    }
}
