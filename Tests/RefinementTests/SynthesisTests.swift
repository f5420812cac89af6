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
}
