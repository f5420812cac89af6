import Encoder
import Foundation
import Numerics
import Refinement
import XCTest

/// Written versions load in Ranksmith and in sentence-transformers, are
/// immutable, and carry their manifest.
final class ModelVersionTests: XCTestCase {
    /// The settings scripts/golden_trained_version.py passes to `ranksmith train`.
    static func goldenOptions() -> TrainingOptions {
        var o = TrainingOptions()
        o.steps = 4
        o.listsPerStep = 2
        o.learningRate = 1e-4
        o.maxLength = 16
        o.seed = 7
        return o
    }

    func trainGolden() throws -> (TrainingResult, RankingLists) {
        let model = TrainerTests.model
        let lists = try RankingLists(path: RefinementPaths.fixtures.appendingPathComponent("tiny_lists.jsonl").path)
        let trainer = try Trainer(student: model, teacher: model, lists: lists, dev: nil, options: Self.goldenOptions())
        return (try trainer.run(), lists)
    }

    func manifest(_ result: TrainingResult, _ lists: RankingLists) -> ModelManifest {
        ModelManifest(version: "v-test", parent: "all-MiniLM-L6-v2", teacher: "all-MiniLM-L6-v2",
                      dataset: DatasetInfo(file: lists.path, lists: lists.lists.count, sha256: String(repeating: "0", count: 64)),
                      options: Self.goldenOptions(), result: result, dev: nil)
    }

    func testVersionFolderLoadsAndIsImmutable() throws {
        let (result, lists) = try trainGolden()
        let root = try RefinementPaths.temporaryDirectory(self)
        let destination = root.appendingPathComponent("models/v-test")
        try ModelVersionWriter.write(weights: result.weights, base: TrainerTests.model, manifest: manifest(result, lists), to: destination)
        for name in ["config.json", "model.safetensors", "tokenizer.json", "vocab.txt", "modules.json",
                     "sentence_bert_config.json", "1_Pooling/config.json", "manifest.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: destination.appendingPathComponent(name).path), name)
        }
        // No temporary folder is left beside it.
        let siblings = try FileManager.default.contentsOfDirectory(atPath: destination.deletingLastPathComponent().path)
        XCTAssertEqual(siblings, ["v-test"])  // no staging folder left
        // Ranksmith loads exactly the trained weights.
        let loaded = try BertModel(directory: destination)
        let text = ["A man plays the guitar outside on the road."]
        let expected = BertModel(base: TrainerTests.model, weights: result.weights).embed(text).vectors
        XCTAssertEqual(loaded.embed(text).vectors, expected)
        // The manifest says where it came from.
        let decoded = try JSONDecoder().decode(ModelManifest.self, from: Data(contentsOf: destination.appendingPathComponent("manifest.json")))
        XCTAssertEqual(decoded.dataset.lists, 4)
        XCTAssertEqual(decoded.curve.count, 4)
        XCTAssertEqual(decoded.hyperParameters, Self.goldenOptions())
        // Immutable: a second write to the same place is refused and changes nothing.
        let before = try Data(contentsOf: destination.appendingPathComponent("model.safetensors"))
        XCTAssertThrowsError(try ModelVersionWriter.write(weights: TrainerTests.model.weights, base: TrainerTests.model,
                                                          manifest: manifest(result, lists), to: destination)) { error in
            XCTAssertEqual(error as? TrainingError, .versionExists(path: destination.path))
        }
        XCTAssertEqual(try Data(contentsOf: destination.appendingPathComponent("model.safetensors")), before)
    }

    /// The manifest's dataset hash is SHA-256 in lowercase hex (FIPS 180-2 test vectors).
    func testDatasetHashIsSHA256Hex() {
        XCTAssertEqual(DatasetInfo.sha256(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(DatasetInfo.sha256(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    struct Golden: Decodable {
        let reference: String
        let sentences: [String]
        let embeddings: [[Float]]
    }

    /// sentence-transformers loaded a version that `ranksmith train` wrote
    /// with the golden settings (scripts/golden_trained_version.py); the
    /// same training here gives the same vectors.
    static let goldenCosine: Float = 0.9999

    func testSentenceTransformersLoadsTheTrainedVersion() throws {
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: RefinementPaths.fixtures.appendingPathComponent("golden_trained_version.json")))
        let (result, lists) = try trainGolden()
        let destination = try RefinementPaths.temporaryDirectory(self).appendingPathComponent("v-golden")
        try ModelVersionWriter.write(weights: result.weights, base: TrainerTests.model, manifest: manifest(result, lists), to: destination)
        let ours = try BertModel(directory: destination).embed(golden.sentences).vectors
        let base = TrainerTests.model.embed(golden.sentences).vectors
        var worst: Float = 1, moved: Float = 1
        for (i, reference) in golden.embeddings.enumerated() {
            let v = ours.row(i), b = base.row(i)
            worst = min(worst, zip(v, reference).reduce(0) { $0 + $1.0 * $1.1 })
            moved = min(moved, zip(b, reference).reduce(0) { $0 + $1.0 * $1.1 })
        }
        XCTAssertGreaterThanOrEqual(worst, Self.goldenCosine, golden.reference)
        // The fixture is of trained weights, not the base model's.
        XCTAssertLessThan(moved, worst)
    }
}
