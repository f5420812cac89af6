#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Row kernels
//
// Each fast kernel (SIMD8) has a naive reference beside it in
// `Kernels+Reference.swift`, and a test compares the two with a named
// tolerance. All work in place on row-major buffers.

/// Element-wise and row-wise kernels used by the encoder and the decoder.
public enum Kernels {
    // MARK: Layer norm

    /// Layer norm of each row of `x (rows, cols)` in place:
    /// `x = (x − mean) / sqrt(var + eps) · gamma + beta`. When given,
    /// `means` and `rstds` (rows each) receive each row's mean and
    /// 1/sqrt(var + eps), which a backward pass needs.
    public static func layerNorm(
        _ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, eps: Float,
        means: UnsafeMutablePointer<Float>? = nil, rstds: UnsafeMutablePointer<Float>? = nil
    ) {
        let inv = 1 / Float(cols)
        for r in 0..<rows {
            let row = x + r * cols
            let mean = sum(row, cols) * inv
            var acc = F8(repeating: 0)
            var i = 0
            let m8 = F8(repeating: mean)
            while i + 8 <= cols {
                let d = load(row + i) - m8
                acc = acc.addingProduct(d, d)
                i += 8
            }
            var variance = acc.sum()
            while i < cols { let d = row[i] - mean; variance += d * d; i += 1 }
            variance *= inv
            let rstd = 1 / (variance + eps).squareRoot()
            let s8 = F8(repeating: rstd)
            i = 0
            while i + 8 <= cols {
                let v = (load(row + i) - m8) * s8 * load(gamma + i) + load(beta + i)
                store(v, row + i)
                i += 8
            }
            while i < cols { row[i] = (row[i] - mean) * rstd * gamma[i] + beta[i]; i += 1 }
            if let means { means[r] = mean }
            if let rstds { rstds[r] = rstd }
        }
    }

    // MARK: RMS norm

    /// RMS norm of each row of `x (rows, cols)` in place:
    /// `x = x / sqrt(mean(x²) + eps) · weight`.
    public static func rmsNorm(
        _ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
        weight: UnsafePointer<Float>, eps: Float
    ) {
        for r in 0..<rows {
            let row = x + r * cols
            let scale = 1 / (sumOfSquares(row, cols) / Float(cols) + eps).squareRoot()
            let s8 = F8(repeating: scale)
            var i = 0
            while i + 8 <= cols { store(load(row + i) * s8 * load(weight + i), row + i); i += 8 }
            while i < cols { row[i] = row[i] * scale * weight[i]; i += 1 }
        }
    }

    // MARK: GELU

    /// GELU, erf form (as BERT uses): `x · ½ · (1 + erf(x / √2))`, in place.
    public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            let v = load(x + i)
            store(v * 0.5 * (1 + simdErf(v * 0.707_106_781_186_547_5)), x + i)
            i += 8
        }
        while i < count { x[i] = x[i] * 0.5 * (1 + erff(x[i] * 0.707_106_781_186_547_5)); i += 1 }
    }

    /// SiLU (`x · sigmoid(x)`) of `gate`, multiplied into `up`: the SwiGLU
    /// feed-forward activation, `up = silu(gate) ⊙ up`.
    public static func swiglu(gate: UnsafePointer<Float>, up: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            let g = load(gate + i)
            store(g / (1 + simdExp(-g)) * load(up + i), up + i)
            i += 8
        }
        while i < count { let g = gate[i]; up[i] = g / (1 + expf(-g)) * up[i]; i += 1 }
    }

    // MARK: Softmax

    /// Softmax of each row of `x (rows, cols)` in place, over the first
    /// `valid` columns; columns past `valid` are set to 0 (masked keys).
    public static func softmax(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, valid: Int? = nil) {
        let n = min(valid ?? cols, cols)
        for r in 0..<rows {
            let row = x + r * cols
            let mx = max(row, n)
            let m8 = F8(repeating: mx)
            var acc = F8(repeating: 0)
            var i = 0
            while i + 8 <= n {
                let e = simdExp(load(row + i) - m8)
                store(e, row + i)
                acc += e
                i += 8
            }
            var total = acc.sum()
            while i < n { let e = expf(row[i] - mx); row[i] = e; total += e; i += 1 }
            let inv = 1 / total
            scale(row, n, by: inv)
            var j = n
            while j < cols { row[j] = 0; j += 1 }
        }
    }

    /// `log_softmax` of one row in place.
    public static func logSoftmax(_ x: UnsafeMutablePointer<Float>, count: Int) {
        let mx = max(x, count)
        var total: Float = 0
        for i in 0..<count { total += expf(x[i] - mx) }
        let shift = mx + logf(total)
        for i in 0..<count { x[i] -= shift }
    }

    // MARK: Vector helpers

    /// Adds `bias (cols)` to every row of `x (rows, cols)`.
    public static func addBias(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, bias: UnsafePointer<Float>) {
        for r in 0..<rows { add(x + r * cols, bias, cols) }
    }

    /// `x += y`, element-wise over `count`.
    @inlinable public static func add(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, _ count: Int) {
        var i = 0
        while i + 8 <= count { store(load(x + i) + load(y + i), x + i); i += 8 }
        while i < count { x[i] += y[i]; i += 1 }
    }

    /// `x *= s`, element-wise over `count`.
    @inlinable public static func scale(_ x: UnsafeMutablePointer<Float>, _ count: Int, by s: Float) {
        let s8 = F8(repeating: s)
        var i = 0
        while i + 8 <= count { store(load(x + i) * s8, x + i); i += 8 }
        while i < count { x[i] *= s; i += 1 }
    }

    /// Sum of `count` elements.
    @inlinable public static func sum(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
        var acc = F8(repeating: 0)
        var i = 0
        while i + 8 <= count { acc += load(x + i); i += 8 }
        var s = acc.sum()
        while i < count { s += x[i]; i += 1 }
        return s
    }

    /// Dot product of two vectors of `count` elements.
    @inlinable public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ count: Int) -> Float {
        var a0 = F8(repeating: 0), a1 = F8(repeating: 0)
        var i = 0
        while i + 16 <= count {
            a0 = a0.addingProduct(load(x + i), load(y + i))
            a1 = a1.addingProduct(load(x + i + 8), load(y + i + 8))
            i += 16
        }
        if i + 8 <= count { a0 = a0.addingProduct(load(x + i), load(y + i)); i += 8 }
        var s = (a0 + a1).sum()
        while i < count { s += x[i] * y[i]; i += 1 }
        return s
    }

    /// Sum of squares of `count` elements.
    @inlinable public static func sumOfSquares(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
        dot(x, x, count)
    }

    /// Largest of `count` (≥ 1) elements.
    @inlinable public static func max(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
        var m8 = F8(repeating: -.infinity)
        var i = 0
        while i + 8 <= count { m8 = pointwiseMax(m8, load(x + i)); i += 8 }
        var m = m8.max()
        while i < count { m = Swift.max(m, x[i]); i += 1 }
        return m
    }

    /// Scales `x` to unit L2 norm in place (a zero vector stays zero).
    /// Returns the norm before scaling.
    @discardableResult
    public static func l2Normalize(_ x: UnsafeMutablePointer<Float>, _ count: Int) -> Float {
        let norm = sumOfSquares(x, count).squareRoot()
        if norm > 0 { scale(x, count, by: 1 / norm) }
        return norm
    }

    // MARK: Loads and stores

    @inlinable @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> F8 {
        UnsafeRawPointer(p).loadUnaligned(as: F8.self)
    }

    @inlinable @inline(__always)
    static func load(_ p: UnsafeMutablePointer<Float>) -> F8 {
        UnsafeRawPointer(p).loadUnaligned(as: F8.self)
    }

    @inlinable @inline(__always)
    static func store(_ v: F8, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: F8.self)
    }
}
