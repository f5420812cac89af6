import Encoder
import Foundation
import Numerics
import Refinement
import Tokenization
import XCTest

/// The encoder against sentence-transformers (PyTorch) reference vectors,
/// written by scripts/golden_embeddings.py.
final class EncoderGoldenTests: XCTestCase {
    /// Every vector must point where the reference's does.
    let minimumCosine: Float = 0.9999
    /// An input alone vs. inside a batch of mixed lengths.
    let batchTolerance: Float = 1e-5
    /// STS-B dev Spearman (× 100) vs. the reference implementation's.
    let spearmanTolerance = 0.05

    static let model: BertModel? = try? BertModel(directory: TestPaths.model)

    struct Golden: Decodable {
        struct Item: Decodable { let source: String; let text: String; let embedding: [Float] }
        let stsb_dev_spearman: Double
        let items: [Item]
    }

    func loadGolden() throws -> Golden {
        let data = try Data(contentsOf: TestPaths.fixtures.appendingPathComponent("golden_embeddings.json"))
        return try JSONDecoder().decode(Golden.self, from: data)
    }

    func model() throws -> BertModel {
        try XCTUnwrap(Self.model, "model folder missing: run `make models`")
    }

    func testEveryGoldenVectorMatchesReference() throws {
        let model = try model()
        let golden = try loadGolden()
        XCTAssertGreaterThanOrEqual(golden.items.count, 300)
        let vectors = model.embedAll(golden.items.map(\.text), batchSize: 32).vectors
        var worst: Float = 1
        for (i, item) in golden.items.enumerated() {
            let cosine = vectors.row(i).withUnsafeBufferPointer { v in
                item.embedding.withUnsafeBufferPointer { r in
                    Kernels.dot(v.baseAddress!, r.baseAddress!, 384) / Kernels.sumOfSquares(r.baseAddress!, 384).squareRoot()
                }
            }
            worst = min(worst, cosine)
            XCTAssertGreaterThanOrEqual(cosine, minimumCosine, "\(item.source): \(item.text.prefix(60))")
        }
        print("golden: \(golden.items.count) vectors, worst cosine \(worst)")
    }

    func testSingleInputEqualsSameInputInsideMixedBatch() throws {
        let model = try model()
        let texts = [
            "A man is playing a guitar.",
            "The quick brown fox jumps over the lazy dog while the farmer watches from the porch of his old wooden house.",
            "Hi",
            String(repeating: "long input ", count: 300),
            "",
            "Two dogs run across a field of tall grass.",
        ]
        let batch = model.embed(texts.map(model.encode))
        for (i, text) in texts.enumerated() {
            let alone = model.embed([model.encode(text)])
            let diff = zip(alone.row(0), batch.row(i)).map { abs($0 - $1) }.max()!
            XCTAssertLessThanOrEqual(diff, batchTolerance, "input \(i)")
        }
    }

    func testTruncationIsReported() throws {
        let model = try model()
        XCTAssertEqual(model.maxSequenceLength, 256)
        let (_, truncated) = model.embed(["short", String(repeating: "word ", count: 600)])
        XCTAssertEqual(truncated, 1)
    }

    func testSTSBDevSpearmanMatchesReference() throws {
        let model = try model()
        let pairs = try STSPairs(path: TestPaths.data.appendingPathComponent("stsb/stsb_dev.jsonl").path)
        XCTAssertEqual(pairs.count, 1500)
        let result = STSEvaluation.run(model: model, pairs: pairs)
        XCTAssertEqual(result.spearman, try loadGolden().stsb_dev_spearman, accuracy: spearmanTolerance)
    }

    func testAttentionMatchesReference() {
        var rng = SystemRandomNumberGenerator()
        let hidden = 64, heads = 4
        // Lengths on both sides of the sgemm threshold (32).
        let offsets = [0, 3, 4, 13, 30, 70, 107]
        let total = offsets.last!
        let qkv = (0..<(total * 3 * hidden)).map { _ in Float.random(in: -2...2, using: &rng) }
        var fast = [Float](repeating: 0, count: total * hidden)
        qkv.withUnsafeBufferPointer { q in
            fast.withUnsafeMutableBufferPointer { c in
                Attention.forward(context: c.baseAddress!, qkv: q.baseAddress!, offsets: offsets, hidden: hidden, heads: heads, threads: 2)
            }
        }
        let ref = Attention.reference(qkv: qkv, offsets: offsets, hidden: hidden, heads: heads)
        XCTAssertLessThan(zip(fast, ref).map { abs($0 - $1) }.max()!, 1e-5)
    }
}
