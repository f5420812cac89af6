import Foundation
import XCTest

/// The `ranksmith` command line, run as a real child process.
final class CLITests: XCTestCase {
    /// Runs the binary; answers exit status, stdout and stderr.
    func run(_ arguments: [String], environment: [String: String] = [:], stdin: Data? = nil) throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: DurabilityTests.binary)
        p.arguments = arguments
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        if let stdin {
            let inPipe = Pipe()
            p.standardInput = inPipe
            try p.run()
            inPipe.fileHandleForWriting.write(stdin)
            try inPipe.fileHandleForWriting.close()
        } else {
            try p.run()
        }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    func temp() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ranksmith-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    func testEmbedWritesOneNormalisedVectorPerLine() throws {
        let input = try temp().appendingPathComponent("in.txt")
        try "first line\nsecond line\n\nfourth after an empty one\n".write(to: input, atomically: true, encoding: .utf8)
        let (status, out, _) = try run(["embed", "--model", ServiceTestCase.modelPath, "--input", input.path])
        XCTAssertEqual(status, 0)
        let lines = out.split(separator: "\n")
        XCTAssertEqual(lines.count, 4)
        for line in lines {
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let v = ((object["embedding"] as? [Any]) ?? []).compactMap { ($0 as? NSNumber)?.doubleValue }
            XCTAssertEqual(v.count, 384)
            XCTAssertEqual(v.reduce(0) { $0 + $1 * $1 }, 1, accuracy: 1e-4)
        }
    }

    func testEvalSTSPrintsSpearmanAndPairs() throws {
        let data = try temp().appendingPathComponent("sts.jsonl")
        let rows = [
            ("A man is playing a guitar.", "A man plays the guitar.", 5.0),
            ("A woman is slicing an onion.", "A man is playing a guitar.", 0.2),
            ("A dog runs in the park.", "A dog is running on grass.", 3.8),
            ("The stock market fell.", "A cat sleeps on the sofa.", 0.0),
        ]
        try rows.map { #"{"sentence1": "\#($0.0)", "sentence2": "\#($0.1)", "score": \#($0.2)}"# }.joined(separator: "\n")
            .write(to: data, atomically: true, encoding: .utf8)
        let (status, out, err) = try run(["eval", "sts", "--model", ServiceTestCase.modelPath, "--data", data.path])
        XCTAssertEqual(status, 0, err)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        XCTAssertEqual(object["pairs"] as? Int, 4)
        XCTAssertGreaterThan((object["spearman"] as? NSNumber)?.doubleValue ?? 0, 70)
        let bad = try temp().appendingPathComponent("bad.jsonl")
        try #"{"sentence1": "x"}"#.write(to: bad, atomically: true, encoding: .utf8)
        let (badStatus, _, badErr) = try run(["eval", "sts", "--model", ServiceTestCase.modelPath, "--data", bad.path])
        XCTAssertNotEqual(badStatus, 0)
        XCTAssertTrue(badErr.contains("bad.jsonl:1"), badErr)
    }

    func testEvalRetrievalOnASmallBEIRSet() throws {
        let dir = try temp()
        let docs = ["Aircraft wings generate lift.", "Cheese is made from milk.", "The striker scored a goal.", "Rain falls from clouds."]
        try docs.enumerated().map { #"{"_id": "d\#($0.offset)", "title": "", "text": "\#($0.element)"}"# }.joined(separator: "\n")
            .write(to: dir.appendingPathComponent("corpus.jsonl"), atomically: true, encoding: .utf8)
        let queries = ["how do wings produce lift", "what is cheese made of", "who scored the goal"]
        try queries.enumerated().map { #"{"_id": \#($0.offset), "text": "\#($0.element)"}"# }.joined(separator: "\n")
            .write(to: dir.appendingPathComponent("queries.jsonl"), atomically: true, encoding: .utf8)
        try "query-id\tcorpus-id\tscore\n0\td0\t1\n1\td1\t1\n2\td2\t1\n".write(to: dir.appendingPathComponent("qrels.tsv"), atomically: true, encoding: .utf8)
        let (status, out, err) = try run(["eval", "retrieval", "--model", ServiceTestCase.modelPath, "--data", dir.path])
        XCTAssertEqual(status, 0, err)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        XCTAssertEqual(object["queries"] as? Int, 3)
        XCTAssertEqual((object["ndcg@10"] as? NSNumber)?.doubleValue, 1)
        XCTAssertEqual((object["recall@100"] as? NSNumber)?.doubleValue, 1)
    }

    func testServeMisconfigurationExitsWithOneClearLine() throws {
        let (status, _, err) = try run(["serve", "--port", "0", "--generator", ServiceTestCase.generatorPath],
                                       environment: ["RANKSMITH_MODEL": "/nonexistent/model", "RANKSMITH_DATA_DIR": try temp().path])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(err.contains("/nonexistent/model"), "the environment variable was not used: \(err)")
        XCTAssertEqual(err.split(separator: "\n").count, 1, err)
        let (s2, _, e2) = try run(["serve", "--port", "0", "--model", ServiceTestCase.modelPath, "--generator", ServiceTestCase.generatorPath,
                                   "--data-dir", "/proc/forbidden"])
        XCTAssertNotEqual(s2, 0)
        XCTAssertTrue(e2.contains("/proc/forbidden"), e2)
    }
}

extension CLITests {
    func testRerankOrdersLinesBestFirst() throws {
        let input = try temp().appendingPathComponent("candidates.txt")
        try "Cheese is made from milk.\nParis is the capital of France.\nBerlin is in Germany.\n".write(to: input, atomically: true, encoding: .utf8)
        let (status, out, err) = try run(["rerank", "--model", ServiceTestCase.modelPath, "--query", "capital of France", "--input", input.path, "--top-n", "2"])
        XCTAssertEqual(status, 0, err)
        let rows = out.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(rows.count, 2)
        XCTAssertEqual(rows.first?["index"] as? Int, 1)
        XCTAssertGreaterThan((rows[0]["score"] as? NSNumber)?.doubleValue ?? 0, (rows[1]["score"] as? NSNumber)?.doubleValue ?? 1)
    }
}
