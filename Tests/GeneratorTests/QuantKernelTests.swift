import Numerics
import XCTest

/// Fast quantised products against the reference dequantiser, for every type.
final class QuantKernelTests: XCTestCase {
    /// Relative tolerance of a fast product against the reference: the Q8
    /// activation rounding (≤ 1/254 of each block's max) dominates.
    static let q8ProductTolerance: Float = 2e-2
    /// Float-path products (weights decoded exactly, Float sums).
    static let floatProductTolerance: Float = 1e-4

    func testBlockSizesArePinned() {
        let expected: [GGMLType: (Int, Int)] = [
            .f32: (1, 4), .f16: (1, 2), .bf16: (1, 2), .q4_0: (32, 18), .q4_1: (32, 20),
            .q8_0: (32, 34), .q4_K: (256, 144), .q5_K: (256, 176), .q6_K: (256, 210),
        ]
        for t in GGMLType.allCases {
            XCTAssertEqual(t.traits.blockSize, expected[t]!.0, t.name)
            XCTAssertEqual(t.traits.bytesPerBlock, expected[t]!.1, t.name)
        }
        XCTAssertEqual(GGMLType.q4_1.rowBytes(count: 576), 360)
        XCTAssertNil(GGMLType.q4_K.rowBytes(count: 576))
    }

    /// Deterministic pseudo-random values in [-1, 1).
    static func values(_ n: Int, seed: UInt64) -> [Float] {
        var s = seed
        return (0..<n).map { _ in
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: s >> 11) % 2_000_000) / 1_000_000 - 1
        }
    }

    func testReferenceRoundTripErrorIsSmall() {
        let x = Self.values(512, seed: 7)
        let bound: [GGMLType: Float] = [
            .f32: 0, .f16: 1e-3, .bf16: 8e-3, .q8_0: 1e-2, .q4_0: 0.15, .q4_1: 0.08,
            .q4_K: 0.1, .q5_K: 0.05, .q6_K: 0.03,
        ]
        for t in GGMLType.allCases {
            let y = QuantReference.dequantize(t, bytes: QuantReference.quantize(t, x), count: x.count)
            let err = zip(x, y).map { abs($0 - $1) }.max()!
            XCTAssertLessThanOrEqual(err, bound[t]!, "\(t.name) round trip error \(err)")
        }
    }

    func testFastProductsMatchReference() {
        let rows = 24, cols = 512
        for t in GGMLType.allCases {
            let w = Self.values(rows * cols, seed: 11)
            let bytes = QuantReference.quantize(t, w)
            for n in [1, 3, 6, 13] {
                let x = Self.values(n * cols, seed: 5 + UInt64(n))
                bytes.withUnsafeBytes { raw in
                    let m = QuantizedMatrix(type: t, rows: rows, cols: cols, data: raw.baseAddress!)
                    let ref = QuantMatmul.multiplyReference(m, x: x, n: n)
                    let acts = QuantizedActivations(maxRows: 16, cols: cols)
                    var y = [Float](repeating: 0, count: n * rows)
                    x.withUnsafeBufferPointer { xp in
                        acts.prepare(xp.baseAddress!, rows: n, q8: t.traits.usesQ8Activations)
                        y.withUnsafeMutableBufferPointer { QuantMatmul.multiply(m, acts, into: $0.baseAddress!, ldy: rows) }
                    }
                    let scale = ref.map(abs).max()!
                    let err = zip(ref, y).map { abs($0 - $1) }.max()! / scale
                    let tol = t.traits.usesQ8Activations ? Self.q8ProductTolerance : Self.floatProductTolerance
                    XCTAssertLessThanOrEqual(err, tol, "\(t.name) n=\(n): relative error \(err)")
                }
            }
        }
    }

    /// A row's product is bit-for-bit the same whether it is computed alone
    /// or in a tile with 3 or 7 other rows (batched decoding equals single).
    func testRowResultDoesNotDependOnBatchSize() {
        let rows = 16, cols = 512, n = 13
        for t in GGMLType.allCases where t.traits.usesQ8Activations {
            let bytes = QuantReference.quantize(t, Self.values(rows * cols, seed: 21))
            let x = Self.values(n * cols, seed: 22)
            bytes.withUnsafeBytes { raw in
                let m = QuantizedMatrix(type: t, rows: rows, cols: cols, data: raw.baseAddress!)
                let acts = QuantizedActivations(maxRows: n, cols: cols)
                var all = [Float](repeating: 0, count: n * rows)
                x.withUnsafeBufferPointer { xp in
                    acts.prepare(xp.baseAddress!, rows: n, q8: true)
                    all.withUnsafeMutableBufferPointer { QuantMatmul.multiply(m, acts, into: $0.baseAddress!, ldy: rows) }
                    for i in 0..<n {
                        var one = [Float](repeating: 0, count: rows)
                        acts.prepare(xp.baseAddress! + i * cols, rows: 1, q8: true)
                        one.withUnsafeMutableBufferPointer { QuantMatmul.multiply(m, acts, into: $0.baseAddress!, ldy: rows) }
                        XCTAssertEqual(one, Array(all[(i * rows)..<((i + 1) * rows)]), "\(t.name) row \(i)")
                    }
                }
            }
        }
    }

    func testFastRowDecodeMatchesReference() {
        let cols = 512
        for t in GGMLType.allCases {
            let bytes = QuantReference.quantize(t, Self.values(cols, seed: 3))
            let ref = QuantReference.dequantize(t, bytes: bytes, count: cols)
            var fast = [Float](repeating: 0, count: cols)
            bytes.withUnsafeBytes { raw in
                fast.withUnsafeMutableBufferPointer { QuantKernels.dequantizeRow(t, raw.baseAddress!, count: cols, into: $0.baseAddress!) }
            }
            XCTAssertEqual(fast, ref, t.name)
        }
    }
}
