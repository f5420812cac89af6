import Foundation
import Generator
import Numerics
import Tokenization
import XCTest

/// Ranksmith against llama.cpp (fixtures from scripts/golden_llama.py).
final class LlamaCppParityTests: XCTestCase {
    /// First-step logits: max |ours − llama.cpp| / max |llama.cpp| over the
    /// top 50 and a strided sample of 512 ids. Measured: 1.5–4.8 % (median
    /// 2.1 %; a change of summation order alone moved the worst prompt
    /// from 2.8 % to 4.8 %); 1.3–3.5 % where the build has no integer kernels and keeps
    /// activations in Float. 1e-2 is out of reach for a precise reason: with
    /// 8-bit activations this model's logits move by that much on a one-ulp
    /// change of any input, because a value that crosses a rounding boundary
    /// moves by a whole quantisation step (up to max|x|/127 of its block) and
    /// 30 layers amplify it. llama.cpp itself moves by 1.6–3.4 % (median
    /// 2.2 %) when the first layer's norm weights change by one ulp, and its
    /// one-token-at-a-time evaluation of these prompts differs from its
    /// batched one (the fixture) by 1.9–3.1 %. The forward pass itself is
    /// pinned by `testFloatActivationLogitsMatchDequantisedLlamaCpp`.
    static let logitTolerance: Double = 5e-2
    /// And the median over prompts must stay at the measured level.
    static let medianLogitTolerance: Double = 3e-2
    /// Float activations against llama.cpp on the F32-decoded model (where it
    /// keeps activations in Float too). Measured: 2e-4–8e-4 (f16 KV-cache
    /// roundings that tip the other way, summation order).
    static let floatActivationTolerance: Double = 2e-3
    /// Greedy tokens must match for this many tokens (or until llama.cpp stopped).
    static let greedyPrefix = 32
    /// A divergence is accepted only where our logits for the two competing
    /// tokens are this close (a near-tie within the noise floor above: the
    /// largest absolute logit differences measured are 0.5–1.3).
    static let nearTie: Float = 0.5

    func json(_ name: String) throws -> [String: Any] {
        let url = TestPaths.fixtures.appendingPathComponent(name)
        guard let data = try? Data(contentsOf: url) else { throw MissingTestInput("fixture \(name) missing: run scripts/golden_llama.py") }
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    // MARK: Tokenizer

    func testSentenceIdsMatchLlamaCpp() throws {
        let m = try SharedModel.require()
        let text = try String(contentsOf: TestPaths.data.appendingPathComponent("synthesis/sentences.txt"), encoding: .utf8)
        var sentences = text.components(separatedBy: "\n")
        if sentences.last == "" { sentences.removeLast() }
        let url = TestPaths.fixtures.appendingPathComponent("llama_tokens_sentences.txt")
        guard let golden = try? String(contentsOf: url, encoding: .utf8) else { throw MissingTestInput("fixture llama_tokens_sentences.txt missing: run scripts/golden_llama.py") }
        var expected = golden.components(separatedBy: "\n")
        if expected.last == "" { expected.removeLast() }
        XCTAssertEqual(sentences.count, expected.count)
        var mismatches = 0
        for (s, e) in zip(sentences, expected) {
            let ids = m.tokenizer.bpe.encode(s).map(String.init).joined(separator: " ")
            if ids != e {
                mismatches += 1
                if mismatches <= 5 { XCTFail("ids differ for \(s.debugDescription): \(ids) vs \(e)") }
            }
        }
        XCTAssertEqual(mismatches, 0, "\(mismatches) of \(sentences.count) sentences differ")
    }

    func testHostileStringIdsMatchLlamaCpp() throws {
        let m = try SharedModel.require()
        let j = try json("llama_tokens_hostile.json")
        let strings = j["strings"] as! [String]
        let ids = j["ids"] as! [String: [String: [[Int]]]]
        let smol = m.tokenizer.bpe
        let l3 = try BPETokenizer(tokens: smol.tokens, merges: mergesOf(m), types: smol.types.map(\.rawValue), preTokenizer: .llama3)
        for (name, tok) in [("smollm", smol), ("llama-bpe", l3)] {
            for mode in ["plain", "special"] {
                for (i, s) in strings.enumerated() {
                    let ours = tok.encode(s, parseSpecial: mode == "special").map(Int.init)
                    XCTAssertEqual(ours, ids[name]![mode]![i], "\(name)/\(mode): \(s.debugDescription)")
                }
            }
        }
    }

    func mergesOf(_ m: LlamaModel) throws -> [String] {
        guard case let .strings(merges)? = m.weights.file.metadata["tokenizer.ggml.merges"] else { throw MissingTestInput("the GGUF has no tokenizer.ggml.merges: the bundled model is expected") }
        return merges
    }

    // MARK: Chat template, greedy tokens, logits

    func testChatTemplateRendersLikeJinja() throws {
        let m = try SharedModel.require()
        let t = try m.chatTemplate()
        for c in try json("llama_greedy.json")["cases"] as! [[String: Any]] {
            let prompt = c["prompt"] as! String
            XCTAssertEqual(t.render([ChatMessage(role: "user", content: prompt)]), c["prompt_text"] as? String)
            XCTAssertEqual(m.chatPrompt(prompt, template: t).map(Int.init), c["prompt_ids"] as? [Int])
        }
    }

    func testFloatActivationLogitsMatchDequantisedLlamaCpp() throws {
        let m = try SharedModel.require()
        QuantMatmul.threads = 2
        let cases = try json("llama_greedy.json")["cases"] as! [[String: Any]]
        var errors: [Double] = []
        for c in cases {
            guard let golden = c["dequantized"] as? [String: Any] else { throw MissingTestInput("llama_greedy.json lacks dequantized values: rerun scripts/golden_llama.py") }
            let prompt = (c["prompt_ids"] as! [Int]).map { Int32($0) }
            let s = m.makeState(slots: 1, contextLength: prompt.count, quantisedActivations: false)
            let slots = [Int](repeating: 0, count: prompt.count), positions = Array(0..<prompt.count)
            m.forward(s, tokens: prompt, slots: slots, positions: positions, count: prompt.count,
                      logitRows: [prompt.count - 1], logitCount: 1)
            let ids = (golden["top_ids"] as! [Int]) + (c["sample_ids"] as! [Int])
            let values = (golden["top_logits"] as! [Double]) + (golden["sample_logits"] as! [Double])
            let scale = values.map(abs).max()!
            let worst = zip(ids, values).map { abs(Double(s.logits[$0]) - $1) }.max()! / scale
            errors.append(worst)
            XCTAssertLessThanOrEqual(worst, Self.floatActivationTolerance, "Float-activation logits of \(c["prompt"]!)")
        }
        print("Float-activation first-step logits: worst relative error \(errors.max()!)")
    }

    func testGreedyTokensAndFirstLogitsMatchLlamaCpp() throws {
        let m = try SharedModel.require()
        QuantMatmul.threads = 2
        let cases = try json("llama_greedy.json")["cases"] as! [[String: Any]]
        XCTAssertGreaterThanOrEqual(cases.count, 10)
        let V = m.config.vocabSize
        var exact = 0
        var errors: [Double] = []
        for c in cases {
            let prompt = (c["prompt_ids"] as! [Int]).map { Int32($0) }
            let golden = (c["greedy"] as! [Int]).map { Int32($0) }
            let n = min(Self.greedyPrefix, golden.count)
            var stepLogits: [[Float]] = []
            let d = LlamaDecoder(model: m)
            let g = try d.generate(prompt: prompt, options: GenerationOptions(maxTokens: n)) { _, _, s in
                stepLogits.append(Array(s))
            }
            // First-step logits.
            let first = stepLogits[0]
            XCTAssertEqual(first.count, V)
            let ids = (c["top_ids"] as! [Int]) + (c["sample_ids"] as! [Int])
            let values = (c["top_logits"] as! [Double]) + (c["sample_logits"] as! [Double])
            let scale = values.map(abs).max()!
            let worst = zip(ids, values).map { abs(Double(first[$0]) - $1) }.max()! / scale
            errors.append(worst)
            XCTAssertLessThanOrEqual(worst, Self.logitTolerance, "first-step logits of \(c["prompt"]!)")
            // Greedy tokens: identical, or the first divergence is at a near-tie.
            let ours = Array(g.tokens.prefix(n))
            if ours == Array(golden.prefix(n)) { exact += 1; continue }
            let k = (0..<min(ours.count, golden.count)).first { ours[$0] != golden[$0] } ?? min(ours.count, golden.count)
            guard k < stepLogits.count else { return XCTFail("stopped early on \(c["prompt"]!)") }
            let l = stepLogits[k]
            let gap = abs(l[Int(ours[k])] - l[Int(golden[k])])
            XCTAssertLessThan(gap, Self.nearTie, "diverged at \(k) on \(c["prompt"]!) without a near-tie (gap \(gap))")
        }
        let median = errors.sorted()[errors.count / 2]
        XCTAssertLessThanOrEqual(median, Self.medianLogitTolerance)
        print("first-step logits: median relative error \(median), best \(errors.min()!), worst \(errors.max()!)")
        print("greedy parity: \(exact) of \(cases.count) prompts identical for \(Self.greedyPrefix) tokens")
    }
}
