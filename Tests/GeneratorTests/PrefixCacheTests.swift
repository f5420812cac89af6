import Foundation
import Generator
import Numerics
import XCTest

/// A shared prefix's cache copied into each branch gives exactly what
/// running the whole prompt gives, and skips the prefix's tokens.
final class PrefixCacheTests: XCTestCase {
    func testCopiedPrefixEqualsFullPromptAndSkipsItsTokens() throws {
        let model = try SharedModel.require()
        QuantMatmul.threads = 2
        let template = try model.chatTemplate()
        let prefixText = template.render([ChatMessage(role: "user", content: "Write a sentence that is entailment with: ```\u{1}")])
            .components(separatedBy: "\u{1}")[0]
        let prefix = model.tokenizer.encode(prefixText, parseSpecial: true)
        func prompt(_ s: String) -> [Int32] {
            prefix + model.tokenizer.encode(s + "```. Result:<|im_end|>\n<|im_start|>assistant\n", parseSpecial: true, addBOS: false)
        }
        let pairs = [
            GuidedPrompt(positive: prompt("A man plays a guitar."), negative: prompt("A man plays a guitar.")),
            GuidedPrompt(positive: prompt("Two dogs run in the snow."), negative: prompt("Dogs run.")),
        ]
        let options = GenerationOptions(maxTokens: 12, guidanceScale: 1.5)
        let d = LlamaDecoder(model: model)
        let full = try d.generateGuided(pairs, options: options)
        let fullPrompt = d.lastTimings.prefillTokens
        let cache = try PrefixCache(model: model, tokens: prefix)
        let reused = try d.generateGuided(pairs, options: options, prefix: cache)
        XCTAssertEqual(reused.map(\.tokens), full.map(\.tokens))
        // Three branches (round-1-style pair decodes one), each skipping the prefix.
        XCTAssertEqual(d.lastTimings.reusedPrefixTokens, 3 * prefix.count)
        XCTAssertEqual(d.lastTimings.prefillTokens, fullPrompt - 3 * prefix.count)
        // A prompt that does not start with the prefix is fed in full.
        let other = [GuidedPrompt(positive: model.chatPrompt("Name a color.", template: template),
                                  negative: model.chatPrompt("Name a color.", template: template))]
        XCTAssertEqual(try d.generateGuided(other, options: options, prefix: cache).map(\.tokens),
                       try d.generateGuided(other, options: options).map(\.tokens))
    }

    func testInterruptEndsEverySequenceAtOnce() throws {
        let model = try SharedModel.require()
        let d = LlamaDecoder(model: model)
        let p = model.chatPrompt("Tell a long story about the sea.", template: try model.chatTemplate())
        var calls = 0
        let out = try d.generateGuided([GuidedPrompt(positive: p, negative: p)], options: GenerationOptions(maxTokens: 200),
                                       interrupt: { calls += 1; return calls > 5 })
        XCTAssertEqual(out[0].finishReason, .stopCondition)
        XCTAssertLessThan(out[0].tokens.count, 6)
    }
}
