import Encoder
import Foundation
import Numerics
import Tokenization
import XCTest

/// A tiny random BERT for gradient checks: vocabulary 12, width 8, two
/// heads, two layers, feed-forward 12, ten positions.
enum TinyBert {
    static let config = BertConfig(vocabularySize: 12, hiddenSize: 8, layers: 2, heads: 2, intermediateSize: 12,
                                   maxPositions: 10, typeVocabularySize: 2, layerNormEps: 1e-12)
    static let sequences: [[Int]] = [[1, 5, 7, 2], [1, 3, 3, 9, 11, 2], [1, 4, 2]]

    /// Random parameters: N(0, 0.4²) for weights, norms' γ near 1.
    static func parameters(seed: UInt64 = 7) -> [Double] {
        var rng = SplitMix64(seed: seed)
        let layout = BertParameterLayout(config: config)
        var p = (0..<layout.count).map { _ in gaussian(&rng) * 0.4 }
        for t in layout.tensors where t.name.hasSuffix("LayerNorm.weight") {
            for k in 0..<t.shape[0] { p[t.offset + k] = 1 + 0.2 * gaussian(&rng) }
        }
        return p
    }

    static func gaussian(_ rng: inout SplitMix64) -> Double {
        let u = max(rng.nextUnit(), 1e-12), v = rng.nextUnit()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }

    static func encodings(_ sequences: [[Int]]) -> [Encoding] {
        sequences.map { Encoding(ids: $0.map(Int32.init), typeIds: [Int32](repeating: 0, count: $0.count), truncated: false) }
    }
}

/// Relative error ‖a − b‖ / max(‖b‖, tiny).
func relativeError(_ a: [Double], _ b: [Double]) -> Double {
    let diff = zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
    let norm = b.reduce(0) { $0 + $1 * $1 }.squareRoot()
    return diff / max(norm, 1e-30)
}

/// Backward passes against finite differences (Double reference) and the
/// fast Float path against the Double reference, layer by layer and for
/// the whole encoder. Dropout does not exist here (training runs without it).
final class TrainingGradientTests: XCTestCase {
    /// Central differences in Double agree with the analytic gradient to this relative error.
    static let finiteDifferenceTolerance = 1e-6
    /// The Float backward agrees with the Double analytic gradient to this relative error per tensor.
    static let floatTolerance = 2e-4
    typealias R = BertReference

    /// ∇ of f at x by central differences, step 1e-6.
    func numericGradient(_ x: [Double], _ f: ([Double]) -> Double) -> [Double] {
        let h = 1e-6
        return x.indices.map { k in
            var a = x, b = x
            a[k] += h; b[k] -= h
            return (f(a) - f(b)) / (2 * h)
        }
    }

    func random(_ n: Int, _ rng: inout SplitMix64, scale: Double = 1) -> [Double] {
        (0..<n).map { _ in TinyBert.gaussian(&rng) * scale }
    }

    func rows(_ flat: [Double], _ cols: Int) -> R.Rows {
        stride(from: 0, to: flat.count, by: cols).map { Array(flat[$0..<($0 + cols)]) }
    }

    /// Σ c·y, the scalar through which each layer is differentiated.
    func project(_ y: R.Rows, _ c: [Double]) -> Double { zip(y.flatMap { $0 }, c).reduce(0) { $0 + $1.0 * $1.1 } }

    func testReferenceLayersMatchFiniteDifferences() {
        var rng = SplitMix64(seed: 1)
        let t = 5, i = 6, o = 4, tol = Self.finiteDifferenceTolerance
        // Linear
        let x = random(t * i, &rng), w = random(o * i, &rng), b = random(o, &rng), c = random(t * o, &rng)
        let back = R.linearBackward(rows(c, o), rows(x, i), rows(w, i))
        XCTAssertLessThan(relativeError(back.dx.flatMap { $0 }, numericGradient(x) { project(R.linear(rows($0, i), rows(w, i), b), c) }), tol, "linear dx")
        XCTAssertLessThan(relativeError(back.dw.flatMap { $0 }, numericGradient(w) { project(R.linear(rows(x, i), rows($0, i), b), c) }), tol, "linear dW")
        XCTAssertLessThan(relativeError(back.db, numericGradient(b) { project(R.linear(rows(x, i), rows(w, i), $0), c) }), tol, "linear db")
        // Layer norm
        let g = random(i, &rng), be = random(i, &rng), cn = random(t * i, &rng)
        let ln = R.layerNormBackward(rows(cn, i), rows(x, i), g, eps: 1e-12)
        XCTAssertLessThan(relativeError(ln.dx.flatMap { $0 }, numericGradient(x) { project(R.layerNorm(rows($0, i), g, be, eps: 1e-12), cn) }), tol, "layer norm dx")
        XCTAssertLessThan(relativeError(ln.dgamma, numericGradient(g) { project(R.layerNorm(rows(x, i), $0, be, eps: 1e-12), cn) }), tol, "layer norm dγ")
        XCTAssertLessThan(relativeError(ln.dbeta, numericGradient(be) { project(R.layerNorm(rows(x, i), g, $0, eps: 1e-12), cn) }), tol, "layer norm dβ")
        // GELU
        let ge = R.geluBackward(rows(cn, i), rows(x, i))
        XCTAssertLessThan(relativeError(ge.flatMap { $0 }, numericGradient(x) { project(R.gelu(rows($0, i)), cn) }), tol, "GELU")
        // Attention: 2 heads of width 3 over 5 rows.
        let qkv = random(t * 18, &rng), ca = random(t * 6, &rng)
        let at = R.attentionBackward(rows(ca, 6), rows(qkv, 18), heads: 2)
        XCTAssertLessThan(relativeError(at.flatMap { $0 }, numericGradient(qkv) { project(R.attention(rows($0, 18), heads: 2), ca) }), tol, "attention")
        // Mean pooling + L2 normalisation
        let cp = random(i, &rng)
        let mp = R.meanPoolNormalizeBackward(cp, rows(x, i))
        XCTAssertLessThan(relativeError(mp.flatMap { $0 }, numericGradient(x) { project([R.meanPoolNormalize(rows($0, i))], cp) }), tol, "pooling")
    }

    /// The whole reference encoder: every parameter's gradient of Σ c·u
    /// against central differences.
    func testReferenceEncoderMatchesFiniteDifferences() {
        let layout = BertParameterLayout(config: TinyBert.config)
        let p = TinyBert.parameters()
        var rng = SplitMix64(seed: 2)
        let c = TinyBert.sequences.map { _ in random(8, &rng) }
        func f(_ q: [Double]) -> Double {
            zip(TinyBert.sequences, c).reduce(0) { acc, item in
                acc + zip(R.forward(item.0, parameters: q, layout: layout), item.1).reduce(0) { $0 + $1.0 * $1.1 }
            }
        }
        let analytic = R.backward(TinyBert.sequences, dVectors: c, parameters: p, layout: layout)
        let numeric = numericGradient(p, f)
        for t in layout.tensors {
            let n = t.shape.reduce(1, *)
            let range = t.offset..<(t.offset + n)
            let err = relativeError(Array(analytic[range]), Array(numeric[range]))
            if Array(numeric[range]).allSatisfy({ abs($0) < 1e-9 }) {
                // Rows never used (unused vocabulary, positions past the longest input).
                XCTAssertTrue(Array(analytic[range]).allSatisfy { abs($0) < 1e-9 }, t.name)
            } else {
                XCTAssertLessThan(err, Self.finiteDifferenceTolerance * 10, t.name)
            }
        }
    }

    /// The fast Float forward and backward (batched, sgemm) against the
    /// Double reference, tensor by tensor; and backward adds into gradients.
    func testFloatBackwardMatchesReference() {
        let layout = BertParameterLayout(config: TinyBert.config)
        let p = TinyBert.parameters()
        let model = BertTrainable(config: TinyBert.config, maxSequences: 4, maxLength: 8)
        for k in 0..<layout.count { model.parameters.pointer[k] = Float(p[k]) }
        let out = model.forward(TinyBert.encodings(TinyBert.sequences))
        for (s, ids) in TinyBert.sequences.enumerated() {
            let ref = R.forward(ids, parameters: p, layout: layout)
            let fast = (0..<8).map { Double(out[s * 8 + $0]) }
            XCTAssertLessThan(relativeError(fast, ref), 1e-5, "vector \(s)")
        }
        var rng = SplitMix64(seed: 3)
        let c = TinyBert.sequences.map { _ in random(8, &rng) }
        let dOut = c.flatMap { $0 }.map(Float.init)
        model.gradients.zero()
        dOut.withUnsafeBufferPointer { model.backward(dOutput: $0.baseAddress!) }
        let analytic = R.backward(TinyBert.sequences, dVectors: c, parameters: p, layout: layout)
        let fast = model.gradients.buffer.array.map(Double.init)
        for t in layout.tensors {
            let range = t.offset..<(t.offset + t.shape.reduce(1, *))
            let ref = Array(analytic[range])
            if ref.allSatisfy({ $0 == 0 }) {
                XCTAssertTrue(fast[range].allSatisfy { $0 == 0 }, t.name)
            } else {
                XCTAssertLessThan(relativeError(Array(fast[range]), ref), Self.floatTolerance, t.name)
            }
        }
        // A second backward adds the same gradient again.
        dOut.withUnsafeBufferPointer { model.backward(dOutput: $0.baseAddress!) }
        let twice = model.gradients.buffer.array.map(Double.init)
        XCTAssertLessThan(relativeError(twice, fast.map { 2 * $0 }), 1e-6)
    }

    /// The training forward gives the vectors the serving forward gives,
    /// on the real model, to this tolerance (max abs difference per component).
    static let servingTolerance: Float = 2e-5

    func testTrainingForwardMatchesServing() throws {
        let model = try BertModel(directory: TestPaths.model)
        let texts = ["A man is playing a guitar.", "The cat sat on the mat while the dog barked at the mailman outside.",
                     "Hi", "Stocks fell sharply on Tuesday after the central bank raised interest rates again.",
                     "Two children are running through a field of tall yellow flowers."]
        let encodings = texts.map { model.tokenizer.encode($0, maxLength: 32) }
        let serving = model.embed(encodings)
        let trainable = BertTrainable(weights: model.weights, config: model.config, maxSequences: 8, maxLength: 32)
        let out = trainable.forward(encodings)
        var worst: Float = 0
        for k in 0..<(texts.count * model.dimensions) { worst = max(worst, abs(out[k] - serving.data[k])) }
        XCTAssertLessThan(worst, Self.servingTolerance)
    }
}
