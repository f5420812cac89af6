import Foundation
import Index
import Numerics
import XCTest

// MARK: - Synthetic data

/// Deterministic Gaussian-mixture vectors: `centres` random centres, each
/// point a centre plus isotropic noise, unit-normalised. Unlike uniform
/// random vectors (on which no graph index reaches useful recall), these
/// have neighbourhoods, as sentence embeddings do.
struct ClusteredVectors {
    let dimensions: Int
    let centres: [[Float]]
    let noise: Float
    private var rng: SplitMix64

    init(dimensions: Int, centres count: Int, noise: Float = 0.6, seed: UInt64 = 7) {
        self.dimensions = dimensions
        self.noise = noise
        rng = SplitMix64(seed: seed)
        var cs: [[Float]] = []
        for _ in 0..<count {
            var c = [Float](repeating: 0, count: dimensions)
            for i in 0..<dimensions { c[i] = ClusteredVectors.gaussian(&rng) }
            cs.append(c)
        }
        centres = cs
    }

    /// The next point, unit-normalised.
    mutating func next() -> [Float] {
        let c = centres[Int(rng.next() % UInt64(centres.count))]
        var v = [Float](repeating: 0, count: dimensions)
        var norm: Float = 0
        for i in 0..<dimensions {
            v[i] = c[i] + noise * ClusteredVectors.gaussian(&rng)
            norm += v[i] * v[i]
        }
        let inv = 1 / norm.squareRoot()
        for i in 0..<dimensions { v[i] *= inv }
        return v
    }

    mutating func take(_ n: Int) -> [[Float]] { (0..<n).map { _ in next() } }

    /// A standard normal draw (Box–Muller; `u1` in (0, 1], so the log is finite).
    static func gaussian(_ rng: inout SplitMix64) -> Float {
        let u1 = 1 - rng.nextUnit()
        let u2 = rng.nextUnit()
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
}

// MARK: - Directories

/// A fresh temporary directory, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase) -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("index-test-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// Recall@k of `approx` against `exact`, averaged over queries.
func recall(_ approx: [[Hit]], _ exact: [[Hit]], k: Int) -> Double {
    var found = 0, total = 0
    for (a, e) in zip(approx, exact) {
        let truth = Set(e.prefix(k).map(\.document.id))
        found += a.prefix(k).filter { truth.contains($0.document.id) }.count
        total += truth.count
    }
    return total == 0 ? 1 : Double(found) / Double(total)
}
