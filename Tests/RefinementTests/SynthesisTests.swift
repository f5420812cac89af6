import Foundation
import Generator
import Numerics
import Refinement
import XCTest

/// Synthesis with the bundled generator: chains decoded as one batch equal
/// chains decoded one at a time, with or without the shared prefix cache,
/// and every kept list passes the filters.
final class SynthesisTests: XCTestCase {
    static var modelPath: String? {
        var dir = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent()
        while dir.path != "/" {
            let p = dir.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
            if FileManager.default.fileExists(atPath: p) { return p }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    func synthesize(_ model: LlamaModel, _ settings: SynthesisSettings, reusePrefix: Bool, _ anchors: [String]) throws -> [ChainOutcome] {
        let backend = try LocalRewriter(model: model, name: "test", settings: settings, reusePrefix: reusePrefix)
        var out: [ChainOutcome] = []
        try ListSynthesizer(backend: backend, settings: settings).run(anchors, cancelled: { false }) { out.append($0) }
        return out.sorted { $0.anchor < $1.anchor }
    }

    func testBatchedChainsEqualSingleChainsAndPassTheFilters() throws {
        guard let path = Self.modelPath else { throw XCTSkip("model file missing: run scripts/fetch-models") }
        let model = try LlamaModel(path: path)
        QuantMatmul.threads = 2
        let anchors = ["A man is playing a guitar on the street.", "Two dogs run across a snowy field.",
                       "The committee approved the new budget on Monday."]
        var settings = SynthesisSettings()
        settings.rounds = 4
        settings.maxNewTokens = 40
        let batched = try synthesize(model, settings, reusePrefix: true, anchors)
        settings.batchChains = 1
        let single = try synthesize(model, settings, reusePrefix: false, anchors)
        XCTAssertEqual(batched.map(\.list), single.map(\.list))
        XCTAssertEqual(batched.count, 3)
        for o in batched where o.kept {
            XCTAssertEqual(o.list[0], o.anchor)
            XCTAssertGreaterThanOrEqual(o.list.count, settings.minListLength)
            XCTAssertTrue(o.list.allSatisfy { !$0.isEmpty && !$0.contains("\n") })
            XCTAssertFalse(ChainRules.collapsed(o.list))
        }
        XCTAssertTrue(batched.contains { $0.kept && $0.list.count == 5 }, "at least one complete list of N + 1 = 5")
    }

    /// The local rewriter without its streaming side: one round of every
    /// live chain per call, the way chains were batched before refilling.
    final class RoundsOnly: RewriteBackend {
        let inner: LocalRewriter
        init(_ inner: LocalRewriter) { self.inner = inner }
        var name: String { inner.name }
        var notes: [String] { inner.notes }
        var work: RewriteWork { inner.work }
        func rewrite(_ requests: [RewriteRequest], cancelled: @escaping () -> Bool) throws -> [RewriteOutput] {
            try inner.rewrite(requests, cancelled: cancelled)
        }
    }

    func testRefilledBatchEqualsChainsAloneAndRoundBatches() throws {
        guard let path = Self.modelPath else { throw XCTSkip("model file missing: run scripts/fetch-models") }
        let model = try LlamaModel(path: path)
        QuantMatmul.threads = 2
        let anchors = ["A man is playing a guitar on the street.", "Two dogs run across a snowy field.",
                       "The committee approved the new budget on Monday.", "She opened the window to let in the cold air.",
                       "The train to the coast was delayed by an hour."]
        var settings = SynthesisSettings()
        settings.rounds = 5
        settings.maxNewTokens = 32
        func run(_ backend: RewriteBackend, batch: Int) throws -> (outcomes: [ChainOutcome], order: [String]) {
            var s = settings
            s.batchChains = batch
            var out: [ChainOutcome] = []
            try ListSynthesizer(backend: backend, settings: s).run(anchors, cancelled: { false }) { out.append($0) }
            return (out.sorted { $0.anchor < $1.anchor }, out.map(\.anchor))
        }
        // Two places for five anchors: a chain's next round, or the next anchor,
        // takes a place as soon as the rewrite in it ends.
        let streamer = try LocalRewriter(model: model, name: "test", settings: settings)
        let refilled = try run(streamer, batch: 2)
        let alone = try run(try LocalRewriter(model: model, name: "test", settings: settings), batch: 1)
        let rounds = try run(RoundsOnly(try LocalRewriter(model: model, name: "test", settings: settings, reusePrefix: false)), batch: 5)
        XCTAssertEqual(refilled.outcomes.map(\.list), alone.outcomes.map(\.list))
        XCTAssertEqual(refilled.outcomes.map(\.list), rounds.outcomes.map(\.list))
        XCTAssertEqual(refilled.outcomes.map(\.stop), alone.outcomes.map(\.stop))
        XCTAssertEqual(refilled.outcomes.map(\.stop), rounds.outcomes.map(\.stop))
        XCTAssertEqual(refilled.outcomes.map(\.kept), rounds.outcomes.map(\.kept))
        XCTAssertEqual(refilled.outcomes.count, anchors.count)
        XCTAssertTrue(refilled.outcomes.contains { $0.list.count > 2 }, "chains went past round 1")
        // Negative prompts came from the previous round's cache, not from the model again.
        XCTAssertGreaterThan(streamer.work.reusedNegativeTokens, 0)
    }
}
