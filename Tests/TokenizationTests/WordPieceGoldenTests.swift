// Token ids must be identical to Hugging Face tokenizers' output
// (fixtures from scripts/golden_tokens.py) for every text in data/,
// for the hostile strings, for seeded random Unicode strings and for pairs.

import Foundation
import XCTest
import Tokenization

final class WordPieceGoldenTests: XCTestCase {
    /// Every sentence of STS-B, SICK, the synthesis files and Cranfield.
    func testEveryDatasetTextMatchesTokenizers() throws {
        guard FileManager.default.fileExists(atPath: TokenizerFixtures.dataDirectory.path) else {
            return XCTFail("\(TokenizerFixtures.dataDirectory.path) is absent: restore data/ (git checkout -- data/) or set RANKSMITH_DATA_DIR")
        }
        let tokenizer = try TokenizerFixtures.tokenizer()
        let manifest = try TokenizerFixtures.manifest()
        let maxLength = manifest["max_length"] as? Int ?? 256
        XCTAssertEqual(maxLength, 256, "the fixtures use sentence-transformers' max_seq_length")
        let datasets = manifest["datasets"] as? [[String: Any]] ?? []
        XCTAssertEqual(datasets.count, 13, "STS-B, SICK, synthesis and Cranfield fixtures")

        var checked = 0, truncated = 0
        for dataset in datasets {
            let file = try XCTUnwrap(dataset["file"] as? String)
            let (header, expected) = try TokenizerFixtures.ids(file)
            let texts = try TokenizerFixtures.texts(source: try XCTUnwrap(header["source"] as? String),
                                                    field: header["field"] as? String)
            XCTAssertEqual(texts.count, header["count"] as? Int, "\(file): the data changed since the fixture was made")
            XCTAssertEqual(expected.count, texts.count, "\(file): one line per text")
            var mismatches = 0
            for line in expected {
                let text = texts[line.index]
                let encoding = tokenizer.encode(text, maxLength: maxLength)
                if encoding.ids != line.ids || encoding.truncated != line.truncated {
                    mismatches += 1
                    if mismatches <= 5 {
                        XCTFail("\(file)#\(line.index) truncated \(encoding.truncated) (expected \(line.truncated))\n"
                                + describeMismatch(tokenizer, text: text, expected: line.ids, actual: encoding.ids))
                    }
                }
                XCTAssertEqual(encoding.typeIds, [Int32](repeating: 0, count: encoding.ids.count))
                checked += 1
                truncated += line.truncated ? 1 : 0
            }
            XCTAssertEqual(mismatches, 0, "\(file): \(mismatches) of \(expected.count) texts differ")
        }
        XCTAssertEqual(checked, manifest["texts"] as? Int)
        XCTAssertGreaterThan(truncated, 0, "Cranfield documents exceed 256 tokens")
        print("WordPiece golden: \(checked) dataset texts identical to tokenizers \(manifest["tokenizers"] ?? "?") (\(truncated) truncated)")
    }

    /// Emoji, combining marks, CJK, RTL scripts, controls, zero-width and
    /// Unicode spaces, 10k-character words, empty strings, special tokens...
    func testHostileStringsMatchTokenizers() throws {
        try checkSingles("hostile.json", minimumCount: 90)
    }

    /// 3000 seeded random strings over many scripts, marks, controls and planes.
    func testRandomUnicodeStringsMatchTokenizers() throws {
        try checkSingles("random.json", minimumCount: 3000)
    }

    /// STS-B pairs, pairs at tiny limits (both sides cut), query + long
    /// Cranfield document in both orders, two long documents.
    func testPairsMatchTokenizersLongestFirst() throws {
        let tokenizer = try TokenizerFixtures.tokenizer()
        let cases = try TokenizerFixtures.jsonList("pairs.json")
        XCTAssertGreaterThanOrEqual(cases.count, 600)
        var mismatches = 0, truncated = 0
        for (k, c) in cases.enumerated() {
            let a = try XCTUnwrap(c["a"] as? String), b = try XCTUnwrap(c["b"] as? String)
            let maxLength = try XCTUnwrap(c["max_length"] as? Int)
            let expected = TokenizerFixtures.parseIds(c["ids"])
            let zeros = try XCTUnwrap(c["type_ids_zero"] as? Int)
            let expectedTypes = [Int32](repeating: 0, count: zeros) + [Int32](repeating: 1, count: expected.count - zeros)
            let encoding = tokenizer.encodePair(a, b, maxLength: maxLength)
            let wantTruncated = try XCTUnwrap(c["truncated"] as? Bool)
            truncated += wantTruncated ? 1 : 0
            if encoding.ids != expected || encoding.typeIds != expectedTypes || encoding.truncated != wantTruncated {
                mismatches += 1
                if mismatches <= 5 {
                    XCTFail("pair #\(k) max \(maxLength): types \(encoding.typeIds.filter { $0 == 0 }.count)/\(zeros) zero, "
                            + "truncated \(encoding.truncated)/\(wantTruncated)\n"
                            + describeMismatch(tokenizer, text: a + " ‖ " + b, expected: expected, actual: encoding.ids))
                }
            }
        }
        XCTAssertEqual(mismatches, 0, "\(mismatches) of \(cases.count) pairs differ")
        XCTAssertGreaterThan(truncated, 100, "the pair fixture exercises longest_first")
    }

    /// Cased and accent-keeping normalizers, no clean_text, and added tokens
    /// that are normalised or strip spaces or must be whole words: the
    /// MiniLM tokenizer.json edited the way scripts/golden_tokens.py edits it.
    func testConfigurationVariantsMatchTokenizers() throws {
        let fixture = try XCTUnwrap(try TokenizerFixtures.jsonObject(
            TokenizerFixtures.fixtures.appendingPathComponent("variants.json")) as? [String: Any])
        let variants = try XCTUnwrap(fixture["variants"] as? [[String: Any]])
        let cases = try XCTUnwrap(fixture["cases"] as? [[String: Any]])
        let base = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf:
            TokenizerFixtures.modelDirectory.appendingPathComponent("tokenizer.json"))) as? [String: Any])
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ranksmith-variants-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }

        var tokenizers: [WordPieceTokenizer] = []
        for (k, variant) in variants.enumerated() {
            var config = base
            var normalizer = try XCTUnwrap(config["normalizer"] as? [String: Any])
            for (key, value) in variant["normalizer"] as? [String: Any] ?? [:] { normalizer[key] = value }
            config["normalizer"] = normalizer
            config["added_tokens"] = (config["added_tokens"] as? [Any] ?? []) + (variant["added_tokens"] as? [Any] ?? [])
            config["truncation"] = NSNull()
            config["padding"] = NSNull()
            let url = scratch.appendingPathComponent("variant\(k).json")
            try JSONSerialization.data(withJSONObject: config).write(to: url)
            tokenizers.append(try WordPieceTokenizer(tokenizerJSON: url))
        }
        var mismatches = 0
        for c in cases {
            let k = try XCTUnwrap(c["variant"] as? Int)
            let text = try XCTUnwrap(c["text"] as? String)
            let expected = TokenizerFixtures.parseIds(c["ids"])
            let actual = tokenizers[k].encode(text, maxLength: Int.max).ids
            if actual != expected {
                mismatches += 1
                if mismatches <= 10 {
                    XCTFail("variant '\(variants[k]["name"] ?? k)'\n" + describeMismatch(tokenizers[k], text: text, expected: expected, actual: actual))
                }
            }
        }
        XCTAssertEqual(mismatches, 0, "\(mismatches) of \(cases.count) variant cases differ")
        XCTAssertGreaterThanOrEqual(cases.count, 5 * 400)
    }

    private func checkSingles(_ name: String, minimumCount: Int) throws {
        let tokenizer = try TokenizerFixtures.tokenizer()
        let cases = try TokenizerFixtures.jsonList(name)
        XCTAssertGreaterThanOrEqual(cases.count, minimumCount)
        var mismatches = 0
        for (k, c) in cases.enumerated() {
            let text = try XCTUnwrap(c["text"] as? String)
            let maxLength = try XCTUnwrap(c["max_length"] as? Int)
            let expected = TokenizerFixtures.parseIds(c["ids"])
            let wantTruncated = try XCTUnwrap(c["truncated"] as? Bool)
            let encoding = tokenizer.encode(text, maxLength: maxLength)
            if encoding.ids != expected || encoding.truncated != wantTruncated {
                mismatches += 1
                if mismatches <= 10 {
                    XCTFail("\(name) #\(k) \(c["name"] as? String ?? "") max \(maxLength), truncated \(encoding.truncated)/\(wantTruncated)\n"
                            + describeMismatch(tokenizer, text: text, expected: expected, actual: encoding.ids))
                }
            }
        }
        XCTAssertEqual(mismatches, 0, "\(name): \(mismatches) of \(cases.count) strings differ")
    }
}
