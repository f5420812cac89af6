import Encoder
import Foundation
import Numerics
import Refinement
import XCTest

/// The trainer on the real model: reproducible, learns, refuses bad input
/// before any step, stops on a non-finite loss without touching weights.
final class TrainerTests: XCTestCase {
    static let model = try! BertModel(directory: RefinementPaths.model)

    func tinyLists() throws -> RankingLists {
        try RankingLists(path: RefinementPaths.fixtures.appendingPathComponent("tiny_lists.jsonl").path)
    }

    func options(steps: Int, seed: UInt64 = 7, lr: Double = 1e-4) -> TrainingOptions {
        var o = TrainingOptions()
        o.steps = steps
        o.listsPerStep = 2
        o.maxLength = 16
        o.learningRate = lr
        o.seed = seed
        return o
    }

    func testFixedSeedGivesBitIdenticalWeights() throws {
        func train(seed: UInt64) throws -> [Float] {
            let trainer = try Trainer(student: Self.model, teacher: Self.model, lists: try tinyLists(), dev: nil, options: options(steps: 3, seed: seed))
            _ = try trainer.run()
            return trainer.parameters.array
        }
        let a = try train(seed: 7), b = try train(seed: 7), c = try train(seed: 8)
        XCTAssertTrue(a == b, "same seed, same weights bit for bit")
        XCTAssertFalse(a == c, "another seed takes other lists first")
        let start = BertTrainable(weights: Self.model.weights, config: Self.model.config, maxSequences: 1, maxLength: 4).parameters.array
        XCTAssertFalse(a == start, "training changed the weights")
    }

    /// On a fixed list, the loss falls and the student's order of the list
    /// (Spearman of list position against cosine to the anchor) rises.
    func testLossFallsOnTheTrainingLists() throws {
        var o = options(steps: 12, lr: 2e-4)
        o.warmupFraction = 0
        let trainer = try Trainer(student: Self.model, teacher: Self.model, lists: try tinyLists(), dev: nil, options: o)
        let result = try trainer.run()
        let first = result.curve.prefix(2).map(\.loss).reduce(0, +), last = result.curve.suffix(2).map(\.loss).reduce(0, +)
        XCTAssertLessThan(last, first, "loss \(result.curve.map(\.loss))")
        XCTAssertEqual(result.steps, 12)
        XCTAssertTrue(result.curve.allSatisfy { $0.gradientNorm.isFinite && $0.learningRate > 0 })
    }

    /// Lists of different lengths in one step: each is its own matrix, and
    /// the step's loss is the mean of the lists' losses taken alone.
    func testListsOfDifferentLengthsShareAStep() throws {
        let long = ["A man is playing a guitar on the street.", "A man plays the guitar outside.", "A musician performs in public.",
                    "Someone makes noise in the city.", "The city is busy."]
        let short = ["The children are swimming in the lake.", "Kids swim in the lake.", "It is a warm day."]
        func firstLoss(_ lists: [[String]]) throws -> Double {
            var o = options(steps: 1)
            o.listsPerStep = lists.count
            let trainer = try Trainer(student: Self.model, teacher: Self.model, lists: try RankingLists(lists: lists), dev: nil, options: o)
            return try trainer.run().curve[0].loss
        }
        let both = try firstLoss([long, short]), a = try firstLoss([long]), b = try firstLoss([short])
        XCTAssertEqual(both, (a + b) / 2, accuracy: 1e-4 * both)
        XCTAssertNotEqual(a, b)
    }

    func testNonFiniteLossStopsNamingTheStepAndKeepsWeights() throws {
        var o = options(steps: 3)
        o.loss.tau = 1e-300   // S = cos/τ overflows to inf, the loss to NaN
        let trainer = try Trainer(student: Self.model, teacher: Self.model, lists: try tinyLists(), dev: nil, options: o)
        let before = trainer.parameters.array
        XCTAssertThrowsError(try trainer.run()) { error in
            guard case TrainingError.nonFiniteLoss(let step, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(step, 1)
            XCTAssertTrue("\(error)".contains("step 1"))
        }
        XCTAssertTrue(trainer.parameters.array == before, "no weight changed")
    }

    func testCancellationStopsBeforeTheNextStep() throws {
        let trainer = try Trainer(student: Self.model, teacher: Self.model, lists: try tinyLists(), dev: nil, options: options(steps: 5))
        var calls = 0
        XCTAssertThrowsError(try trainer.run(progress: { _ in calls += 1 }, isCancelled: { calls >= 2 })) { error in
            XCTAssertEqual(error as? TrainingError, .cancelled(step: 2))
        }
        XCTAssertEqual(trainer.step, 2)
    }

    func testBadInputIsNamedBeforeAnyStep() throws {
        func listsError(_ text: String) -> String {
            do { _ = try RankingLists(data: Data(text.utf8), path: "lists.jsonl"); return "" } catch { return "\(error)" }
        }
        XCTAssertTrue(listsError(#"{"list": ["a", "b"]}"#).contains("at least 3"))
        XCTAssertTrue(listsError(#"{"list": ["a", " ", "c"]}"#).contains("sentence 1 of the list is empty"))
        XCTAssertTrue(listsError(#"{"list": ["a", "b", "a"]}"#).contains("sentences 0 and 2"))
        XCTAssertTrue(listsError("{\"list\": [\"a\", \"b\", \"c\"]}\nnot json").contains("lists.jsonl:2: not a JSON object"))
        XCTAssertTrue(listsError(#"{"anchor": "z", "list": ["a", "b", "c"]}"#).contains("anchor"))
        XCTAssertTrue(listsError("").contains("no lists"))
        XCTAssertTrue(listsError(#"{"list": ["a", 3, "c"]}"#).contains("strings only"))
        for (lr, word) in [(0.0, "0.0"), (Double.nan, "nan"), (-1, "-1")] {
            var o = TrainingOptions()
            o.learningRate = lr
            XCTAssertThrowsError(try Trainer(student: Self.model, teacher: Self.model, lists: try tinyLists(), dev: nil, options: o)) { error in
                XCTAssertTrue("\(error)".contains("learning rate") && "\(error)".contains(word), "\(error)")
            }
        }
        var o = TrainingOptions()
        o.listsPerStep = 0
        XCTAssertThrowsError(try o.validate())
    }

    /// Warm-up rises linearly to the peak, then the rate decays linearly to 0.
    func testScheduleWarmsUpThenDecays() {
        var o = TrainingOptions()
        o.learningRate = 1
        o.warmupFraction = 0.1
        let rates = (0..<100).map { o.learningRate(step: $0, of: 100) }
        XCTAssertEqual(rates[9], 10.0 / 11.0, accuracy: 1e-12)
        XCTAssertEqual(rates[10], 1, accuracy: 1e-12)
        XCTAssertEqual(rates[99], 1.0 / 90.0, accuracy: 1e-12)
        XCTAssertEqual(rates, rates.prefix(10) + rates.suffix(90))
        XCTAssertTrue(zip(rates.dropFirst(10), rates.dropFirst(11)).allSatisfy { $0 > $1 })
    }

    /// The Float AdamW update equals the Double reference (PyTorch's formula).
    func testAdamWMatchesReference() {
        var rng = SplitMix64(seed: 5)
        let n = 37
        var p = (0..<n).map { _ in rng.nextUnit() - 0.5 }, m = [Double](repeating: 0, count: n), v = m
        let o = AdamWOptions(weightDecay: 0.01)
        let adam = AdamW(count: n, options: o)
        let params = FloatBuffer(count: n), grads = FloatBuffer(count: n)
        for k in 0..<n { params.pointer[k] = Float(p[k]) }
        for step in 1...5 {
            let g = (0..<n).map { _ in rng.nextUnit() - 0.5 }
            for k in 0..<n { grads.pointer[k] = Float(g[k]) }
            adam.update(parameters: params, gradients: grads, learningRate: 1e-2, step: step)
            AdamW.reference(parameters: &p, gradients: g, m: &m, v: &v, learningRate: 1e-2, step: step, options: o)
        }
        for k in 0..<n { XCTAssertEqual(Double(params.pointer[k]), p[k], accuracy: 1e-6) }
    }
}

/// A run stopped and resumed from its checkpoint ends with the weights of
/// an uninterrupted run, bit for bit.
final class CheckpointTests: XCTestCase {
    func testResumedRunEqualsUninterruptedRun() throws {
        let model = TrainerTests.model
        let lists = try RankingLists(path: RefinementPaths.fixtures.appendingPathComponent("tiny_lists.jsonl").path)
        var o = TrainingOptions()
        o.steps = 4
        o.listsPerStep = 1
        o.maxLength = 16
        o.learningRate = 1e-4
        let whole = try Trainer(student: model, teacher: model, lists: lists, dev: nil, options: o)
        _ = try whole.run()

        let first = try Trainer(student: model, teacher: model, lists: lists, dev: nil, options: o)
        XCTAssertThrowsError(try first.run(isCancelled: { first.step == 2 }))
        let url = try RefinementPaths.temporaryDirectory(self).appendingPathComponent("checkpoint.safetensors")
        try first.saveCheckpoint(to: url)
        let resumed = try Trainer(student: model, teacher: model, lists: lists, dev: nil, options: o)
        try resumed.restore(from: url)
        XCTAssertEqual(resumed.step, 2)
        let result = try resumed.run()
        XCTAssertEqual(result.curve.count, 4)
        XCTAssertTrue(resumed.parameters.array == whole.parameters.array)

        var other = o
        other.seed = 1
        let mismatched = try Trainer(student: model, teacher: model, lists: lists, dev: nil, options: other)
        XCTAssertThrowsError(try mismatched.restore(from: url)) { XCTAssertTrue("\($0)".contains("other settings")) }
    }
}
