import Foundation
import Generator
import Numerics
import XCTest

/// Tiny random models (scripts/golden_tiny_models.py) against llama.cpp:
/// with Float weights there is no activation-quantisation noise, so the
/// forward pass itself (RoPE styles, GQA, QKV biases, norms) is pinned tightly.
final class TinyModelParityTests: XCTestCase {
    /// F32 weights: both round the KV cache to f16 the same way; only the
    /// summation order differs (measured: ~1e-7).
    static let floatTolerance: Float = 1e-5
    /// Mixed F16/BF16/Q8_0/Q4_x/K-quant weights: llama.cpp quantises the
    /// activations (Q8_0/Q8_1/Q8_K) where Ranksmith's K-quant path keeps them
    /// Float (measured: 4.1 %).
    static let mixedTolerance: Float = 5e-2

    func check(_ name: String, tolerance: Float) throws {
        let url = TestPaths.fixtures.appendingPathComponent("tiny_models.json")
        guard let data = try? Data(contentsOf: url) else { throw MissingTestInput("\(url.lastPathComponent) missing: run scripts/golden_tiny_models.py") }
        let all = try JSONSerialization.jsonObject(with: data) as! [String: [String: Any]]
        let entry = all[name]!
        let ids = (entry["ids"] as! [Int]).map { Int32($0) }
        let expected = (entry["logits"] as! [Double]).map { Float($0) }
        let m = try LlamaModel(path: TestPaths.fixtures.appendingPathComponent(name).path)
        XCTAssertEqual(m.config.vocabSize, expected.count)
        let s = m.makeState(slots: 1, contextLength: 64)
        let slots = [Int](repeating: 0, count: ids.count), pos = Array(0..<ids.count)
        m.forward(s, tokens: ids, slots: slots, positions: pos, count: ids.count, logitRows: [ids.count - 1], logitCount: 1)
        let ours = Array(UnsafeBufferPointer(start: s.logits, count: expected.count))
        let scale = expected.map(abs).max()!
        let worst = zip(ours, expected).map { abs($0 - $1) }.max()! / scale
        XCTAssertLessThanOrEqual(worst, tolerance, "\(name): relative logit error \(worst)")
    }

    func testLlamaF32() throws { try check("tiny_llama_f32.gguf", tolerance: Self.floatTolerance) }
    func testQwen2F32WithBiasesAndNeoXRope() throws { try check("tiny_qwen2_f32.gguf", tolerance: Self.floatTolerance) }
    func testMixedQuantTypes() throws { try check("tiny_llama_mixed.gguf", tolerance: Self.mixedTolerance) }
}
