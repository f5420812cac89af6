import Encoder
import Foundation
import XCTest

/// Bad model folders and files give typed errors that name the file.
final class ModelLoadingTests: XCTestCase {
    /// A copy of the real model folder whose files a test may break.
    func copyOfModel() throws -> URL {
        let dir = try TestPaths.temporaryDirectory(self).appendingPathComponent("model")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for name in ["config.json", "tokenizer.json", "vocab.txt", "tokenizer_config.json", "sentence_bert_config.json"] {
            try FileManager.default.copyItem(at: TestPaths.model.appendingPathComponent(name), to: dir.appendingPathComponent(name))
        }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("1_Pooling"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: TestPaths.model.appendingPathComponent("1_Pooling/config.json"),
                                         to: dir.appendingPathComponent("1_Pooling/config.json"))
        // Symlink the 87 MiB weights; tests that break them write their own.
        try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent("model.safetensors"),
                                                   withDestinationURL: TestPaths.model.appendingPathComponent("model.safetensors"))
        return dir
    }

    func assertLoadError(_ dir: URL, mentions fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try BertModel(directory: dir), file: file, line: line) { error in
            let text = "\(error)"
            for f in fragments { XCTAssertTrue(text.contains(f), "'\(text)' should mention '\(f)'", file: file, line: line) }
        }
    }

    func testMissingFolder() {
        assertLoadError(URL(fileURLWithPath: "/nonexistent/model"), mentions: ["/nonexistent/model", "not found"])
    }

    func testMissingWeights() throws {
        let dir = try copyOfModel()
        try FileManager.default.removeItem(at: dir.appendingPathComponent("model.safetensors"))
        assertLoadError(dir, mentions: ["model.safetensors", "not found"])
    }

    func testCorruptConfig() throws {
        let dir = try copyOfModel()
        try Data("{not json".utf8).write(to: dir.appendingPathComponent("config.json"))
        assertLoadError(dir, mentions: ["config.json", "not a JSON object"])
    }

    func testTruncatedSafetensors() throws {
        let dir = try copyOfModel()
        let weights = dir.appendingPathComponent("model.safetensors")
        let whole = try Data(contentsOf: TestPaths.model.appendingPathComponent("model.safetensors"))
        try FileManager.default.removeItem(at: weights)
        try whole.prefix(whole.count / 2).write(to: weights)
        assertLoadError(dir, mentions: ["model.safetensors", "truncated"])
        try whole.prefix(5).write(to: weights)
        assertLoadError(dir, mentions: ["model.safetensors", "truncated"])
    }

    func testHeaderLengthBeyondFile() throws {
        var bytes = Data()
        var n = UInt64(1_000_000).littleEndian
        withUnsafeBytes(of: &n) { bytes.append(contentsOf: $0) }
        bytes.append(Data("{}".utf8))
        XCTAssertThrowsError(try SafeTensorsFile(data: bytes, path: "x.safetensors")) { error in
            XCTAssertEqual(error as? SafeTensorsError, .truncated(file: "x.safetensors", reason: "header length 1000000 exceeds the 2 bytes after it"))
        }
    }

    func testWrongDTypeAndShapeAndOffsets() throws {
        func file(_ header: String, dataBytes: Int) -> Data {
            var d = Data()
            var n = UInt64(header.utf8.count).littleEndian
            withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
            d.append(Data(header.utf8))
            d.append(Data(count: dataBytes))
            return d
        }
        XCTAssertThrowsError(try SafeTensorsFile(data: file(#"{"w":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}}"#, dataBytes: 16), path: "a")) {
            XCTAssertTrue("\($0)".contains("F64"))
        }
        XCTAssertThrowsError(try SafeTensorsFile(data: file(#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, dataBytes: 8), path: "a")) {
            XCTAssertTrue("\($0)".contains("needs 12"))
        }
        XCTAssertThrowsError(try SafeTensorsFile(data: file(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, dataBytes: 8), path: "a"))
        XCTAssertThrowsError(try SafeTensorsFile(data: file(#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, dataBytes: 8), path: "a")) {
            XCTAssertTrue("\($0)".contains("truncated"))
        }
        XCTAssertThrowsError(try SafeTensorsFile(data: file(#"[1,2]"#, dataBytes: 0), path: "a"))
        let ok = try SafeTensorsFile(data: file(#"{"w":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]}}"#, dataBytes: 8), path: "a")
        XCTAssertThrowsError(try ok.floats("w", shape: [4])) {
            XCTAssertEqual($0 as? SafeTensorsError, .shapeMismatch(file: "a", tensor: "w", expected: [4], found: [2, 2]))
        }
        XCTAssertEqual(try ok.floats("w", shape: [2, 2]), [0, 0, 0, 0])
    }

    func testWrongShapeInModelNamesTensor() throws {
        let dir = try copyOfModel()
        // A config claiming a wider model than the weights hold.
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("config.json"))) as! [String: Any]
        config["intermediate_size"] = 2048
        try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("config.json"))
        assertLoadError(dir, mentions: ["model.safetensors", "intermediate.dense.weight", "[2048, 384]"])
    }

    func testSafetensorsWriteReadRoundTrip() throws {
        let url = try TestPaths.temporaryDirectory(self).appendingPathComponent("t.safetensors")
        try SafeTensorsFile.write([("b", [2], [1, 2]), ("a", [1, 3], [3, 4, 5])], to: url)
        let file = try SafeTensorsFile(url: url)
        XCTAssertEqual(try file.floats("a", shape: [1, 3]), [3, 4, 5])
        XCTAssertEqual(try file.floats("b", shape: [2]), [1, 2])
        XCTAssertEqual(file.metadata["format"], "pt")
    }

    func testTensorNamesRoundTripThroughWriter() throws {
        let model = try BertModel(directory: TestPaths.model)
        let names = Set(model.weights.namedTensors(config: model.config).map(\.name))
        let file = try SafeTensorsFile(url: TestPaths.model.appendingPathComponent("model.safetensors"))
        XCTAssertTrue(names.isSubset(of: Set(file.entries.keys)), "\(names.subtracting(file.entries.keys))")
    }
}
