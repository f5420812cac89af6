import Encoder
import Foundation
import Numerics
import Refinement
import Tokenization
import XCTest

/// The whole training objective — encoder, pooling, normalisation, cosine
/// matrix, ListMLE against a teacher target — differentiated three ways on
/// a tiny random BERT: finite differences of the Double reference, its
/// analytic gradient, and the fast Float path.
final class EndToEndGradientTests: XCTestCase {
    /// Central differences vs the Double analytic gradient, relative, per tensor.
    static let finiteDifferenceTolerance = 1e-5
    /// Fast Float path vs the Double analytic gradient, relative, per tensor.
    static let floatTolerance = 1e-3

    let config = BertConfig(vocabularySize: 12, hiddenSize: 8, layers: 2, heads: 2, intermediateSize: 12, maxPositions: 10)
    let sequences: [[Int]] = [[1, 5, 7, 2], [1, 3, 3, 9, 2], [1, 4, 2], [1, 6, 8, 10, 11, 2]]

    func gaussian(_ rng: inout SplitMix64) -> Double {
        let u = max(rng.nextUnit(), 1e-12), v = rng.nextUnit()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }

    func testLossGradientAgreesThreeWays() {
        let layout = BertParameterLayout(config: config)
        var rng = SplitMix64(seed: 11)
        var p = (0..<layout.count).map { _ in gaussian(&rng) * 0.4 }
        for t in layout.tensors where t.name.hasSuffix("LayerNorm.weight") {
            for k in 0..<t.shape[0] { p[t.offset + k] = 1 + 0.2 * gaussian(&rng) }
        }
        let n = sequences.count, h = config.hiddenSize, tau = 0.05
        // A teacher that disagrees with the list somewhere, so B ≠ 0.
        var teacher = (0..<(n * h)).map { _ in Float(gaussian(&rng)) }
        for i in 0..<n { let s = teacher[(i * h)..<((i + 1) * h)].reduce(0) { $0 + $1 * $1 }.squareRoot(); for k in 0..<h { teacher[i * h + k] /= s } }
        let target = RankingTarget(teacherVectors: teacher, count: n, dimensions: h, options: RankingLossOptions())
        XCTAssertTrue(target.correction.contains { $0 != 0 })
        let shuffle = Array(0..<n)
        let orders = RankingLoss.orders(target, shuffle: shuffle)

        func similarities(_ u: [[Double]]) -> [[Double]] { u.map { a in u.map { b in zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } / tau } } }
        func loss(_ q: [Double]) -> Double {
            let s = similarities(sequences.map { BertReference.forward($0, parameters: q, layout: layout) })
            return (0..<n).reduce(0) { $0 + RankingLoss.listMLE(row: s[$1], order: orders[$1]).loss } / Double(n)
        }
        // Analytic, in Double.
        let u = sequences.map { BertReference.forward($0, parameters: p, layout: layout) }
        let s = similarities(u)
        let ds = (0..<n).map { RankingLoss.listMLE(row: s[$0], order: orders[$0]).gradient.map { $0 / Double(n) } }
        let du = (0..<n).map { i in (0..<h).map { k in (0..<n).reduce(0.0) { $0 + (ds[i][$1] + ds[$1][i]) * u[$1][k] / tau } } }
        let analytic = BertReference.backward(sequences, dVectors: du, parameters: p, layout: layout)
        // Finite differences.
        let step = 1e-6
        let numeric = p.indices.map { k -> Double in
            var a = p, b = p
            a[k] += step; b[k] -= step
            return (loss(a) - loss(b)) / (2 * step)
        }
        // Fast Float path.
        let model = BertTrainable(config: config, maxSequences: n, maxLength: 8)
        for k in 0..<layout.count { model.parameters.pointer[k] = Float(p[k]) }
        let vectors = model.forward(sequences.map { Encoding(ids: $0.map(Int32.init), typeIds: [Int32](repeating: 0, count: $0.count), truncated: false) })
        var dOut = [Float](repeating: 0, count: n * h)
        let fastLoss = dOut.withUnsafeMutableBufferPointer {
            RankingLoss.apply(target: target, student: vectors, dimensions: h, tau: tau, shuffle: shuffle, weight: 1, dStudent: $0.baseAddress!).loss
        }
        XCTAssertEqual(fastLoss, loss(p), accuracy: 1e-4 * abs(loss(p)))
        model.gradients.zero()
        dOut.withUnsafeBufferPointer { model.backward(dOutput: $0.baseAddress!) }
        let fast = model.gradients.buffer.array.map(Double.init)

        for t in layout.tensors {
            let range = t.offset..<(t.offset + t.shape.reduce(1, *))
            let ref = Array(analytic[range])
            guard ref.contains(where: { $0 != 0 }) else { continue }  // rows no input uses
            XCTAssertLessThan(relativeError(Array(numeric[range]), ref), Self.finiteDifferenceTolerance, "finite differences, \(t.name)")
            XCTAssertLessThan(relativeError(Array(fast[range]), ref), Self.floatTolerance, "Float path, \(t.name)")
        }
    }

    func relativeError(_ a: [Double], _ b: [Double]) -> Double {
        let diff = zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
        return diff / max(b.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-30)
    }
}
