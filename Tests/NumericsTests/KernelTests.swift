import Foundation
import Numerics
import XCTest

/// Fast kernels against their naive references.
final class KernelTests: XCTestCase {
    /// Largest tolerated |fast − reference| for normalised activations.
    let kernelTolerance: Float = 2e-5
    /// Relative tolerance of the vectorised exp.
    let expRelativeTolerance: Float = 1e-6
    /// Absolute tolerance of the vectorised erf.
    let erfTolerance: Float = 1e-6

    var rng = SplitMix64(seed: 7)

    func randomArray(_ n: Int, scale: Float = 3) -> [Float] {
        (0..<n).map { _ in Float.random(in: -scale...scale, using: &rng) }
    }

    func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
        XCTAssertEqual(a.count, b.count)
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    func testLayerNormMatchesReference() {
        for cols in [1, 7, 8, 384, 389] {
            let x = randomArray(5 * cols), g = randomArray(cols), b = randomArray(cols)
            var fast = x
            fast.withUnsafeMutableBufferPointer { Kernels.layerNorm($0.baseAddress!, rows: 5, cols: cols, gamma: g, beta: b, eps: 1e-12) }
            let ref = Kernels.layerNormReference(x, cols: cols, gamma: g, beta: b, eps: 1e-12)
            XCTAssertLessThan(maxAbsDiff(fast, ref), kernelTolerance * 10, "cols \(cols)")
        }
    }

    /// The per-row statistics a training backward keeps: the same output,
    /// and each row's mean and 1/sqrt(var + eps).
    func testLayerNormKeepsRowStatistics() {
        let rows = 3, cols = 389
        let x = randomArray(rows * cols), g = randomArray(cols), b = randomArray(cols)
        var plain = x, kept = x
        var means = [Float](repeating: 0, count: rows), rstds = means
        plain.withUnsafeMutableBufferPointer { Kernels.layerNorm($0.baseAddress!, rows: rows, cols: cols, gamma: g, beta: b, eps: 1e-12) }
        kept.withUnsafeMutableBufferPointer { y in
            means.withUnsafeMutableBufferPointer { m in
                rstds.withUnsafeMutableBufferPointer { s in
                    Kernels.layerNorm(y.baseAddress!, rows: rows, cols: cols, gamma: g, beta: b, eps: 1e-12,
                                      means: m.baseAddress!, rstds: s.baseAddress!)
                }
            }
        }
        XCTAssertEqual(kept, plain)
        for r in 0..<rows {
            let row = x[(r * cols)..<((r + 1) * cols)].map(Double.init)
            let mean = row.reduce(0, +) / Double(cols)
            let rstd = 1 / (row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(cols) + 1e-12).squareRoot()
            XCTAssertEqual(Double(means[r]), mean, accuracy: 1e-5, "row \(r) mean")
            XCTAssertEqual(Double(rstds[r]), rstd, accuracy: 1e-5 * rstd, "row \(r) rstd")
        }
    }

    func testRMSNormMatchesReference() {
        let cols = 576
        let x = randomArray(3 * cols), w = randomArray(cols)
        var fast = x
        fast.withUnsafeMutableBufferPointer { Kernels.rmsNorm($0.baseAddress!, rows: 3, cols: cols, weight: w, eps: 1e-5) }
        XCTAssertLessThan(maxAbsDiff(fast, Kernels.rmsNormReference(x, cols: cols, weight: w, eps: 1e-5)), kernelTolerance * 10)
    }

    func testGELUMatchesReference() {
        let x = randomArray(1003, scale: 8) + [0, -0.0, 1e-8, -12, 12]
        var fast = x
        fast.withUnsafeMutableBufferPointer { Kernels.gelu($0.baseAddress!, count: x.count) }
        XCTAssertLessThan(maxAbsDiff(fast, Kernels.geluReference(x)), kernelTolerance)
    }

    func testSwiGLUMatchesReference() {
        let gate = randomArray(517, scale: 10), up = randomArray(517)
        var fast = up
        gate.withUnsafeBufferPointer { g in fast.withUnsafeMutableBufferPointer { Kernels.swiglu(gate: g.baseAddress!, up: $0.baseAddress!, count: 517) } }
        XCTAssertLessThan(maxAbsDiff(fast, Kernels.swigluReference(gate: gate, up: up)), kernelTolerance * 10)
    }

    func testSoftmaxMatchesReferenceWithMask() {
        let cols = 37
        let x = randomArray(4 * cols, scale: 20)
        var fast = x
        fast.withUnsafeMutableBufferPointer { Kernels.softmax($0.baseAddress!, rows: 4, cols: cols, valid: 30) }
        XCTAssertLessThan(maxAbsDiff(fast, Kernels.softmaxReference(x, cols: cols, valid: 30)), kernelTolerance)
        for r in 0..<4 {
            XCTAssertEqual(fast[(r * cols + 30)..<((r + 1) * cols)].reduce(0, +), 0, "masked columns are zero")
        }
    }

    func testExpAndErfAccuracy() {
        var worstExp: Float = 0, worstErf: Float = 0
        var v: Float = -87
        while v < 88 {
            let lanes = F8((0..<8).map { v + Float($0) * 0.0013 })
            let e = simdExp(lanes)
            for i in 0..<8 {
                let ref = Float(Foundation.exp(Double(lanes[i])))
                worstExp = max(worstExp, abs(e[i] - ref) / ref)
            }
            v += 0.0917
        }
        v = -6
        while v < 6 {
            let lanes = F8((0..<8).map { v + Float($0) * 0.0007 })
            let e = simdErf(lanes)
            for i in 0..<8 { worstErf = max(worstErf, abs(e[i] - Float(Foundation.erf(Double(lanes[i]))))) }
            v += 0.0103
        }
        XCTAssertLessThan(worstExp, expRelativeTolerance)
        XCTAssertLessThan(worstErf, erfTolerance)
    }

    func testSgemmMatchesNaive() {
        BLAS.setThreads(2)
        let a = Matrix(rows: 33, cols: 70, data: randomArray(33 * 70))
        let b = Matrix(rows: 70, cols: 45, data: randomArray(70 * 45))
        let bt = b.transposed()
        let fast = Matrix.multiply(a, b), ref = Matrix.multiplyNaive(a, b)
        XCTAssertLessThan(maxAbsDiff(fast.data, ref.data), 1e-3)
        XCTAssertLessThan(maxAbsDiff(Matrix.multiply(a, bt, transposeB: true).data, ref.data), 1e-3)
    }

    func testHalfConversions() {
        XCTAssertEqual(Half.f16ToFloat(0x3C00), 1)
        XCTAssertEqual(Half.f16ToFloat(0xC000), -2)
        XCTAssertEqual(Half.f16ToFloat(0x7BFF), 65504)
        XCTAssertEqual(Half.f16ToFloat(0x0001), 5.960464477539063e-08)
        XCTAssertEqual(Half.f16ToFloat(0x7C00), .infinity)
        XCTAssertTrue(Half.f16ToFloat(0x7E00).isNaN)
        XCTAssertEqual(Half.bf16ToFloat(0x3F80), 1)
        for h in stride(from: 0, to: 0x7C00, by: 7) {
            XCTAssertEqual(Half.floatToF16(Half.f16ToFloat(UInt16(h))), UInt16(h), "round trip of \(h)")
        }
    }

    func testL2NormalizeAndDot() {
        var x = randomArray(384)
        let norm = x.withUnsafeMutableBufferPointer { Kernels.l2Normalize($0.baseAddress!, 384) }
        XCTAssertGreaterThan(norm, 0)
        XCTAssertEqual(Kernels.dot(x, x, 384), 1, accuracy: 1e-5)
        var zero = [Float](repeating: 0, count: 9)
        zero.withUnsafeMutableBufferPointer { _ = Kernels.l2Normalize($0.baseAddress!, 9) }
        XCTAssertEqual(zero, [Float](repeating: 0, count: 9))
    }
}
