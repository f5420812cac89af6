// MARK: - Vectorised transcendental functions
//
// `exp` and `erf` over SIMD8<Float>, for the softmax and GELU kernels. The
// scalar libm calls are exact but cost ~20 ns each; these keep eight lanes
// busy. Accuracy is stated where each is defined and tested against libm.

/// Eight lanes of `Float`: the width of an AVX register.
public typealias F8 = SIMD8<Float>

/// `exp(x)` lane-wise, relative error < 1e-6 over [-87, 88]; inputs below
/// -87.3 give 0 and above 88.7 give +inf-like large values (clamped).
@inlinable @inline(__always)
public func simdExp(_ x: F8) -> F8 {
    // exp(x) = 2^n · exp(r), n = round(x / ln2), r = x − n·ln2 ∈ [−ln2/2, ln2/2]
    let lo = F8(repeating: -87.3), hi = F8(repeating: 88.7)
    var xc = x.replacing(with: lo, where: x .< lo)
    xc = xc.replacing(with: hi, where: xc .> hi)
    // Rounding by the 1.5·2^23 trick: adding it leaves n in the low
    // mantissa bits, so both n and its integer bits come without a
    // float-to-int conversion (which Swift lowers lane by lane).
    let magic = F8(repeating: 12_582_912)
    let t = xc * 1.442_695_040_888_963_4 + magic
    let n = t - magic
    // Cody–Waite split of ln2 keeps r accurate.
    var r = xc - n * 0.693_359_375
    r = r + n * 2.121_944_40e-4
    // Degree-6 minimax polynomial for exp(r) on the reduced range.
    var p = F8(repeating: 1.987_569_150_0e-4)
    p = p * r + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    p = p * (r * r) + r + 1
    // Scale by 2^n through the exponent bits.
    let ni = unsafeBitCast(t, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
    let bits = (ni &+ 127) &<< 23
    return p * unsafeBitCast(bits, to: F8.self)
}

/// `erf(x)` lane-wise, absolute error < 1e-6 (1.5e-7 from the formula,
/// the rest float rounding; Abramowitz & Stegun 7.1.26; adequate for GELU, where the result is
/// multiplied by x/2 and added to x/2).
@inlinable @inline(__always)
public func simdErf(_ x: F8) -> F8 {
    // A&S 7.1.26: erf(|x|) ≈ 1 − t·(a1 + t·(a2 + …)) · exp(−x²), t = 1/(1 + p|x|).
    let ax = x.replacing(with: -x, where: x .< 0)
    let t = 1 / (1 + 0.327_591_1 * ax)
    var poly = F8(repeating: 1.061_405_429)
    poly = poly * t - 1.453_152_027
    poly = poly * t + 1.421_413_741
    poly = poly * t - 0.284_496_736
    poly = poly * t + 0.254_829_592
    let y = 1 - poly * t * simdExp(-ax * ax)
    let negY: F8 = -y
    return y.replacing(with: negY, where: x .< 0)
}
