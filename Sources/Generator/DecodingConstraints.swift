// MARK: - Ready-made hooks for controlled rewriting
//
// docs/method.md §1 ("what small generators need"): while rewriting a sentence,
// forbid tokens that would complete an n-gram of the source's own tokens,
// and stop a sequence once it starts repeating itself. Both are plain values
// the caller turns into a `LogitsHook` / `StopHook`, one per sequence.

/// Forbids any token that would complete an n-gram occurring in `source`.
public struct NGramBlocker: Sendable {
    /// n (≥ 1).
    public let n: Int
    /// (n−1)-token prefix → tokens that followed it in the source.
    private let continuations: [[Int32]: Set<Int32>]

    /// Blocks the n-grams of `source` (n = 3 by default, as in the paper's setup).
    public init(source: [Int32], n: Int = 3) {
        self.n = max(1, n)
        var map: [[Int32]: Set<Int32>] = [:]
        if source.count >= self.n {
            for i in 0...(source.count - self.n) {
                let prefix = Array(source[i..<(i + self.n - 1)])
                map[prefix, default: []].insert(source[i + self.n - 1])
            }
        }
        continuations = map
    }

    /// Tokens that may not follow `generated`.
    public func banned(after generated: [Int32]) -> Set<Int32> {
        guard generated.count >= n - 1 else { return [] }
        return continuations[Array(generated.suffix(n - 1))] ?? []
    }

    /// Sets the scores of banned tokens to −∞.
    public func apply(generated: [Int32], scores: UnsafeMutableBufferPointer<Float>) {
        for t in banned(after: generated) where Int(t) < scores.count { scores[Int(t)] = -.infinity }
    }
}

/// Detects a sequence that has started looping: its tail is one n-gram
/// (`minPeriod` ≤ n ≤ `maxPeriod`) repeated `times` times in a row.
public struct RepetitionStop: Sendable {
    /// Shortest repeating unit looked for, in tokens.
    public let minPeriod: Int
    /// Longest repeating unit looked for, in tokens.
    public let maxPeriod: Int
    /// Repetitions that count as a loop.
    public let times: Int

    /// Defaults: units up to 8 tokens, three repetitions ("Collected Collected Collected").
    public init(minPeriod: Int = 1, maxPeriod: Int = 8, times: Int = 3) {
        self.minPeriod = max(1, minPeriod)
        self.maxPeriod = max(self.minPeriod, maxPeriod)
        self.times = max(2, times)
    }

    /// Whether `tokens` ends in a loop.
    public func isLooping(_ tokens: [Int32]) -> Bool {
        let count = tokens.count
        for p in minPeriod...maxPeriod where p * times <= count {
            var periodic = true
            for k in (count - p * (times - 1))..<count where tokens[k] != tokens[k - p] {
                periodic = false
                break
            }
            if periodic { return true }
        }
        return false
    }
}
