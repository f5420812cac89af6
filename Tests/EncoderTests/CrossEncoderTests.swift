import Encoder
import Foundation
import XCTest

/// The cross-encoder path (BertForSequenceClassification: pair encoding,
/// token types, pooler, classifier) against Hugging Face transformers, on a
/// cross-encoder built from MiniLM with a deterministic head (see
/// scripts/golden_cross_encoder.py, which builds the same folder).
final class CrossEncoderTests: XCTestCase {
    /// Largest tolerated |logit − reference|.
    let logitTolerance: Float = 1e-4

    struct Golden: Decodable {
        struct Pair: Decodable { let query: String; let document: String; let logit: Float }
        let pairs: [Pair]
    }

    /// Writes the cross-encoder folder into a temporary directory.
    func makeCrossEncoder() throws -> URL {
        let dir = try TestPaths.temporaryDirectory(self).appendingPathComponent("cross")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for name in ["tokenizer.json", "vocab.txt", "tokenizer_config.json"] {
            try FileManager.default.copyItem(at: TestPaths.model.appendingPathComponent(name), to: dir.appendingPathComponent(name))
        }
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: TestPaths.model.appendingPathComponent("config.json"))) as! [String: Any]
        config["architectures"] = ["BertForSequenceClassification"]
        config["id2label"] = ["0": "LABEL_0"]
        try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("config.json"))
        let source = try SafeTensorsFile(url: TestPaths.model.appendingPathComponent("model.safetensors"))
        var tensors: [(name: String, shape: [Int], values: [Float])] = []
        for (name, entry) in source.entries where name != "embeddings.position_ids" {
            tensors.append(("bert." + name, entry.shape, try source.floats(name, shape: entry.shape)))
        }
        tensors.append(("classifier.weight", [1, 384], (0..<384).map { Float(($0 * 37) % 17 - 8) / 80 }))
        tensors.append(("classifier.bias", [1], [0.1]))
        try SafeTensorsFile.write(tensors, to: dir.appendingPathComponent("model.safetensors"))
        return dir
    }

    func testLogitsMatchTransformers() throws {
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: TestPaths.fixtures.appendingPathComponent("golden_cross_encoder.json")))
        let model = try BertModel(directory: try makeCrossEncoder())
        XCTAssertTrue(model.isCrossEncoder)
        XCTAssertEqual(model.maxSequenceLength, 512, "no sentence_bert_config.json: the position table's length")
        for pair in golden.pairs {
            // The reference truncates pairs to 256 tokens; so does this test.
            let encoding = model.tokenizer.encodePair(pair.query, pair.document, maxLength: 256)
            let score = model.crossScores(encodings: [encoding])[0]
            XCTAssertEqual(score, pair.logit, accuracy: logitTolerance, "\(pair.query) / \(pair.document.prefix(40))")
        }
        // The convenience entry point agrees with the encoding one.
        let direct = model.crossScores(query: golden.pairs[0].query, documents: [golden.pairs[0].document])
        XCTAssertEqual(direct[0], golden.pairs[0].logit, accuracy: logitTolerance)
    }

    func testPlainModelIsNotACrossEncoder() throws {
        XCTAssertFalse(try BertModel(directory: TestPaths.model).isCrossEncoder)
    }
}
