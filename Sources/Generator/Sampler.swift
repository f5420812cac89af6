#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Numerics

// MARK: - Token choice

/// Picks tokens from score vectors: argmax, or temperature / top-k / top-p
/// sampling with a seeded generator. Owns its scratch buffers (no
/// allocation per token).
public struct Sampler {
    /// The settings.
    public let options: SamplingOptions
    private var rng: SplitMix64
    private var candidates: [Int32]
    private var probs: [Float]
    private var order: [Int]

    /// A sampler for vocabularies of `vocabSize` tokens.
    public init(options: SamplingOptions, vocabSize: Int) {
        self.options = options
        rng = SplitMix64(seed: options.seed)
        candidates = [Int32](repeating: 0, count: vocabSize)
        probs = [Float](repeating: 0, count: vocabSize)
        order = [Int](repeating: 0, count: vocabSize)
    }

    /// Index of the largest score (the first one on ties), or -1 when every
    /// score is -inf (everything banned).
    public static func argmax(_ s: UnsafeBufferPointer<Float>) -> Int32 {
        var best = -Float.infinity, at: Int32 = -1
        for i in 0..<s.count where s[i] > best { best = s[i]; at = Int32(i) }
        return at
    }

    /// Chooses a token from `scores` (modified in place when sampling).
    public mutating func sample(_ scores: UnsafeMutableBufferPointer<Float>) -> Int32 {
        if options.isGreedy { return Self.argmax(UnsafeBufferPointer(scores)) }
        let n = scores.count
        let inv = 1 / options.temperature
        let mx = Kernels.max(scores.baseAddress!, n)
        guard mx > -Float.infinity else { return -1 }
        // Softmax over the scores / T, keeping only tokens that can matter.
        var total: Float = 0
        var m = 0
        for i in 0..<n {
            let p = expf((scores[i] - mx) * inv)
            if p > 1e-7 { probs[m] = p; candidates[m] = Int32(i); m += 1; total += p }
        }
        // Sort the candidates by probability, best first (in the preallocated buffer).
        for j in 0..<m { order[j] = j }
        probs.withUnsafeBufferPointer { pr in
            candidates.withUnsafeBufferPointer { cand in
                order.withUnsafeMutableBufferPointer { o in
                    var slice = UnsafeMutableBufferPointer(rebasing: o[0..<m])
                    slice.sort { pr[$0] > pr[$1] || (pr[$0] == pr[$1] && cand[$0] < cand[$1]) }
                }
            }
        }
        var keep = m
        if options.topK > 0 { keep = min(keep, options.topK) }
        if options.topP < 1 {
            var acc: Float = 0
            for rank in 0..<keep {
                acc += probs[order[rank]] / total
                if acc >= options.topP { keep = rank + 1; break }
            }
        }
        var kept: Float = 0
        for rank in 0..<keep { kept += probs[order[rank]] }
        var r = Float(rng.nextUnit()) * kept
        for rank in 0..<keep {
            r -= probs[order[rank]]
            if r <= 0 { return candidates[order[rank]] }
        }
        return candidates[order[keep - 1]]
    }
}
