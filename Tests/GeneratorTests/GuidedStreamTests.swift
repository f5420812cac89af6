import Foundation
import Generator
import Numerics
import XCTest

/// Continuous batching: a pair started in a place freed mid-run, beside
/// pairs already decoding, gives exactly the tokens it gives decoded alone,
/// and a negative branch that keeps the previous round's cache does too.
final class GuidedStreamTests: XCTestCase {
    func testRefilledPlacesDecodeLikePairsAlone() throws {
        let model = try SharedModel.require()
        QuantMatmul.threads = 2
        let template = try model.chatTemplate()
        func prompt(_ s: String) -> [Int32] { model.chatPrompt("Write a sentence that is entailment with: ```\(s)```", template: template) }
        // Different lengths, so pairs end at different steps and places free up mid-run.
        let pairs = [
            GuidedPrompt(positive: prompt("A man plays a guitar."), negative: prompt("A man plays a guitar.")),
            GuidedPrompt(positive: prompt("Two dogs run in the snow."), negative: prompt("Dogs run.")),
            GuidedPrompt(positive: prompt("The committee approved the budget."), negative: prompt("A vote was held.")),
            GuidedPrompt(positive: prompt("Rain fell all night over the old harbour town."), negative: prompt("It rained.")),
            GuidedPrompt(positive: prompt("She reads."), negative: prompt("She reads a long novel about the sea.")),
        ]
        let options = GenerationOptions(maxTokens: 24, stopStrings: ["```"], guidanceScale: 1.5)
        let decoder = LlamaDecoder(model: model)
        let alone = try pairs.map { try decoder.generateGuided([$0], options: options)[0] }

        // Two places for five pairs: each freed place takes the next pair at once.
        let stream = try GuidedStream(model: model, places: 2, options: options, contextLength: 16)
        var out = [Generation?](repeating: nil, count: pairs.count)
        var inPlace = [Int?](repeating: nil, count: 2)
        var next = 0, refillsBesideLive = 0
        while true {
            for p in 0..<2 where inPlace[p] == nil && next < pairs.count {
                if inPlace.contains(where: { $0 != nil }) { refillsBesideLive += 1 }
                try stream.start(place: p, pair: pairs[next])
                inPlace[p] = next; next += 1
            }
            if stream.isEmpty { break }
            for (p, g) in stream.step() { out[inPlace[p]!] = g; inPlace[p] = nil }
        }
        XCTAssertEqual(out.map { $0?.tokens }, alone.map(\.tokens))
        XCTAssertEqual(out.map { $0?.text }, alone.map(\.text))
        XCTAssertEqual(out.map { $0?.finishReason }, alone.map(\.finishReason))
        XCTAssertGreaterThan(refillsBesideLive, 0, "a place was refilled while the other was still decoding")
        XCTAssertTrue(alone.contains { $0.tokens.count > 4 }, "the pairs generate text")
    }

    func testNegativeBranchKeepsThePreviousPositiveCache() throws {
        let model = try SharedModel.require()
        QuantMatmul.threads = 2
        let template = try model.chatTemplate()
        let prefixText = template.render([ChatMessage(role: "user", content: "Write a sentence that is entailment with: ```\u{1}")])
            .components(separatedBy: "\u{1}")[0]
        let prefixTokens = model.tokenizer.encode(prefixText, parseSpecial: true)
        func prompt(_ s: String) -> [Int32] {
            prefixTokens + model.tokenizer.encode(s + "```. Result:<|im_end|>\n<|im_start|>assistant\n```", parseSpecial: true, addBOS: false)
        }
        let cache = try PrefixCache(model: model, tokens: prefixTokens)
        // A chain's rounds: round 1 has no negative; round r's negative is round r−1's positive.
        let x = ["A man plays a guitar on the street.", "A musician performs outdoors.", "Someone makes music in public."]
        let rounds = [GuidedPrompt(positive: prompt(x[0]), negative: prompt(x[0])),
                      GuidedPrompt(positive: prompt(x[1]), negative: prompt(x[0])),
                      GuidedPrompt(positive: prompt(x[2]), negative: prompt(x[1]))]
        let options = GenerationOptions(maxTokens: 20, stopStrings: ["```"], guidanceScale: 1.5)
        let decoder = LlamaDecoder(model: model)
        let alone = try rounds.map { try decoder.generateGuided([$0], options: options)[0] }

        let stream = try GuidedStream(model: model, places: 1, options: options, prefix: cache)
        var got: [Generation] = []
        for pair in rounds {
            try stream.start(place: 0, pair: pair)
            var done: [(place: Int, generation: Generation)] = []
            while done.isEmpty { done = stream.step() }
            got.append(done[0].generation)
        }
        XCTAssertEqual(got.map(\.tokens), alone.map(\.tokens))
        // Rounds 2 and 3 kept their negative prompt's cache: nothing of it was run again.
        XCTAssertEqual(stream.reusedNegativeTokens, rounds[1].negative.count - 1 + rounds[2].negative.count - 1)
        XCTAssertEqual(stream.reusedPrefixTokens, 3 * prefixTokens.count)
        XCTAssertEqual(stream.promptTokens, rounds.reduce(0) { $0 + $1.positive.count - 1 - prefixTokens.count })
    }

    func testInterruptEndsEveryPairAndDropsQueuedPrompts() throws {
        let model = try SharedModel.require()
        let p = model.chatPrompt("Tell a long story about the sea.", template: try model.chatTemplate())
        let stream = try GuidedStream(model: model, places: 2, options: GenerationOptions(maxTokens: 200))
        try stream.start(place: 0, pair: GuidedPrompt(positive: p, negative: p))
        var calls = 0
        var ended: [(place: Int, generation: Generation)] = []
        while ended.isEmpty { ended = stream.step(interrupt: { calls += 1; return calls > 5 }) }
        XCTAssertEqual(ended.count, 1)
        XCTAssertEqual(ended[0].generation.finishReason, .stopCondition)
        XCTAssertLessThan(ended[0].generation.tokens.count, 6)
        XCTAssertTrue(stream.isEmpty)
    }
}
