// Loading: tokenizer.json and the vocab.txt fallback give the same ids, and
// every kind of bad file is a typed error that names the file.

import Foundation
import XCTest
import Tokenization

final class WordPieceLoadingTests: XCTestCase {
    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("ranksmith-tokenizer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    // MARK: - What the Encoder relies on

    func testSpecialIdsAndSizesOfMiniLM() throws {
        let t = try TokenizerFixtures.tokenizer()
        XCTAssertEqual(t.clsId, 101)
        XCTAssertEqual(t.sepId, 102)
        XCTAssertEqual(t.padId, 0)
        XCTAssertEqual(t.unkId, 100)
        XCTAssertEqual(t.vocabularySize, 30522)
        XCTAssertEqual(t.configuredMaxLength, 128, "tokenizer.json's own truncation setting")
    }

    func testTokenizeGivesWordPieces() throws {
        let t = try TokenizerFixtures.tokenizer()
        XCTAssertEqual(t.tokenize("Hello, world!"), ["hello", ",", "world", "!"])
        XCTAssertEqual(t.tokenize("unaffable tokenization"), ["una", "##ffa", "##ble", "token", "##ization"])
        XCTAssertEqual(t.tokenize("Héllo [SEP] 北京"), ["hello", "[SEP]", "北", "京"])
        XCTAssertEqual(t.tokenize(""), [])
        XCTAssertEqual(t.encode("Hello, world!", maxLength: 256).ids, [101, 7592, 1010, 2088, 999, 102])
    }

    // MARK: - vocab.txt fallback

    func testVocabTxtGivesTheSameIdsAsTokenizerJSON() throws {
        let json = try TokenizerFixtures.tokenizer()
        let txt = try WordPieceTokenizer(vocabFile: TokenizerFixtures.modelDirectory.appendingPathComponent("vocab.txt"),
                                         lowercase: true)
        try assertSameIds(json, txt)
        XCTAssertEqual(txt.vocabularySize, json.vocabularySize)
        XCTAssertEqual([txt.clsId, txt.sepId, txt.padId, txt.unkId], [json.clsId, json.sepId, json.padId, json.unkId])
    }

    func testModelDirectoryWithoutTokenizerJSONFallsBackToVocabTxt() throws {
        for name in ["vocab.txt", "tokenizer_config.json"] {
            try FileManager.default.copyItem(at: TokenizerFixtures.modelDirectory.appendingPathComponent(name),
                                             to: scratch.appendingPathComponent(name))
        }
        let fallback = try WordPieceTokenizer(modelDirectory: scratch)
        try assertSameIds(try TokenizerFixtures.tokenizer(), fallback)
    }

    func testModelDirectoryPrefersTokenizerJSON() throws {
        let t = try WordPieceTokenizer(modelDirectory: TokenizerFixtures.modelDirectory)
        XCTAssertEqual(t.configuredMaxLength, 128, "loaded from tokenizer.json, not vocab.txt")
    }

    func testCasedVocabTxtKeepsCaseAndAccents() throws {
        let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "Héllo", "hello", "world", "##s", "!"]
        let url = try write("vocab.txt", vocab.joined(separator: "\n") + "\n")
        let cased = try WordPieceTokenizer(vocabFile: url, lowercase: false)
        XCTAssertEqual(cased.tokenize("Héllo worlds!"), ["Héllo", "world", "##s", "!"])
        XCTAssertEqual(cased.encode("Hello", maxLength: 8).ids, [2, 1, 3], "Hello is not in this vocabulary")
        let uncased = try WordPieceTokenizer(vocabFile: url, lowercase: true)
        XCTAssertEqual(uncased.encode("Héllo", maxLength: 8).ids, [2, 5, 3])
    }

    func testVocabTxtLineEndings() throws {
        let url = try write("vocab.txt", "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nword\r\n")
        let t = try WordPieceTokenizer(vocabFile: url, lowercase: true)
        XCTAssertEqual(t.encode("word", maxLength: 8).ids, [2, 4, 3])
        XCTAssertEqual(t.vocabularySize, 5)
    }

    // MARK: - Bad input

    func testMissingTokenizerJSONNamesTheFile() throws {
        let url = scratch.appendingPathComponent("tokenizer.json")
        assertError(try WordPieceTokenizer(tokenizerJSON: url), .fileNotFound(path: url.path))
    }

    func testTruncatedTokenizerJSONIsInvalidJSON() throws {
        let original = try Data(contentsOf: TokenizerFixtures.modelDirectory.appendingPathComponent("tokenizer.json"))
        for length in [0, 1, 100, original.count / 2, original.count - 2] {
            let url = scratch.appendingPathComponent("tokenizer.json")
            try original.prefix(length).write(to: url)
            XCTAssertThrowsError(try WordPieceTokenizer(tokenizerJSON: url), "cut at \(length)") { error in
                guard case .invalidJSON(let path, _)? = error as? TokenizerError else {
                    return XCTFail("cut at \(length): \(error)")
                }
                XCTAssertEqual(path, url.path)
                XCTAssertTrue("\(error)".contains("tokenizer.json"))
            }
        }
    }

    func testCorruptTokenizerJSONInModelDirectoryIsNotSilentlyIgnored() throws {
        try FileManager.default.copyItem(at: TokenizerFixtures.modelDirectory.appendingPathComponent("vocab.txt"),
                                         to: scratch.appendingPathComponent("vocab.txt"))
        let url = try write("tokenizer.json", "{\"model\": ")
        assertError(try WordPieceTokenizer(modelDirectory: scratch), path: url.path)
    }

    func testWrongShapesAreTypedErrors() throws {
        let vocab = #"{"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "a": 3}"#
        let cases: [(json: String, check: (TokenizerError) -> Bool)] = [
            (#"[1, 2]"#, { if case .invalidJSON = $0 { return true }; return false }),
            (#"{}"#, { if case .invalidField(_, "model", _) = $0 { return true }; return false }),
            (#"{"model": {"type": "WordPiece"}}"#, { if case .invalidField(_, "model.vocab", _) = $0 { return true }; return false }),
            (#"{"model": {"type": "WordPiece", "vocab": {}}}"#, { if case .emptyVocabulary = $0 { return true }; return false }),
            (#"{"model": {"type": "WordPiece", "vocab": {"a": "x"}}}"#, { if case .invalidField(_, "model.vocab[a]", _) = $0 { return true }; return false }),
            (#"{"model": {"type": "WordPiece", "vocab": {"a": -1}}}"#, { if case .invalidField = $0 { return true }; return false }),
            (#"{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "a": 2000000000}}, "pre_tokenizer": {"type": "BertPreTokenizer"}}"#,
             { if case .invalidField(_, "vocab", _) = $0 { return true }; return false }),
            (#"{"model": {"type": "BPE", "vocab": {}, "merges": []}}"#, { if case .unsupported = $0 { return true }; return false }),
            (#"{"model": {"type": "WordPiece", "vocab": {"a": 0}}, "pre_tokenizer": {"type": "BertPreTokenizer"}}"#,
             { if case .missingToken(_, "[UNK]") = $0 { return true }; return false }),
            ("{\"model\": {\"type\": \"WordPiece\", \"vocab\": \(vocab)}, \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}, \"post_processor\": {\"type\": \"BertProcessing\", \"cls\": [\"[CLS]\", 1], \"sep\": [\"[SEP]\", 99999]}}",
             { if case .invalidField(_, "post_processor", _) = $0 { return true }; return false }),
            ("{\"model\": {\"type\": \"WordPiece\", \"vocab\": \(vocab)}, \"pre_tokenizer\": {\"type\": \"Whitespace\"}}",
             { if case .unsupported = $0 { return true }; return false }),
            ("{\"model\": {\"type\": \"WordPiece\", \"vocab\": \(vocab)}, \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}, \"normalizer\": {\"type\": \"NFKC\"}}",
             { if case .unsupported = $0 { return true }; return false }),
            ("{\"model\": {\"type\": \"WordPiece\", \"vocab\": \(vocab)}, \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}, \"normalizer\": {\"type\": \"BertNormalizer\", \"lowercase\": \"yes\"}}",
             { if case .invalidField(_, "normalizer.lowercase", _) = $0 { return true }; return false }),
            ("{\"model\": {\"type\": \"WordPiece\", \"vocab\": \(vocab)}, \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}, \"added_tokens\": [{\"id\": 1}]}",
             { if case .invalidField(_, "added_tokens[0].content", _) = $0 { return true }; return false }),
            ("{\"model\": {\"type\": \"WordPiece\", \"vocab\": \(vocab)}, \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}, \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"[X]\", \"type_id\": 0}}], \"pair\": [], \"special_tokens\": {}}}",
             { if case .invalidField = $0 { return true }; return false }),
        ]
        for (k, c) in cases.enumerated() {
            let url = try write("tokenizer.json", c.json)
            XCTAssertThrowsError(try WordPieceTokenizer(tokenizerJSON: url), "case \(k)") { error in
                guard let e = error as? TokenizerError else { return XCTFail("case \(k): untyped \(error)") }
                XCTAssertTrue(c.check(e), "case \(k): \(e)")
                XCTAssertEqual(e.path, url.path, "case \(k)")
                XCTAssertTrue(e.description.hasPrefix(url.path), "case \(k): \(e.description)")
            }
        }
    }

    func testMinimalTokenizerJSONLoads() throws {
        let url = try write("tokenizer.json", #"""
            {"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "hi": 3, "##s": 4}},
             "normalizer": {"type": "BertNormalizer", "lowercase": true},
             "pre_tokenizer": {"type": "BertPreTokenizer"},
             "post_processor": {"type": "BertProcessing", "cls": ["[CLS]", 1], "sep": ["[SEP]", 2]}}
            """#)
        let t = try WordPieceTokenizer(tokenizerJSON: url)
        XCTAssertEqual(t.encode("HIs hi x", maxLength: 10).ids, [1, 3, 4, 3, 0, 2])
        XCTAssertEqual(t.encodePair("hi", "his", maxLength: 10).typeIds, [0, 0, 0, 1, 1, 1])
    }

    /// Vocabulary keys are bytes, as in tokenizers: "é" precomposed and
    /// decomposed are two entries, and JSON escapes decode exactly.
    func testVocabularyKeysAreNotUnicodeNormalised() throws {
        let url = try write("tokenizer.json", #"""
            {"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "\u00e9": 3, "e\u0301": 4,
                                                      "caf": 5, "##\u00e9": 6, "##e\u0301": 7, "\ud83d\ude00": 8}},
             "normalizer": {"type": "BertNormalizer", "lowercase": false, "strip_accents": false},
             "pre_tokenizer": {"type": "BertPreTokenizer"},
             "post_processor": {"type": "BertProcessing", "cls": ["[CLS]", 1], "sep": ["[SEP]", 2]}}
            """#)
        let t = try WordPieceTokenizer(tokenizerJSON: url)
        XCTAssertEqual(t.vocabularySize, 9)
        XCTAssertEqual(t.encode("\u{E9} e\u{301} caf\u{E9} cafe\u{301} \u{1F600}", maxLength: 20).ids, [1, 3, 4, 5, 6, 5, 7, 8, 2])
    }

    func testMalformedJSONIsRefusedWithItsOffset() throws {
        for (k, text) in [#"{"a": "\ud800"}"#, #"{"a": 1,}"#, #"{"a" 1}"#, "{\"a\": \"x\ny\"}", #"{"a": tru}"#,
                          #"{"a": 01x}"#, #"{"a": "\q"}"#, String(repeating: "[", count: 300), #"{"a": 1} x"#].enumerated() {
            let url = try write("tokenizer.json", text)
            XCTAssertThrowsError(try WordPieceTokenizer(tokenizerJSON: url), "case \(k)") { error in
                guard case .invalidJSON(let path, let reason)? = error as? TokenizerError else { return XCTFail("case \(k): \(error)") }
                XCTAssertEqual(path, url.path)
                XCTAssertTrue(reason.contains("at byte"), "case \(k): \(reason)")
            }
        }
        let invalidUTF8 = scratch.appendingPathComponent("tokenizer.json")
        try Data([0x7B, 0x22, 0xC3, 0x28, 0x22, 0x3A, 0x31, 0x7D]).write(to: invalidUTF8)  // {"\xC3(":1}
        XCTAssertThrowsError(try WordPieceTokenizer(tokenizerJSON: invalidUTF8)) { error in
            guard case .invalidJSON? = error as? TokenizerError else { return XCTFail("\(error)") }
        }
    }

    func testEmptyAndMissingVocabTxt() throws {
        let empty = try write("vocab.txt", "")
        assertError(try WordPieceTokenizer(vocabFile: empty, lowercase: true), .emptyVocabulary(path: empty.path))
        let missing = scratch.appendingPathComponent("nothing.txt")
        assertError(try WordPieceTokenizer(vocabFile: missing, lowercase: true), .fileNotFound(path: missing.path))
        let noUnk = try write("vocab.txt", "[CLS]\n[SEP]\nword\n")
        assertError(try WordPieceTokenizer(vocabFile: noUnk, lowercase: true), .missingToken(path: noUnk.path, token: "[UNK]"))
        let binary = scratch.appendingPathComponent("binary.txt")
        try Data([0xFF, 0xFE, 0x00, 0x80]).write(to: binary)
        assertError(try WordPieceTokenizer(vocabFile: binary, lowercase: true), path: binary.path)
    }

    func testEmptyModelDirectoryAndDirectoryInPlaceOfFile() throws {
        assertError(try WordPieceTokenizer(modelDirectory: scratch), .noTokenizerFiles(directory: scratch.path))
        let dir = scratch.appendingPathComponent("tokenizer.json")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        assertError(try WordPieceTokenizer(tokenizerJSON: dir), path: dir.path)
    }

    // MARK: - Helpers

    private func write(_ name: String, _ text: String) throws -> URL {
        let url = scratch.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    private func assertError<T>(_ body: @autoclosure () throws -> T, _ expected: TokenizerError,
                                file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertEqual(error as? TokenizerError, expected, file: file, line: line)
        }
    }

    private func assertError<T>(_ body: @autoclosure () throws -> T, path: String,
                                file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertEqual((error as? TokenizerError)?.path, path, "\(error)", file: file, line: line)
        }
    }

    /// Same ids for STS-B dev (both sides), the hostile strings and the random strings.
    private func assertSameIds(_ a: WordPieceTokenizer, _ b: WordPieceTokenizer,
                               file: StaticString = #filePath, line: UInt = #line) throws {
        var texts = try TokenizerFixtures.jsonList("hostile.json").compactMap { $0["text"] as? String }
        texts += try TokenizerFixtures.jsonList("random.json").compactMap { $0["text"] as? String }
        if FileManager.default.fileExists(atPath: TokenizerFixtures.dataDirectory.path) {
            texts += try TokenizerFixtures.texts(source: "stsb/stsb_dev.jsonl", field: "sentence1")
            texts += try TokenizerFixtures.texts(source: "stsb/stsb_dev.jsonl", field: "sentence2")
        }
        XCTAssertGreaterThan(texts.count, 3000, file: file, line: line)
        var differ = 0
        for text in texts where a.encode(text, maxLength: 256) != b.encode(text, maxLength: 256) {
            differ += 1
            if differ <= 3 { XCTFail("differs: \(text.debugDescription.prefix(120))", file: file, line: line) }
        }
        XCTAssertEqual(differ, 0, "\(differ) of \(texts.count) texts differ", file: file, line: line)
    }
}
