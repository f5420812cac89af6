import Foundation
import Generator
import Numerics
import XCTest

/// Decoding behaviour on the bundled model: CFG, batching, hooks, stops, errors.
final class DecoderTests: XCTestCase {
    var model: LlamaModel!
    var template: ChatTemplate!

    override func setUpWithError() throws {
        model = try SharedModel.require()
        template = try model.chatTemplate()
        QuantMatmul.threads = 2
    }

    func prompt(_ text: String) -> [Int32] { model.chatPrompt(text, template: template) }

    func testGuidanceScaleOneEqualsPlainGreedy() throws {
        let d = LlamaDecoder(model: model)
        let p = prompt("Name a color.")
        let plain = try d.generate(prompt: p, options: GenerationOptions(maxTokens: 12))
        let pair = GuidedPrompt(positive: p, negative: prompt("Name an animal."))
        let guided = try d.generateGuided([pair], options: GenerationOptions(maxTokens: 12, guidanceScale: 1))[0]
        XCTAssertEqual(plain.tokens, guided.tokens)
    }

    /// The batch invariant: pairs decoded together equal each pair decoded alone.
    func testBatchedPairsEqualSinglePairs() throws {
        let d = LlamaDecoder(model: model)
        let pairs = [
            GuidedPrompt(positive: prompt("Rewrite: A man plays a guitar."), negative: prompt("Rewrite: A man plays a guitar loudly.")),
            GuidedPrompt(positive: prompt("Rewrite: The cat sleeps."), negative: prompt("Rewrite: The cat sleeps.")),
            GuidedPrompt(positive: prompt("Describe rain in one sentence."), negative: prompt("Describe snow in one sentence.")),
        ]
        let options = GenerationOptions(maxTokens: 10, guidanceScale: 1.5)
        let together = try d.generateGuided(pairs, options: options)
        for (i, p) in pairs.enumerated() {
            let alone = try d.generateGuided([p], options: options)[0]
            XCTAssertEqual(together[i].tokens, alone.tokens, "pair \(i)")
        }
    }

    /// The first guided token is the argmax of l_neg + s·(l_pos − l_neg),
    /// computed here from two separate plain runs' logits.
    func testGuidedScoreFormula() throws {
        let pos = prompt("Say something about the ocean.")
        let neg = prompt("Say something about the desert.")
        let V = model.config.vocabSize
        func firstLogits(_ p: [Int32]) -> [Float] {
            var captured: [Float] = []
            _ = try? LlamaDecoder(model: model).generate(prompt: p, options: GenerationOptions(maxTokens: 1)) { _, _, s in
                captured = Array(s)
            }
            return captured
        }
        var lp = firstLogits(pos), ln = firstLogits(neg)
        XCTAssertEqual(lp.count, V)
        lp.withUnsafeMutableBufferPointer { Kernels.logSoftmax($0.baseAddress!, count: V) }
        ln.withUnsafeMutableBufferPointer { Kernels.logSoftmax($0.baseAddress!, count: V) }
        let s: Float = 3
        let combined = (0..<V).map { ln[$0] + s * (lp[$0] - ln[$0]) }
        var seen: [Float] = []
        let g = try LlamaDecoder(model: model).generateGuided(
            [GuidedPrompt(positive: pos, negative: neg)], options: GenerationOptions(maxTokens: 1, guidanceScale: s)
        ) { _, generated, scores in
            if generated.isEmpty { seen = Array(scores) }
        }[0]
        let expected = combined.withUnsafeBufferPointer { Sampler.argmax($0) }
        XCTAssertEqual(g.tokens.first, expected)
        let worst = zip(seen, combined).filter { $1 > -30 }.map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 1e-3)
    }

    func testLogitsHookBansTokensPerSequence() throws {
        let d = LlamaDecoder(model: model)
        let p = prompt("Count from one to five.")
        let free = try d.generate(prompt: p, options: GenerationOptions(maxTokens: 8))
        let banned = free.tokens[0]
        let pairs = [GuidedPrompt(positive: p, negative: p), GuidedPrompt(positive: p, negative: p)]
        let out = try d.generateGuided(pairs, options: GenerationOptions(maxTokens: 8)) { seq, _, scores in
            if seq == 1 { scores[Int(banned)] = -.infinity }
        }
        XCTAssertEqual(out[0].tokens, free.tokens)
        XCTAssertFalse(out[1].tokens.contains(banned))
    }

    func testNGramBlockerAndRepetitionStop() throws {
        let source: [Int32] = [5, 6, 7, 8, 6, 7, 9]
        let blocker = NGramBlocker(source: source, n: 3)
        XCTAssertEqual(blocker.banned(after: [1, 6, 7]), [8, 9])
        XCTAssertEqual(blocker.banned(after: [5]), [])
        XCTAssertEqual(blocker.banned(after: []), [])
        let stopper = RepetitionStop(maxPeriod: 4, times: 3)
        XCTAssertTrue(stopper.isLooping([1, 2, 9, 9, 9]))
        XCTAssertTrue(stopper.isLooping([0, 3, 4, 3, 4, 3, 4]))
        XCTAssertFalse(stopper.isLooping([3, 4, 3, 4, 5]))
        XCTAssertFalse(stopper.isLooping([1, 2]))

        // Copying the source verbatim becomes impossible with the blocker on.
        let sentence = "A man is playing a guitar on the street."
        let src = model.tokenizer.encode(sentence, parseSpecial: false)
        let p = prompt("Repeat exactly: \(sentence)")
        let d = LlamaDecoder(model: model)
        let blocked = NGramBlocker(source: src, n: 3)
        let out = try d.generate(prompt: p, options: GenerationOptions(maxTokens: 24)) { _, gen, scores in
            blocked.apply(generated: gen, scores: scores)
        } stop: { _, gen in stopper.isLooping(gen) }
        for i in 0..<max(0, out.tokens.count - 2) {
            let tri = Array(out.tokens[i..<(i + 3)])
            XCTAssertFalse((0..<(src.count - 2)).contains { Array(src[$0..<($0 + 3)]) == tri }, "trigram \(tri) copied")
        }
    }

    func testStopStringsAndMaxTokens() throws {
        let d = LlamaDecoder(model: model)
        let p = model.tokenizer.encode("1, 2, 3, 4, 5,", parseSpecial: false)
        let g = try d.generate(prompt: p, options: GenerationOptions(maxTokens: 30, stopStrings: [" 8"]))
        XCTAssertEqual(g.finishReason, .stopString)
        XCTAssertEqual(g.text, " 6, 7,")
        let h = try d.generate(prompt: p, options: GenerationOptions(maxTokens: 3))
        XCTAssertEqual(h.tokens.count, 3)
        XCTAssertEqual(h.finishReason, .maxTokens)
    }

    func testSamplingIsSeededAndTopKOneIsGreedy() throws {
        let d = LlamaDecoder(model: model)
        let p = prompt("Tell me a story.")
        let s1 = SamplingOptions(temperature: 0.9, topK: 40, topP: 0.95, seed: 42)
        let a = try d.generate(prompt: p, options: GenerationOptions(maxTokens: 12, sampling: s1))
        let b = try d.generate(prompt: p, options: GenerationOptions(maxTokens: 12, sampling: s1))
        XCTAssertEqual(a.tokens, b.tokens)
        let greedy = try d.generate(prompt: p, options: GenerationOptions(maxTokens: 12))
        let k1 = try d.generate(prompt: p, options: GenerationOptions(maxTokens: 12, sampling: SamplingOptions(temperature: 1, topK: 1, seed: 3)))
        XCTAssertEqual(greedy.tokens, k1.tokens)
    }

    func testBadInputsAreErrors() throws {
        let d = LlamaDecoder(model: model)
        XCTAssertThrowsError(try d.generate(prompt: [], options: GenerationOptions())) {
            XCTAssertEqual($0 as? GeneratorError, .emptyPrompt)
        }
        XCTAssertThrowsError(try d.generate(prompt: [1, 999_999], options: GenerationOptions())) {
            XCTAssertEqual($0 as? GeneratorError, .invalidToken(999_999))
        }
        let long = [Int32](repeating: 260, count: model.config.contextLength + 1)
        XCTAssertThrowsError(try d.generate(prompt: long, options: GenerationOptions(maxTokens: 1))) {
            guard case .promptTooLong? = $0 as? GeneratorError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try d.generate(prompt: [1], options: GenerationOptions(sampling: SamplingOptions(temperature: -1))))
    }
}
