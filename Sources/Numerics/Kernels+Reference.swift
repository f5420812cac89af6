#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Naive references
//
// Slow, obvious versions of the kernels in `Kernels.swift`, computed in
// Double with libm. Tests compare the fast kernels against these.

extension Kernels {
    /// Reference layer norm over `[Float]` rows.
    public static func layerNormReference(_ x: [Float], cols: Int, gamma: [Float], beta: [Float], eps: Float) -> [Float] {
        var out = x
        for r in 0..<(x.count / cols) {
            let row = x[(r * cols)..<((r + 1) * cols)].map(Double.init)
            let mean = row.reduce(0, +) / Double(cols)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(cols)
            for c in 0..<cols {
                out[r * cols + c] = Float((row[c] - mean) / (variance + Double(eps)).squareRoot()) * gamma[c] + beta[c]
            }
        }
        return out
    }

    /// Reference RMS norm.
    public static func rmsNormReference(_ x: [Float], cols: Int, weight: [Float], eps: Float) -> [Float] {
        var out = x
        for r in 0..<(x.count / cols) {
            let row = x[(r * cols)..<((r + 1) * cols)].map(Double.init)
            let ms = row.map { $0 * $0 }.reduce(0, +) / Double(cols)
            for c in 0..<cols { out[r * cols + c] = Float(row[c] / (ms + Double(eps)).squareRoot()) * weight[c] }
        }
        return out
    }

    /// Reference GELU (erf form).
    public static func geluReference(_ x: [Float]) -> [Float] {
        x.map { v in Float(Double(v) * 0.5 * (1 + erf(Double(v) / 2.0.squareRoot()))) }
    }

    /// Reference SwiGLU: `silu(gate) ⊙ up`.
    public static func swigluReference(gate: [Float], up: [Float]) -> [Float] {
        zip(gate, up).map { g, u in Float(Double(g) / (1 + exp(-Double(g))) * Double(u)) }
    }

    /// Reference softmax over rows, masking columns past `valid`.
    public static func softmaxReference(_ x: [Float], cols: Int, valid: Int? = nil) -> [Float] {
        let n = valid ?? cols
        var out = [Float](repeating: 0, count: x.count)
        for r in 0..<(x.count / cols) {
            let row = x[(r * cols)..<(r * cols + n)].map(Double.init)
            let m = row.max() ?? 0
            let e = row.map { exp($0 - m) }
            let total = e.reduce(0, +)
            for c in 0..<n { out[r * cols + c] = Float(e[c] / total) }
        }
        return out
    }
}
