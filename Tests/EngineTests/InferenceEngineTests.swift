import Encoder
import Engine
import Foundation
import Index
import XCTest

/// The HTTP-free core on its own: domain errors instead of statuses, and
/// the hot-swap of model handles.
final class InferenceEngineTests: XCTestCase {
    func makeEngine(_ adjust: (inout InferenceEngine.Configuration) -> Void = { _ in }) throws -> InferenceEngine {
        let model = try XCTUnwrap(EngineFixtures.model, "run `make models`")
        var configuration = InferenceEngine.Configuration()
        adjust(&configuration)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("engine-\(UUID().uuidString)")
        let engine = InferenceEngine(configuration: configuration,
                                     active: ModelHandle(version: "base", id: "minilm", model: model, crossEncoder: nil),
                                     indexDirectory: dir)
        engine.start()
        addTeardownBlock {
            engine.stop()
            try? FileManager.default.removeItem(at: dir)
        }
        return engine
    }

    func testBadInputsAreDomainErrorsNamingTheField() async throws {
        let engine = try makeEngine { $0.maxInputsPerRequest = 3 }
        func error(_ body: () async throws -> Void) async -> EngineError? {
            do { try await body(); return nil } catch { return error as? EngineError }
        }
        let empty = await error { _ = try await engine.embed([], field: "inputs") }
        XCTAssertEqual(empty, .invalidInput(field: "inputs", reason: "must not be empty; send at least one text"))
        let blank = await error { _ = try await engine.embed(["a", ""], field: "inputs") }
        XCTAssertEqual(blank, .invalidInput(field: "inputs[1]", reason: "must not be an empty string"))
        let many = await error { _ = try await engine.embed(["a", "b", "c", "d"], field: "input") }
        XCTAssertEqual(many, .invalidInput(field: "input", reason: "has 4 texts; at most 3 per request — split the batch"))
        let long = String(repeating: "word ", count: 600)
        let tooLong = await error { _ = try await engine.embed(["short", long], field: "inputs", truncate: false) }
        XCTAssertEqual(tooLong, .inputTooLong(field: "inputs[1]", maxTokens: EngineFixtures.model!.maxSequenceLength))
        let unknown = await error { _ = try await engine.search(SearchRequest(collection: "nope")) }
        XCTAssertEqual(unknown, .index(.unknownCollection("nope")))
        XCTAssertThrowsError(try InferenceEngine.ranking([0.1, 0.2], topN: 0)) {
            XCTAssertEqual($0 as? EngineError, .invalidInput(field: "top_n", reason: "must be at least 1"))
        }
    }

    func testEmbeddingsAreNormalisedAndCutToTheAskedDimensions() async throws {
        let engine = try makeEngine()
        let full = try await engine.embed(["a cat sits on the mat"], field: "inputs")
        XCTAssertEqual(full.vectors.cols, 384)
        let cut = try await engine.embed(["a cat sits on the mat"], field: "inputs", dimensions: 64)
        XCTAssertEqual(cut.vectors.cols, 64)
        let norm = cut.vectors.row(0).reduce(0) { $0 + $1 * $1 }.squareRoot()
        XCTAssertEqual(norm, 1, accuracy: 1e-4)
        // The first 64 components point the same way as the full vector's.
        let fullHead = Array(full.vectors.row(0).prefix(64))
        let headNorm = fullHead.reduce(0) { $0 + $1 * $1 }.squareRoot()
        for (a, b) in zip(cut.vectors.row(0), fullHead) { XCTAssertEqual(a, b / headNorm, accuracy: 1e-4) }
    }

    func testSwapServesNewRequestsWithTheNewHandleAndKeepsOldOnesWhole() async throws {
        let model = try XCTUnwrap(EngineFixtures.model, "run `make models`")
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("engine-\(UUID().uuidString)").path
        // A copy of the bundled folder is a distinct version with the same
        // weights: what a trained version looks like to the engine.
        try FileManager.default.createDirectory(atPath: data + "/models", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: EngineFixtures.modelPath, toPath: data + "/models/v2")
        let engine = InferenceEngine(configuration: .init(), base: ModelHandle(version: "base", id: "minilm", model: model, crossEncoder: nil),
                                     basePath: EngineFixtures.modelPath, dataDirectory: data)
        engine.start()
        addTeardownBlock {
            engine.stop()
            try? FileManager.default.removeItem(atPath: data)
        }
        let base = engine.models.active
        XCTAssertEqual(engine.models.activeWithGeneration.generation, 0)
        let texts = (0..<64).map { "sentence number \($0) about something" }
        // Requests started before the swap finish on the handle they took.
        async let before = engine.embed(texts, field: "inputs", handle: base)
        let status = try await engine.activate(version: "v2")
        XCTAssertEqual(status.state, .succeeded)
        let after = try await engine.embed(texts, field: "inputs")
        let old = try await before
        XCTAssertEqual(old.handle.version, "base")
        XCTAssertEqual(after.handle.version, "v2")
        XCTAssertEqual(engine.models.activeWithGeneration.generation, 1)
        // Same weights, so the vectors agree: nothing was mixed or lost.
        for i in [0, 31, 63] {
            for (a, b) in zip(old.vectors.row(i), after.vectors.row(i)) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        }
    }
}
