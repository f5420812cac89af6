// MARK: - Seeded random numbers

/// SplitMix64 (Steele, Lea & Flood, 2014): a small, fast generator with a
/// 64-bit seed, so that sampling and graph builds can be replayed exactly.
/// Not for anything that must be unpredictable.
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    /// Seeds the generator.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform Double in [0, 1), from the top 53 bits.
    public mutating func nextUnit() -> Double { Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }
}
