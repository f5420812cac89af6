import Foundation
import Generator
import Numerics
import Tokenization
import XCTest

/// The Qwen2.5 generator against llama.cpp (fixtures from
/// scripts/golden_qwen.py). The tokenizer and chat-template tests read the
/// committed vocabulary-only GGUF; the greedy test needs the opt-in model
/// (`scripts/fetch-models --generator qwen2.5-coder-1.5b`) and is skipped,
/// saying so, when it has not been fetched.
final class QwenParityTests: XCTestCase {
    static let modelFile = "models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    /// Greedy tokens must match for this many tokens (or until llama.cpp stopped).
    static let greedyPrefix = 24
    /// A divergence is accepted only at a near-tie of our own logits (see
    /// `LlamaCppParityTests.nearTie`: activations are rounded to 8 bits in
    /// blocks of 32 here and of 256 in llama.cpp's K-quant path).
    static let nearTie: Float = 0.5

    func golden() throws -> [String: Any] {
        let url = TestPaths.fixtures.appendingPathComponent("qwen_golden.json")
        guard let data = try? Data(contentsOf: url) else { throw MissingTestInput("fixture qwen_golden.json missing: run scripts/golden_qwen.py") }
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    /// The vocabulary-only GGUF, committed gzipped (1.7 MB instead of 5.9)
    /// and unpacked once per test process with the system's `gzip`.
    static let vocabPath: Result<String, Error> = Result {
        let packed = TestPaths.fixtures.appendingPathComponent("qwen2_vocab.gguf.gz").path
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("qwen2_vocab-\(getpid()).gguf")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gzip.arguments = ["-dc", packed]
        gzip.standardOutput = try FileHandle(forWritingTo: out)
        try gzip.run()
        gzip.waitUntilExit()
        guard gzip.terminationStatus == 0 else { throw MissingTestInput("cannot unpack \(packed): run scripts/golden_qwen.py") }
        return out.path
    }

    func vocab() throws -> (GGUFFile, TextTokenizer) {
        let file = try GGUFFile(path: try Self.vocabPath.get())
        return (file, try TextTokenizer(file: file))
    }

    // MARK: Tokenizer and template (no weights needed)

    func testVocabularyIsQwen2WithItsPreTokenizer() throws {
        let (file, tok) = try vocab()
        XCTAssertEqual(try file.string("general.architecture"), "qwen2")
        XCTAssertEqual(tok.bpe.preTokenizer, .qwen2)
        XCTAssertEqual(tok.eot, tok.bpe.id(of: "<|im_end|>"))
        XCTAssertTrue(tok.endOfGeneration.contains(tok.bpe.id(of: "<|endoftext|>")!))
    }

    func testHostileStringIdsMatchLlamaCpp() throws {
        let (_, tok) = try vocab()
        let g = try golden()
        let strings = g["strings"] as! [String]
        let ids = g["ids"] as! [String: [[Int]]]
        for mode in ["plain", "special"] {
            for (i, s) in strings.enumerated() {
                XCTAssertEqual(tok.bpe.encode(s, parseSpecial: mode == "special").map(Int.init), ids[mode]![i],
                               "\(mode): \(s.debugDescription)")
            }
        }
    }

    func testSentenceIdsMatchLlamaCpp() throws {
        let (_, tok) = try vocab()
        let g = try golden()
        let sentences = g["sentences"] as! [String]
        let expected = g["sentence_ids"] as! [[Int]]
        XCTAssertEqual(sentences.count, expected.count)
        XCTAssertGreaterThan(sentences.count, 100)
        var mismatches = 0
        for (s, e) in zip(sentences, expected) where tok.bpe.encode(s).map(Int.init) != e {
            mismatches += 1
            if mismatches <= 5 { XCTFail("ids differ for \(s.debugDescription)") }
        }
        XCTAssertEqual(mismatches, 0)
    }

    func testChatTemplateHasTheDefaultSystemLineAndRendersLikeJinja() throws {
        let g = try golden()
        let t = try ChatTemplate(source: g["template"] as! String)
        XCTAssertEqual(t, .chatML(defaultSystem: "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."))
        let (_, tok) = try vocab()
        for c in g["cases"] as! [[String: Any]] {
            let text = t.render([ChatMessage(role: "user", content: c["prompt"] as! String)])
            XCTAssertEqual(text, c["prompt_text"] as? String)
            XCTAssertEqual(tok.bpe.encode(text, parseSpecial: true).map(Int.init), c["prompt_ids"] as? [Int])
        }
    }

    // MARK: Greedy decoding (needs the opt-in model)

    func testGreedyTokensMatchLlamaCpp() throws {
        let path = TestPaths.repoRoot.appendingPathComponent(Self.modelFile).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("\(Self.modelFile) not fetched (opt-in: scripts/fetch-models --generator qwen2.5-coder-1.5b)")
        }
        let m = try LlamaModel(path: path)
        XCTAssertEqual(m.config.architecture, "qwen2")
        QuantMatmul.threads = 2
        var exact = 0
        let cases = try golden()["cases"] as! [[String: Any]]
        for c in cases {
            let prompt = (c["prompt_ids"] as! [Int]).map { Int32($0) }
            XCTAssertEqual(m.chatPrompt(c["prompt"] as! String, template: try m.chatTemplate()), prompt)
            let golden = (c["greedy"] as! [Int]).map { Int32($0) }
            let n = min(Self.greedyPrefix, golden.count)
            var stepLogits: [[Float]] = []
            let g = try LlamaDecoder(model: m).generate(prompt: prompt, options: GenerationOptions(maxTokens: n)) { _, _, s in
                stepLogits.append(Array(s))
            }
            let ours = Array(g.tokens.prefix(n))
            if ours == Array(golden.prefix(n)) { exact += 1; continue }
            let k = (0..<min(ours.count, golden.count)).first { ours[$0] != golden[$0] } ?? min(ours.count, golden.count)
            guard k < stepLogits.count else { return XCTFail("stopped early on \(c["prompt"]!)") }
            let l = stepLogits[k]
            let gap = abs(l[Int(ours[k])] - l[Int(golden[k])])
            XCTAssertLessThan(gap, Self.nearTie, "diverged at \(k) on \(c["prompt"]!) without a near-tie (gap \(gap))")
        }
        XCTAssertGreaterThanOrEqual(exact, cases.count - 1, "at most one prompt may end on a near-tie")
    }
}
